"""The comparison protocol: disjoint demand draws, demand levels, baselines tuned on validation.

Three disjoint sets of demand draws (each draw is a seed of the demand's lognormal noise):

- **training**: what the agents learn on: the training env's own random stream, seeded by the
  training seed (seeds 0-999; a seed's episodes draw one after the other from it);
- **validation** (:data:`VALIDATION_BASE` + i): what every choice is made on: an agent's
  checkpoint (the best mean delay over these draws), each baseline's tuning, any setting;
- **test** (:data:`TEST_BASE` + i): what every reported number comes from, and nothing else; every
  controller (every agent seed) plays the same test draws.

Each demand level (:data:`arz_rl.sim.network.DEMAND_LEVELS`) is its own experiment: its baselines
are tuned on its validation draws, its agents trained on it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .baselines import Actuated, Controller, FixedTime, MaxPressure, RandomController, reference_plans, shortest_cycle
from .config import RunConfig
from .env import SignalCorridorEnv
from .evaluate import run_episode
from .progress import Progress
from .sim.network import DEMAND_LEVELS
from .stats import PRIMARY_METRIC

VALIDATION_BASE = 20_000
TEST_BASE = 30_000
TRAINING_RANGE = (0, 1000)


@dataclass(frozen=True)
class SeedSets:
    training: list[int]
    validation: list[int]
    test: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {"training": self.training, "validation": self.validation, "test": self.test,
                "training_draws": "each training env's own random stream, seeded by its training seed",
                "disjoint": True}


def seed_sets(cfg: RunConfig) -> SeedSets:
    """The run's three sets (disjoint by construction; checked)."""
    training = [cfg.seed + k for k in range(cfg.seeds)]
    if not all(TRAINING_RANGE[0] <= s < TRAINING_RANGE[1] for s in training):
        raise ValueError(f"training seeds must lie in {TRAINING_RANGE}: seed={cfg.seed}, seeds={cfg.seeds}")
    sets = SeedSets(training, [VALIDATION_BASE + i for i in range(cfg.validation_episodes)],
                    [TEST_BASE + i for i in range(cfg.eval_episodes)])
    assert not (set(sets.training) & set(sets.validation) or set(sets.validation) & set(sets.test))
    return sets


def level_overrides(cfg: RunConfig, level: str) -> dict[str, Any]:
    """The scenario of one demand level: its demand scale and the run's motorcycle share."""
    if level not in DEMAND_LEVELS:
        raise ValueError(f"level {level!r}: known levels are {sorted(DEMAND_LEVELS)}")
    return {"demand_scale": DEMAND_LEVELS[level], "moto_share": cfg.moto_share}


def env_kwargs(cfg: RunConfig, level: str, decision_interval: float | None = None) -> dict[str, Any]:
    """:class:`SignalCorridorEnv` arguments of ``cfg`` at ``level``."""
    return {"scenario": cfg.scenario, "n_junctions": cfg.n_junctions,
            "decision_interval": decision_interval or cfg.decision_interval, "episode_length": cfg.episode_length,
            "reward": cfg.reward, "switch_penalty": cfg.switch_penalty, "neighbour_weight": cfg.neighbour_weight,
            "observation": cfg.observation,
            "order": cfg.order, "scenario_overrides": level_overrides(cfg, level)}


class Player:
    """Plays controllers on draws at one level, one env per decision interval (reused)."""

    def __init__(self, cfg: RunConfig, level: str) -> None:
        self.cfg, self.level = cfg, level
        self._envs: dict[float, SignalCorridorEnv] = {}

    def env(self, interval: float | None) -> SignalCorridorEnv:
        key = float(interval or self.cfg.decision_interval)
        if key not in self._envs:
            self._envs[key] = SignalCorridorEnv(**env_kwargs(self.cfg, self.level, key))
        return self._envs[key]

    def play(self, controller: Controller, draws: list[int], record_first: bool = False
             ) -> tuple[list[dict[str, float]], dict[str, np.ndarray] | None]:
        env = self.env(getattr(controller, "decision_interval", None))
        episodes, trace = [], None
        for i, draw in enumerate(draws):
            metrics, tr = run_episode(env, controller, draw, record=record_first and i == 0)
            metrics["demand_seed"] = draw
            episodes.append(metrics)
            trace = tr if tr is not None else trace
        return episodes, trace


def mean_metrics(episodes: list[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in episodes[0] if k != "demand_seed"]
    return {k: float(np.mean([ep[k] for ep in episodes])) for k in keys}


def candidates(cfg: RunConfig, env: SignalCorridorEnv) -> dict[str, list[Controller]]:
    """Every setting each tuned baseline is tried with (the run's grids)."""
    shortest = shortest_cycle(env)
    return {
        "fixed_time": [FixedTime(c, name="fixed_time") for c in cfg.tune_cycles if c >= shortest],
        "max_pressure": [MaxPressure(i, g) for i, g in itertools.product(cfg.tune_mp_intervals, cfg.tune_min_greens)],
        "actuated": [Actuated(lo, hi, gap) for lo, hi, gap in itertools.product(cfg.tune_min_greens,
                                                                             cfg.tune_max_greens, cfg.tune_gaps)
                     if hi >= lo],
    }


def tune_baselines(cfg: RunConfig, level: str, validation: list[int], log=print,
                   only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Each baseline's best setting on the validation draws (lowest mean of the primary metric):
    ``{name: {"controller", "params", "validation", "sweep"}}``; ``only``: these baselines."""
    player = Player(cfg, level)
    grid = {name: options for name, options in candidates(cfg, player.env(None)).items()
            if only is None or name in only}
    total = sum(len(v) for v in grid.values())
    progress = Progress(f"baselines at {level}", "tune", total, "settings", cfg.progress_s)
    tuned, done = {}, 0
    for name, options in grid.items():
        sweep = []
        for ctrl in options:
            progress.update(done, baseline=name)
            episodes, _ = player.play(ctrl, validation)
            sweep.append({"params": ctrl.params(), "validation": mean_metrics(episodes)})
            done += 1
        best = min(range(len(options)), key=lambda i: sweep[i]["validation"][PRIMARY_METRIC])
        tuned[name] = {"controller": options[best], "params": sweep[best]["params"],
                       "validation": sweep[best]["validation"], "sweep": sweep}
        log(f"[arz_rl] {level}: tuned {name} {sweep[best]['params']} -> validation "
            f"{PRIMARY_METRIC}={sweep[best]['validation'][PRIMARY_METRIC]:.2f} (best of {len(options)})")
    progress.update(done, force=True)
    return tuned


def baselines_for_test(cfg: RunConfig, tuned: dict[str, Any]) -> list[tuple[Controller, str]]:
    """The controllers every agent is compared with: the tuned ones, then the reference rows."""
    return ([(t["controller"], "tuned") for t in tuned.values()]
            + [(c, "reference") for c in reference_plans(cfg.fixed_cycles)]
            + [(RandomController(0), "reference")])
