"""Examiner mode: the finished runs of one mode packed into one archive for a data repository, and
restored from it so that figures, tables and the chapter rebuild with no kernel, no GPU and no
account.

An archive (``arz-rl-<mode>.tar.gz``) holds, for each run, its folder under
``results/<mode>/runs/<run>/`` as the workflow left it, less the resume state (checkpoints and
replay buffers: large, read by nothing downstream, and downloaded only when asked for) and the
local backend's scratch folder: the verified ``output/`` with the kernel's manifest
(``session_summary.json``), the sync record and code bundle, the rendered kernel, the launch and
completion records and the logs. Its first member, ``ARCHIVE.json``, lists every other member with
its sha256 and each run's identity as the workflow computed it (so that a restored run is the same
run to Snakemake). Next to it: ``<archive>.sha256`` (``sha256sum`` format) and ``zenodo.json`` (a
Zenodo deposition's metadata: title, creators, version, licence, keywords, the commit).

Restoring verifies the archive against its ``.sha256`` (when present), every member against
``ARCHIVE.json`` and every run's outputs against their own manifest, in a staging folder, and only
then moves the runs into place; a corrupt archive is refused naming the file that failed.  Restored
files get the time of the restore, in the chain's order (the sync record oldest, the downloaded
outputs newest): on a fresh clone every script is newer than the archived times, and Snakemake would
rerun the chain from ``sync`` ("code has changed") had they kept them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from . import KernelRunnerError
from .download import RESUME_STATE, SUMMARY, check_download, sha256_file

INDEX = "ARCHIVE.json"
FORMAT = 1
#: what an archive leaves out of a run folder (relative to it)
LEFT_OUT = (f"output/{RESUME_STATE}", "local/")


def _members(run_dir: Path) -> list[Path]:
    files = []
    for path in sorted(run_dir.rglob("*")):
        rel = path.relative_to(run_dir).as_posix()
        if path.is_file() and not any(rel.startswith(p) or f"{rel}/" == p for p in LEFT_OUT):
            files.append(path)
    return files


def creators(settings: dict[str, Any], root: Path) -> tuple[list[str], str | None]:
    """Who made the data, for Zenodo (which refuses a deposition without creators): ``archive.
    creators``, else git's ``user.name`` in ``root``, said in the note returned beside them."""
    import subprocess

    names = [str(n) for n in settings.get("creators") or [] if str(n).strip()]
    if names:
        return names, None
    proc = subprocess.run(["git", "config", "user.name"], cwd=root, capture_output=True, text=True)
    name = proc.stdout.strip() if proc.returncode == 0 else ""
    if not name:
        raise KernelRunnerError("archive.creators is empty and git has no user.name: Zenodo refuses a deposition "
                                "without creators; list them in config/config.yaml (archive: {creators: "
                                "[\"Family, Given\"]})")
    return [name], (f"archive.creators is empty: zenodo.json names git's user.name, {name!r}, as its creator "
                    "(list the creators in config/config.yaml to name them yourself)")


def pack(mode: str, runs: dict[str, dict[str, Any]], root: str | Path, archive: str | Path, checksum: str | Path,
         metadata: str | Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Pack the runs of ``mode`` (``{run id: the workflow's run info}``) found under ``root``;
    the index returned holds the ``note`` of :func:`creators` when there is one."""
    root = Path(root)
    names, note = creators(settings, root)
    index: dict[str, Any] = {"format": FORMAT, "mode": mode, "left_out": list(LEFT_OUT), "runs": {}, "files": {}}
    members: list[Path] = []
    commits = []
    for run, info in runs.items():
        run_dir = root / "results" / mode / "runs" / run
        if not (run_dir / "complete.json").exists() or not (run_dir / "output" / SUMMARY).exists():
            raise KernelRunnerError(f"{run_dir}: not a finished, downloaded run: run the workflow first")
        check_download(run_dir / "output", skip=(RESUME_STATE,))
        summary = json.loads((run_dir / "output" / SUMMARY).read_text())
        commits.append(summary.get("commit"))
        index["runs"][run] = {**info, "commit": summary.get("commit"), "head": summary.get("head")}
        for path in _members(run_dir):
            rel = path.relative_to(root).as_posix()
            index["files"][rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
            members.append(path)
    archive, checksum, metadata = Path(archive), Path(checksum), Path(metadata)
    archive.parent.mkdir(parents=True, exist_ok=True)
    staged = archive.with_name(archive.name + ".tmp")
    raw = json.dumps(index, indent=1).encode()  # in the workflow's key order: Snakemake compares params so
    # gzip without a timestamp, members sorted: the same runs pack into the same bytes
    with staged.open("wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        head = tarfile.TarInfo(INDEX)
        head.size, head.mtime, head.mode = len(raw), 0, 0o644
        tar.addfile(head, io.BytesIO(raw))
        for path in members:
            info = tar.gettarinfo(str(path), arcname=path.relative_to(root).as_posix())
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with path.open("rb") as src:
                tar.addfile(info, src)
    staged.replace(archive)
    digest = sha256_file(archive)
    checksum.write_text(f"{digest}  {archive.name}\n")
    short = ", ".join(sorted({str(c)[:10] for c in commits}))
    zenodo = {"metadata": {
        "upload_type": "dataset",
        "title": f"{settings.get('title', 'ARZ-RL results')} ({mode} run, commit {short})",
        "creators": [{"name": n} for n in names],
        "description": (f"The verified outputs of {len(runs)} kernel run(s) of the {mode} mode, with their "
                        f"manifests, sync and launch records and logs. Restore with: snakemake --cores 1 "
                        f"results/{mode}/thesis/chapter.pdf --config restore={archive.name}"),
        "version": short,
        "license": settings.get("license", "cc-by-4.0"),
        "keywords": list(settings.get("keywords") or []),
        "notes": f"commit(s): {', '.join(sorted({str(c) for c in commits}))}; runs: {', '.join(runs)}",
    }, "files": [{"filename": archive.name, "checksum": f"sha256:{digest}", "bytes": archive.stat().st_size}]}
    metadata.write_text(json.dumps(zenodo, indent=1) + "\n")
    return {**index, "note": note}


def _fail(archive: Path, what: str) -> KernelRunnerError:
    return KernelRunnerError(f"restore={archive}: {what}; the archive is refused (nothing was restored): "
                             "download it again")


def restore(archive: str | Path, root: str | Path) -> dict[str, Any]:
    """Verify ``archive`` and put its runs in place under ``root`` (runs already there and intact
    are kept); returns its index (mode, runs with the workflow's run info)."""
    archive, root = Path(archive).expanduser(), Path(root)
    if not archive.is_file():
        raise KernelRunnerError(f"restore={archive}: no such file")
    side = archive.with_name(archive.name + ".sha256")
    if side.exists():
        expected = side.read_text().split()[0] if side.read_text().split() else ""
        if sha256_file(archive) != expected:
            raise _fail(archive, f"it does not match its checksum in {side.name}")
    try:
        tar = tarfile.open(archive, "r:gz")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise _fail(archive, f"not a readable .tar.gz ({exc})") from None
    with tar:
        try:
            first = tar.next()
            if first is None or first.name != INDEX:
                raise _fail(archive, f"its first member is not {INDEX}: not an archive of this workflow")
            index = json.loads(tar.extractfile(first).read())
            if index.get("format") != FORMAT:
                raise _fail(archive, f"archive format {index.get('format')}, this workflow reads {FORMAT}")
            mode = index["mode"]
            staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=_ensure(root / "results" / mode)))
            try:
                seen = set()
                for member in tar:
                    if member.name == INDEX:
                        continue
                    name = PurePosixPath(member.name)
                    if (not member.isfile() or name.is_absolute() or ".." in name.parts
                            or name.parts[:3] != ("results", mode, "runs") or member.name not in index["files"]):
                        raise _fail(archive, f"{member.name}: not a file this archive lists")
                    data = tar.extractfile(member).read()
                    meta = index["files"][member.name]
                    if len(data) != meta["bytes"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
                        raise _fail(archive, f"{member.name} does not match its sha256 in {INDEX}")
                    dest = staging / Path(*name.parts[3:])
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(data)
                    seen.add(member.name)
                missing = sorted(set(index["files"]) - seen)
                if missing:
                    raise _fail(archive, f"{missing[0]} is listed in {INDEX} but missing")
                _place(archive, index, staging, root, mode, tar)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError, KeyError) as exc:
            raise _fail(archive, f"unreadable ({type(exc).__name__}: {exc})") from None
    return index


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


#: the chain's outputs in the order its rules write them (a path relative to the run folder, by
#: prefix); what no prefix names (the download's log, a backend's files) goes with the last
CHAIN_ORDER = (("sync.json", "code.bundle", "logs/sync.log"), ("kernel/", "logs/render.log"),
               ("launch.json", "launches.jsonl", "logs/push.log"),
               ("complete.json", "logs/poll.log", "logs/kernel.log"))
#: seconds between two stages' times (on a filesystem of coarser resolution they tie, which
#: Snakemake reads as "not newer": nothing reruns either way)
STAGE_GAP_S = 0.01


def chain_stage(rel: str) -> int:
    """The position in :data:`CHAIN_ORDER` of a run folder's file ``rel`` (POSIX, relative)."""
    for stage, prefixes in enumerate(CHAIN_ORDER):
        if any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in prefixes):
            return stage
    return len(CHAIN_ORDER)


def _place(archive: Path, index: dict[str, Any], staging: Path, root: Path, mode: str, tar: tarfile.TarFile) -> None:
    """Check each staged run's outputs against their manifest, give every file the time of its
    stage of the chain (from now on), then move the runs into place."""
    import time

    members = {m.name: m for m in tar.getmembers() if m.isfile()}
    start = time.time()  # newer than every file of the clone the examiner restores into
    for run in index["runs"]:
        staged = staging / run
        try:
            check_download(staged / "output", skip=(RESUME_STATE,))
        except KernelRunnerError as exc:
            raise _fail(archive, f"run {run}: {exc}") from None
        for path in sorted(staged.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_file():
                rel = path.relative_to(staged).as_posix()
                member = members[f"results/{mode}/runs/{run}/{rel}"]
                when = start + STAGE_GAP_S * chain_stage(rel)
                os.utime(path, (when, when))
                path.chmod(member.mode & 0o777)  # the downloaded outputs stay read-only
    for run in index["runs"]:
        staged, dest = staging / run, root / "results" / mode / "runs" / run
        if dest.exists():
            try:
                check_download(dest / "output", skip=(RESUME_STATE,))
            except (KernelRunnerError, OSError, json.JSONDecodeError):
                raise KernelRunnerError(f"restore={archive}: {dest} exists and differs from the archive: move it "
                                        "away, then restore again") from None
            continue
        _settle_directories(staged)
        shutil.move(str(staged), dest)


def _settle_directories(folder: Path) -> None:
    """A directory's time as its newest file's, deepest first (``output/`` is a rule's output)."""
    for path in sorted((p for p in folder.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        newest = max((c.stat().st_mtime for c in path.iterdir()), default=None)
        if newest is not None:
            os.utime(path, (newest, newest))
