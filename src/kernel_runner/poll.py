"""Wait for a launched kernel: stream its log, report status changes, enforce a deadline, and
accept completion only with this run's SESSION_COMPLETE nonce (or, for a part of a run longer than
one session, its ``SESSION_CONTINUE <nonce> part <k>``)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import KernelRunnerError
from .backends import CANCELLED, COMPLETE, FINISHED, Backend, Status

RELAUNCH = "to launch this run again (a new nonce), run the same snakemake command with --forcerun render"
MARKER_START = "SESSION_START"
MARKER_OK = "SESSION_COMPLETE"
MARKER_FAILED = "SESSION_FAILED"
MARKER_CONTINUE = "SESSION_CONTINUE"
MARKER_STOPPED = "SESSION_STOPPED"  #: the kernel was stopped from outside (a signal), not by an error
CONTINUE = "continue"  #: the state :func:`wait` returns when a part saved its state for the next part


def log_text(entries: list[dict[str, Any]]) -> str:
    """Readable text of Kaggle-format log entries."""
    return "".join(str(e.get("data", "")) for e in entries)


def marker_seen(text: str, nonce: str) -> bool:
    """True when a line is exactly ``SESSION_COMPLETE <nonce>``."""
    return any(line.strip() == f"{MARKER_OK} {nonce}" for line in text.splitlines())


def continue_seen(text: str, nonce: str, part: int) -> bool:
    """True when a line is exactly ``SESSION_CONTINUE <nonce> part <part>``."""
    return any(line.strip() == f"{MARKER_CONTINUE} {nonce} part {part}" for line in text.splitlines())


def failure_reported(text: str, nonce: str) -> bool:
    """True when the kernel itself reported this run's failure (an error, not a killed session)."""
    return any(line.strip().split(":")[0] == f"{MARKER_FAILED} {nonce}" for line in text.splitlines())


def belongs_to_run(text: str, nonce: str, part: int = 1) -> bool:
    """True when the log carries this run's end marker (success, failure, or part ``part``'s
    continuation) with its nonce."""
    marks = ({f"{m} {nonce}" for m in (MARKER_OK, MARKER_FAILED, MARKER_STOPPED)}
             | {f"{MARKER_CONTINUE} {nonce} part {part}"})
    return any(line.strip().split(":")[0] in marks for line in text.splitlines())


PROGRESS = "PROGRESS"  #: the prefix of a kernel's progress lines: ``PROGRESS {json}``


class ProgressBoard:
    """The latest progress line of each task of a kernel, as one line of text.

    A kernel prints ``PROGRESS {"task", "phase", "done", "total", "unit", "rate", "eta_s", ...}``
    lines (any backend streams them with the log); the text is
    ``[phase] task done/total unit (p%), rate/s, ETA …, facts…`` per task, ``|`` between tasks
    (a finished task drops out once another one reports).
    """

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}

    def feed(self, text: str) -> bool:
        """Read progress lines out of ``text``; True when anything changed."""
        changed = False
        for line in text.splitlines():
            if line.startswith(PROGRESS + " "):
                try:
                    item = json.loads(line[len(PROGRESS) + 1:])
                except json.JSONDecodeError:
                    continue
                if isinstance(item, dict) and "task" in item:
                    self.tasks.pop(item["task"], None)
                    self.tasks[item["task"]] = item  # newest last
                    changed = True
        if changed:  # keep the running tasks, and the last one to report
            running = {k: v for k, v in self.tasks.items() if v.get("done", 0) < v.get("total", 0)}
            last = next(reversed(self.tasks))
            self.tasks = {**running, last: self.tasks[last]} if last not in running else running
        return changed

    def text(self) -> str:
        return " | ".join(_describe(t) for t in self.tasks.values())


def _describe(t: dict[str, Any]) -> str:
    done, total = t.get("done", 0), t.get("total", 0)
    parts = [f"[{t.get('phase', '?')}] {t['task']} {done:,}/{total:,} {t.get('unit', '')}".rstrip()]
    if total:
        parts[0] += f" ({100 * done / total:.0f}%)"
    if t.get("rate"):
        parts.append(f"{t['rate']:,.0f}/s")
    if t.get("eta_s") is not None and done < total:
        parts.append(f"ETA {_hms(t['eta_s'])}")
    skip = {"task", "phase", "done", "total", "unit", "rate", "eta_s"}
    parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in t.items()
              if k not in skip and v is not None]
    return ", ".join(parts)


def wait(backend: Backend, record: dict[str, Any], nonce: str, *, interval: float, deadline: float | None,
         log_file: Path, echo: Callable[[str], None], sleep: Callable[[float], None] = time.sleep,
         clock: Callable[[], float] = time.time, tail_lines: int = 30,
         parent_alive: Callable[[], bool] | None = None,
         progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Block until the run ends; return the completion record or raise KernelRunnerError.

    One status call and one log call per ``interval`` seconds, sleeping in
    between (no busy loop).  ``deadline`` (s since launch) ends the wait with
    an error that keeps the launch record, so the next invocation resumes.
    A finished status whose log does not yet end with this run's marker is
    taken for the previous version's (Kaggle shows it right after a push)
    during the backend's ``stale_grace_s`` after launch, and waited out.  When ``parent_alive``
    says the process that started this wait (snakemake) is gone, the wait ends: an orphaned
    poller would otherwise go on alone, beside the next snakemake's.  ``progress`` receives the
    kernel's progress (:class:`ProgressBoard`'s text) whenever it changes.
    """
    grace = float(getattr(backend, "stale_grace_s", 0.0))
    launched = float(record.get("launched", clock()))
    part = int(record.get("part", 1))
    what = f"{record['backend']} run {record['id']}" + (f" (part {part})" if part > 1 else "")
    seen = 0
    last_state = None
    board = ProgressBoard()
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a") as out:
        out.write(f"--- polling {what} ---\n")
        while True:
            status: Status = backend.status(record)
            entries = backend.log(record)
            if len(entries) > seen:
                new = log_text(entries[seen:])
                out.write(new)
                out.flush()
                seen = len(entries)
                if board.feed(new) and progress is not None:
                    progress(board.text())
            elapsed = clock() - launched
            shown = status.state
            stale = status.state in FINISHED and elapsed < grace and not belongs_to_run(log_text(entries), nonce, part)
            if stale:
                shown = f"{status.state} (not this run's: previous version's status, waiting)"
            if shown != last_state:
                msg = f"[{_hms(elapsed)}] {what}: {shown}"
                echo(msg + (f" ({status.message})" if status.message and not stale else ""))
                out.write(msg + "\n")
                last_state = shown
            if stale:
                sleep(interval)
                continue
            if status.state in FINISHED:
                text = log_text(entries)
                tail = "\n".join(text.splitlines()[-tail_lines:])
                if status.state == COMPLETE and marker_seen(text, nonce):
                    return {"state": COMPLETE, "nonce": nonce, "elapsed_s": elapsed, "finished": clock(),
                            "run": record["id"], "part": part}
                if status.state == COMPLETE and continue_seen(text, nonce, part):
                    return {"state": CONTINUE, "nonce": nonce, "elapsed_s": elapsed, "finished": clock(),
                            "run": record["id"], "part": part}
                if status.state == COMPLETE:
                    raise KernelRunnerError(
                        f"run {record['id']} finished without 'SESSION_COMPLETE {nonce}': not this run's success "
                        f"(stale status or a kernel that did not finish); {RELAUNCH}. Last log lines:\n{tail}",
                        outcome="failed")
                how = "was cancelled" if status.state == CANCELLED else "failed"
                raise KernelRunnerError(f"run {record['id']} {how}: {status.message or 'no message'}; {RELAUNCH}.\n"
                                        f"Last log lines:\n{tail}", outcome=status.state)
            if parent_alive is not None and not parent_alive():
                raise KernelRunnerError(f"the snakemake that started this wait is gone: stopped waiting on run "
                                        f"{record['id']} (it keeps running); run `snakemake --unlock`, then the same "
                                        "command again to resume")
            if deadline is not None and elapsed > deadline:
                raise KernelRunnerError(
                    f"run {record['id']} still {status.state} after {_hms(elapsed)} (poll.deadline_s={deadline:g}); "
                    "the launch record is kept: run the same snakemake command again to resume waiting",
                    outcome="deadline")
            sleep(interval)


def _hms(seconds: float) -> str:
    s = int(max(0, seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)



class LiveLine:
    """The kernel's progress as one terminal line rewritten in place (tqdm) when ``stream`` is a
    terminal, and the same text in the step's log (``to_log``) at most every ``log_every_s``
    seconds; without a terminal, the log lines are all there is (``to_log`` also prints them).
    Status messages go through :meth:`echo`, above the live line."""

    def __init__(self, to_log: Callable[[str], None], stream: Any = None, log_every_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        import sys

        from tqdm import tqdm

        self.stream = stream or sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bar = tqdm(total=0, bar_format="{desc}", file=self.stream, leave=False, dynamic_ncols=True,
                        disable=not self.live)
        self.to_log, self.every, self.clock = to_log, log_every_s, clock
        self.logged = -float("inf")
        self.text = ""
        self.closed = False

    def show(self, text: str) -> None:
        self.text = text
        if self.live:
            self.bar.set_description_str(text, refresh=True)
        if self.clock() - self.logged >= self.every:
            self.logged = self.clock()
            self.to_log("progress: " + text)

    def echo(self, message: str, print_and_log: Callable[[str], None]) -> None:
        if self.live:
            self.bar.clear()
        print_and_log(message)
        if self.live:
            self.bar.refresh()

    def close(self) -> None:
        """Log the last state (whenever the wait ends) and clear the line; once."""
        if self.closed:
            return
        self.closed = True
        if self.text and self.clock() > self.logged:
            self.to_log("progress: " + self.text)
        self.bar.close()
