"""Shared fixtures: one tiny experiment run (with its validation) reused by the figure tests."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

TINY_RUN = {"seeds": 2, "episode_length": 150.0, "timesteps": {"ppo": 256, "dqn": 300},
            "ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 2}, "dqn": {"learning_starts": 100},
            "eval_episodes": 2, "validation_episodes": 1, "eval_freq": 100, "checkpoint_freq": 100,
            "tune_cycles": [50.0, 80.0], "tune_mp_intervals": [10.0, 20.0], "device": "cpu", "warm_start_episodes": 4,
            "ablations": ["clone_only", "scratch"]}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A downloaded-looking results folder: experiment outputs, validation tables, session summary."""

    from arz_rl.config import build_config
    from arz_rl.run import run
    from arz_rl.validate import riemann_study

    out = tmp_path_factory.mktemp("tiny-run")
    run(build_config("quick", TINY_RUN), out, log=lambda *_: None)
    table, profiles = riemann_study(resolutions=(50, 100, 200, 400))
    (out / "validation").mkdir()
    table.to_csv(out / "validation" / "riemann_table.csv", index=False)
    for name, df in profiles.items():
        df.to_csv(out / "validation" / f"riemann_{name}.csv", index=False)
    seal(out)
    return out


def seal(run_dir: Path, **summary) -> None:
    """Write ``session_summary.json`` with the sha256 manifest of every file in ``run_dir``, as a
    kernel does before its outputs are downloaded (the figures check files against it)."""
    import hashlib
    import json

    summary_path = run_dir / "session_summary.json"
    old = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    files = {p.relative_to(run_dir).as_posix(): {"sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
                                                 "bytes": p.stat().st_size}
             for p in sorted(run_dir.rglob("*")) if p.is_file() and p != summary_path}
    base = {"run_id": "local-cpu-0123456789ab", "commit": "f" * 40, "device": {"device": "cpu"}, "ended": 1.8e9,
            "status": "complete"}
    summary_path.write_text(json.dumps({**base, **old, **summary, "files": files}))


SLURM_SCRIPT = Path(__file__).parent / "slurm_cluster.sh"
#: every process the suite starts inherits this variable (set at start-up), so the check at the
#: end of the session finds the ones left behind, detached or not
SESSION_MARK = "ARZ_TEST_SESSION"
#: the machine's own SLURM configuration, which the suite must leave as it found it
MACHINE_SLURM = Path("/etc/slurm")


def pytest_configure(config) -> None:
    import os
    import time

    # a new mark per session: a pytest run inside a test has its own
    os.environ[SESSION_MARK] = f"{os.getpid()}-{time.time_ns()}"
    config.stash[_MACHINE_SLURM_KEY] = _tree_digest(MACHINE_SLURM)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus) -> None:
    """After every fixture's teardown: fail the run if a process started by the suite is still
    alive (listed), or if the machine's SLURM configuration changed."""
    import os
    from multiprocessing import resource_tracker

    # the tracker multiprocessing starts for this process (training workers) would end with it
    resource_tracker._resource_tracker._stop()
    # processes killed at teardown may take a moment to go
    left = leftover_processes(os.environ[SESSION_MARK], grace_s=float(os.environ.get("ARZ_LEAK_GRACE_S", "10")))
    problems = [f"process left behind by the test suite: pid {pid}: {cmd}" for pid, cmd in left]
    if _tree_digest(MACHINE_SLURM) != session.config.stash[_MACHINE_SLURM_KEY]:
        problems.append(f"the test suite changed the machine's SLURM configuration under {MACHINE_SLURM}")
    if problems:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        for line in problems:
            (reporter.write_line if reporter else print)("LEAK: " + line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_MACHINE_SLURM_KEY = pytest.StashKey[str]()


def _tree_digest(root: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    if root.is_dir():
        for path in sorted(root.rglob("*")):
            if path.is_file():
                digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def leftover_processes(mark: str, grace_s: float = 0.0) -> list[tuple[int, str]]:
    """(pid, command line) of live processes other than this one whose environment holds
    ``ARZ_TEST_SESSION=mark``, waiting up to ``grace_s`` for them to end by themselves."""
    import os
    import time

    needle = f"{SESSION_MARK}={mark}".encode()
    deadline = time.time() + grace_s
    while True:
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle not in (entry / "environ").read_bytes().split(b"\0"):
                    continue
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:  # gone meanwhile, or not ours to read
                continue
            if state != "Z":  # a zombie has ended; it only waits for its parent to reap it
                found.append((int(entry.name), cmd))
        if not found or time.time() >= deadline:
            return found
        time.sleep(0.5)


def _slurm_answers(env: dict | None = None, timeout_s: float = 15.0) -> bool:
    """Whether a SLURM controller answers ``sinfo`` (with ``env``'s SLURM_CONF) within ``timeout_s``.
    Never hangs: a configuration file that does not exist is no cluster (sinfo would retry for a
    minute), and a controller that does not answer in time is none either."""
    import os
    import shutil
    import subprocess

    env_now = env if env is not None else os.environ
    conf = env_now.get("SLURM_CONF")
    # sinfo as the probe's environment finds it (its PATH, not this process's)
    if not shutil.which("sinfo", path=env_now.get("PATH")) or (conf and not Path(conf).is_file()):
        return False
    try:
        out = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, timeout=timeout_s,
                             env=env)
    except subprocess.TimeoutExpired:
        return False
    return out.returncode == 0 and "up" in out.stdout


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running SLURM cluster for the SLURM tests.

    A cluster that already answers (the machine's own, or the test cluster started by hand) is
    used and left running.  Otherwise, as root with SLURM installed, the test cluster of
    tests/slurm_cluster.sh is started here, in its own folder (its own SLURM_CONF and munge), and
    stopped at the end of the session, also after a failure or Ctrl-C.  Elsewhere the tests are
    skipped, unless ARZ_REQUIRE_SLURM=1 (CI), where a missing cluster is a failure.
    """
    import os
    import shutil
    import subprocess

    started = False
    if not _slurm_answers():
        conf = subprocess.run(["bash", str(SLURM_SCRIPT), "conf"], capture_output=True, text=True).stdout.strip()
        test_env = {**os.environ, "SLURM_CONF": conf}
        if not _slurm_answers(test_env) and shutil.which("slurmctld") and os.geteuid() == 0:
            subprocess.run(["bash", str(SLURM_SCRIPT), "start"], check=False, timeout=120)
            started = True
        os.environ["SLURM_CONF"] = conf
        # the executor plugin's jobs run srun without SLURM_CONF: tests/slurm_bin/srun brings it back
        os.environ["ARZ_SLURM_CONF"] = conf
        os.environ["PATH"] = f"{SLURM_SCRIPT.parent / 'slurm_bin'}{os.pathsep}{os.environ['PATH']}"
    try:
        if not _slurm_answers():
            msg = ("no SLURM cluster answers: run `sudo tests/slurm_cluster.sh install` (the tests start it as "
                   "root) or `sudo tests/slurm_cluster.sh start` and export SLURM_CONF=$(tests/slurm_cluster.sh conf)")
            if os.environ.get("ARZ_REQUIRE_SLURM") == "1":
                pytest.fail(msg)
            pytest.skip(msg)
        yield
    finally:
        if started:
            subprocess.run(["bash", str(SLURM_SCRIPT), "stop"], check=False, timeout=120)


def pytest_runtest_logreport(report) -> None:
    """With ARZ_SKIPPED_FILE set (.ci/run), every skipped test's node id goes into that file, one a
    line: CI runs the README's test command first, as a newcomer's machine would (tests of optional
    parts skip), then installs the optional parts and runs exactly the tests that skipped."""
    import os

    target = os.environ.get("ARZ_SKIPPED_FILE")
    if target and report.skipped:
        with open(target, "a") as fh:
            fh.write(report.nodeid + "\n")
