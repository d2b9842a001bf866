"""Workflow overhead: a no-op re-invocation, a dry run, and the CPU cost of waiting.

    python bench/bench_workflow.py [--large-mb 200]   (after `snakemake --cores 1 results/quick/plots`)

Targets: no-op and dry run under 1.5 s, also when the downloaded outputs weigh ``--large-mb``
(a copy of this repository whose quick run gets a synthetic file of that size, in its manifest:
the first call after a download hashes it once, every later one only looks at sizes and times);
polling costs no CPU while waiting and makes at most one status call per poll interval.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from kernel_runner.backends import RUNNING, Status
from kernel_runner.poll import wait

REPO = Path(__file__).resolve().parents[1]


def timed(*args: str, repeat: int = 3, cwd: Path = REPO, cores: bool = True) -> float:
    """The best of ``repeat`` wall times of ``snakemake [--cores 1] *args`` in ``cwd`` (s)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "snakemake", *(["--cores", "1"] if cores else []), *args],
                             cwd=cwd, capture_output=True, text=True)
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


def with_large_outputs(tmp: Path, megabytes: int) -> Path:
    """A copy of this repository (its tracked and untracked files, committed) with this repository's
    quick results, one run's output grown by a ``megabytes`` file listed in its manifest."""
    import hashlib
    import json
    import shutil

    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                            check=True, capture_output=True, text=True).stdout.split("\0")
    copy = tmp / "repo"
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    env = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "bench copy"]):
        subprocess.run(["git", *args], cwd=copy, check=True, capture_output=True, env={**os.environ,
                                                                                        **env})
    shutil.copytree(REPO / "results" / "quick", copy / "results" / "quick", symlinks=True,
                    ignore=shutil.ignore_patterns("local", "state"))
    output = next((copy / "results" / "quick" / "runs").glob("*/output"))
    when = output.stat().st_mtime  # the download's time: the figures stay newer than it
    output.chmod(0o755)
    big = output / "large_results.bin"
    block = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256()
    with big.open("wb") as fh:
        for _ in range(megabytes):
            fh.write(block)
            digest.update(block)
    summary = json.loads((output / "session_summary.json").read_text())
    summary["files"]["large_results.bin"] = {"sha256": digest.hexdigest(), "bytes": big.stat().st_size}
    (output / "session_summary.json").chmod(0o644)
    (output / "session_summary.json").write_text(json.dumps(summary))
    for path in (big, output / "session_summary.json", output):
        os.utime(path, (when, when))
    return copy


def main() -> None:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--large-mb", type=int, default=200)
    args = ap.parse_args()
    floor = timed("--version", cores=False)  # snakemake's own start: imports, no workflow
    noop = timed("results/quick/plots")
    dry = timed("-n", "results/quick/plots")
    with tempfile.TemporaryDirectory() as tmp:
        copy = with_large_outputs(Path(tmp), args.large_mb)
        first = timed("-n", "results/quick/plots", repeat=1, cwd=copy)  # hashes the new file once
        large = timed("results/quick/plots", cwd=copy)
    cpu, calls = polling_cost()
    print(f"{'measure':45s} {'value':>10s} {'target':>10s}")
    print(f"{'snakemake --version: its own start (s)':45s} {floor:10.2f} {'':>10s}  (the floor of any call)")
    print(f"{'no-op re-invocation (s)':45s} {noop:10.2f} {'< 1.5':>10s}  {'ok' if noop < 1.5 else 'ABOVE'}")
    print(f"{f'first call after {args.large_mb} MB more output (s)':45s} {first:10.2f} {'':>10s}  (hashes it once)")
    print(f"{f'no-op with {args.large_mb} MB more output (s)':45s} {large:10.2f} {'< 1.5':>10s}  "
          f"{'ok' if large < 1.5 else 'ABOVE'}")
    print(f"{'the workflow over the floor, no-op (s)':45s} {noop - floor:10.2f} {'< 0.5':>10s}  "
          f"{'ok' if noop - floor < 0.5 else 'ABOVE'}")
    print(f"{f'what {args.large_mb} MB more output adds to a no-op (s)':45s} {large - noop:10.2f} {'< 0.2':>10s}  "
          f"{'ok' if large - noop < 0.2 else 'ABOVE'}")
    print(f"{'dry run (s)':45s} {dry:10.2f} {'< 1.5':>10s}  {'ok' if dry < 1.5 else 'ABOVE'}")
    print(f"{'CPU while waiting 5 s, interval 1 s (s)':45s} {cpu:10.3f} {'~0':>10s}")
    print(f"{'status calls in 5 s, interval 1 s':45s} {calls:10d} {'<= 6':>10s}  {'ok' if calls <= 6 else 'ABOVE'}")


if __name__ == "__main__":
    main()
