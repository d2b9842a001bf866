"""End-to-end with backend=slurm: the real snakemake submitting the real kernel to the real single-node
SLURM cluster (tests/slurm_cluster.sh), and the profiles/slurm executor profile.  Every snakemake call
runs under `timeout -k`: a hung executor ignores SIGTERM."""

import itertools
import json
import os
import signal
import subprocess
import time

import pytest
import yaml
from workflow_helpers import TINY, launches, make_repo, runs, snakemake, start_snakemake, wait_until_polling

pytestmark = pytest.mark.slow
PLOTS = "results/quick/plots"
LIMIT = 420  # seconds for one snakemake call, then SIGTERM, then SIGKILL 10 s later


def submitted(run) -> list[str]:
    """Ids of the jobs SLURM ran for this run folder (finished jobs stay MinJobAge seconds)."""
    out = subprocess.run(["squeue", "-h", "-t", "all", "-n", f"arz-rl-{run.name}", "-o", "%i|%Z"],
                         capture_output=True, text=True, check=True)
    return [job for job, _, workdir in (line.partition("|") for line in out.stdout.split())
            if workdir.startswith(str(run) + "/")]


def write_config(path, **changes):
    config = yaml.safe_load(TINY.read_text())
    config.update(backend="slurm", fan_out="algorithm",
                  slurm={"cpus": 1, "mem": "1500M", "time_limit": "00:10:00"})
    for key, value in changes.items():
        config[key] = value
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def setup(slurm_cluster, tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("slurm-wf"))
    cfg = write_config(tmp_path_factory.mktemp("cfg") / "slurm.yaml")
    out = snakemake(repo, PLOTS, config=cfg, kill_after=LIMIT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return repo, cfg


def downloaded(repo):
    return [r for r in runs(repo) if (r / "output").is_dir()]


def plots(repo):
    return {p.name: p.read_bytes() for p in (repo / PLOTS).glob("*.p*")}


def _change_experiment(repo, tag):
    with (repo / "src" / "arz_rl" / "run.py").open("a") as fh:
        fh.write(f"# {tag}\n")


def _start(repo, cfg, *args):
    return start_snakemake(repo, PLOTS, *args, config=cfg, kill_after=LIMIT)


def _wait_for_launches(repo, known, count=1, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        new = [p for p in repo.glob("results/quick/runs/*/launch.json") if p.parent not in known]
        if len(new) >= count:
            return [json.loads(p.read_text()) for p in new]
        time.sleep(0.2)
    raise AssertionError("no job was submitted")


def test_slurm_chain_end_to_end_one_job_per_kernel(setup):
    repo, _ = setup
    assert sorted(plots(repo)) == sorted(
        f"{f}.{e}" for f in ("learning_curves", "controller_comparison", "spacetime_density", "spacetime_speed",
                             "queues", "riemann", "sensitivity", "ablation") for e in ("pdf", "png"))
    parts = runs(repo)
    assert len(parts) == 2  # fan_out=algorithm: one kernel per algorithm
    for run in parts:
        (launch,) = launches(run)
        assert launch["backend"] == "slurm" and submitted(run) == [launch["job_id"]]
        assert "--mem=1500M" in launch["sbatch"] and "--time=00:10:00" in launch["sbatch"]
        summary = json.loads((run / "output" / "session_summary.json").read_text())
        assert summary["status"] == "complete" and summary["backend"] == "slurm"
        assert "COMPLETED" in (run / "logs" / "poll.log").read_text()
    assert len(list(repo.glob("results/quick/merged/*/evaluation_results.json"))) == 1


def test_profile_runs_figure_rules_as_cluster_jobs(setup):
    import importlib.util

    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        msg = "Snakemake's SLURM executor plugin is not installed: make install-slurm"
        if os.environ.get("ARZ_REQUIRE_SLURM") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    repo, cfg = setup
    before = (repo / PLOTS / "learning_curves.png").stat().st_mtime
    with (repo / "src" / "thesis_figures" / "learning_curves.py").open("a") as fh:
        fh.write("# restyled\n")
    out = snakemake(repo, PLOTS, "--profile", "profiles/slurm", "--slurm-init-seconds-before-status-checks", "2",
                    config=cfg, kill_after=LIMIT)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-4000:]
    assert "has been submitted with SLURM jobid" in text and "rule_learning_curves" in text
    assert "rule_plots" not in text  # localrules stay on the submitting machine
    assert (repo / PLOTS / "learning_curves.png").stat().st_mtime > before
    assert all(len(launches(run)) == 1 for run in runs(repo))  # no kernel was resubmitted


def test_interrupted_poll_resumes_without_resubmitting(setup):
    repo, cfg = setup
    known = set(runs(repo))
    _change_experiment(repo, "resume")
    proc = _start(repo, cfg)
    new = _wait_for_launches(repo, known, count=2)
    wait_until_polling(repo)
    os.killpg(proc.pid, signal.SIGINT)
    text = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode != 0 and "run the same snakemake command again to resume" in text, text[-4000:]
    out = snakemake(repo, PLOTS, config=cfg, kill_after=LIMIT)
    assert out.returncode == 0, out.stderr[-3000:]
    for launch in new:
        run = repo / "results" / "quick" / "runs" / launch["run_id"]
        assert len(launches(run)) == 1 and submitted(run) == [launch["job_id"]]
        assert (run / "output" / "session_summary.json").exists()


def test_failing_kernel_fails_the_workflow_with_its_exit_code(setup):
    repo, cfg = setup
    before, known = plots(repo), set(runs(repo))
    run_py = repo / "src" / "arz_rl" / "run.py"
    original = run_py.read_text()
    run_py.write_text(original.replace("    started = time.time()\n",
                                       "    started = time.time()\n    raise RuntimeError('broken on slurm')\n", 1))
    try:
        out = snakemake(repo, PLOTS, config=cfg, kill_after=LIMIT)
    finally:
        run_py.write_text(original)
    assert out.returncode != 0
    assert "FAILED (exit code 1)" in out.stderr and "broken on slurm" in out.stderr
    failed = [r for r in runs(repo) if r not in known]
    assert failed and all(not (r / "output").exists() for r in failed)
    assert plots(repo) == before and all((r / "output").is_dir() for r in known)


def test_cancelled_job_fails_the_workflow_and_keeps_earlier_results(setup):
    repo, cfg = setup
    before, known, kept = plots(repo), set(runs(repo)), downloaded(repo)
    _change_experiment(repo, "to be cancelled")
    proc = _start(repo, cfg, "--config", "fan_out=none")
    (launch,) = _wait_for_launches(repo, known)
    subprocess.run(["scancel", launch["job_id"]], check=True)
    text = proc.communicate(timeout=LIMIT + 30)[0].decode()
    assert proc.returncode != 0, text[-4000:]
    assert f"SLURM job {launch['job_id']} CANCELLED" in text
    assert plots(repo) == before and downloaded(repo) == kept


def test_job_past_its_time_limit_fails_with_timeout(setup, tmp_path):
    repo, _ = setup
    before, known, kept = plots(repo), set(runs(repo)), downloaded(repo)
    experiment = yaml.safe_load(TINY.read_text())["experiment"]
    experiment["quick"]["timesteps"] = {"ppo": 10_000_000, "dqn": 10_000_000}  # hours: killed at 1 min
    experiment["quick"].update(eval_freq=100_000, checkpoint_freq=100_000)
    # the kernel is told 10 minutes, but the last --time sbatch reads wins (a partition's MaxTime
    # does the same): it cannot stop before the limit it does not know, and SLURM kills it
    cfg = write_config(tmp_path / "timeout.yaml", fan_out="none", experiment=experiment,
                       slurm={"cpus": 1, "mem": "1500M", "time_limit": "00:10:00", "extra_args": ["--time=1"]})
    out = snakemake(repo, PLOTS, config=cfg, kill_after=LIMIT)
    assert out.returncode != 0
    assert "TIMEOUT" in out.stderr and "raise slurm.time_limit" in out.stderr
    (late,) = [r for r in runs(repo) if r not in known]
    assert not (late / "output").exists()
    assert plots(repo) == before and downloaded(repo) == kept


def test_an_optuna_study_runs_its_trials_as_parallel_jobs_on_one_journal(setup, tmp_path):
    """tune.workers=2: two SLURM jobs, one trial each, one Optuna journal on the shared filesystem,
    the two trials running at the same time."""
    import datetime as dt

    repo, _ = setup
    experiment = yaml.safe_load(TINY.read_text())["experiment"]
    # trials long enough (~15 s) to outlast the few seconds between the two submissions
    cfg = write_config(tmp_path / "study.yaml", experiment={**experiment, "tune": {
        **experiment["tune"], "tune_timesteps": 300, "eval_freq": 100, "checkpoint_freq": 300}})
    out = snakemake(repo, "results/tune/best.yaml", "--config", "tune={workers: 2, apply_to: []}", config=cfg,
                    kill_after=LIMIT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    tune_runs = runs(repo, "tune")
    assert len(tune_runs) == 2 and all(submitted(r) for r in tune_runs)  # one batch job each
    records = [json.loads((r / "output" / "tuning.json").read_text()) for r in tune_runs]
    (journal,) = (repo / "results" / "tune" / "studies").glob("*.journal")
    assert {r["journal"] for r in records} == {str(journal)}
    trials = {t["number"]: t for r in records for t in r["trials"] if t["state"] == "COMPLETE"}
    assert set(trials) == {0, 1}
    (a, b) = (tuple(dt.datetime.fromisoformat(trials[k][e]) for e in ("started", "completed")) for k in (0, 1))
    assert a[0] < b[1] and b[0] < a[1], (a, b)  # the two trials ran side by side
    best = yaml.safe_load((repo / "results" / "tune" / "best.yaml").read_text())
    assert best["completed_trials"] == 2 and best["value"] == min(t["value"] for t in trials.values())


def test_a_run_longer_than_the_time_limit_goes_on_in_parts_to_its_plots(setup, tmp_path):
    """slurm.time_limit of 2 minutes and a run of at least ~160 s of training on each of 2 cores
    (measured alone on this machine; 2.5 times that on a busy one): 3 parts or more, as each job
    saves its state a minute in
    (continuation.margin_s, at most half the limit), the same snakemake command submits the next
    part, which goes on from that state, and ends with the plots."""
    repo, _ = setup
    experiment = yaml.safe_load(TINY.read_text())["experiment"]
    experiment["quick"].update(levels=["over"], timesteps={"ppo": 100_000, "dqn": 140_000}, eval_freq=10_000,
                               checkpoint_freq=10_000)
    cfg = write_config(tmp_path / "parts.yaml", fan_out="none", experiment=experiment,
                       slurm={"cpus": 1, "mem": "1500M", "time_limit": "2"},
                       continuation={"max_parts": 8, "margin_s": 60, "after_kill": False})
    known = set(runs(repo))
    out = snakemake(repo, PLOTS, config=cfg, kill_after=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (run,) = [r for r in runs(repo) if r not in known]
    parts = launches(run)
    assert len(parts) >= 3 and [p["part"] for p in parts] == list(range(1, len(parts) + 1))
    assert len({p["job_id"] for p in parts}) == len(parts)  # one job per part, one nonce for all
    assert len({p["nonce"] for p in parts}) == 1 and "launched part 2 of at most 8" in out.stderr
    summary = json.loads((run / "output" / "session_summary.json").read_text())
    assert summary["status"] == "complete" and summary["part"] == len(parts)
    assert [p["status"] for p in summary["parts"]] == ["continue"] * (len(parts) - 1) + ["complete"]
    # training went on where it stopped: the sessions of each agent chain up, never from zero twice
    training = json.loads((run / "output" / "training_metrics.json").read_text())["runs"]["over"]
    sessions = [s for agent in ("ppo", "dqn") for s in training[agent]["0"]["sessions"]]
    assert len(sessions) >= 3
    for agent, total in (("ppo", 100_000), ("dqn", 140_000)):
        chain = training[agent]["0"]["sessions"]
        assert chain[0]["from"] == 0 and chain[-1]["to"] == training[agent]["0"]["timesteps"] >= total
        assert all(a["to"] == b["from"] < b["to"] for a, b in itertools.pairwise(chain))
    # the same results as a one-part run: the contract's files and records
    (one_part,) = [r for r in downloaded(repo) if r in known][:1]
    reference = json.loads((one_part / "output" / "training_metrics.json").read_text())["runs"]["near"]
    ref_record = next(iter(next(iter(reference.values())).values()))
    assert set(training["ppo"]["0"]) == set(ref_record)
    evaluation = json.loads((run / "output" / "evaluation_results.json").read_text())
    assert {"ppo", "dqn", "fixed_time", "max_pressure", "actuated"} <= set(evaluation["levels"]["over"]["controllers"])
    assert (repo / PLOTS).exists()
