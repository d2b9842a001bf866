"""Gymnasium environment: signal control of a two-class ARZ corridor.

``arz_rl/SignalCorridor-v0`` — one agent sets the phases of every junction.

Observation (Box in [0, 1], float32, shape ``(J * (8 k_obs + 6),)``): per
junction, for its main then cross approach, the ``k_obs`` cells nearest the
stop line (nearest first) with rho_m pce_m/rho_jam, v_m/v_max_m,
rho_c/rho_jam, v_c/v_max_c, then the approach's entry queue q/(q + 50 pc);
then the phase one-hot (2), a yellow/all-red flag and time in phase / 120 s.

Action: the phase to show next at each junction (0 main street, 1 cross
street): ``Discrete(2)`` for one junction, ``MultiDiscrete([2] * J)`` for a
corridor.  A request to change starts yellow (3 s) and all-red (2 s); a
request before ``min_green`` is served when min green has elapsed.

Reward (``reward="delay"``, default): minus the vehicle-seconds of delay
accrued during the decision interval, over both classes, divided by
``interval x 100 veh`` — i.e. minus the mean number of delayed-vehicle
equivalents per 100 vehicles.  Delay is time lost against free-flow speed on
the road, ``rho dx (1 - v/v_max) dt``, plus every second spent in an entry
queue, so blocking entry is never free.  The episode's return is thus an
affine image of the total delay, the metric the controllers are compared on
(cf. the waiting-time rewards of sumo-rl, Alegre 2019; Genders & Razavi
2016).  ``reward="queue"``: minus the mean queued vehicles (all junctions)
during the interval / 100.

``info`` carries what the evaluation metrics are computed from: simulated
time (s), per-interval arrived/entered/exited vehicles, delay and total time
spent (veh s), queue per junction now (veh), phases and switches so far.
An episode is one demand period (3600 s = 240 decisions by default); it ends
by truncation.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .sim import Simulator, make_scenario
from .sim.layout import (
    ACC_ARRIVED,
    ACC_DELAY,
    ACC_ENTERED,
    ACC_EXITED,
    ACC_SWITCHES,
    ACC_TTS,
    JQ_INTEGRAL,
    JQ_NOW,
    SEG_CELLS,
    SIG_PHASE,
    SIG_TRANS,
)

REWARDS = ("delay", "queue")
QUEUE_SCALE = 50.0  #: pc, half-saturation of the queue feature
REWARD_SCALE = 100.0  #: veh


class SignalCorridorEnv(gym.Env):
    """Signal control of a two-class ARZ corridor (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, scenario: str = "corridor", n_junctions: int | None = None,
                 decision_interval: float = 15.0, episode_length: float | None = None,
                 reward: str = "delay", order: int = 1, k_obs: int = 3,
                 demand_noise: float | None = None, scenario_overrides: dict | None = None) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        if decision_interval <= 0:
            raise ValueError(f"decision_interval must be > 0 s, got {decision_interval}")
        overrides = dict(scenario_overrides or {})
        if n_junctions is not None and scenario != "single":
            overrides["n_junctions"] = n_junctions
        self.scenario = make_scenario(scenario, **overrides)
        self.sim = Simulator(self.scenario, batch_size=1, order=order, parallel=False)
        self.decision_interval = float(decision_interval)
        self.episode_length = float(episode_length or self.scenario.duration)
        self.n_decisions = int(round(self.episode_length / self.decision_interval))
        if self.n_decisions < 1:
            raise ValueError("episode_length must cover at least one decision interval")
        self.reward_kind = reward
        self.k_obs = min(k_obs, int(self.sim.net.seg_int[:, SEG_CELLS].min()))
        self.demand_noise = demand_noise
        self.n_junctions = self.sim.net.n_junctions
        dim = self.sim.observation_size(self.k_obs)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(dim,), dtype=np.float32)
        self.action_space = (
            spaces.Discrete(2) if self.n_junctions == 1 else spaces.MultiDiscrete([2] * self.n_junctions)
        )
        self._obs = np.zeros((1, dim))
        self._step = 0

    # -- gymnasium API -------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.sim.reset(self.np_random, self.demand_noise)
        self._step = 0
        return self._observation(), self._info(np.zeros_like(self.sim.acc[0]), np.zeros(self.n_junctions))

    def step(self, action):
        phases = np.atleast_1d(np.asarray(action, dtype=np.int64))
        if phases.shape != (self.n_junctions,) or phases.min() < 0 or phases.max() > 1:
            raise ValueError(f"action must give phase 0 or 1 for each of {self.n_junctions} junctions: {action!r}")
        self.sim.request[0] = phases
        before = self.sim.acc[0].copy()
        queue_before = self.sim.jq[0, :, JQ_INTEGRAL].copy()
        self.sim.advance(self.decision_interval)
        delta = self.sim.acc[0] - before
        queue_mean = (self.sim.jq[0, :, JQ_INTEGRAL] - queue_before) / self.decision_interval
        if self.reward_kind == "delay":
            cost = delta[ACC_DELAY:ACC_DELAY + 2].sum() / self.decision_interval
        else:
            cost = queue_mean.sum()
        reward = -float(cost) / REWARD_SCALE
        self._step += 1
        truncated = self._step >= self.n_decisions
        return self._observation(), reward, False, truncated, self._info(delta, queue_mean)

    # -- helpers -------------------------------------------------------------------
    def _observation(self) -> np.ndarray:
        self.sim.observe(self.k_obs, QUEUE_SCALE, self._obs)
        return self._obs[0].astype(np.float32)

    def _info(self, delta: np.ndarray, queue_mean: np.ndarray) -> dict[str, Any]:
        sim = self.sim
        return {
            "time": float(sim.t[0]),
            "arrived": float(delta[ACC_ARRIVED:ACC_ARRIVED + 2].sum()),
            "entered": float(delta[ACC_ENTERED:ACC_ENTERED + 2].sum()),
            "exited": float(delta[ACC_EXITED:ACC_EXITED + 2].sum()),
            "delay": float(delta[ACC_DELAY:ACC_DELAY + 2].sum()),
            "total_time": float(delta[ACC_TTS:ACC_TTS + 2].sum()),
            "queue": sim.jq[0, :, JQ_NOW].copy(),
            "queue_mean": np.asarray(queue_mean, dtype=float),
            "phase": sim.sig[0, :, SIG_PHASE].astype(int),
            "in_transition": sim.sig[0, :, SIG_TRANS] > 0.0,
            "switches": int(sim.acc[0, ACC_SWITCHES]),
        }

    # -- control hooks for the baselines --------------------------------------------
    def set_fixed_plan(self, cycle: float, main_green: float, offsets: np.ndarray | None = None) -> None:
        """Run a fixed-time plan (s); actions are then ignored.  ``cycle=0`` ends it."""
        self.sim.set_plan(cycle, main_green, offsets)
