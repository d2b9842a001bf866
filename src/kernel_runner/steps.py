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
from .backends.base import FAILED, pid_alive
from .download import RESUME_STATE, VERIFIED
from .download import download as download_outputs
from .gitsync import content_hash, snapshot
from .notify import notify
from .poll import CONTINUE, LiveLine, failure_reported, log_text, wait, write_json_atomic
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
    earlier = _parts(output.parent / LAUNCHES, run["nonce"])
    if earlier:
        # Snakemake wants this step again (e.g. its script changed), but this very kernel
        # was launched already: resume it rather than pay for a second run
        write_json_atomic(output, earlier[0])
        _log(log, f"run {run['run_id']} was already launched as {earlier[0]['id']}: resuming it, not relaunching")
        return earlier[0]
    record = _launch(get_backend(backend, settings), kernel_dir, output.parent, run, 1)
    write_json_atomic(output, record)
    _log(log, f"launched run {run['run_id']} on {backend}: {record['id']}")
    return record


def _parts(registry: Path, nonce: str) -> list[dict]:
    """The launches of the run ``nonce`` in ``registry``, part 1 first (the newest record of each part)."""
    parts: dict[int, dict] = {}
    for line in registry.read_text().splitlines() if registry.exists() else []:
        entry = json.loads(line)
        if entry.get("nonce") == nonce:
            parts[int(entry.get("part", 1))] = entry
    return [parts[k] for k in sorted(parts)]


@_reported
def poll(*, launch_file: Path, output: Path, backend: str, settings: dict, interval: float,
         deadline: float | None, log: Path, kernel_log: Path, progress_log_s: float = 30.0,
         notify_settings: dict | None = None, root: Path | None = None,
         continuation: dict | None = None) -> dict:
    """Wait on the launched run until it completes, launching its next part each time a part ends
    with ``SESSION_CONTINUE`` (its state saved before the backend's limit), up to
    ``continuation["max_parts"]`` parts; with ``continuation["after_kill"]`` a part that failed
    without the kernel reporting an error of its own (preempted, timed out, a lost node, killed) goes
    on from its last save too; a cancelled part (the user's decision) never does.  Each part
    is recorded in ``launches.jsonl`` with its number; ``output`` names the last.  Says how the run
    ended through the configured notification, if any."""
    first = json.loads(launch_file.read_text())
    continuation = {"max_parts": 1, "after_kill": False, **(continuation or {})}
    max_parts = int(continuation["max_parts"])
    registry = launch_file.parent / LAUNCHES
    # a wait interrupted while part k ran goes on waiting on part k, not on part 1
    record = (_parts(registry, first["nonce"]) or [first])[-1]
    be = get_backend(backend, settings)
    # snakemake and the shell it runs this script through: when snakemake dies (kill -9), stop waiting
    callers = _ancestors()
    live = LiveLine(to_log=lambda m: _log(log, m, echo=not sys.stderr.isatty()), log_every_s=progress_log_s)
    started = time.time()
    try:
        while True:
            part = int(record.get("part", 1))
            try:
                done = wait(be, record, record["nonce"], interval=interval, deadline=deadline,
                            log_file=Path(kernel_log), echo=lambda m: live.echo(m, lambda text: _log(log, text)),
                            progress=live.show, parent_alive=lambda: all(pid_alive(p) for p in callers))
            except KernelRunnerError as exc:
                if not (continuation["after_kill"] and exc.outcome == FAILED and part < max_parts
                        and not failure_reported(log_text(be.log(record)), record["nonce"])):
                    raise
                live.echo(f"part {part} of run {record['run_id']} was killed without reporting a failure "
                          f"({str(exc).splitlines()[0]}); continuation.after_kill: going on from its last save",
                          lambda text: _log(log, text))
                done = {"state": CONTINUE, "part": part}
            if done["state"] != CONTINUE:
                break
            if part >= max_parts:
                raise KernelRunnerError(
                    f"run {record['run_id']} saved its state at the end of part {part}, and continuation.max_parts="
                    f"{max_parts} allows no more: raise continuation.max_parts (--config continuation.max_parts=N) "
                    f"and run the same snakemake command: part {part + 1} goes on from that state", outcome="parts")
            record = _launch(be, launch_file.parent / "kernel", launch_file.parent, record, part + 1)
            live.echo(f"part {part} of run {record['run_id']} saved its state; launched part {part + 1} of at most "
                      f"{max_parts}: {record['id']}", lambda text: _log(log, text))
    except KernelRunnerError as exc:
        live.close()
        if exc.outcome:
            _notify(notify_settings, record, exc.outcome, str(exc).split("\n")[0], log, root)
        raise
    finally:
        live.close()
    done.update(launch=record, parts=int(record.get("part", 1)))
    write_json_atomic(output, done)
    in_parts = f" in {done['parts']} parts" if done["parts"] > 1 else ""
    since = time.time() - float(first.get("launched", started))  # the run's first launch
    _notify(notify_settings, record, "complete", f"finished after {since / 60:.1f} min{in_parts}", log, root)
    return done


def _launch(be: Any, kernel_dir: Path, run_dir: Path, run: dict, part: int) -> dict:
    """Launch ``part`` of the run ``run`` (its run.json, or an earlier part's launch record: the same
    rendered kernel, the same nonce) and record it in the run's ``launches.jsonl``."""
    # part 1 as every backend is called (one written before parts existed takes no part argument)
    record = be.launch(kernel_dir, run_dir, part=part) if part > 1 else be.launch(kernel_dir, run_dir)
    record.update(nonce=run["nonce"], commit=run["commit"], run_id=run["run_id"], part=part,
                  launched=record.get("launched", time.time()))
    with (run_dir / LAUNCHES).open("a") as fh:
        fh.write(json.dumps(record, sort_keys=True) + "\n")
    return record


def _notify(settings: dict | None, record: dict, outcome: str, detail: str, log: Path, root: Path | None) -> None:
    if not settings:
        return
    title = f"ARZ-RL run {record.get('run_id', record['id'])}: {outcome}"
    body = f"{record['backend']} run {record['id']} {outcome}: {detail}"
    notify(settings, title, body, log=lambda m: _log(log, m), root=root)


@_reported
def download(*, launch_file: Path, complete_file: Path, output: Path, backend: str, settings: dict,
             log: Path, state: bool = False) -> dict:
    """The run's verified results (its last part's output) into ``output``; its resume state too
    with ``state``."""
    complete = json.loads(complete_file.read_text())
    record = complete.get("launch") or json.loads(launch_file.read_text())
    be = get_backend(backend, settings)
    summary = download_outputs(be, record, record["commit"], record["nonce"], output,
                               cache=output.parent / VERIFIED, state=state)
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
