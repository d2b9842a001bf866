"""What a researcher sees of a run besides its figures: the kernel's progress while it trains (one
live line, and poll.log), a notification when it ends (apprise, against a local HTTP endpoint), and
every downloaded run in MLflow (read back with MlflowClient); plus the nested --config overrides
the README shows, typed by the schema."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml
from workflow_helpers import REPO, TINY, launches, make_repo, runs, snakemake

from kernel_runner.config import workflow_schema
from kernel_runner.notify import notification_url, notify
from kernel_runner.overrides import coerce

SECRET = "s3cr3t-token-do-not-log"  # pragma: allowlist secret
#: the schema as the Snakefile checks it: the workflow's file plus each backend's own section
SCHEMA = workflow_schema(REPO / "config" / "config.schema.yaml")


class Hook:
    """A local HTTP endpoint recording what is posted to it (a webhook apprise's json:// reaches)."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.received.append({"path": self.path, "auth": self.headers.get("Authorization"),
                                      "json": json.loads(body or b"{}")})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"json://bot:{SECRET}@127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


def test_nested_overrides_are_typed_by_the_schema():
    given = {"git": {"remote": "origin", "push": "true"}, "poll": {"interval_s": "5", "deadline_s": "null"},
             "kaggle": {"check_quota": "false", "session_timeout_s": "3600"},
             "experiment": {"quick": {"seeds": "3", "algorithms": ["ppo"], "episode_length": "150.5",
                                      "ppo": {"learning_rate": "3e-4", "net_arch": "[32, 32]", "target_kl": "null"}}},
             "slurm": {"time_limit": "00:10:00", "extra_args": ["--qos=x"]}}
    out = coerce(given, SCHEMA)
    assert out["git"] == {"remote": "origin", "push": True}
    assert out["poll"] == {"interval_s": 5, "deadline_s": None}
    assert out["kaggle"] == {"check_quota": False, "session_timeout_s": 3600}
    quick = out["experiment"]["quick"]
    assert quick["seeds"] == 3 and quick["episode_length"] == 150.5
    assert quick["ppo"] == {"learning_rate": 3e-4, "net_arch": [32, 32], "target_kl": None}
    assert out["slurm"] == {"time_limit": "00:10:00", "extra_args": ["--qos=x"]}  # strings stay strings
    assert coerce({"poll": {"interval_s": "soon"}}, SCHEMA)["poll"]["interval_s"] == "soon"  # left for validation


def test_notification_url_comes_from_the_environment_or_a_file_outside_the_repo(tmp_path, monkeypatch, hook):
    monkeypatch.delenv("ARZ_NOTIFY_URL", raising=False)
    settings = {"url_env": "ARZ_NOTIFY_URL", "url_file": str(tmp_path / "nowhere")}
    assert notification_url(settings) is None  # off by default
    assert notify(settings, "t", "b") is False and hook.received == []
    (tmp_path / "notify.url").write_text(hook.url + "\n")
    assert notification_url({"url_file": str(tmp_path / "notify.url")}) == hook.url
    with pytest.raises(Exception, match="inside the repository"):
        notification_url({"url_file": str(REPO / "config" / "notify.url")}, root=REPO)
    monkeypatch.setenv("ARZ_NOTIFY_URL", hook.url)
    said = []
    assert notify(settings, "ARZ-RL run x: complete", "body", log=said.append)
    assert hook.received[-1]["json"]["title"] == "ARZ-RL run x: complete"
    assert said == ["notification via json:// sent: ARZ-RL run x: complete"] and SECRET not in said[0]


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    """One quick run with progress, a notification and MLflow on."""
    if os.environ.get("ARZ_REQUIRE_MLFLOW") == "1":  # CI installs it: missing is a failure there
        import mlflow  # noqa: F401
    else:
        pytest.importorskip("mlflow", reason="MLflow is an optional install: make install-mlflow")
    h = Hook()
    repo = make_repo(tmp_path_factory.mktemp("tracked"))
    config = yaml.safe_load(TINY.read_text())
    config["mlflow"] = {"enabled": True, "tracking_uri": "mlruns", "experiment": "arz-rl-test"}
    config["poll"]["progress_log_s"] = 0.5
    config["experiment"]["quick"]["progress_s"] = 0.5
    cfg = tmp_path_factory.mktemp("cfg") / "tracked.yaml"
    cfg.write_text(yaml.safe_dump(config))
    env = {"ARZ_NOTIFY_URL": h.url}
    out = snakemake(repo, "results/quick/plots", config=cfg, env=env)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    yield repo, cfg, env, h, out
    h.close()


def completed_run(repo):
    """The fixture's one completed run: the failed-run test adds a run folder of its own to the same
    repository, and the tests may run in any order."""
    (run,) = [r for r in runs(repo) if (r / "complete.json").exists()]
    return run


def test_the_kernel_reports_its_progress_and_poll_logs_it(tracked):
    repo, _, _, _, out = tracked
    run = completed_run(repo)
    kernel_log = (run / "logs" / "kernel.log").read_text()
    progress = [json.loads(line.split(" ", 1)[1]) for line in kernel_log.splitlines() if line.startswith("PROGRESS ")]
    phases = {p["phase"] for p in progress}
    assert {"train", "evaluate", "validate"} <= phases, phases
    train = [p for p in progress if p["phase"] == "train"]
    tasks = {f"{algo} seed 0 {level}" for algo in ("ppo", "dqn") for level in ("near", "over")}
    assert {p["task"] for p in train} == tasks
    assert all({"done", "total", "unit", "rate", "eta_s"} <= set(p) for p in train)
    assert {p["task"] for p in train if "episodes" in p} == tasks
    assert {p["phase"] for p in progress if p["task"].startswith("baselines at ")} == {"tune"}
    assert any(p["done"] == p["total"] for p in train)
    poll_log = (run / "logs" / "poll.log").read_text()
    lines = [line for line in poll_log.splitlines() if "progress: [" in line]
    assert lines and "steps (" in "\n".join(lines) and "ETA" in "\n".join(lines)
    assert "progress: [" in out.stderr  # without a terminal, the same lines reach the screen


def test_a_notification_says_how_the_run_ended_and_never_shows_its_token(tracked):
    repo, _, _, hook, out = tracked
    run = completed_run(repo)
    (note,) = [r for r in hook.received if r["json"].get("title", "").endswith(": complete")]
    assert run.name in note["json"]["title"] and "finished after" in note["json"]["message"]
    assert note["auth"] and note["path"] == "/hook"
    assert "notification via json:// sent" in (run / "logs" / "poll.log").read_text()
    for path in (repo / "results").rglob("*"):  # every log, record and output of the runs
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in out.stdout + out.stderr


def test_a_failed_run_is_notified_too(tracked, tmp_path):
    repo, cfg, env, hook, _ = tracked
    run_py = repo / "src" / "arz_rl" / "run.py"
    original = run_py.read_text()
    run_py.write_text(original.replace("    started = time.time()\n",
                                       "    started = time.time()\n    raise RuntimeError('broken 7')\n", 1))
    try:
        out = snakemake(repo, "results/quick/plots", config=cfg, env=env)
    finally:
        run_py.write_text(original)
    assert out.returncode != 0
    failed = [r for r in hook.received if r["json"].get("title", "").endswith(": failed")]
    assert failed and "broken 7" not in failed[0]["json"]["title"] and "failed" in failed[0]["json"]["message"]


def test_every_downloaded_run_is_one_mlflow_run_read_back_with_the_client(tracked):
    from mlflow.tracking import MlflowClient

    repo, cfg, env, _, _ = tracked
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=(repo / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("arz-rl-test")
    run_dir = completed_run(repo)
    summary = json.loads((run_dir / "output" / "session_summary.json").read_text())
    evaluation = json.loads((run_dir / "output" / "evaluation_results.json").read_text())

    def mlflow_runs():
        return client.search_runs([experiment.experiment_id], f"tags.`arz_rl.nonce` = '{summary['nonce']}'")

    (found,) = mlflow_runs()
    tags, metrics, params = found.data.tags, found.data.metrics, found.data.params
    assert tags["arz_rl.commit"] == summary["commit"] and tags["arz_rl.backend"] == "local"
    assert json.loads(tags["arz_rl.device"])["device"] in ("cpu", "gpu")
    assert params["seeds"] == "1" and params["timesteps.ppo"] == "128"
    for level in ("near", "over"):
        for name in ("ppo", "max_pressure"):
            summary_ = evaluation["levels"][level]["controllers"][name]["summary"]["avg_delay_s"]
            assert metrics[f"{level}/{name}/avg_delay_s"] == pytest.approx(summary_["mean"])
            assert metrics[f"{level}/{name}/avg_delay_s_ci95_low"] == pytest.approx(summary_["ci95_low"])
    curve = client.get_metric_history(found.info.run_id, "learning_curve/over/ppo/seed0")
    assert len(curve) >= 2 and all(m.step > 0 for m in curve)
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id, "figures")}
    assert "figures/learning_curves.png" in artifacts
    assert {a.path for a in client.list_artifacts(found.info.run_id, "results")} >= {"results/evaluation_results.json"}
    # the figures redrawn: the same MLflow run, metrics not logged twice
    with (repo / "src" / "thesis_figures" / "learning_curves.py").open("a") as fh:
        fh.write("# restyled\n")
    out = snakemake(repo, "results/quick/plots", config=cfg, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    (again,) = mlflow_runs()
    assert again.info.run_id == found.info.run_id
    assert len(client.get_metric_history(found.info.run_id, "learning_curve/over/ppo/seed0")) == len(curve)
    assert len(launches(run_dir)) == 1
