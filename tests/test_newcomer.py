"""A newcomer's first hour, done for real on a copy of this repository: what they type wrong gets
one line naming the file (and the line), a dry run of a Kaggle run plans without credentials, the
SLURM profile says what to install, progress reads as a person would want it."""

import json
import os
import subprocess
import sys

import pytest
from workflow_helpers import make_repo

KEEP = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "ARZ_TEST_SESSION", "ARZ_RL_CACHE"}


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("newcomer"))


def snakemake(repo, *args, env=None):
    """A plain snakemake call, as typed (a newcomer's environment: no Kaggle credentials)."""
    base = {k: v for k, v in os.environ.items() if k in KEEP}
    base["KAGGLE_CONFIG_DIR"] = str(repo / ".no-kaggle")
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=repo, capture_output=True, text=True,
                          timeout=300, env={**base, **(env or {})})


def last_line(out):
    lines = [line for line in (out.stderr or out.stdout).strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def test_a_missing_configfile_is_one_line_naming_it(repo):
    out = snakemake(repo, "-n", "--cores", "1", "--configfile", "/nonexistent/medium.yaml")
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    assert last_line(out) == ("error: --configfile /nonexistent/medium.yaml: no such file (give the path of a YAML "
                              "or JSON file)")


def test_a_malformed_configfile_is_one_line_with_its_line_and_column(repo, tmp_path):
    bad = tmp_path / "medium.yaml"
    bad.write_text("experiment:\n  full:\n    seeds: 3\n   levels: [over]\n")
    out = snakemake(repo, "-n", "--cores", "1", f"--configfile={bad}")
    assert out.returncode != 0
    line = last_line(out)
    assert line.startswith(f"error: --configfile {bad}, line 4, column 4: not valid YAML"), out.stderr[-2000:]
    assert "Traceback" not in out.stderr


def test_a_refused_setting_is_one_line_naming_the_key(repo):
    out = snakemake(repo, "-n", "--cores", "1", "--config", "kaggle={check_quota: maybe}")
    assert out.returncode != 0
    assert last_line(out).startswith("error: config key kaggle.check_quota: 'maybe' is not of type 'boolean'")
    assert "Traceback" not in out.stderr


def test_a_kaggle_dry_run_plans_without_credentials_and_says_what_a_real_run_needs(repo):
    out = snakemake(repo, "-n", "--cores", "1", "results/full/plots", "--config", "backend=kaggle", "device=gpu")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "This was a dry-run" in out.stdout + out.stderr
    assert "push" in out.stdout + out.stderr
    assert "note: a real run on Kaggle needs your Kaggle credentials, which were not found" in last_line(out)


def test_the_slurm_profile_says_what_to_install(repo):
    import importlib.util

    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is not None:
        pytest.skip("the SLURM executor plugin is installed here: .ci/run runs this test before it installs it")
    out = snakemake(repo, "--profile", "profiles/slurm", "-n", "results/quick/plots")
    assert out.returncode != 0
    assert "invalid choice" not in out.stderr
    assert last_line(out).startswith("error: --profile profiles/slurm needs Snakemake's SLURM executor plugin")
    assert "make install-slurm" in last_line(out)


# -- progress ------------------------------------------------------------------------------------
def test_progress_has_no_rate_or_eta_before_it_can_know_one(capsys, monkeypatch):
    from arz_rl.progress import Progress

    monkeypatch.setenv("ARZ_PROGRESS", "json")
    p = Progress("ppo seed 0", "train", 3000, "steps", every_s=0.0)
    p.update(1)
    first = json.loads(capsys.readouterr().out.split(" ", 1)[1])
    assert first["done"] == 1 and first["rate"] is None and first["eta_s"] is None
    p.update(100)  # 3 % of the work: a measured rate
    later = json.loads(capsys.readouterr().out.split(" ", 1)[1])
    assert later["rate"] > 0 and later["eta_s"] is not None


def test_the_solver_validation_reports_its_last_case(capsys, monkeypatch):
    from arz_rl.progress import Progress
    from arz_rl.validate import CASES, riemann_study

    monkeypatch.setenv("ARZ_PROGRESS", "json")
    riemann_study(cases=CASES[:2], resolutions=(25, 50), progress=Progress("solver", "validate", 2, "cases",
                                                                             every_s=0.0))
    lines = [json.loads(line.split(" ", 1)[1]) for line in capsys.readouterr().out.splitlines()
             if line.startswith("PROGRESS ")]
    assert lines[-1]["done"] == lines[-1]["total"] == 2


def test_a_terminal_gets_human_progress_lines_and_a_log_json_ones():
    import pty

    code = ("from arz_rl.progress import Progress\n"
            "p = Progress('ppo seed 0', 'train', 10, 'steps', every_s=0.0)\n"
            "p.update(5, episodes=2)\n")
    env = {k: v for k, v in os.environ.items() if k != "ARZ_PROGRESS"}
    piped = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert piped.stdout.startswith("PROGRESS {"), piped.stdout
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=follower, stderr=subprocess.DEVNULL, env=env)
    proc.wait(timeout=60)
    os.close(follower)
    shown = os.read(leader, 4096).decode()
    os.close(leader)
    assert "PROGRESS" not in shown and "[train] ppo seed 0 5/10 steps (50%)" in shown and "episodes 2" in shown


# -- the examiner's archive ----------------------------------------------------------------------
def test_zenodo_metadata_always_names_creators(tmp_path):
    from kernel_runner import KernelRunnerError
    from kernel_runner.archive import creators

    assert creators({"creators": ["Ada, L."]}, tmp_path) == (["Ada, L."], None)
    subprocess.run(["git", "init", "-q", str(tmp_path / "named")], check=True)
    subprocess.run(["git", "config", "user.name", "Grace Hopper"], cwd=tmp_path / "named", check=True)
    names, note = creators({"creators": []}, tmp_path / "named")
    assert names == ["Grace Hopper"] and "git's user.name" in note
    subprocess.run(["git", "init", "-q", str(tmp_path / "anonymous")], check=True)
    env = {**os.environ, "HOME": str(tmp_path), "GIT_CONFIG_GLOBAL": str(tmp_path / "none"),
           "GIT_CONFIG_NOSYSTEM": "1"}
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        with pytest.raises(KernelRunnerError, match="Zenodo refuses a deposition without creators"):
            creators({}, tmp_path / "anonymous")
    finally:
        os.environ.clear()
        os.environ.update(old)
