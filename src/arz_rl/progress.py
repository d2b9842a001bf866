"""Progress lines a long run prints while it works, for whoever watches it.

Where the output is a log (a kernel's, which the workflow's poll step streams on every backend):
one line ``PROGRESS {json}`` per task at most every ``every_s`` seconds, and one when it ends,
with ``task`` (e.g. ``ppo seed 0``), ``phase`` (train, validate, evaluate), ``done``/``total`` in
``unit``, ``rate`` per second and ``eta_s`` once a rate has been measured (null before), and facts
(episodes, the last validation delay).  In a terminal (``python -m arz_rl.run`` by hand) the same
facts as one human line per task instead.  ``ARZ_PROGRESS=json`` or ``human`` chooses explicitly.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

MARK = "PROGRESS"
#: a rate is reported once this many seconds have passed or this share of the work is done (a
#: first line after one step would extrapolate its start-up cost to the whole run)
RATE_AFTER_S = 10.0
RATE_AFTER_SHARE = 0.01


def _hms(seconds: float) -> str:
    s = int(max(0, seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def describe(line: dict[str, Any]) -> str:
    """The human form of a progress line: ``[phase] task done/total unit (p%), rate/s, ETA …, facts``."""
    done, total = line["done"], line["total"]
    head = f"[{line['phase']}] {line['task']} {done:,}/{total:,} {line['unit']}"
    parts = [head + (f" ({100 * done / total:.0f}%)" if total else "")]
    if line.get("rate"):
        parts.append(f"{line['rate']:,.0f}/s")
    if line.get("eta_s") is not None and done < total:
        parts.append(f"ETA {_hms(line['eta_s'])}")
    skip = {"task", "phase", "done", "total", "unit", "rate", "eta_s"}
    parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in line.items()
              if k not in skip and v is not None]
    return ", ".join(parts)


def human_output(stream: Any = None) -> bool:
    """Whether progress goes out as human lines: ``ARZ_PROGRESS``, else whether stdout is a terminal."""
    chosen = os.environ.get("ARZ_PROGRESS", "").lower()
    if chosen in ("json", "human"):
        return chosen == "human"
    return bool(getattr(stream or sys.stdout, "isatty", lambda: False)())


class Progress:
    """The progress of one task; :meth:`update` prints a line when ``every_s`` has passed."""

    def __init__(self, task: str, phase: str, total: int, unit: str, every_s: float = 10.0, start: int = 0) -> None:
        self.task, self.phase, self.total, self.unit, self.every_s = task, phase, int(total), unit, float(every_s)
        self.start_done = int(start)
        self.t0 = time.monotonic()
        self.last = -float("inf")
        self.human = human_output()

    def line(self, done: int, **facts: Any) -> dict[str, Any]:
        """The progress record of ``done`` now (rate and ETA only once they mean something)."""
        elapsed = time.monotonic() - self.t0
        progressed = done - self.start_done
        known = progressed >= 2 and (elapsed >= RATE_AFTER_S
                                     or progressed >= RATE_AFTER_SHARE * max(self.total - self.start_done, 1))
        rate = progressed / elapsed if known and elapsed > 0 else None
        left = max(self.total - done, 0)
        return {"task": self.task, "phase": self.phase, "done": int(done), "total": self.total, "unit": self.unit,
                "rate": round(rate, 2) if rate else None, "eta_s": round(left / rate) if rate else None,
                **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in facts.items()}}

    def update(self, done: int, force: bool = False, **facts: Any) -> bool:
        """Report ``done`` (and ``facts``) if ``every_s`` has passed since the last line, or ``force``."""
        now = time.monotonic()
        if not force and now - self.last < self.every_s:
            return False
        self.last = now
        line = self.line(done, **facts)
        # one write of the whole line: worker processes share the log, and print() writes the line
        # and its newline separately (on an unbuffered stdout, two lines could run together)
        sys.stdout.write((describe(line) if self.human else f"{MARK} {json.dumps(line)}") + "\n")
        sys.stdout.flush()
        return True
