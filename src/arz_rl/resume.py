"""What a run longer than one session needs: a deadline, and a record of the units it finished.

A kernel's session ends at its backend's limit (Kaggle: ``session_timeout_seconds``, SLURM:
``--time``).  The kernel gives the experiment a deadline before that limit
(``python -m arz_rl.run --deadline <unix time>``); the experiment works in units (one level's
baseline tuning, one agent's training, one controller's evaluation at one level), keeps each
finished unit in the resume state (``<state>/units/``) and, once the deadline has passed, saves
what it is in the middle of (an agent's model, replay buffer, validation history and random
states: :mod:`arz_rl.train`), writes :data:`CONTINUE_FILE` and exits with :data:`EXIT_CONTINUE`.
The next part of the same run starts with that state and skips every finished unit; an agent
resumes from its newest checkpoint, so its training progress never goes back to zero.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import time
from pathlib import Path
from typing import Any

#: the experiment's exit status when it stopped at the deadline with its state saved (BSD's
#: EX_TEMPFAIL: "try again later"), distinct from success (0) and from every failure
EXIT_CONTINUE = 75
#: written into the state folder when the experiment stops at the deadline: what is done, what not
CONTINUE_FILE = "continue.json"
UNITS_DIR = "units"


class OutOfTime(Exception):
    """The deadline passed: the finished units and the state of the unfinished ones are saved."""


class Deadline:
    """A point in time (unix seconds) after which no new unit starts; ``None``: never."""

    def __init__(self, at: float | None = None) -> None:
        self.at = at

    def passed(self) -> bool:
        return self.at is not None and time.time() >= self.at

    def remaining_s(self) -> float | None:
        return None if self.at is None else self.at - time.time()

    def check(self, before: str) -> None:
        """Raise :class:`OutOfTime` when the deadline has passed (``before``: the unit not started)."""
        if self.passed():
            raise OutOfTime(f"deadline passed before {before}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    tmp.replace(path)  # a kill mid-write leaves the old file or none, never half of one


class Units:
    """Finished units of a run, one pickle each under ``<state>/units/<fingerprint>/``: a later part
    of the same run loads them instead of redoing the work.  ``parameters`` (the run's config) make
    the fingerprint: a run with other settings in the same folder finds none of them (its agents
    still resume from their checkpoints).  The state belongs to one commit of the code (the run's):
    pickles are read back by the same code that wrote them."""

    def __init__(self, state: Path, parameters: dict[str, Any]) -> None:
        digest = hashlib.sha256(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()
        self.folder = state / UNITS_DIR / digest[:16]

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.pkl"

    def get(self, key: str) -> Any | None:
        path = self._path(key)
        if not path.exists():
            return None
        with path.open("rb") as fh:
            return pickle.load(fh)

    def put(self, key: str, value: Any) -> Any:
        write_atomic(self._path(key), pickle.dumps(value))
        return value

    def done(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.pkl")) if self.folder.is_dir() else []


def write_continue(state: Path, reason: str, units: Units, pending: list[str]) -> dict[str, Any]:
    """Record why and where the experiment stopped (:data:`CONTINUE_FILE`); returns the record."""
    record = {"reason": reason, "stopped": time.time(), "done": units.done(), "pending": pending}
    write_atomic(state / CONTINUE_FILE, json.dumps(record, indent=1).encode())
    return record
