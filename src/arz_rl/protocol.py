"""The comparison protocol: disjoint demand draws, demand levels, baselines tuned on validation.

Three disjoint sets of demand draws (each draw is a seed of the demand's lognormal noise):

- **training**: what the agents learn on: the training env's own random stream, seeded by the
  training seed (an agent's seeds 0-499, the RL study's trials 500-999, so no trial trains on an
  agent's stream; a seed's episodes draw one after the other from it);
- **validation** (:data:`VALIDATION_BASE` + i): what every choice is made on: an agent's
  checkpoint (the best mean delay over these draws), each baseline's tuning, any setting;
- **test** (:data:`TEST_BASE` + i): what every reported number comes from, and nothing else; every
  controller (every agent seed) plays the same test draws.

Each demand level (:data:`arz_rl.sim.network.DEMAND_LEVELS`) is its own experiment: its baselines
are tuned on its validation draws, its agents trained on it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .baselines import Actuated, Controller, FixedTime, MaxPressure, RandomController, reference_plans, shortest_cycle
from .config import RunConfig
from .core import CorridorCore
from .evaluate import play
from .progress import Progress
from .sim.network import DEMAND_LEVELS
from .stats import PRIMARY_METRIC

VALIDATION_BASE = 20_000
TEST_BASE = 30_000
TRAINING_RANGE = (0, 500)  #: the agents' training seeds
STUDY_RANGE = (500, 1000)  #: the training seeds of the RL study's trials: never an agent's


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
    # a study (mode tune) trains its trials on STUDY_RANGE (arz_rl.tune); its own seed seeds the sampler
    lo, hi = (0, STUDY_RANGE[1]) if cfg.mode == "tune" else TRAINING_RANGE
    if not all(lo <= s < hi for s in training):
        raise ValueError(f"training seeds must lie in [{lo}, {hi}) in mode {cfg.mode}: seed={cfg.seed}, "
                         f"seeds={cfg.seeds}")
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


def train_env_kwargs(cfg: RunConfig, level: str) -> dict[str, Any]:
    """:func:`env_kwargs` of a training env: its episodes end with ``cfg.train_clearance_s`` of
    clearance (an evaluation plays its clearance itself, :func:`arz_rl.evaluate.play`), and its
    signals hold a green at most ``cfg.agent_max_green_s`` (an agent's controller applies the same
    rule when it plays)."""
    return {**env_kwargs(cfg, level), "clearance_s": cfg.train_clearance_s, "max_green": cfg.agent_max_green_s}


class Player:
    """Plays controllers on draws at one level: one batched core per (decision interval, number of
    draws), reused, every draw a corridor of it (:func:`arz_rl.evaluate.play`), through the demand
    period and the clearance (``cfg.clearance_cap_s``)."""

    def __init__(self, cfg: RunConfig, level: str) -> None:
        self.cfg, self.level = cfg, level
        self._cores: dict[tuple[float, int], CorridorCore] = {}

    def core(self, interval: float | None, batch: int = 1) -> CorridorCore:
        key = (float(interval or self.cfg.decision_interval), int(batch))
        if key not in self._cores:
            kwargs = env_kwargs(self.cfg, self.level, key[0])
            self._cores[key] = CorridorCore(batch_size=key[1], **kwargs)
        return self._cores[key]

    def play(self, controller: Controller, draws: list[int], record_first: bool = False
             ) -> tuple[list[dict[str, float]], dict[str, np.ndarray] | None]:
        core = self.core(getattr(controller, "decision_interval", None), len(draws))
        episodes, trace = play(core, controller, draws, self.cfg.clearance_cap_s, record=record_first)
        for metrics, draw in zip(episodes, draws, strict=True):
            metrics["demand_seed"] = draw
        return episodes, trace


def mean_metrics(episodes: list[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in episodes[0] if k != "demand_seed"]
    return {k: float(np.mean([ep[k] for ep in episodes])) for k in keys}


@dataclass(frozen=True)
class Axis:
    """One tuned parameter of a baseline: its grid, and ``floor``, why its lowest value cannot go
    lower when it sits on a feasibility bound (the signal's own minimum green, the shortest cycle
    whose greens reach it, a threshold of zero): a setting chosen there is at a bound, not at an
    edge of the grid that hides a better value."""

    name: str
    values: tuple[float, ...]
    floor: str | None = None


@dataclass(frozen=True)
class Family:
    """A tuned baseline: its axes and how a controller is built from one value of each (arrays:
    one value per corridor, a sweep's settings side by side)."""

    name: str
    axes: tuple[Axis, ...]
    build: Callable[..., Controller]
    interval: Callable[[dict[str, float]], float | None] = lambda setting: None

    def settings(self) -> list[dict[str, float]]:
        every = [dict(zip((a.name for a in self.axes), values, strict=True))
                 for values in itertools.product(*(a.values for a in self.axes))]
        return [s for s in every if self.feasible(s)]

    def feasible(self, setting: dict[str, float]) -> bool:
        return not ("max_green" in setting and setting["max_green"] < setting["min_green"])


def families(cfg: RunConfig, core: CorridorCore) -> dict[str, Family]:
    """The tuned baselines with the run's grids (``tune_*``).  Their lowest values that are
    feasibility bounds are marked (:class:`Axis`)."""
    sc = core.scenario
    shortest = shortest_cycle(core)
    cycles = tuple(c for c in cfg.tune_cycles if c >= shortest - 1e-9)
    if not cycles:
        raise ValueError(f"tune_cycles={list(cfg.tune_cycles)}: none reaches the shortest cycle {shortest:g} s")
    signal_min = f"the signal's own minimum green ({sc.min_green:g} s)"
    below_shortest = [c for c in cfg.tune_cycles if c < cycles[0]]
    cycle_floor = f"the shortest cycle whose greens reach the minimum green ({shortest:g} s)"

    def green_floor(values: tuple[float, ...]) -> str | None:
        return signal_min if min(values) <= sc.min_green + 1e-9 else None

    return {
        "fixed_time": Family("fixed_time", (Axis("cycle", cycles, cycle_floor if below_shortest or
                                                 cycles[0] - shortest < 1e-9 else None),),
                             lambda cycle: FixedTime(cycle, name="fixed_time")),
        "max_pressure": Family(
            "max_pressure",
            (Axis("interval", cfg.tune_mp_intervals), Axis("min_green", cfg.tune_min_greens,
                                                           green_floor(cfg.tune_min_greens)),
             Axis("threshold", cfg.tune_mp_thresholds, "a threshold of 0 pc (Varaiya's controller)"
                  if min(cfg.tune_mp_thresholds) == 0 else None)),
            lambda interval, min_green, threshold: MaxPressure(interval, min_green, threshold),
            interval=lambda setting: setting["interval"]),
        "actuated": Family(
            "actuated",
            (Axis("min_green", cfg.tune_min_greens, green_floor(cfg.tune_min_greens)),
             Axis("max_green", cfg.tune_max_greens), Axis("gap", cfg.tune_gaps)),
            lambda min_green, max_green, gap: Actuated(min_green, max_green, gap),
            interval=lambda setting: Actuated().decision_interval),
    }


def grid_edges(family: Family, setting: dict[str, float]) -> list[str]:
    """The parameters of ``setting`` that sit on an edge of ``family``'s grid (not on a
    feasibility bound), each as ``name=value (lowest|highest of [...])``."""
    edges = []
    for axis in family.axes:
        if len(axis.values) < 2:
            continue
        value = setting[axis.name]
        if value >= max(axis.values):
            edges.append(f"{axis.name}={value:g} (highest of {list(axis.values)})")
        elif value <= min(axis.values) and axis.floor is None:
            edges.append(f"{axis.name}={value:g} (lowest of {list(axis.values)})")
    return edges


def sweep(player: Player, family: Family, draws: list[int]) -> list[dict[str, Any]]:
    """Every setting of ``family`` on ``draws``: the settings that share a decision interval play in
    one batch (one corridor per setting and draw); ``[{"params", "validation"}]``, in grid order."""
    settings = family.settings()
    by_interval: dict[float | None, list[int]] = {}
    for i, setting in enumerate(settings):
        by_interval.setdefault(family.interval(setting), []).append(i)
    results: list[dict[str, Any]] = [{}] * len(settings)
    for interval, members in by_interval.items():
        columns = {a.name: np.repeat([settings[i][a.name] for i in members], len(draws)) for a in family.axes}
        if "interval" in columns:
            columns["interval"] = interval
        controller = family.build(**columns)
        episodes, _ = player.play(controller, list(draws) * len(members))
        for k, i in enumerate(members):
            mine = episodes[k * len(draws):(k + 1) * len(draws)]
            results[i] = {"params": {**settings[i]}, "validation": mean_metrics(mine)}
    return results


def tune_baselines(cfg: RunConfig, level: str, validation: list[int], log=print,
                   only: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Each baseline's best setting on the validation draws (lowest mean of the primary metric):
    ``{name: {"controller", "params", "validation", "sweep", "edges", "effort"}}``; ``only``: these
    baselines.  ``edges`` names a chosen value on an edge of its grid (empty when every optimum is
    inside its grid or on a feasibility bound); ``effort``: settings x draws played."""
    player = Player(cfg, level)
    chosen = {name: fam for name, fam in families(cfg, player.core(None)).items() if only is None or name in only}
    progress = Progress(f"baselines at {level}", "tune", len(chosen), "baselines", cfg.progress_s)
    tuned = {}
    for done, (name, family) in enumerate(chosen.items()):
        progress.update(done, baseline=name)
        results = sweep(player, family, validation)
        best = min(range(len(results)), key=lambda i: results[i]["validation"][PRIMARY_METRIC])
        params = results[best]["params"]
        controller = family.build(**params)
        controller.name = name
        edges = grid_edges(family, params)
        tuned[name] = {"controller": controller, "params": controller.params(),
                       "validation": results[best]["validation"], "sweep": results, "edges": edges,
                       "grid": {a.name: list(a.values) for a in family.axes},
                       "effort": {"settings": len(results), "draws": len(validation),
                                  "episodes": len(results) * len(validation)}}
        log(f"[arz_rl] {level}: tuned {name} {controller.params()} -> validation {PRIMARY_METRIC}="
            f"{results[best]['validation'][PRIMARY_METRIC]:.2f} (best of {len(results)})"
            + (f"; ON A GRID EDGE: {', '.join(edges)}" if edges else ""))
    progress.update(len(chosen), force=True)
    return tuned


def baselines_for_test(cfg: RunConfig, tuned: dict[str, Any]) -> list[tuple[Controller, str]]:
    """The controllers every agent is compared with: the tuned ones, then the reference rows."""
    return ([(t["controller"], "tuned") for t in tuned.values()]
            + [(c, "reference") for c in reference_plans(cfg.fixed_cycles)]
            + [(RandomController(0), "reference")])
