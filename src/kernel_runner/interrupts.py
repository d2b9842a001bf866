"""A SIGINT sent to snakemake's own pid reaches the jobs it runs, as a Ctrl-C in its terminal does.

Snakemake answers SIGINT by waiting for its running jobs to finish; a job waiting on a kernel
(poll) may take hours.  A terminal's Ctrl-C reaches the poll step too (the whole foreground
process group gets it) and the step stops at once, keeping the launch for the next run; a
`kill -INT <snakemake pid>` reaches snakemake alone.  This handler, installed by the workflow,
passes the signal on to snakemake's descendants in its own session (a local kernel runs in a
session of its own and is never among them), then lets snakemake handle it as before.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path


def descendants(pid: int) -> list[int]:
    """Pids of every descendant of ``pid`` (from /proc; none where there is no /proc)."""
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


def forward_interrupts_to_jobs() -> None:
    """Install the handler (in the main thread; once)."""
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)
    if getattr(previous, "forwards_to_jobs", False):
        return

    def handler(signum: int, frame: object) -> None:
        session = os.getsid(0)
        for pid in descendants(os.getpid()):
            try:
                if os.getsid(pid) == session:
                    os.kill(pid, signal.SIGINT)
            except (ProcessLookupError, PermissionError):
                pass
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    handler.forwards_to_jobs = True  # type: ignore[attr-defined]
    signal.signal(signal.SIGINT, handler)
