"""Every downloaded kernel run in MLflow: one MLflow run per kernel run, found again by its nonce.

What a run gets: the experiment's parameters (flattened, ``ppo.learning_rate`` …); each
controller's metrics per demand level (``<level>/<controller>/<metric>``: the mean over training
seeds for an agent, over the test draws for a baseline, with ``…_ci95_low`` and ``…_ci95_high``,
the bootstrap interval); the learning curves as
step metrics (``learning_curve/<level>/<algo>/seed<k>``, step = training timesteps); the evaluation and
training JSON, the figures and the tables as artifacts; the commit, the HEAD it came from, the
nonce, backend, device and run id as tags.  Logging the same kernel run again (the figures were
redrawn) finds its MLflow run by the nonce tag and only replaces the artifacts: parameters and
metrics are never logged twice.

MLflow is an optional install (``make install-mlflow``: mlflow-skinny).  A local folder as the
tracking URI (``./mlruns``, the default) uses MLflow's file store, which MLflow keeps in
maintenance mode; any other URI (a tracking server, a database) is used as it is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from arz_rl import results as contract

from . import ResultsError, results

LOGGED_TAG = "arz_rl.logged"  #: set once parameters and metrics are in the run


def _client(tracking_uri: str):
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # nothing leaves this machine unasked
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise ResultsError("mlflow.enabled is true but MLflow is not installed: run `make install-mlflow` "
                           "(or pip install -r requirements-mlflow.txt)") from exc
    if "://" not in tracking_uri:  # a local folder: MLflow's file store, opted into explicitly
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        tracking_uri = Path(tracking_uri).resolve().as_uri()
    return MlflowClient(tracking_uri=tracking_uri)


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, list | tuple) else str(value)


def _controller_metrics(evaluation: dict[str, Any]) -> dict[str, float]:
    metrics = {}
    for level, data in evaluation["levels"].items():
        for name, c in data["controllers"].items():
            for metric, s in c["summary"].items():
                key = f"{level}/{name}/{metric}"
                metrics[key] = s["mean"]
                for bound in ("ci95_low", "ci95_high"):
                    if s.get(bound) is not None:
                        metrics[f"{key}_{bound}"] = s[bound]
    return metrics


def track_run(run_dir: str | Path, artifacts: list[str | Path], tracking_uri: str, experiment: str) -> str:
    """Log the downloaded kernel run ``run_dir`` (its ``session_summary.json`` names it) and the
    ``artifacts`` (figures, table folders) to MLflow; returns the MLflow run id."""
    from mlflow.entities import Metric, Param, RunTag

    run_dir = Path(run_dir)
    summary = results.load_json(run_dir / "session_summary.json", verify=False)
    client = _client(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(experiment)
    existing = client.search_runs([experiment_id], f"tags.`arz_rl.nonce` = '{summary['nonce']}'", max_results=1)
    run = existing[0] if existing else client.create_run(experiment_id, run_name=summary.get("run_id"), tags={
        "arz_rl.nonce": summary["nonce"], "arz_rl.run_id": str(summary.get("run_id")),
        "arz_rl.commit": str(summary.get("commit")), "arz_rl.head": str(summary.get("head")),
        "arz_rl.backend": str(summary.get("backend")), "arz_rl.mode": str(summary.get("mode")),
        "arz_rl.device": json.dumps(summary.get("device")),
        "arz_rl.device_requested": str(summary.get("device_requested")),
    })
    run_id = run.info.run_id
    if run.data.tags.get(LOGGED_TAG) != "1":
        evaluation = results.evaluation(run_dir / contract.EVALUATION)
        training = results.load_json(run_dir / contract.TRAINING)
        params: dict[str, str] = {}
        _flatten("", summary.get("parameters") or {}, params)
        metrics = [Metric(k, float(v), 0, 0) for k, v in _controller_metrics(evaluation).items() if v is not None]
        for level, algos in results.learning_curves(run_dir / contract.TRAINING).items():
            for algo, seeds in algos.items():
                for seed, curve in seeds.items():
                    metrics += [Metric(f"learning_curve/{level}/{algo}/seed{seed}", r, 0, int(t))
                                for t, r in zip(curve["timesteps"], curve["episode_return"], strict=True)]
        for i in range(0, len(metrics), 1000):  # MLflow takes at most 1000 metrics per batch
            client.log_batch(run_id, metrics=metrics[i:i + 1000])
        items = [Param(k, v[:6000]) for k, v in sorted(params.items())]
        for i in range(0, len(items), 100):
            client.log_batch(run_id, params=items[i:i + 100])
        client.log_batch(run_id, tags=[RunTag(LOGGED_TAG, "1"),
                                       RunTag("arz_rl.simulator", json.dumps(_simulators(training)))])
    for name in (contract.EVALUATION, contract.TRAINING, "session_summary.json"):
        if (run_dir / name).exists():
            client.log_artifact(run_id, str(run_dir / name), "results")
    for path in map(Path, artifacts):
        if path.is_dir():
            client.log_artifacts(run_id, str(path), path.name)
        elif path.exists():
            client.log_artifact(run_id, str(path), "figures")
    client.set_terminated(run_id)
    return run_id


def _simulators(training: dict[str, Any]) -> dict[str, Any]:
    return {f"{level}/{algo}/{seed}": rec.get("simulator") for level, algos in training.get("runs", {}).items()
            for algo, seeds in algos.items() for seed, rec in seeds.items()}


def track_all(parts: list[str | Path], artifacts: list[str | Path], tracking_uri: str, experiment: str,
              out: str | Path, log: str | Path | None = None) -> dict[str, str]:
    """:func:`track_run` for every kernel run of a mode (one, or the fanned-out ones); writes
    ``out`` ({run folder: MLflow run id}) as the rule's record."""
    from .logs import logged

    with logged(log, f"MLflow ({tracking_uri}, experiment {experiment}) for {len(parts)} kernel run(s)"):
        ids = {str(part): track_run(part, artifacts, tracking_uri, experiment) for part in parts}
        for part, run_id in ids.items():
            print(f"{part} -> MLflow run {run_id}")
        Path(out).write_text(json.dumps(ids, indent=1, sort_keys=True))
    return ids
