"""Bring a finished run's outputs into place: fetch into a staging folder, verify the manifest
(sha256 of every file), the commit and the nonce, then rename into place atomically."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from . import KernelRunnerError
from .backends import RAW_LOG, Backend
from .render import OUT_DIR, STATE_DIR

SUMMARY = "session_summary.json"
#: the manifest's prefix of the resume state (checkpoints, replay buffers): downloaded only when
#: asked for, read by nothing downstream, left out of archives
RESUME_STATE = f"{STATE_DIR}/"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(staging: Path, commit: str, nonce: str, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check session_summary.json against this run and every file against its sha256 (files
    under a ``skip`` prefix: only that the manifest lists them)."""
    path = staging / SUMMARY
    if not path.exists():
        raise KernelRunnerError(f"the run's outputs have no {SUMMARY}: the kernel did not finish writing them")
    try:
        summary = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise KernelRunnerError(f"{SUMMARY} is not valid JSON ({exc}): the download is truncated or corrupt") from exc
    if summary.get("status") != "complete":
        raise KernelRunnerError(f"{SUMMARY} says status={summary.get('status')!r}: {summary.get('error')}")
    if summary.get("nonce") != nonce:
        raise KernelRunnerError(f"{SUMMARY} belongs to another run (nonce {summary.get('nonce')!r}, expected {nonce})")
    if summary.get("commit") != commit:
        raise KernelRunnerError(f"{SUMMARY} was produced by commit {summary.get('commit')}, expected {commit}")
    files = summary.get("files") or {}
    if not files:
        raise KernelRunnerError(f"{SUMMARY} lists no output files")
    for name, meta in files.items():
        if name.startswith(skip):
            continue
        f = staging / name
        if not f.is_file():
            raise KernelRunnerError(f"output {name} listed in the manifest was not downloaded")
        if f.stat().st_size != meta["bytes"] or sha256_file(f) != meta["sha256"]:
            raise KernelRunnerError(f"output {name} does not match its sha256 in the manifest (truncated or corrupt)")
    return summary


def download(backend: Backend, record: dict[str, Any], commit: str, nonce: str, dest: Path,
             cache: Path | None = None, state: bool = False) -> dict[str, Any]:
    """Fetch, verify and move the outputs of ``record`` to ``dest`` (which must not hold anything yet).

    The kernel's own outputs are the folder it wrote (:data:`OUT_DIR`, with its manifest); what
    else a platform left in the kernel's working directory is not this run's and stays behind.
    The files in ``dest`` are made read-only: they are the run's record, and the figure rules
    check them against the manifest before reading them; ``cache`` (see :func:`check_download`)
    records that they matched it now.  The resume state (:data:`STATE_DIR`: checkpoints, replay
    buffers; hundreds of MB that no figure reads) comes along only with ``state``; the manifest
    lists it either way.
    """
    skip = () if state else (RESUME_STATE,)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.staging-", dir=dest.parent))
    try:
        try:
            backend.fetch(record, staging, state=state)
        except OSError as exc:
            raise KernelRunnerError(f"could not write the run's outputs under {dest.parent}: {_os_reason(exc)}; "
                                    "free space there (or make it writable) and run the same command again") from None
        own = staging / OUT_DIR
        if not (own / SUMMARY).exists() and (staging / SUMMARY).exists():
            own = staging  # a kernel rendered before its outputs had a folder of their own
        summary = verify(own, commit, nonce, skip)
        if skip and (own / STATE_DIR).exists():  # a backend that brought it anyway
            shutil.rmtree(own / STATE_DIR)
        if (staging / RAW_LOG).exists() and own != staging:
            shutil.move(str(staging / RAW_LOG), own / RAW_LOG)
        if dest.exists():
            if any(dest.iterdir()):
                raise KernelRunnerError(f"{dest} already holds files: refusing to overwrite them")
            dest.rmdir()
        for path in own.rglob("*"):
            if path.is_file():
                path.chmod(0o444)
        own.rename(dest)  # atomic on one filesystem
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    if cache is not None:
        write_json_atomic_text(cache, json.dumps({name: _signature(dest / name) for name in summary["files"]
                                                  if not name.startswith(skip)}))
    return summary


def write_json_atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _os_reason(exc: OSError) -> str:
    """One short line for an OSError, also for shutil.Error (a list of (src, dst, why) per file)."""
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) and exc.args[0]:
        src, dst, why = exc.args[0][0]
        reason = re.search(r"\[Errno \d+\] ([^:]+)", str(why))
        return (f"{reason.group(1) if reason else why} (writing {Path(dst).name}; {len(exc.args[0])} file(s) "
                "failed)")
    return f"{exc.strerror or exc} ({Path(exc.filename).name})" if exc.filename else str(exc.strerror or exc)


#: beside a run's ``output/``: the size and modification time of every file when it was last found
#: to match the manifest, so that a check hashes only what changed since (a no-op stays fast
#: however large the outputs are)
VERIFIED = "verified.json"


def _signature(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def check_download(dest: Path, skip: tuple[str, ...] = (), cache: Path | None = None) -> None:
    """Raise a KernelRunnerError naming the first file of a downloaded ``dest`` that no longer
    matches the manifest the kernel wrote (files under a ``skip`` prefix are not read, e.g. the
    resume state, which nothing downstream reads and a download leaves behind by default). With
    ``cache`` (a JSON file), a file whose size and modification time are those recorded there when
    it last matched is not hashed again; the files that were are recorded."""
    summary = json.loads((dest / SUMMARY).read_text())
    known: dict[str, list[int]] = {}
    if cache is not None and cache.is_file():
        try:
            known = json.loads(cache.read_text())
        except (OSError, json.JSONDecodeError):
            known = {}
    seen: dict[str, list[int]] = {}
    for name, meta in sorted((summary.get("files") or {}).items()):
        if name.startswith(skip):
            continue
        path = dest / name
        if path.is_file() and known.get(name) == (sig := _signature(path)) and sig[0] == meta["bytes"]:
            seen[name] = sig
            continue
        if not path.is_file() or path.stat().st_size != meta["bytes"] or sha256_file(path) != meta["sha256"]:
            what = "is gone" if not path.is_file() else f"does not match the sha256 in {SUMMARY}"
            raise KernelRunnerError(f"{path} {what} (changed after the download): delete {dest} and run the same "
                                    "command again to download it afresh")
        seen[name] = _signature(path)
    if cache is not None and seen != known:
        try:
            write_json_atomic_text(cache, json.dumps(seen))
        except OSError:
            pass  # a read-only results folder: the next check hashes again, nothing is lost


def request_download_again(complete_file: Path) -> None:
    """Record in a run's ``complete.json`` that its outputs must be downloaded again (they were
    deleted): the file's content changes, which Snakemake takes as an updated input of every rule
    that reads it.  Written once per missing download (a dry run shows the same plan)."""
    record = json.loads(complete_file.read_text())
    if record.get("download_again"):
        return
    record["download_again"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    tmp = complete_file.with_name(complete_file.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    tmp.replace(complete_file)
