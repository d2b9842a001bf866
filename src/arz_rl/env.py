"""Gymnasium environment: signal control of a two-class ARZ corridor.

``arz_rl/SignalCorridor-v0`` — one agent sets the phases of every junction (the flat, joint
policy); :class:`arz_rl.vec_env.SharedJunctionVecEnv` offers the same corridors junction by
junction, for one policy shared by every junction.

Observation (``observation="junction"``, default; Box in [-1, 1], float32, shape ``(J * F,)``
with ``F = 8 n_bins + 13`` = 45 for the default 4 bins): per junction what its detectors see
(:func:`arz_rl.sim.scalar.junction_features`):

- for its main then its cross approach: the whole link in ``n_bins`` bins of equal length (100 m
  each on a 400 m link), nearest the stop line first, each with both classes' occupancy
  pce_i rho_i / rho_jam and speed v_i / v_max_i; the entry queue q / (q + 50 pc); the occupancy
  of the links it discharges into, over their first quarter (spillback reaches there first) and
  over their whole length; its pressure (pc upstream incl. the entry queue, minus turning share x
  pc downstream) over the link's jam load;
- the phase one-hot (2), a yellow/all-red flag, time in phase / 120 s (capped at 1) and whether a
  switch may start now (no transition, minimum green served).

``observation="stopline"``: the earlier view, the ``k_obs`` cells nearest each stop line, entry
queues and phase (Box in [0, 1], ``J * (8 k_obs + 6)``), kept for comparison.

Action: the phase to show next at each junction (0 main street, 1 cross street).  ``actions=
"joint"`` (default): one ``Discrete(2 ** J)`` choice, bit j giving junction j's phase (one
categorical head: what DQN needs, and SB3's PPO runs it at the speed of a single decision, where
``MultiDiscrete`` costs one distribution per junction at every step); ``actions="phases"``:
``MultiDiscrete([2] * J)``.  One junction: ``Discrete(2)`` either way.  The environment enforces the
signal's timing whatever is asked: a change starts yellow (3 s) and all-red (2 s) and cannot cut
them short, and a green runs at least ``min_green``; a request for a switch that is not allowed
yet is held until it is.  :meth:`SignalCorridorEnv.action_masks` marks the feasible actions (a
junction in transition or before its minimum green can only keep its phase), for sb3-contrib's
MaskablePPO, so a masked policy never asks for what the signal cannot do (a joint action is
feasible when every junction's phase is).

Reward, minus a cost per decision interval (``reward=``):

- ``"delay"`` (default): the vehicle-seconds of delay accrued during the interval, both classes,
  over ``interval x 100 veh`` — minus the mean number of delayed-vehicle equivalents per 100
  vehicles.  Delay is time lost against free-flow speed on the road, ``rho dx (1 - v/v_max) dt``,
  plus every second spent in an entry queue, so blocking entry is never free; an episode's return
  is an affine image of the total delay the controllers are compared on (cf. sumo-rl's
  waiting-time reward; Genders & Razavi 2016).
- ``"queue"``: the mean queued vehicles (stopped-vehicle equivalents, all junctions) / 100.
- ``"pressure"`` (PressLight, Wei et al. 2019): sum over junctions of |pressure of the main +
  the cross approach| at the interval's end, each in units of the approach link's jam load.

``switch_penalty`` (>= 0) adds that much cost per signal change started in the interval.

``info`` carries simulated time (s), per-interval arrived/entered/exited vehicles, delay and total
time spent (veh s) and the switches so far: scalars only (SB3 deep-copies every step's infos);
:meth:`SignalCorridorEnv.signal_state` gives the phases and queues.  An episode is one demand
period (3600 s by default); it ends by truncation.
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
    JT_MIN_GREEN,
    SEG_CELLS,
    SIG_PHASE,
    SIG_TARGET,
    SIG_TIME,
    SIG_TRANS,
    T_EPS,
)
from .sim.scalar import BIN_FEATURES, SIGNAL_FEATURES, junction_feature_size

OBSERVATIONS = ("junction", "stopline")
ACTIONS = ("joint", "phases")
REWARDS = ("delay", "queue", "pressure")
QUEUE_SCALE = 50.0  #: pc, half-saturation of the queue feature
REWARD_SCALE = 100.0  #: veh
N_BINS = 4  #: bins per approach link in the junction observation
#: per neighbour (upstream, downstream on the main road) in the shared view: present, main green,
#: in transition, main and cross pressure
NEIGHBOUR_FEATURES = 5


def pressure_columns(n_bins: int) -> tuple[int, int]:
    """Columns of the main and cross approach's pressure in a junction's features."""
    per = BIN_FEATURES * n_bins + 4
    return per - 1, 2 * per - 1


def shared_view(features: np.ndarray, n_bins: int) -> np.ndarray:
    """Each junction's own features (B, J, F) with a summary of its neighbours on the main road
    (upstream j - 1, downstream j + 1): present, main street green, in transition, main and cross
    pressure; zeros where the corridor ends.  Shape (B, J, F + 2 * NEIGHBOUR_FEATURES)."""
    b, j, f = features.shape
    signal = f - SIGNAL_FEATURES
    pm, pc = pressure_columns(n_bins)
    summary = np.zeros((b, j, NEIGHBOUR_FEATURES), dtype=features.dtype)
    summary[..., 0] = 1.0
    summary[..., 1] = features[..., signal]
    summary[..., 2] = features[..., signal + 2]
    summary[..., 3] = features[..., pm]
    summary[..., 4] = features[..., pc]
    out = np.zeros((b, j, f + 2 * NEIGHBOUR_FEATURES), dtype=features.dtype)
    out[..., :f] = features
    out[:, 1:, f:f + NEIGHBOUR_FEATURES] = summary[:, :-1]
    out[:, :-1, f + NEIGHBOUR_FEATURES:] = summary[:, 1:]
    return out


def feasible_phases(sig: np.ndarray, junc_times: np.ndarray) -> np.ndarray:
    """(B, J, 2) bool: the phases a junction may be asked for now.  In a transition only its
    target; before the minimum green only the phase shown; otherwise both."""
    held = heading_phase(sig)
    fixed = (sig[..., SIG_TRANS] > 0.0) | (sig[..., SIG_TIME] < junc_times[None, :, JT_MIN_GREEN] - T_EPS)
    masks = np.ones(sig.shape[:2] + (2,), dtype=bool)
    masks[fixed, 1 - held[fixed]] = False
    return masks


def joint_bits(n_junctions: int) -> np.ndarray:
    """(2 ** J, J) int64: the phases encoded by each joint action (bit j is junction j's phase)."""
    return (np.arange(2**n_junctions)[:, None] >> np.arange(n_junctions)[None, :]) & 1


def heading_phase(sig: np.ndarray) -> np.ndarray:
    """(B, J): the phase each junction shows or is changing to."""
    return np.where(sig[..., SIG_TRANS] > 0.0, sig[..., SIG_TARGET], sig[..., SIG_PHASE]).astype(np.int64)


def junction_costs(kind: str, sim: Simulator, delay_before: np.ndarray | None, queue_before: np.ndarray | None,
                   features: np.ndarray | None, n_bins: int, interval: float) -> np.ndarray:
    """Cost (B, J) of each junction over the interval just simulated (see the module docstring);
    the corridor's cost is their sum.  ``delay`` is a corridor quantity: each junction carries an
    equal share.  ``delay_before`` (B,) veh s, ``queue_before`` (B, J) veh s: the accumulators at
    the interval's start; ``features``: the junction features now (needed for ``pressure``)."""
    n_j = sim.net.n_junctions
    if kind == "delay":
        delay = (sim.acc[:, ACC_DELAY:ACC_DELAY + 2].sum(1) - delay_before) / interval / REWARD_SCALE
        return np.repeat((delay / n_j)[:, None], n_j, axis=1)
    if kind == "queue":
        return (sim.jq[:, :, JQ_INTEGRAL] - queue_before) / interval / REWARD_SCALE
    pm, pc = pressure_columns(n_bins)
    return np.abs(features[..., pm] + features[..., pc])


class SignalCorridorEnv(gym.Env):
    """Signal control of a two-class ARZ corridor (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, scenario: str = "corridor", n_junctions: int | None = None,
                 decision_interval: float = 10.0, episode_length: float | None = None,
                 reward: str = "delay", switch_penalty: float = 0.0, observation: str = "junction",
                 actions: str = "joint", n_bins: int = N_BINS, order: int = 1, k_obs: int = 3,
                 demand_noise: float | None = None, scenario_overrides: dict | None = None) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        if actions not in ACTIONS:
            raise ValueError(f"actions must be one of {ACTIONS}, got {actions!r}")
        if decision_interval <= 0:
            raise ValueError(f"decision_interval must be > 0 s, got {decision_interval}")
        if switch_penalty < 0:
            raise ValueError(f"switch_penalty must be >= 0, got {switch_penalty}")
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
        self.switch_penalty = float(switch_penalty)
        self.observation_kind = observation
        cells = int(self.sim.net.seg_int[:, SEG_CELLS].min())
        if not 1 <= n_bins <= cells:
            raise ValueError(f"n_bins must lie in [1, {cells}] (the cells of the shortest link), got {n_bins}")
        self.n_bins = int(n_bins)
        self.k_obs = min(k_obs, cells)
        self.demand_noise = demand_noise
        self.n_junctions = self.sim.net.n_junctions
        self._features = np.zeros((1, self.n_junctions, junction_feature_size(self.n_bins)))
        if observation == "junction":
            dim = self._features[0].size
            self.observation_space = spaces.Box(-1.0, 1.0, shape=(dim,), dtype=np.float32)
        else:
            dim = self.sim.observation_size(self.k_obs)
            self.observation_space = spaces.Box(0.0, 1.0, shape=(dim,), dtype=np.float32)
        self.actions_kind = actions
        self._bits = joint_bits(self.n_junctions)
        self._joint = self.n_junctions == 1 or actions == "joint"
        if self._joint:
            self.action_space: spaces.Space = spaces.Discrete(2**self.n_junctions)
        else:
            self.action_space = spaces.MultiDiscrete([2] * self.n_junctions)
        self._obs = np.zeros((1, dim))
        self._step = 0

    # -- gymnasium API -------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.sim.reset(self.np_random, self.demand_noise)
        self._step = 0
        return self._observation(), self._info(np.zeros_like(self.sim.acc[0]))

    def phases(self, action) -> np.ndarray:
        """The phases (J,) an action of :attr:`action_space` asks for (a joint action is decoded)."""
        if self._joint:
            a = int(action) if isinstance(action, int | np.integer) else int(np.asarray(action).reshape(-1)[0])
            if not 0 <= a < self._bits.shape[0]:
                raise ValueError(f"action must lie in [0, {self.action_space.n}) (bit j: junction j's phase): "
                                 f"{action!r}")
            return self._bits[a]
        phases = np.asarray(action, dtype=np.int64).reshape(-1)
        if phases.shape != (self.n_junctions,) or phases.min() < 0 or phases.max() > 1:
            raise ValueError(f"action must give phase 0 or 1 for each of {self.n_junctions} junctions: {action!r}")
        return phases

    def action_of(self, phases: np.ndarray) -> np.ndarray | int:
        """The action of :attr:`action_space` asking for ``phases`` (J,)."""
        phases = np.asarray(phases, dtype=np.int64).reshape(-1)
        if isinstance(self.action_space, spaces.Discrete):
            return int((phases << np.arange(self.n_junctions)).sum())
        return phases

    def step(self, action):
        sim = self.sim
        sim.request[0] = self.phases(action)
        before = sim.acc[0].copy()
        queue_before = sim.jq[:, :, JQ_INTEGRAL].copy() if self.reward_kind == "queue" else None
        sim.advance(self.decision_interval)
        delta = sim.acc[0] - before
        obs = self._observation()
        if self.reward_kind == "delay":  # the corridor's cost directly: junction_costs' sum, without arrays
            cost = (delta[ACC_DELAY] + delta[ACC_DELAY + 1]) / self.decision_interval / REWARD_SCALE
        else:
            cost = junction_costs(self.reward_kind, sim, None, queue_before, self._features, self.n_bins,
                                  self.decision_interval).sum()
        reward = -float(cost + self.switch_penalty * delta[ACC_SWITCHES])
        self._step += 1
        truncated = self._step >= self.n_decisions
        return obs, reward, False, truncated, self._info(delta)

    def action_masks(self) -> np.ndarray:
        """Feasible actions, as sb3-contrib's MaskablePPO reads them: (2 ** J,) for joint actions
        (every junction's phase feasible), the (2 J,) concatenation of each junction's two phases
        for ``actions="phases"``."""
        feasible = feasible_phases(self.sim.sig, self.sim.net.junc_times)[0]
        if isinstance(self.action_space, spaces.Discrete):
            return feasible[np.arange(self.n_junctions), self._bits].all(axis=1)
        return feasible.reshape(-1)

    def shared_observation(self) -> np.ndarray:
        """Each junction's view for a policy shared by every junction, (J, F + 10), float32:
        its own features and its main-road neighbours' summary (:func:`shared_view`)."""
        self.sim.junction_features(self.n_bins, QUEUE_SCALE, self._features)
        return shared_view(self._features, self.n_bins)[0].astype(np.float32)

    # -- helpers -------------------------------------------------------------------
    def _observation(self) -> np.ndarray:
        self.sim.junction_features(self.n_bins, QUEUE_SCALE, self._features)
        if self.observation_kind == "junction":
            return self._features.reshape(-1).astype(np.float32)
        self.sim.observe(self.k_obs, QUEUE_SCALE, self._obs)
        return self._obs[0].astype(np.float32)

    def _info(self, delta: np.ndarray) -> dict[str, Any]:
        sim = self.sim
        d = delta.tolist()  # per-class pairs: plain floats add faster than numpy reductions
        return {
            "time": float(sim.t[0]),
            "arrived": d[ACC_ARRIVED] + d[ACC_ARRIVED + 1],
            "entered": d[ACC_ENTERED] + d[ACC_ENTERED + 1],
            "exited": d[ACC_EXITED] + d[ACC_EXITED + 1],
            "delay": d[ACC_DELAY] + d[ACC_DELAY + 1],
            "total_time": d[ACC_TTS] + d[ACC_TTS + 1],
            "switches": int(sim.acc[0, ACC_SWITCHES]),
        }

    def signal_state(self) -> dict[str, np.ndarray]:
        """Now, per junction: ``phase`` shown, ``in_transition`` (yellow/all-red), ``queue`` (veh)."""
        sig = self.sim.sig[0]
        return {"phase": sig[:, SIG_PHASE].astype(int), "in_transition": sig[:, SIG_TRANS] > 0.0,
                "queue": self.sim.jq[0, :, JQ_NOW].copy()}

    # -- control hooks for the baselines --------------------------------------------
    def set_fixed_plan(self, cycle: float, main_green: float, offsets: np.ndarray | None = None) -> None:
        """Run a fixed-time plan (s); actions are then ignored.  ``cycle=0`` ends it."""
        self.sim.set_plan(cycle, main_green, offsets)
