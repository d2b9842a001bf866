"""Shared fixtures: one tiny experiment run (with its validation) reused by the figure tests."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

TINY_RUN = {"seeds": 2, "episode_length": 150.0, "timesteps": {"ppo": 256, "dqn": 300},
            "ppo": {"n_steps": 64, "batch_size": 32, "n_epochs": 2}, "dqn": {"learning_starts": 100},
            "eval_episodes": 2, "eval_freq": 100, "checkpoint_freq": 100, "device": "cpu"}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A downloaded-looking results folder: experiment outputs, validation tables, session summary."""
    import json

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
    (out / "session_summary.json").write_text(json.dumps(
        {"run_id": "local-cpu-0123456789ab", "commit": "f" * 40, "device": {"used": "cpu"}, "ended": 1.8e9,
         "status": "complete"}))
    return out


SLURM_SCRIPT = Path(__file__).parent / "slurm_cluster.sh"


@pytest.fixture(scope="session")
def slurm_cluster() -> None:
    """A running SLURM cluster (tests/slurm_cluster.sh; `.ci/run` starts it).

    Started here when SLURM is installed and we are root; otherwise the test is skipped,
    unless ARZ_REQUIRE_SLURM=1 (CI), where a missing cluster is a failure.
    """
    import os
    import shutil
    import subprocess

    def answering() -> bool:
        if not shutil.which("sinfo"):
            return False
        out = subprocess.run(["sinfo", "-h", "-o", "%a"], capture_output=True, text=True, timeout=30)
        return out.returncode == 0 and "up" in out.stdout

    if not answering() and shutil.which("slurmctld") and os.geteuid() == 0:
        subprocess.run(["bash", str(SLURM_SCRIPT), "start"], check=False, timeout=120)
    if not answering():
        msg = "no SLURM cluster answers: run `sudo tests/slurm_cluster.sh install && sudo tests/slurm_cluster.sh start`"
        if os.environ.get("ARZ_REQUIRE_SLURM") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
