"""One function per workflow step; the Snakemake scripts call these with their inputs/outputs.

Each step writes its product only when it succeeded, so an interrupted or
failed step never leaves a half-written output that a later step trusts.
A :class:`KernelRunnerError` is reported as one clear message, not a traceback.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import KernelRunnerError
from .backends import get_backend
from .backends.base import pid_alive
from .download import RESUME_STATE, VERIFIED
from .download import download as download_outputs
from .gitsync import content_hash, snapshot
from .notify import notify
from .poll import LiveLine, wait, write_json_atomic
from .render import check_experiment, render_kernel

LAUNCHES = "launches.jsonl"  #: every launch of a run folder, never deleted by Snakemake


def _reported(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except KernelRunnerError as exc:
            _report(kwargs.get("log"), f"ERROR ({fn.__name__}): {exc}")
            raise SystemExit(1) from None
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C does not cut this short
            _report(kwargs.get("log"), f"interrupted during {fn.__name__}: a launched run keeps running; run the "
                    "same snakemake command again to resume (after `snakemake --unlock` if snakemake was killed)")
            raise SystemExit(130) from None
        except OSError as exc:  # e.g. a read-only results/ folder: one line, not a traceback
            where = exc.filename or "a file"
            writing = exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC)
            fix = "make it writable (or free space there)" if writing else "check it"
            _report(None, f"ERROR ({fn.__name__}): {where}: {exc.strerror or exc}; {fix} and run the same command "
                    "again")
            raise SystemExit(1) from None

    return wrapper


def _report(log: str | Path | None, msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
    if log:
        with open(log, "a") as fh:
            fh.write(msg + "\n")


def _ancestors() -> list[int]:
    """Pids of this process's ancestors below init (from /proc; just the parent elsewhere)."""
    chain, pid = [], os.getppid()
    while pid > 1 and len(chain) < 64:
        chain.append(pid)
        try:
            with open(f"/proc/{pid}/stat") as fh:
                pid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return chain


def _log(log: str | Path, msg: str, echo: bool = True) -> None:
    line = f"[{time.strftime('%H:%M:%S')}] {msg}"
    if echo:
        print(line, file=sys.stderr, flush=True)
    with open(log, "a") as fh:
        fh.write(line + "\n")


@_reported
def sync(*, root: Path, output: Path, paths: list[str], exclude: list[str], extra: dict, expected_hash: str,
         remote: str | None, push: bool, log: Path) -> dict:
    """Pin the commit of this run and write the sentinel."""
    chash = content_hash(root, paths, exclude, extra)
    if chash != expected_hash:
        raise KernelRunnerError("experiment files changed while the workflow was starting: run snakemake again")
    bundle = (output.parent / "code.bundle").resolve()
    snap = snapshot(root, paths, exclude, chash, remote=remote, push=push, bundle=bundle)
    changes = f", {len(snap.snapshotted_changes)} not committed" if snap.head and snap.snapshotted_changes else ""
    _log(log, f"pinned {snap.sha} as {snap.ref}: {snap.files} experiment files{changes}, from HEAD {snap.head}; "
              f"code bundle {snap.bundle['bytes'] / 1024:.0f} KiB" + (f"; pushed to {remote}" if snap.pushed else ""))
    write_json_atomic(output, snap.to_dict())
    return snap.to_dict()


@_reported
def render(*, sync_file: Path, template_dir: Path, out_dir: Path, run: dict, metadata: dict, log: Path,
           check: list[str] | None = None) -> dict:
    """Validate the settings with the pinned experiment's own ``check`` command, then render."""
    sync = json.loads(sync_file.read_text())
    if check:
        _log(log, "experiment's check: " + check_experiment(sync, run, check))
    record = render_kernel(template_dir, out_dir, sync, run, metadata)
    size = (out_dir / "kernel.py").stat().st_size
    _log(log, f"rendered kernel for run {record['run_id']} at commit {record['commit']} ({size / 1024:.0f} KiB, "
              "code embedded)")
    return record


@_reported
def push(*, kernel_dir: Path, run_file: Path, output: Path, backend: str, settings: dict, log: Path) -> dict:
    """Launch the rendered kernel and record what was launched (a direct input of download)."""
    run = json.loads(run_file.read_text())
    registry = output.parent / LAUNCHES
    for line in registry.read_text().splitlines() if registry.exists() else []:
        earlier = json.loads(line)
        if earlier.get("nonce") == run["nonce"]:
            # Snakemake wants this step again (e.g. its script changed), but this very kernel
            # was launched already: resume it rather than pay for a second run
            write_json_atomic(output, earlier)
            _log(log, f"run {run['run_id']} was already launched as {earlier['id']}: resuming it, not relaunching")
            return earlier
    be = get_backend(backend, settings)
    record = be.launch(kernel_dir, output.parent)
    record.update(nonce=run["nonce"], commit=run["commit"], run_id=run["run_id"],
                  launched=record.get("launched", time.time()))
    with registry.open("a") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    write_json_atomic(output, record)
    _log(log, f"launched run {run['run_id']} on {backend}: {record['id']}")
    return record


@_reported
def poll(*, launch_file: Path, output: Path, backend: str, settings: dict, interval: float,
         deadline: float | None, log: Path, kernel_log: Path, progress_log_s: float = 30.0,
         notify_settings: dict | None = None, root: Path | None = None) -> dict:
    """Wait on the launched run; say how it ended through the configured notification, if any."""
    record = json.loads(launch_file.read_text())
    be = get_backend(backend, settings)
    # snakemake and the shell it runs this script through: when snakemake dies (kill -9), stop waiting
    callers = _ancestors()
    live = LiveLine(to_log=lambda m: _log(log, m, echo=not sys.stderr.isatty()), log_every_s=progress_log_s)
    try:
        done = wait(be, record, record["nonce"], interval=interval, deadline=deadline, log_file=Path(kernel_log),
                    echo=lambda m: live.echo(m, lambda text: _log(log, text)), progress=live.show,
                    parent_alive=lambda: all(pid_alive(p) for p in callers))
    except KernelRunnerError as exc:
        live.close()
        if exc.outcome:
            _notify(notify_settings, record, exc.outcome, str(exc).split("\n")[0], log, root)
        raise
    finally:
        live.close()
    write_json_atomic(output, done)
    _notify(notify_settings, record, "complete", f"finished after {done['elapsed_s'] / 60:.1f} min", log, root)
    return done


def _notify(settings: dict | None, record: dict, outcome: str, detail: str, log: Path, root: Path | None) -> None:
    if not settings:
        return
    title = f"ARZ-RL run {record.get('run_id', record['id'])}: {outcome}"
    body = f"{record['backend']} run {record['id']} {outcome}: {detail}"
    notify(settings, title, body, log=lambda m: _log(log, m), root=root)


@_reported
def download(*, launch_file: Path, complete_file: Path, output: Path, backend: str, settings: dict,
             log: Path, state: bool = False) -> dict:
    """The run's verified results into ``output``; its resume state too with ``state``."""
    record = json.loads(launch_file.read_text())
    be = get_backend(backend, settings)
    summary = download_outputs(be, record, record["commit"], record["nonce"], output,
                               cache=output.parent / VERIFIED, state=state)
    complete = json.loads(complete_file.read_text())
    if complete.pop("download_again", None):  # asked for after the outputs were deleted: done now
        write_json_atomic(complete_file, complete)
    files = [p for p in output.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    left = "" if state else f"; the resume state ({RESUME_STATE}) stayed behind (download.state: true brings it)"
    _log(log, f"downloaded {len(files)} files ({size / 1e6:.1f} MB, verified) of run {record['run_id']} into "
              f"{output}{left}")
    return summary


@_reported
def pack_archive(mode: str, runs: dict[str, Any], root: str | Path, archive: str | Path, checksum: str | Path,
                 metadata: str | Path, settings: dict[str, Any], log: str | Path) -> None:
    """The examiner's archive of the finished runs of ``mode`` (:mod:`kernel_runner.archive`)."""
    from .archive import pack

    index = pack(mode, runs, root, archive, checksum, metadata, settings)
    if index.get("note"):
        _log(log, "note: " + index["note"])
    _log(log, f"packed {len(index['runs'])} run(s), {len(index['files'])} files, into {archive} "
              f"({Path(archive).stat().st_size // 1024} KiB); checksum {checksum}, metadata {metadata}")
