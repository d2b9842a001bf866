"""One batched corridor core: what every view of the signal-control problem shares.

:class:`CorridorCore` owns ``B`` corridors of one scenario in one :class:`~arz_rl.sim.Simulator`
(the batch axis of its arrays), their junction features, the signal's timing rules as action masks,
the decision clock and the rewards.  :class:`arz_rl.env.SignalCorridorEnv` (``B = 1``, gymnasium),
:class:`arz_rl.vec_env.BatchedCorridorVecEnv` (one SB3 env per corridor) and
:class:`arz_rl.vec_env.SharedJunctionVecEnv` (one SB3 env per junction) are views of it: they
translate actions in and observations out, and step through :meth:`CorridorCore.step`, the one
step body.

**Rewards** live in :data:`REWARDS`: each declares what it records before an interval and how that
becomes a cost per junction, shape (B, J), over the interval just simulated; a view's reward is
minus a cost (a corridor's: the sum over its junctions).  :func:`register_reward` adds one (a test
adds one and trains on it).  Built in, every cost in units of ``REWARD_SCALE`` vehicles:

- ``delay``: the corridor's delay over the interval (vehicle-seconds lost against free-flow speed on
  every link, plus every second in an entry queue), per second of the interval; each junction
  carries an equal share (a corridor-shared reward: the sum is the corridor's delay).
- ``local_delay``: the junction's own delay, on its two approaches and in its entry queue, per
  second of the interval: credit to each junction for its own decisions.  The junctions' sum is the
  corridor's delay less what accrues on the links no junction is approached by (the exits), so the
  sum is never above the corridor's (tested).  Numerically it is the time integral of the
  junction's queue in stopped-vehicle equivalents (a vehicle at speed v counts 1 - v/v_max).
- ``pressure`` (PressLight, Wei et al. 2019): |pressure of the main + the cross approach| at the
  interval's end, each over the approach link's jam load.

``neighbour_weight`` w adds w times each main-road neighbour's cost to a junction's (a local reward
with a neighbour term, as in PressLight's and CoLight's neighbourhood rewards); ``switch_penalty``
adds that much per signal change the junction started in the interval.

**A switch** is one definition (:func:`switches_started`): the phase a junction shows or is
changing to (its heading) differs after the interval from before it.  A request stands for a
whole interval, so a junction starts at most one change per interval, and the count equals the
simulator's own switch counter (tested).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .sim import Simulator, make_scenario
from .sim.layout import (
    ACC_DELAY,
    JQ_INTEGRAL,
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
QUEUE_SCALE = 50.0  #: pc, half-saturation of the queue feature
REWARD_SCALE = 100.0  #: veh
N_BINS = 4  #: bins per approach link in the junction observation
#: per neighbour (upstream, downstream on the main road) in the shared view: present, main green,
#: in transition, main and cross pressure
NEIGHBOUR_FEATURES = 5


# -- the signal's state, read the same way by every view -----------------------------------------
def heading_phase(sig: np.ndarray) -> np.ndarray:
    """(B, J): the phase each junction shows or is changing to."""
    return np.where(sig[..., SIG_TRANS] > 0.0, sig[..., SIG_TARGET], sig[..., SIG_PHASE]).astype(np.int64)


def switches_started(heading_before: np.ndarray, heading_after: np.ndarray) -> np.ndarray:
    """(B, J) float: 1 where a junction started a signal change over the interval (see the module
    docstring: the one definition of a switch)."""
    return (heading_after != heading_before).astype(np.float64)


def feasible_phases(sig: np.ndarray, junc_times: np.ndarray, max_green: float = 0.0) -> np.ndarray:
    """(B, J, 2) bool: the phases a junction may be asked for now.  In a transition only its
    target; before the minimum green only the phase shown; from ``max_green`` s of green on (when
    > 0) only the other phase; otherwise both."""
    held = heading_phase(sig)
    fixed = (sig[..., SIG_TRANS] > 0.0) | (sig[..., SIG_TIME] < junc_times[None, :, JT_MIN_GREEN] - T_EPS)
    masks = np.ones(sig.shape[:2] + (2,), dtype=bool)
    masks[fixed, 1 - held[fixed]] = False
    if max_green > 0:
        ended = green_ended(sig, max_green)
        masks[ended, held[ended]] = False
    return masks


def green_ended(sig: np.ndarray, max_green: float) -> np.ndarray:
    """(B, J) bool: junctions whose green has lasted ``max_green`` s (out of any transition)."""
    return (sig[..., SIG_TRANS] <= 0.0) & (sig[..., SIG_TIME] >= max_green - T_EPS)


def hold_max_green(sig: np.ndarray, phases: np.ndarray, max_green: float) -> np.ndarray:
    """``phases`` (B, J) with every junction whose green has lasted ``max_green`` s (> 0; 0: none)
    asked for the other phase: the maximum green an actuated controller has, for agents, which
    may hold a green for ever otherwise (a cross street stranded once the main road empties)."""
    if max_green <= 0:
        return phases
    ended = green_ended(sig, max_green)
    return np.where(ended, 1 - heading_phase(sig), phases)


def joint_bits(n_junctions: int) -> np.ndarray:
    """(2 ** J, J) int64: the phases encoded by each joint action (bit j is junction j's phase)."""
    return (np.arange(2**n_junctions)[:, None] >> np.arange(n_junctions)[None, :]) & 1


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


def neighbour_sum(costs: np.ndarray) -> np.ndarray:
    """(B, J): the costs of each junction's main-road neighbours (j - 1 and j + 1) added up."""
    out = np.zeros_like(costs)
    out[:, 1:] += costs[:, :-1]
    out[:, :-1] += costs[:, 1:]
    return out


# -- the reward registry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Reward:
    """A reward: ``record(core)`` is what it keeps before an interval, ``cost(core, recorded)`` the
    (B, J) cost of each junction over the interval just simulated (the reward is minus it)."""

    name: str
    summary: str
    record: Callable[[CorridorCore], Any]
    cost: Callable[[CorridorCore, Any], np.ndarray]


REWARDS: dict[str, Reward] = {}


def register_reward(reward: Reward) -> Reward:
    """Add ``reward`` to :data:`REWARDS` (the config's ``reward`` names it); returns it."""
    if reward.name in REWARDS and REWARDS[reward.name] is not reward:
        raise ValueError(f"reward {reward.name!r} is registered already")
    REWARDS[reward.name] = reward
    return reward


def _corridor_delay(sim: Simulator) -> np.ndarray:
    return sim.acc[:, ACC_DELAY:ACC_DELAY + 2].sum(1)


register_reward(Reward(
    "delay", "the corridor's delay per second of the interval, an equal share to each junction",
    record=lambda core: _corridor_delay(core.sim),
    cost=lambda core, before: np.repeat(
        ((_corridor_delay(core.sim) - before) / core.decision_interval / REWARD_SCALE / core.n_junctions)[:, None],
        core.n_junctions, axis=1)))
register_reward(Reward(
    "local_delay", "the junction's own delay (its approaches and its entry queue) per second of the interval",
    record=lambda core: core.sim.jq[:, :, JQ_INTEGRAL].copy(),
    cost=lambda core, before: (core.sim.jq[:, :, JQ_INTEGRAL] - before) / core.decision_interval / REWARD_SCALE))
register_reward(Reward(
    "pressure", "|main + cross approach pressure| at the interval's end, in jam loads of the approach",
    record=lambda core: None,
    cost=lambda core, _: np.abs(core.features[..., core.pressure_cols[0]] + core.features[..., core.pressure_cols[1]])))


# -- the core ----------------------------------------------------------------------------------------
class CorridorCore:
    """``batch_size`` corridors of one scenario, stepped together, decision by decision.

    Args:
        scenario, n_junctions, scenario_overrides: the network and its demand (:mod:`arz_rl.sim.network`).
        batch_size: corridors (B); each draws its own demand at :meth:`reset`.
        decision_interval: s between two decisions; ``episode_length`` (s, default the scenario's
            demand period) / interval decisions make the demand period, and ``clearance_s`` / interval
            more a clearance after it with no new arrivals (:meth:`end_demand`; 0: none, the
            episode ends with the demand); every corridor ends its episode at once.
        reward, switch_penalty, neighbour_weight: see the module docstring.
        observation: ``junction`` (the junction features) or ``stopline`` (the cells nearest each
            stop line); n_bins, k_obs: their sizes.
        max_green: s of green after which a junction changes whatever it is asked
            (:func:`hold_max_green`; 0: none), for agents' training envs; an agent's
            :class:`~arz_rl.evaluate.AgentController` applies the same rule when it plays.
        order, device, engine, parallel: the simulator's (:class:`~arz_rl.sim.Simulator`).
        demand_noise: std of the demand's lognormal noise (None: the scenario's).
    """

    render_mode = None  #: nothing to render (what SB3's VecEnv asks its envs)

    def __init__(self, scenario: str = "corridor", n_junctions: int | None = None, batch_size: int = 1,
                 decision_interval: float = 10.0, episode_length: float | None = None, reward: str = "delay",
                 switch_penalty: float = 0.0, neighbour_weight: float = 0.0, observation: str = "junction",
                 n_bins: int = N_BINS, k_obs: int = 3, order: int = 1, device: str = "cpu", engine: str | None = None,
                 parallel: bool | None = None, demand_noise: float | None = None,
                 scenario_overrides: dict | None = None, clearance_s: float = 0.0, max_green: float = 0.0) -> None:
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {tuple(REWARDS)}, got {reward!r}")
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        if decision_interval <= 0:
            raise ValueError(f"decision_interval must be > 0 s, got {decision_interval}")
        if switch_penalty < 0:
            raise ValueError(f"switch_penalty must be >= 0, got {switch_penalty}")
        if neighbour_weight < 0:
            raise ValueError(f"neighbour_weight must be >= 0, got {neighbour_weight}")
        overrides = dict(scenario_overrides or {})
        if n_junctions is not None and scenario != "single":
            overrides["n_junctions"] = n_junctions
        self.scenario = make_scenario(scenario, **overrides)
        self.batch_size = int(batch_size)
        self.sim = Simulator(self.scenario, batch_size=self.batch_size, order=order,
                             parallel=self.batch_size > 1 if parallel is None else parallel, device=device,
                             engine=engine)
        self.decision_interval = float(decision_interval)
        self.episode_length = float(episode_length or self.scenario.duration)
        self.n_demand_decisions = int(round(self.episode_length / self.decision_interval))
        if self.n_demand_decisions < 1:
            raise ValueError("episode_length must cover at least one decision interval")
        if clearance_s < 0:
            raise ValueError(f"clearance_s must be >= 0 s, got {clearance_s}")
        self.clearance_s = float(clearance_s)
        #: decisions in an episode: the demand period's, then the clearance's
        self.n_decisions = self.n_demand_decisions + int(round(self.clearance_s / self.decision_interval))
        self.reward = REWARDS[reward]
        self.switch_penalty = float(switch_penalty)
        self.neighbour_weight = float(neighbour_weight)
        self.observation = observation
        min_green = float(self.sim.net.junc_times[:, JT_MIN_GREEN].max())
        if max_green and max_green <= min_green:
            raise ValueError(f"max_green={max_green} s: must exceed the minimum green ({min_green:g} s) or be 0")
        self.max_green = float(max_green)
        cells = int(self.sim.net.seg_int[:, SEG_CELLS].min())
        if not 1 <= n_bins <= cells:
            raise ValueError(f"n_bins must lie in [1, {cells}] (the cells of the shortest link), got {n_bins}")
        self.n_bins = int(n_bins)
        self.k_obs = min(k_obs, cells)
        self.demand_noise = demand_noise
        self.n_junctions = self.sim.net.n_junctions
        self.pressure_cols = pressure_columns(self.n_bins)
        self.features = np.zeros((self.batch_size, self.n_junctions, junction_feature_size(self.n_bins)))
        self._stopline = np.zeros((self.batch_size, self.sim.observation_size(self.k_obs)))
        self.decisions = 0  #: decisions taken in the current episode

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def feature_size(self) -> int:
        """Features per junction (F)."""
        return self.features.shape[2]

    @property
    def observation_size(self) -> int:
        """Length of a corridor's flat observation (:meth:`corridor_observation`)."""
        return self.features[0].size if self.observation == "junction" else self._stopline.shape[1]

    @property
    def shared_size(self) -> int:
        """Length of a junction's view in the shared policy (:meth:`shared_observation`)."""
        return self.feature_size + 2 * NEIGHBOUR_FEATURES

    # -- the episode ---------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator | None) -> None:
        """Start new episodes: every corridor draws its demand from ``rng`` (None: the base profile)."""
        self.sim.reset(rng, self.demand_noise)
        self.decisions = 0
        self.refresh()

    def reset_draws(self, draws: Sequence[int]) -> None:
        """Start new episodes on the demand draws ``draws`` (one per corridor): corridor b's demand
        is what :class:`~arz_rl.env.SignalCorridorEnv` draws after ``reset(seed=draws[b])``."""
        self.sim.reset([np.random.default_rng(int(d)) for d in draws], self.demand_noise)
        self.decisions = 0
        self.refresh()

    def end_demand(self) -> None:
        """No more arrivals from now on (the clearance after the demand period): every entry's
        arrival rate is set to zero (the rates are constant past the last knot)."""
        self.sim.demand_rates[:] = 0.0

    def vehicles_present(self) -> np.ndarray:
        """(B,) vehicles on the links and in the entry queues of each corridor."""
        return self.sim.vehicles_on_road().sum(1) + self.sim.queue.sum((1, 2))

    @property
    def truncated(self) -> bool:
        """Whether the episode's last decision has been taken (every corridor ends at once)."""
        return self.decisions >= self.n_decisions

    def step(self, phases: np.ndarray) -> np.ndarray:
        """Ask every junction of every corridor for ``phases`` (B, J) (0 main street, 1 cross street)
        for one decision interval; returns each junction's cost (B, J) over it."""
        sim = self.sim
        sim.request[:] = hold_max_green(sim.sig, phases, self.max_green)
        heading = heading_phase(sim.sig) if self.switch_penalty else None
        recorded = self.reward.record(self)
        sim.advance(self.decision_interval)
        self.refresh()
        costs = self.reward.cost(self, recorded)
        if self.neighbour_weight:
            costs = costs + self.neighbour_weight * neighbour_sum(costs)
        if heading is not None:
            costs = costs + self.switch_penalty * switches_started(heading, heading_phase(sim.sig))
        self.decisions += 1
        if self.decisions == self.n_demand_decisions < self.n_decisions:
            self.end_demand()
        return costs

    def refresh(self) -> None:
        """Recompute the junction features from the simulator's state (after editing it by hand)."""
        self.sim.junction_features(self.n_bins, QUEUE_SCALE, self.features)

    # -- what the views read --------------------------------------------------------------------
    def feasible(self) -> np.ndarray:
        """(B, J, 2) bool: the phases each junction may be asked for now (:func:`feasible_phases`)."""
        return feasible_phases(self.sim.sig, self.sim.net.junc_times, self.max_green)

    def corridor_observation(self) -> np.ndarray:
        """(B, D) float32: each corridor's observation for a flat (joint) policy."""
        if self.observation == "junction":
            return self.features.reshape(self.batch_size, -1).astype(np.float32)
        self.sim.observe(self.k_obs, QUEUE_SCALE, self._stopline)
        return self._stopline.astype(np.float32)

    def shared_observation(self) -> np.ndarray:
        """(B, J, F + 10) float32: each junction's view for a policy shared by every junction."""
        return shared_view(self.features, self.n_bins).astype(np.float32)
