"""Workflow overhead: a no-op re-invocation, a dry run, and the CPU cost of waiting.

    python bench/bench_workflow.py       (after `snakemake --cores 1 results/quick/plots`)

Targets: no-op and dry run under 1.5 s; polling costs no CPU while waiting and makes at most
one status call per poll interval.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

from kernel_runner.backends import RUNNING, Status
from kernel_runner.poll import wait

REPO = Path(__file__).resolve().parents[1]


def timed(*args: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "1", *args], cwd=REPO,
                             capture_output=True, text=True)
        best = min(best, time.perf_counter() - t0)
        if out.returncode != 0:
            raise SystemExit(out.stderr[-2000:])
    return best


class Sleeper:
    """A run that stays RUNNING; counts the status calls."""

    name = "bench"

    def __init__(self) -> None:
        self.calls = 0

    def status(self, record: dict) -> Status:
        self.calls += 1
        return Status(RUNNING)

    def log(self, record: dict) -> list:
        return []


def polling_cost(seconds: float = 5.0, interval: float = 1.0) -> tuple[float, int]:
    backend = Sleeper()
    before = resource.getrusage(resource.RUSAGE_SELF)
    try:
        wait(backend, {"backend": "bench", "id": "x", "launched": time.time()}, "n", interval=interval,
             deadline=seconds, log_file=Path("/tmp/bench-poll.log"), echo=lambda m: None)
    except Exception:
        pass  # the deadline ends the wait
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, backend.calls


def main() -> None:
    noop = timed("results/quick/plots")
    dry = timed("-n", "results/quick/plots")
    cpu, calls = polling_cost()
    print(f"{'measure':45s} {'value':>10s} {'target':>10s}")
    print(f"{'no-op re-invocation (s)':45s} {noop:10.2f} {'< 1.5':>10s}  {'ok' if noop < 1.5 else 'ABOVE'}")
    print(f"{'dry run (s)':45s} {dry:10.2f} {'< 1.5':>10s}  {'ok' if dry < 1.5 else 'ABOVE'}")
    print(f"{'CPU while waiting 5 s, interval 1 s (s)':45s} {cpu:10.3f} {'~0':>10s}")
    print(f"{'status calls in 5 s, interval 1 s':45s} {calls:10d} {'<= 6':>10s}  {'ok' if calls <= 6 else 'ABOVE'}")


if __name__ == "__main__":
    main()
