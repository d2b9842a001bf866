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
yet is held until it is; with ``max_green`` > 0 (s, checked at each decision) a green that has
lasted that long changes whatever is asked, as an actuated controller's maximum green does.
:meth:`SignalCorridorEnv.action_masks` marks the feasible actions (a
junction in transition or before its minimum green can only keep its phase), for sb3-contrib's
MaskablePPO, so a masked policy never asks for what the signal cannot do (a joint action is
feasible when every junction's phase is).

Reward: minus the corridor's cost over the decision interval, the sum over its junctions of the
registered reward's cost (``reward=``, :data:`arz_rl.core.REWARDS`: ``delay`` (default) the
corridor's delay, ``local_delay`` each junction's own, ``pressure`` PressLight's; see
:mod:`arz_rl.core`), plus ``switch_penalty`` per signal change started.  With ``delay`` the return
is an affine image of the total delay the controllers are compared on (cf. sumo-rl's waiting-time
reward; Genders & Razavi 2016).

``info`` carries simulated time (s), per-interval arrived/entered/exited vehicles, delay and total
time spent (veh s) and the switches so far: scalars only (SB3 deep-copies every step's infos);
:meth:`SignalCorridorEnv.signal_state` gives the phases and queues.  An episode is one demand
period (3600 s by default), then ``clearance_s`` (default 0) of clearance with no new arrivals and
the agent still deciding (what the evaluation's clearance counts, :mod:`arz_rl.evaluate`); it ends
by truncation.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .core import (
    N_BINS,
    NEIGHBOUR_FEATURES,
    OBSERVATIONS,
    QUEUE_SCALE,
    REWARD_SCALE,
    REWARDS,
    CorridorCore,
    feasible_phases,
    heading_phase,
    joint_bits,
    pressure_columns,
    shared_view,
    switches_started,
)
from .sim.layout import (
    ACC_ARRIVED,
    ACC_DELAY,
    ACC_ENTERED,
    ACC_EXITED,
    ACC_SWITCHES,
    ACC_TTS,
    JQ_NOW,
    SIG_PHASE,
    SIG_TRANS,
)

ACTIONS = ("joint", "phases")
__all__ = ["ACTIONS", "N_BINS", "NEIGHBOUR_FEATURES", "OBSERVATIONS", "QUEUE_SCALE", "REWARDS", "REWARD_SCALE",
           "SignalCorridorEnv", "feasible_phases", "heading_phase", "joint_bits", "pressure_columns", "shared_view",
           "switches_started"]


class SignalCorridorEnv(gym.Env):
    """Signal control of a two-class ARZ corridor (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, scenario: str = "corridor", n_junctions: int | None = None,
                 decision_interval: float = 10.0, episode_length: float | None = None,
                 reward: str = "delay", switch_penalty: float = 0.0, neighbour_weight: float = 0.0,
                 observation: str = "junction", actions: str = "joint", n_bins: int = N_BINS, order: int = 1,
                 k_obs: int = 3, demand_noise: float | None = None, scenario_overrides: dict | None = None,
                 clearance_s: float = 0.0, max_green: float = 0.0) -> None:
        if actions not in ACTIONS:
            raise ValueError(f"actions must be one of {ACTIONS}, got {actions!r}")
        self.core = CorridorCore(scenario, n_junctions, 1, decision_interval, episode_length, reward, switch_penalty,
                                 neighbour_weight, observation, n_bins, k_obs, order, parallel=False,
                                 demand_noise=demand_noise, scenario_overrides=scenario_overrides,
                                 clearance_s=clearance_s, max_green=max_green)
        core = self.core
        self.sim = core.sim
        self.scenario = core.scenario
        self.n_junctions = core.n_junctions
        self.decision_interval, self.episode_length, self.n_decisions = (core.decision_interval, core.episode_length,
                                                                         core.n_decisions)
        self.reward_kind, self.switch_penalty, self.observation_kind = reward, core.switch_penalty, observation
        self.n_bins, self.k_obs, self.demand_noise = core.n_bins, core.k_obs, demand_noise
        low = -1.0 if observation == "junction" else 0.0
        self.observation_space = spaces.Box(low, 1.0, shape=(core.observation_size,), dtype=np.float32)
        self.actions_kind = actions
        self._bits = joint_bits(self.n_junctions)
        self._joint = self.n_junctions == 1 or actions == "joint"
        if self._joint:
            self.action_space: spaces.Space = spaces.Discrete(2**self.n_junctions)
        else:
            self.action_space = spaces.MultiDiscrete([2] * self.n_junctions)

    # -- gymnasium API -------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.core.reset(self.np_random)
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
        before = self.sim.acc[0].copy()
        cost = float(self.core.step(self.phases(action)[None]).sum())
        return self._observation(), -cost, False, self.core.truncated, self._info(self.sim.acc[0] - before)

    def action_masks(self) -> np.ndarray:
        """Feasible actions, as sb3-contrib's MaskablePPO reads them: (2 ** J,) for joint actions
        (every junction's phase feasible), the (2 J,) concatenation of each junction's two phases
        for ``actions="phases"``."""
        feasible = self.core.feasible()[0]
        if isinstance(self.action_space, spaces.Discrete):
            return feasible[np.arange(self.n_junctions), self._bits].all(axis=1)
        return feasible.reshape(-1)

    def shared_observation(self) -> np.ndarray:
        """Each junction's view for a policy shared by every junction, (J, F + 10), float32:
        its own features and its main-road neighbours' summary (:func:`shared_view`)."""
        return self.core.shared_observation()[0]

    # -- helpers -------------------------------------------------------------------
    def _observation(self) -> np.ndarray:
        return self.core.corridor_observation()[0]

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
