"""The config files a Snakemake call names, read before Snakemake reads them.

Snakemake loads every ``--configfile`` before it parses the workflow, and a missing file ends in
a Python traceback, a malformed one in "Config file is not valid JSON or YAML" without the file
or the line.  The workflow's default profile (``profiles/default/config.yaml``, which every
Snakemake call in this repository loads first) calls :func:`refuse_unreadable` with the command
line, so that both end in one line naming the file (and the line and column, for YAML).
"""

from __future__ import annotations

import sys
from pathlib import Path

CONFIGFILE_FLAGS = ("--configfile", "--configfiles")


def configfiles(argv: list[str]) -> list[str]:
    """The config files a snakemake command line names (``--configfile A B``, ``--configfile=A``)."""
    files, taking = [], False
    for arg in argv[1:]:
        if taking and not arg.startswith("-"):
            files.append(arg)
            continue
        taking = False
        name, eq, value = arg.partition("=")
        if name in CONFIGFILE_FLAGS:
            if eq:
                files.append(value)
            else:
                taking = True
    return files


def problem(path: str) -> str | None:
    """What is wrong with config file ``path``, in one line, or None."""
    import json

    import yaml

    file = Path(path).expanduser()
    if not file.is_file():
        return f"--configfile {path}: no such file (give the path of a YAML or JSON file)"
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"--configfile {path}: cannot be read ({exc})"
    try:
        json.loads(text)
        return None
    except ValueError:
        pass
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return f"--configfile {path}{where}: not valid YAML ({what}); fix it and run the same command again"
    if data is not None and not isinstance(data, dict):
        return f"--configfile {path}: holds a {type(data).__name__}, not a mapping of config keys"
    return None


def refuse_unreadable(argv: list[str]) -> None:
    """Exit with one line on the first config file of ``argv`` that Snakemake could not load."""
    for path in configfiles(argv):
        message = problem(path)
        if message:
            sys.exit(f"error: {message}")
