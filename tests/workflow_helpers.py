"""Drive the real `snakemake` on a copy of this repository in a temporary git repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "data" / "tiny.yaml"


def make_repo(dest: Path) -> Path:
    """Copy the tracked and untracked (not ignored) files of this repo into ``dest`` and commit them."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                            check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "test copy")
    return dest


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True, env=env).stdout


def snakemake_cmd(*args: str, config: Path | None = TINY, kill_after: float | None = None) -> list[str]:
    """The snakemake command line; with ``kill_after``, under `timeout -k`, since a hung executor
    (e.g. the SLURM plugin waiting on a job it lost) ignores SIGTERM."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", *args]
    if config is not None:
        cmd += ["--configfile", str(config)]
    if kill_after is not None:
        cmd = ["timeout", "-k", "10", str(int(kill_after)), *cmd]
    return cmd


def start_snakemake(repo: Path, *args: str, config: Path | None = TINY, env: dict | None = None,
                    kill_after: float | None = None) -> subprocess.Popen:
    """snakemake in the background, in its own process group (for os.killpg), with SIGINT at its
    default: a test run from a non-interactive shell's background job inherits SIGINT ignored,
    and Python then never raises KeyboardInterrupt."""
    import signal

    return subprocess.Popen(snakemake_cmd(*args, config=config, kill_after=kill_after), cwd=repo,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def snakemake(repo: Path, *args: str, config: Path | None = TINY, timeout: float = 600,
              env: dict | None = None, kill_after: float | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(snakemake_cmd(*args, config=config, kill_after=kill_after), cwd=repo,
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def planned_rules(repo: Path, *args: str, config: Path | None = TINY) -> list[str]:
    """Rule names of the jobs a dry run would execute (from its "Job stats" table)."""
    out = snakemake(repo, "-n", *args, config=config)
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout + out.stderr
    if "Job stats:" not in text:
        return []
    table = text.split("Job stats:")[1].split("total")[0]
    rules = []
    for line in table.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            rules += [parts[0]] * int(parts[1])
    return sorted(rules)


def runs(repo: Path, mode: str = "quick") -> list[Path]:
    return sorted((repo / "results" / mode / "runs").glob("*"))


def launches(run: Path) -> list[dict]:
    path = run / "launches.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def wait_until_polling(repo: Path, mode: str = "quick", timeout: float = 180) -> Path:
    """The run folder whose poll step is waiting now (its poll.log has a line, no complete.json yet)."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        for run in runs(repo, mode):
            log = run / "logs" / "poll.log"
            if not (run / "complete.json").exists() and log.exists() and log.stat().st_size > 0:
                return run
        time.sleep(0.2)
    raise AssertionError(f"no run of {repo} started polling within {timeout:.0f} s")
