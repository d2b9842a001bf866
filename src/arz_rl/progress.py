"""Progress lines a long run prints while it works, for whoever watches its log.

One line ``PROGRESS {json}`` per task at most every ``every_s`` seconds (and one when it ends):
``task`` (e.g. ``ppo seed 0``), ``phase`` (train, validate, evaluate), ``done``/``total`` in
``unit``, and facts (episodes, last evaluation reward, rate per second, ETA in seconds).  The
workflow's poll step reads them from the streamed log (on every backend) and shows one live line.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

MARK = "PROGRESS"


class Progress:
    """The progress of one task; :meth:`update` prints a line when ``every_s`` has passed."""

    def __init__(self, task: str, phase: str, total: int, unit: str, every_s: float = 10.0, start: int = 0) -> None:
        self.task, self.phase, self.total, self.unit, self.every_s = task, phase, int(total), unit, float(every_s)
        self.start_done = int(start)
        self.t0 = time.monotonic()
        self.last = -float("inf")

    def update(self, done: int, force: bool = False, **facts: Any) -> bool:
        """Report ``done`` (and ``facts``) if ``every_s`` has passed since the last line, or ``force``."""
        now = time.monotonic()
        if not force and now - self.last < self.every_s:
            return False
        self.last = now
        elapsed = now - self.t0
        rate = (done - self.start_done) / elapsed if elapsed > 0 else 0.0
        left = max(self.total - done, 0)
        line = {"task": self.task, "phase": self.phase, "done": int(done), "total": self.total, "unit": self.unit,
                "rate": round(rate, 2), "eta_s": round(left / rate) if rate > 0 else None,
                **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in facts.items()}}
        # one write of the whole line: worker processes share the log, and print() writes the line
        # and its newline separately (on an unbuffered stdout, two lines could run together)
        sys.stdout.write(f"{MARK} {json.dumps(line)}\n")
        sys.stdout.flush()
        return True
