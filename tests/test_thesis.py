"""The thesis chapter built inside the workflow from the run's numbers, and the examiner's archive:
packed, refused when corrupt, restored into a folder with no results so that the chapter rebuilds
without a kernel (the real snakemake and latexmk on a temporary git copy of this repository)."""

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time

import pytest
from workflow_helpers import make_repo, planned_rules, runs, snakemake

pytestmark = pytest.mark.slow
CHAPTER = "results/quick/thesis/chapter.pdf"
ARCHIVE = "results/quick/archive/arz-rl-quick.tar.gz"
CHAIN = {"sync", "render", "push", "poll", "download"}


def _need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is missing: .ci/run installs Debian's {package}")
        pytest.skip(f"{tool} is not installed (Debian's {package})")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    _need("latexmk", "latexmk and texlive-latex-recommended")
    _need("pdftotext", "poppler-utils")
    r = make_repo(tmp_path_factory.mktemp("thesis"))
    out = snakemake(r, CHAPTER)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return r


def _pdf_text(pdf) -> str:
    return re.sub(r"\s+", "", subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                                             check=True).stdout)


def _printed(tex: str) -> str:
    """What a macro's TeX prints, as pdftotext reads it back (spaces dropped)."""
    return re.sub(r"\s+", "", tex.replace("\\textminus{}", "\u2212").replace("\\ensuremath{<}", "<")
                  .replace("\\,", ""))


def test_the_chapter_prints_the_numbers_of_the_json(repo):
    (run,) = runs(repo)
    evaluation = json.loads((run / "output" / "evaluation_results.json").read_text())
    summary = json.loads((run / "output" / "session_summary.json").read_text())
    numbers = json.loads((repo / "results" / "quick" / "thesis" / "numbers.json").read_text())
    level = evaluation["levels"][evaluation["headline_level"]]
    # the macros hold the JSON's numbers
    assert numbers["DelayHeadlinePPO"]["value"] == level["controllers"]["ppo"]["summary"]["avg_delay_s"]["mean"]
    assert numbers["DelayHeadlineMaxPressureHigh"]["value"] == \
        level["controllers"]["max_pressure"]["summary"]["avg_delay_s"]["ci95_high"]
    cmp = level["comparisons"]["ppo"]["max_pressure"]["avg_delay_s"]
    assert numbers["DiffHeadlinePPOVsMaxPressure"]["value"] == cmp["diff_mean"]
    assert numbers["PHolmHeadlinePPOVsMaxPressure"]["value"] == cmp["p_holm"]
    assert numbers["RunCommit"]["value"] == summary["commit"][:10] and numbers["RunId"]["value"] == summary["run_id"]
    # and the PDF prints them: every macro the chapter uses, as formatted
    text = _pdf_text(repo / CHAPTER)
    used = set(re.findall(r"\\([A-Za-z]+)", (repo / "thesis" / "chapter.tex").read_text())) & set(numbers)
    assert {"DelayHeadlinePPO", "DiffHeadlinePPOVsMaxPressure", "NSeeds", "RunCommit", "TimestepsPPO"} <= used
    for name in sorted(used - {"FigureProvenance"}):
        assert _printed(numbers[name]["text"]) in text, f"\\{name} = {numbers[name]['text']!r} is not in the PDF"
    assert f"{numbers['DelayHeadlinePPO']['value']:.1f}" in text
    assert text.count(f"commit{summary['commit'][:10]}") >= 5  # the front matter and every figure's caption
    assert "??" not in text
    # every word inside the text block (A4, 27.5 mm margins: x from 78 to 517 pt)
    boxes = subprocess.run(["pdftotext", "-bbox", str(repo / CHAPTER), "-"], capture_output=True, text=True,
                           check=True).stdout
    outside = [(w, x0, x1) for x0, x1, w in re.findall(r'xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" '
                                                         r'yMax="[\d.]+">([^<]*)<', boxes)
               if float(x0) < 78.0 - 1.0 or float(x1) > 517.0 + 1.0]
    assert not outside, outside[:10]


def test_prose_rebuilds_the_pdf_only_and_a_figure_its_figure_and_the_pdf(repo):
    time.sleep(1.1)  # past the mtime resolution of the outputs
    chapter = repo / "thesis" / "chapter.tex"
    chapter.write_text(chapter.read_text().replace("\\section{Results}", "\\section{Results, revised}"))
    assert planned_rules(repo, CHAPTER) == ["chapter"]
    queues = repo / "src" / "thesis_figures" / "queues.py"
    queues.write_text(queues.read_text() + "\n# restyled\n")
    assert planned_rules(repo, CHAPTER) == ["chapter", "queues"]
    out = snakemake(repo, CHAPTER)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Resultsrevised" in _pdf_text(repo / CHAPTER).replace(",", "")


def test_a_number_the_results_do_not_define_stops_the_build(repo):
    chapter = repo / "thesis" / "chapter.tex"
    original = chapter.read_text()
    before = (repo / CHAPTER).read_bytes()
    chapter.write_text(original.replace("\\DelayHeadlinePPO{}", "\\DelayHeadlineAlphaZero{}", 1))
    try:
        out = snakemake(repo, CHAPTER)
    finally:
        chapter.write_text(original)
    assert out.returncode != 0
    log = (repo / "results" / "quick" / "logs" / "thesis" / "latexmk.log").read_text()
    assert "Undefined control sequence" in log and "DelayHeadlineAlphaZero" in log, log[-2000:]
    assert "Undefined control sequence" in out.stderr
    # snakemake removes a failed job's output; the build never half-writes it
    assert not (repo / CHAPTER).exists() or (repo / CHAPTER).read_bytes() == before


def test_archive_then_restore_rebuilds_the_chapter_without_a_kernel(repo, tmp_path):
    out = snakemake(repo, CHAPTER, ARCHIVE)
    assert out.returncode == 0, out.stderr[-3000:]
    shelf = tmp_path / "zenodo"
    shelf.mkdir()
    for path in (repo / ARCHIVE).parent.iterdir():
        shutil.copy2(path, shelf / path.name)
    zenodo = json.loads((shelf / "zenodo.json").read_text())
    assert zenodo["metadata"]["upload_type"] == "dataset" and zenodo["metadata"]["license"]
    assert zenodo["files"][0]["checksum"].split(":")[1] == (shelf / "arz-rl-quick.tar.gz.sha256").read_text().split()[0]
    numbers_before = (repo / "results" / "quick" / "thesis" / "numbers.tex").read_bytes()
    (run,) = runs(repo)
    run_id = run.name
    launches_before = (run / "launches.jsonl").read_bytes()
    # the examiner's machine: a fresh clone of the same commit, every file newer than the archive's
    time.sleep(1.5)
    fresh = tmp_path / "examiner"
    subprocess.run(["git", "clone", "-q", str(repo), str(fresh)], check=True)
    restored = snakemake(fresh, CHAPTER, "--config", f"restore={shelf / 'arz-rl-quick.tar.gz'}")
    assert restored.returncode == 0, restored.stderr[-3000:]
    ran = set(re.findall(r"^localrule (\w+):", restored.stdout + restored.stderr, re.M))
    assert not ran & CHAIN, f"restore ran {ran & CHAIN}: a kernel step"
    assert {"numbers", "chapter"} <= ran
    (again,) = runs(fresh)
    assert again.name == run_id
    assert (again / "launches.jsonl").read_bytes() == launches_before
    assert (fresh / "results" / "quick" / "thesis" / "numbers.tex").read_bytes() == numbers_before
    assert "restored 1 run(s) of mode quick" in restored.stderr
    # and in the folder the archive was made in, its results deleted
    shutil.rmtree(repo / "results")
    again = snakemake(repo, CHAPTER, "--config", f"restore={shelf / 'arz-rl-quick.tar.gz'}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert not set(re.findall(r"^localrule (\w+):", again.stdout + again.stderr, re.M)) & CHAIN


def _tampered(archive, dest, edit_member: str) -> None:
    """A copy of ``archive`` with one member's bytes changed (a valid .tar.gz, its index kept)."""
    with tarfile.open(archive, "r:gz") as src, dest.open("wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as out:
        for member in src.getmembers():
            data = src.extractfile(member).read()
            if member.name.endswith(edit_member):
                data = data.replace(b'"mean": ', b'"mean": 1', 1)
                member.size = len(data)
            out.addfile(member, io.BytesIO(data))


def test_a_corrupt_archive_is_refused_naming_the_file(repo, tmp_path):
    out = snakemake(repo, ARCHIVE)
    assert out.returncode == 0, out.stderr[-3000:]
    archive = repo / ARCHIVE
    # a byte flipped in transit: the checksum beside it names the archive
    flipped = tmp_path / "flipped" / archive.name
    flipped.parent.mkdir()
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(data))
    shutil.copy2(f"{archive}.sha256", f"{flipped}.sha256")
    refused = snakemake(repo, "-n", CHAPTER, "--config", f"restore={flipped}")
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert f"restore={flipped}: it does not match its checksum in {archive.name}.sha256" in said, said[-2000:]
    # one file edited inside a well-formed archive (no checksum beside it): the index names the file
    edited = tmp_path / "edited" / archive.name
    edited.parent.mkdir()
    _tampered(archive, edited, "output/evaluation_results.json")
    shutil.rmtree(repo / "results" / "quick" / "runs")
    refused = snakemake(repo, "-n", CHAPTER, "--config", f"restore={edited}")
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert re.search(r"results/quick/runs/[\w-]+/output/evaluation_results.json does not match its sha256 in "
                     r"ARCHIVE.json; the archive is refused", said), said[-2000:]
    assert not any((repo / "results" / "quick" / "runs").glob("*-*-*")), "a refused archive restored something"
