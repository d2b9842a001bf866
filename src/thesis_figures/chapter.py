"""The thesis chapter compiled inside the workflow: ``thesis/`` + ``numbers.tex`` + the figures and
tables of one mode, through latexmk, into one PDF.

The build works in a fresh folder next to the PDF (``build/``), with the figures' and tables'
folders on TeX's search path (the chapter names them by file name).  It fails, and leaves any
earlier PDF as it was, when LaTeX stops (an undefined macro: a number the results do not define)
or when a reference or citation stays undefined (no "??" reaches the PDF).  The PDF's dates come
from the results (``SOURCE_DATE_EPOCH``), so the same results build the same PDF.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from . import ResultsError

LATEXMK = ["latexmk", "-pdf", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error"]
INSTALL_HINT = "install TeX Live: apt-get install texlive-latex-base texlive-latex-recommended latexmk"
UNRESOLVED = re.compile(r"LaTeX Warning: (?:Reference|Citation) `([^']+)' on page \d+ undefined")


def _first_error(log_text: str) -> str:
    """LaTeX's own words for what stopped it: the first ``file:line: error`` line (or ``! …``),
    with the offending input when LaTeX shows it."""
    lines = log_text.splitlines()
    for i, line in enumerate(lines):
        if re.match(r"^(\S+:\d+: |! )", line):
            context = next((ln.strip() for ln in lines[i + 1:i + 4] if ln.startswith("l.")), "")
            return f"{line.strip()} {context}".strip()
    return "latexmk failed (see the log)"


OVERFULL = re.compile(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\) (in [^\n]*?lines \d+--\d+)")
OPENED = re.compile(r"\(([^()\s]+\.tex)")
MAX_OVERFULL_PT = 1.0


def overfull_boxes(log_text: str, limit: float = MAX_OVERFULL_PT) -> list[str]:
    """Every ``Overfull \\hbox`` wider than ``limit`` pt in a LaTeX log, named by the file LaTeX
    was reading (a table's own .tex, or the chapter) and its lines: ``rl_vs_baselines.tex
    (in alignment at lines 9--22): 131.7 pt too wide``."""
    found = []
    for m in OVERFULL.finditer(log_text):
        if float(m.group(1)) <= limit:
            continue
        files = OPENED.findall(log_text, 0, m.start())
        where = Path(files[-1]).name if files else "?"
        found.append(f"{where} ({m.group(2)}): {float(m.group(1)):.1f} pt too wide")
    return found


def unreferenced_labels(aux: Path, sources: Path) -> list[str]:
    """The figure and table labels (``fig:…``, ``tab:…``) of a built document that no ``\\ref``
    in the sources' .tex files points to."""
    if not aux.exists():
        return []
    labels = re.findall(r"\\newlabel\{((?:fig|tab):[^}]+)\}", aux.read_text(errors="replace"))
    prose = "".join(p.read_text(errors="replace") for p in sources.glob("*.tex"))
    referenced = set(re.findall(r"\\(?:auto|page|c|C)?ref\{([^}]+)\}", prose))
    return sorted({label for label in labels if label not in referenced})


def build(sources: str | Path, numbers: str | Path, figures: str | Path, tables: str | Path, pdf: str | Path,
          epoch: int | None = None, log: str | Path | None = None, main: str = "chapter.tex") -> None:
    """Compile ``sources/<main>`` with ``numbers`` into ``pdf`` (see the module docstring)."""
    from .logs import logged

    pdf = Path(pdf)
    with logged(log, f"chapter {main} with {numbers}"):
        if shutil.which("latexmk") is None:
            raise ResultsError(f"latexmk not found: {INSTALL_HINT}")
        work = pdf.parent / "build"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        for path in Path(sources).iterdir():
            if path.is_file():
                shutil.copy2(path, work / path.name)
        shutil.copy2(numbers, work / "numbers.tex")
        search = os.pathsep.join([str(work), f"{Path(figures).resolve()}//", f"{Path(tables).resolve()}//", ""])
        env = {**os.environ, "TEXINPUTS": search, "max_print_line": "1000"}
        if epoch is not None:
            env.update(SOURCE_DATE_EPOCH=str(int(epoch)), FORCE_SOURCE_DATE="1")
        done = subprocess.run([*LATEXMK, main], cwd=work, env=env, capture_output=True, text=True)
        tex_log = work / Path(main).with_suffix(".log")
        text = tex_log.read_text(errors="replace") if tex_log.exists() else done.stdout + done.stderr
        if done.returncode != 0:
            raise ResultsError(f"{Path(sources) / main}: LaTeX stopped: {_first_error(text)}")
        unresolved = sorted(set(UNRESOLVED.findall(text)))
        if unresolved:
            raise ResultsError(f"{Path(sources) / main}: undefined reference(s) {', '.join(unresolved)}: "
                               "fix the \\ref or \\cite (the PDF would print ??)")
        too_wide = overfull_boxes(text)
        if too_wide:
            raise ResultsError(f"{Path(sources) / main}: text runs past the text block: {'; '.join(too_wide)} "
                               "(a table: fewer or narrower columns; a paragraph: rephrase or allow a break)")
        unreferenced = unreferenced_labels(work / Path(main).with_suffix(".aux"), Path(sources))
        if unreferenced:
            raise ResultsError(f"{Path(sources) / main}: {', '.join(unreferenced)} never referenced in the prose: "
                               "add a \\ref to each (every figure and table is discussed)")
        staged = pdf.with_suffix(".pdf.tmp")
        shutil.copy2(work / Path(main).with_suffix(".pdf"), staged)
        staged.replace(pdf)
        print(f"{pdf} ({pdf.stat().st_size // 1024} KiB)")
