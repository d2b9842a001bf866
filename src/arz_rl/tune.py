"""Hyperparameter search for the RL controller with Optuna, scored on the validation draws.

Each trial trains PPO (the run's policy: shared or flat, masked) with one training seed at the
study's demand level for ``tune_timesteps`` and scores it like every checkpoint of a real run:
the mean delay of its best checkpoint over the validation draws (:mod:`arz_rl.protocol`).  No
test draw is ever played.  The search space (:func:`suggest`): learning rate, rollout length,
minibatch, entropy coefficient, network width, decision interval, reward and switching penalty.

The study lives in an Optuna journal file (``JournalFileBackend``: append-only, locked by a
link or an exclusive create, so it is safe on NFS where SQLite is not): several processes or
SLURM jobs given the same file and study name share one study, each running its trials, the
TPE sampler seeing every finished one.  Each worker writes ``tuning.json`` (every trial of the
study it saw with the run parameters it stands for, and the best) into its output folder; the
workflow's verdict over all workers is :mod:`thesis_figures.study`.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import results as contract
from .config import RunConfig
from .stats import PRIMARY_METRIC

#: what a trial may choose; ``net`` names the two hidden layers' width
SPACE: dict[str, Any] = {
    "learning_rate": (1e-4, 3e-3),
    "n_steps": [64, 128, 256, 512],
    "batch_size": [32, 64, 128, 256],
    "ent_coef": (1e-4, 3e-2),
    "net": [64, 128, 256],
    "decision_interval": [5.0, 10.0, 15.0],
    "reward": ["delay", "local_delay", "pressure"],
    "switch_penalty": [0.0, 0.02, 0.1],
}


def suggest(trial: Any) -> dict[str, Any]:
    """A trial's settings from :data:`SPACE`."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", *SPACE["learning_rate"], log=True),
        "n_steps": trial.suggest_categorical("n_steps", SPACE["n_steps"]),
        "batch_size": trial.suggest_categorical("batch_size", SPACE["batch_size"]),
        "ent_coef": trial.suggest_float("ent_coef", *SPACE["ent_coef"], log=True),
        "net": trial.suggest_categorical("net", SPACE["net"]),
        "decision_interval": trial.suggest_categorical("decision_interval", SPACE["decision_interval"]),
        "reward": trial.suggest_categorical("reward", SPACE["reward"]),
        "switch_penalty": trial.suggest_categorical("switch_penalty", SPACE["switch_penalty"]),
    }


def trial_config(cfg: RunConfig, chosen: dict[str, Any], seed: int) -> RunConfig:
    """The run config one trial trains with: ``cfg`` with the trial's ``chosen`` settings."""
    p = parameters_from(chosen)
    return replace(cfg, mode="tune", algorithms=("ppo",), seeds=1, seed=seed, levels=(cfg.tune_level,),
                   headline_level=cfg.tune_level, ppo={**cfg.ppo, **p["ppo"]},
                   timesteps={**cfg.timesteps, "ppo": cfg.tune_timesteps},
                   decision_interval=p["decision_interval"], reward=p["reward"],
                   switch_penalty=p["switch_penalty"], workers=1).validate()


def parameters_from(chosen: dict[str, Any]) -> dict[str, Any]:
    """The run parameters (``arz_rl.run --config`` keys) a trial's settings stand for: PPO's
    hyperparameters it chose (the others stay the run's), the decision interval, the reward."""
    return {"ppo": {"learning_rate": chosen["learning_rate"], "n_steps": chosen["n_steps"],
                    "batch_size": chosen["batch_size"], "ent_coef": chosen["ent_coef"],
                    "net_arch": [chosen["net"], chosen["net"]]},
            "decision_interval": float(chosen["decision_interval"]), "reward": chosen["reward"],
            "switch_penalty": float(chosen["switch_penalty"])}


def storage(path: Path):
    """The Optuna storage of a study kept in the journal file ``path``."""
    import optuna

    path.parent.mkdir(parents=True, exist_ok=True)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def run_study(cfg: RunConfig, out: Path, journal: Path | None = None, log=print, state: Path | None = None
              ) -> dict[str, Any]:
    """Run ``cfg.tune_trials`` trials of the study ``cfg.tune_study`` kept in ``journal`` (default:
    ``out/optuna.journal``), training each trial's agent under ``out/trials/`` (its checkpoints
    under ``state/trials/``, default ``out/state``); writes and returns ``out/tuning.json``."""
    import optuna

    from .device import resolve
    from .protocol import STUDY_RANGE
    from .results import STATE_DIR
    from .train import train_agent

    device = resolve(cfg.device)
    out.mkdir(parents=True, exist_ok=True)
    journal = journal or out / "optuna.journal"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # seeded per worker: parallel workers must not propose the same first points
    sampler = optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=cfg.tune_startup_trials)
    tuned = None
    if cfg.warm_start_episodes:  # a warm start's teacher: the baselines as tuned on the same validation draws
        from .protocol import seed_sets, tune_baselines

        tuned = {name: {"sweep": t["sweep"]}
                 for name, t in tune_baselines(cfg, cfg.tune_level, seed_sets(cfg).validation, log).items()}
    study = optuna.create_study(study_name=cfg.tune_study, storage=storage(journal), direction="minimize",
                                sampler=sampler, load_if_exists=True)

    def objective(trial: optuna.Trial) -> float:
        chosen = suggest(trial)
        # a study's training stream, disjoint from every agent's (arz_rl.protocol.STUDY_RANGE)
        seed = STUDY_RANGE[0] + trial.number % (STUDY_RANGE[1] - STUDY_RANGE[0])
        t0 = time.perf_counter()
        trial_dir = Path("trials") / f"trial{trial.number}"
        record = train_agent(trial_config(cfg, chosen, seed), "ppo", seed, cfg.tune_level, out / trial_dir,
                             device["device"], tuned, state=(state or out / STATE_DIR) / trial_dir)
        # scored on what PPO trained: the cloned checkpoint (timesteps 0) never counts
        trained = [h for h in record["validation_curve"] if h["timesteps"] > 0]
        scored = min(trained, key=lambda h: h[PRIMARY_METRIC])
        value = float(scored[PRIMARY_METRIC])
        trial.set_user_attr("scored_at_decisions", int(scored["timesteps"]))
        trial.set_user_attr("trained_best", value)
        if record["warm_start"]:
            trial.set_user_attr("cloned_validation", record["warm_start"]["validation_delay_s"])
        trial.set_user_attr("training_seed", seed)
        trial.set_user_attr("train_wall_time_s", round(time.perf_counter() - t0, 2))
        log(f"[arz_rl] trial {trial.number}: validation delay {value:.2f} s/veh with {json.dumps(chosen)}")
        return value

    study.optimize(objective, n_trials=cfg.tune_trials)
    trials = [{"number": t.number, "state": t.state.name, "value": t.value, "params": t.params,
               "parameters": parameters_from(t.params) if len(t.params) == len(SPACE) else None,
               "user_attrs": t.user_attrs,
               "started": t.datetime_start.isoformat() if t.datetime_start else None,
               "completed": t.datetime_complete.isoformat() if t.datetime_complete else None}
              for t in study.get_trials(deepcopy=False)]
    done = [t for t in trials if t["state"] == "COMPLETE"]
    best = min(done, key=lambda t: t["value"]) if done else None
    result = {
        "study": cfg.tune_study, "device": device, "journal": str(journal), "level": cfg.tune_level,
        "metric": PRIMARY_METRIC, "direction": "minimize",
        "scored_on": "validation draws, the best checkpoint PPO trained (never the cloned one)",
        "timesteps_per_trial": cfg.tune_timesteps, "space": SPACE,
        "warm_start": {"episodes": cfg.warm_start_episodes, "teacher": cfg.warm_start_teacher} if tuned else None,
        "trials": trials, "best": best,
    }
    (out / contract.TUNING).write_text(json.dumps(contract.stamp(result), indent=2, default=str))
    return result

