"""End-to-end with backend=kaggle: the real snakemake and the real kaggle client, against the
local Kaggle-protocol server (no network)."""

import itertools
import json
import os
import signal

import pytest
import yaml
from kaggle_server import KaggleTestServer
from workflow_helpers import (
    REPO,
    TINY,
    git,
    make_repo,
    runs,
    snakemake,
    start_snakemake,
    wait_until_polling,
)

pytestmark = pytest.mark.slow
KEY = "0" * 32
PLOTS = "results/quick/plots"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("kaggle-wf"))
    server = KaggleTestServer(tmp_path_factory.mktemp("kaggle-server"), users={"tester": KEY}).start()
    config = yaml.safe_load(TINY.read_text())
    config.update(backend="kaggle", kaggle={"owner": "tester", "session_timeout_s": 3600})
    # no remote: the kernel carries its code
    config["git"] = {"experiment_paths": ["src/arz_rl", "kernel", "requirements.txt"], "exclude": [],
                     "remote": None, "push": False}
    cfg = tmp_path_factory.mktemp("cfg") / "kaggle.yaml"
    cfg.write_text(yaml.safe_dump(config))
    env = {"KAGGLE_TEST_ENDPOINT": server.url, "PYTHONPATH": str(REPO / "tests" / "kaggle_site"),
           "KAGGLE_USERNAME": "tester", "KAGGLE_KEY": KEY,
           "KAGGLE_CONFIG_DIR": str(tmp_path_factory.mktemp("no-kaggle-config"))}
    yield repo, server, cfg, env
    server.stop()


def _change_experiment(repo, tag):
    with (repo / "src" / "arz_rl" / "run.py").open("a") as fh:
        fh.write(f"# {tag}\n")


def test_kaggle_chain_end_to_end(setup):
    repo, server, cfg, env = setup
    assert git(repo, "remote").strip() == ""  # a repository no one else can reach
    _change_experiment(repo, "an uncommitted edit")
    out = snakemake(repo, PLOTS, config=cfg, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    assert server.pushes == 1
    assert (repo / PLOTS / "controller_comparison.pdf").exists()
    (run,) = runs(repo)
    launch = json.loads((run / "launch.json").read_text())
    assert launch["backend"] == "kaggle" and launch["version"] == 1 and launch["url"]
    kernel = (run / "kernel" / "kernel.py").read_text()
    assert str(repo) not in kernel and "/tmp" not in kernel and "/work" not in kernel  # no local path
    summary = json.loads((run / "output" / "session_summary.json").read_text())
    assert "an uncommitted edit" in git(repo, "show", f"{summary['commit']}:src/arz_rl/run.py")
    assert not (run / "output" / "__notebook_source__.ipynb").exists()  # the platform's file, not the run's
    assert "SESSION_COMPLETE" in (run / "output" / "kernel.log.json").read_text()  # Kaggle's log beside them
    for path in repo.joinpath("results").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".json", ".log", ".jsonl"):
            assert KEY not in path.read_text(errors="ignore"), path  # the key is never logged or rendered
    assert snakemake(repo, PLOTS, "-n", config=cfg, env=env).stdout.count("localrule") == 0


def test_interrupted_poll_resumes_without_a_second_push(setup):
    repo, server, cfg, env = setup
    _change_experiment(repo, "second run")
    pushes = server.pushes
    proc = start_snakemake(repo, PLOTS, config=cfg, env=env)
    wait_until_polling(repo)
    os.killpg(proc.pid, signal.SIGINT)
    text = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode != 0, text[-4000:]
    out = snakemake(repo, PLOTS, config=cfg, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    assert server.pushes == pushes + 1


def test_corrupted_download_fails_and_keeps_earlier_results(setup):
    repo, server, cfg, env = setup
    before = {p.name: p.read_bytes() for p in (repo / PLOTS).glob("*.p*")}
    _change_experiment(repo, "third run")
    server.faults["corrupt_file"] = "evaluation_results.json"
    try:
        out = snakemake(repo, PLOTS, config=cfg, env=env)
    finally:
        server.faults.pop("corrupt_file")
    assert out.returncode != 0
    assert "evaluation_results.json does not match its sha256" in out.stderr
    assert {p.name: p.read_bytes() for p in (repo / PLOTS).glob("*.p*")} == before
    assert all((r / "output").exists() for r in runs(repo) if (r / "complete.json").exists()
               and r.name != sorted(runs(repo), key=lambda p: p.stat().st_mtime)[-1].name)


def test_missing_credentials_stop_before_any_push(setup, tmp_path):
    repo, server, cfg, env = setup
    pushes = server.pushes
    _change_experiment(repo, "no credentials")
    bare = {**env, "KAGGLE_USERNAME": "", "KAGGLE_KEY": ""}
    out = snakemake(repo, PLOTS, config=cfg, env=bare)
    assert out.returncode != 0
    assert "Kaggle credentials not found" in out.stderr or "no Kaggle user name" in out.stderr
    assert server.pushes == pushes


def test_credential_file_in_the_repo_is_never_pushed(setup):
    repo, server, cfg, env = setup
    pushes = server.pushes
    secret = repo / "src" / "arz_rl" / "kaggle.json"
    secret.write_text(json.dumps({"username": "tester", "key": KEY}))
    _change_experiment(repo, "with a kaggle.json lying around")
    # untracked (and git-ignored): left out of the snapshot
    out = snakemake(repo, PLOTS, "--until", "sync", config=cfg, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    newest = max(runs(repo), key=lambda p: p.stat().st_mtime)
    sha = json.loads((newest / "sync.json").read_text())["sha"]
    assert "kaggle.json" not in git(repo, "ls-tree", "-r", "--name-only", sha)
    # committed by mistake: refused, nothing pushed
    git(repo, "add", "-f", str(secret))
    git(repo, "commit", "-qm", "oops")
    _change_experiment(repo, "after committing it")
    out = snakemake(repo, PLOTS, config=cfg, env=env)
    git(repo, "rm", "-q", "--cached", str(secret))
    git(repo, "commit", "-qm", "remove the credential again")
    secret.unlink()
    assert out.returncode != 0
    assert "refusing to snapshot 'src/arz_rl/kaggle.json'" in out.stderr
    assert server.pushes == pushes


def _sessions(server):
    return sorted((v.started, v.ended) for versions in server.kernels.values() for v in versions if v.started)


@pytest.mark.parametrize("cap", [2, 1])
def test_fan_out_runs_kernels_in_parallel_under_the_session_cap(setup, cap):
    repo, server, cfg, env = setup
    _change_experiment(repo, f"fan-out with cap {cap}")
    before = len(_sessions(server))
    pushes = server.pushes
    out = snakemake(repo, PLOTS, "--config", "fan_out=algorithm", "--resources", f"kaggle_gpu={cap}",
                    config=cfg, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    assert server.pushes == pushes + 2
    assert {"tester/arz-rl-quick-ppo", "tester/arz-rl-quick-dqn"} <= set(server.kernels)
    (a, b) = _sessions(server)[before:]
    overlap = a[1] > b[0]
    assert overlap == (cap == 2), (cap, a, b)
    merged = list((repo / "results" / "quick" / "merged").glob("*/evaluation_results.json"))
    assert merged
    data = json.loads(merged[-1].read_text())
    assert set(data["levels"][data["headline_level"]]["comparisons"]) == {"ppo", "dqn"}


def test_a_run_longer_than_a_session_goes_on_in_new_versions_to_its_plots(setup, tmp_path):
    """kaggle.session_timeout_s of one minute: each version saves its state half a minute in, the
    next version (the pair's other kernel) gets that output mounted as its input and goes on from
    it; the same snakemake command ends with the plots."""
    repo, server, cfg, env = setup
    config = yaml.safe_load(cfg.read_text())
    config["kaggle"]["session_timeout_s"] = 60
    config["continuation"] = {"max_parts": 8, "margin_s": 30, "after_kill": False}
    # ~45 s of training on each of 2 cores on this machine alone (3 parts), two 20 s windows and more
    config["experiment"]["quick"].update(levels=["over"], timesteps={"ppo": 40_000, "dqn": 55_000},
                                         eval_freq=5_000, checkpoint_freq=5_000)
    parts_cfg = tmp_path / "parts.yaml"
    parts_cfg.write_text(yaml.safe_dump(config))
    known, pushes = set(runs(repo)), server.pushes
    out = snakemake(repo, PLOTS, config=parts_cfg, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
    (run,) = [r for r in runs(repo) if r not in known]
    parts = [json.loads(line) for line in (run / "launches.jsonl").read_text().splitlines()]
    assert len(parts) >= 2 and server.pushes == pushes + len(parts)
    assert [p["kernel"] for p in parts[:2]] == ["tester/arz-rl-quick", "tester/arz-rl-quick-cont"]
    for earlier, later in itertools.pairwise(parts):  # each version mounted the one before it
        version = server.kernels[later["kernel"]][later["version"] - 1]
        assert version.meta["kernelDataSources"] == [earlier["kernel"]] == version.mounted
        assert version.meta["sessionTimeoutSeconds"] == 60
    summary = json.loads((run / "output" / "session_summary.json").read_text())
    assert summary["status"] == "complete" and summary["part"] == len(parts)
    training = json.loads((run / "output" / "training_metrics.json").read_text())["runs"]["over"]
    for agent, total in (("ppo", 40_000), ("dqn", 55_000)):
        chain = training[agent]["0"]["sessions"]
        assert chain[0]["from"] == 0 and chain[-1]["to"] == training[agent]["0"]["timesteps"] >= total
        assert all(a["to"] == b["from"] < b["to"] for a, b in itertools.pairwise(chain))
    assert any(len(training[a]["0"]["sessions"]) > 1 for a in ("ppo", "dqn"))
    assert not list((run / "output").glob("state/**/*.zip"))  # the resume state stayed on Kaggle
    assert (repo / PLOTS / "controller_comparison.pdf").exists()
