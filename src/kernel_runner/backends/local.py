"""The local backend: the rendered kernel runs as a detached process on this machine.

Each run gets a fresh scratch folder standing in for Kaggle's working
directory (``<run_dir>/local/work``).  A small supervisor
(:mod:`kernel_runner.backends.local_supervisor`) starts the kernel there,
timestamps its output into a Kaggle-format log and records the exit status,
in its own session so that interrupting Snakemake does not stop the run.  A
supervisor that died without writing an exit status is detected through its
pid and reported as a crash.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .base import (
    COMPLETE,
    FAILED,
    QUEUED,
    RUNNING,
    BackendBase,
    Status,
    copy_work_folder,
    kernel_environment,
    pid_alive,
)
from .local_supervisor import end_session


class LocalBackend(BackendBase):
    """Runs kernels on this machine (the default backend)."""

    name = "local"
    settings_schema = {"type": "object", "additionalProperties": False,
                       "properties": {"python": {"type": "string"},
                                      # a session limit of one's own (a shared machine's fair share)
                                      "time_limit_s": {"type": ["integer", "null"], "minimum": 10}}}
    shared_filesystem = True

    def __init__(self, python: str | None = None, time_limit_s: int | None = None) -> None:
        self.python = python or sys.executable
        self.time_limit_s = time_limit_s  # the kernel keeps to it (rendered in): nothing to enforce here

    @staticmethod
    def session_limit_s(settings: dict[str, Any]) -> float | None:
        return settings.get("time_limit_s")

    def launch(self, kernel_dir: Path, run_dir: Path, part: int = 1) -> dict[str, Any]:
        root = (run_dir / "local").resolve()
        work = root / "work"  # every part of a run works here: part k goes on from part k - 1's output
        if part == 1:
            if root.exists():
                shutil.rmtree(root)
            base = root
        else:
            base = root / f"part-{part}"
            if base.exists():
                shutil.rmtree(base)
        base.mkdir(parents=True, exist_ok=True)
        work.mkdir(parents=True, exist_ok=True)
        script = (kernel_dir / "kernel.py").resolve()
        cmd = [self.python, "-m", "kernel_runner.backends.local_supervisor", str(script), str(work), str(base)]
        env = kernel_environment(os.environ, KERNEL_PART=str(part))
        src = str(Path(__file__).resolve().parents[2])  # the supervisor needs only kernel_runner itself
        env["KERNEL_RUNNER_USER_PYTHONPATH"] = env.get("PYTHONPATH", "")
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=open(base / "supervisor.err", "w"), start_new_session=True)
        return {"backend": self.name, "id": f"pid-{proc.pid}", "pid": proc.pid, "base": str(base),
                "work": str(work), "launched": time.time(), "part": part}

    def _state(self, record: dict[str, Any]) -> dict[str, Any] | None:
        path = Path(record["base"]) / "status.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            return None  # being rewritten

    def status(self, record: dict[str, Any]) -> Status:
        state = self._state(record)
        if state and state.get("state") == "exited":
            rc = state.get("returncode")
            if rc == 0:
                return Status(COMPLETE, "kernel exited with status 0")
            why = f"killed by signal {-rc} ({signal.Signals(-rc).name})" if rc < 0 else f"exited with status {rc}"
            by = f" after the supervisor got {state['stopped_by']}" if state.get("stopped_by") else ""
            return Status(FAILED, f"kernel {why}{by}")
        if not pid_alive(record["pid"]):
            state = self._state(record)  # it may have finished between the two reads
            if state and state.get("state") == "exited":
                return self.status(record)
            ended = end_session(state["pid"]) if state and state.get("pid") else 0
            err = Path(record["base"]) / "supervisor.err"
            detail = err.read_text().strip().splitlines()[-1:] if err.exists() else []
            return Status(FAILED, f"the local kernel's supervisor (pid {record['pid']}) died without recording how the "
                          f"kernel ended (killed or crashed); {ended} process(es) of the kernel were stopped"
                          + (f": {detail[0]}" if detail else ""))
        return Status(RUNNING if state else QUEUED, "")

    def log(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        path = Path(record["base"]) / "log.jsonl"
        if not path.exists():
            return []
        entries = []
        for line in path.read_text().splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line still being written
        return entries

    def fetch(self, record: dict[str, Any], staging: Path, state: bool = False) -> None:
        copy_work_folder(Path(record["work"]), staging, self.log(record), state)


BACKEND = LocalBackend
