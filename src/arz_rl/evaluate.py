"""Evaluation episodes on a batch of demand draws, and their metrics.

A controller plays one episode on every draw at once: a :class:`~arz_rl.core.CorridorCore` of one
corridor per draw, corridor b's demand drawn as :class:`~arz_rl.env.SignalCorridorEnv` draws it
after ``reset(seed=draws[b])`` (so a batch of draws gives what the draws played one by one give:
the batched kernel is bitwise equal to the single one, tested).

An episode is the **demand period** (``episode_length`` s, vehicles arriving), then a
**clearance** with no new arrivals under the same controller, until every vehicle has left the
corridor (less than :data:`EMPTY_VEH` vehicle on its links and in its entry queues) or ``clearance_cap``
seconds have passed.  Vehicles still in the network when the demand period ends thus carry their
whole delay (a controller that leaves long queues behind is not flattered by the cut).

Metric definitions (per episode; all from the simulation; "arrived": vehicles that arrived at an
entry during the demand period, queued or not):

- ``avg_delay_s`` (the primary metric): total delay, to the last vehicle (time lost against
  free-flow speed on links plus all time in entry queues, veh s, over the demand period and the
  clearance) / vehicles arrived.
- ``avg_delay_demand_s``: the same delay counted over the demand period only (the truncated
  metric; vehicles still present at its end carry only the delay they had so far).
- ``avg_travel_time_s``: total time spent in the system (links and entry queues, veh s), to the
  last vehicle / vehicles arrived.
- ``throughput_veh_h``: vehicles that left the network during the demand period / its length, veh/h.
- ``avg_queue_veh``: queue per junction in stopped-vehicle equivalents (each vehicle on its
  approaches counts 1 - v/v_max, so a stopped one counts 1; plus its entry queue), averaged over
  the demand period and the junctions.
- ``max_queue_veh``: the largest queue any junction reached in the demand period.
- ``phase_switches``: signal changes started, all junctions, demand period.
- ``vehicles_left``: vehicles still present when the clearance ended (0 when it emptied).
- ``clearance_s``: seconds the clearance took (the cap if the corridor never emptied).
- ``return``: the episode's return over the demand period (the env's reward).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .baselines import Controller
from .core import CorridorCore, feasible_phases, hold_max_green, joint_bits
from .sim.layout import ACC_ARRIVED, ACC_DELAY, ACC_EXITED, ACC_SWITCHES, ACC_TTS, JQ_INTEGRAL, JQ_MAX
from .stats import METRICS  # noqa: F401  (re-exported)

#: a corridor with less than one vehicle left (links and entry queues) has cleared: a macroscopic
#: tail thins out without ever reaching zero
EMPTY_VEH = 1.0


def _pair(acc: np.ndarray, column: int) -> np.ndarray:
    return acc[:, column] + acc[:, column + 1]


def batch_metrics(core: CorridorCore, at_demand_end: dict[str, np.ndarray], at_end: dict[str, np.ndarray],
                  returns: np.ndarray, clearance_s: np.ndarray) -> list[dict[str, float]]:
    """Metrics of the episodes just played by ``core`` (see the module docstring), one dict per
    corridor; ``at_demand_end``: copies of ``acc``, ``jq`` and ``t`` when the demand period ended;
    ``at_end``: ``acc`` and the vehicles ``left`` of each corridor when its clearance ended."""
    acc_d, jq_d, t_d = at_demand_end["acc"], at_demand_end["jq"], at_demand_end["t"]
    acc_end, left = at_end["acc"], at_end["left"]
    arrived = _pair(acc_d, ACC_ARRIVED)
    rows = {
        "avg_travel_time_s": _pair(acc_end, ACC_TTS) / arrived,
        "avg_delay_s": _pair(acc_end, ACC_DELAY) / arrived,
        "throughput_veh_h": _pair(acc_d, ACC_EXITED) / t_d * 3600.0,
        "avg_queue_veh": jq_d[:, :, JQ_INTEGRAL].mean(1) / t_d,
        "max_queue_veh": jq_d[:, :, JQ_MAX].max(1),
        "phase_switches": acc_d[:, ACC_SWITCHES],
        "avg_delay_demand_s": _pair(acc_d, ACC_DELAY) / arrived,
        "vehicles_left": np.where(left < EMPTY_VEH, 0.0, left),
        "clearance_s": clearance_s,
        "return": returns,
    }
    return [{k: float(v[b]) for k, v in rows.items()} for b in range(core.batch_size)]


def play(core: CorridorCore, controller: Controller, draws: Sequence[int], clearance_cap: float = 0.0,
         record: bool = False) -> tuple[list[dict[str, float]], dict[str, np.ndarray] | None]:
    """Play ``controller`` on ``draws`` (one corridor of ``core`` each) through the demand period
    and a clearance of at most ``clearance_cap`` s; returns the metrics of each draw and, with
    ``record``, the first draw's trace for space-time diagrams over the demand period (at every
    decision the main-road fields rho_m, v_m, rho_c, v_c over x, the phase of each junction, -1
    in a transition, and its queue)."""
    if core.batch_size != len(draws):
        raise ValueError(f"play: a core of {core.batch_size} corridors for {len(draws)} draws")
    core.reset_draws(draws)
    controller.reset(core, draws)
    returns = np.zeros(core.batch_size)
    recorder = _Recorder(core) if record else None
    if recorder:
        recorder.snap()
    while core.decisions < core.n_demand_decisions:
        returns -= core.step(controller.decide(core)).sum(1)
        if recorder:
            recorder.snap()
    sim = core.sim
    at_demand_end = {"acc": sim.acc.copy(), "jq": sim.jq.copy(), "t": sim.t.copy()}
    present = core.vehicles_present()
    # each corridor's totals are taken when it has cleared (or at the cap): a corridor that
    # cleared goes on stepping with its neighbours in the batch but adds nothing to its episode
    at_end = {"acc": sim.acc.copy(), "left": present.copy()}
    clearance = np.zeros(core.batch_size)
    if clearance_cap > 0:
        core.end_demand()
        start = sim.t.copy()
        cleared = present < EMPTY_VEH
        while not cleared.all() and float((sim.t - start).min()) < clearance_cap - 1e-9:
            core.step(controller.decide(core))
            present = core.vehicles_present()
            done = ~cleared & ((present < EMPTY_VEH) | (sim.t - start >= clearance_cap - 1e-9))
            at_end["acc"][done] = sim.acc[done]
            at_end["left"][done] = present[done]
            clearance[done] = np.round((sim.t - start)[done], 6)  # s, round-off of the summed steps dropped
            cleared |= done
    return (batch_metrics(core, at_demand_end, at_end, returns, clearance),
            recorder.trace() if recorder else None)


class _Recorder:
    """The first corridor's main-road fields, phases and queues at every decision."""

    def __init__(self, core: CorridorCore) -> None:
        self.core = core
        net = core.sim.net
        self.main = net.main_path
        self.n_cells = net.seg_int[self.main, 0]
        self.frames: list[np.ndarray] = []
        self.phases: list[np.ndarray] = []
        self.queues: list[np.ndarray] = []
        self.times: list[float] = []

    def snap(self) -> None:
        from .sim.layout import JQ_NOW, SIG_PHASE, SIG_TRANS

        sim = self.core.sim
        f = sim.fields()[0]
        self.frames.append(np.concatenate([f[s, :, :n] for s, n in zip(self.main, self.n_cells, strict=True)], axis=1))
        sig = sim.sig[0]
        self.phases.append(np.where(sig[:, SIG_TRANS] > 0.0, -1, sig[:, SIG_PHASE].astype(int)))
        self.queues.append(sim.jq[0, :, JQ_NOW].copy())
        self.times.append(float(sim.t[0]))

    def trace(self) -> dict[str, np.ndarray]:
        dx = self.core.scenario.dx
        x = (np.arange(int(self.n_cells.sum())) + 0.5) * dx
        stack = np.stack(self.frames)  # (T, 4, X)
        return {
            "t": np.asarray(self.times), "x": x, "rho_m": stack[:, 0] * 1000.0, "v_m": stack[:, 1] * 3.6,
            "rho_c": stack[:, 2] * 1000.0, "v_c": stack[:, 3] * 3.6,
            "junction_x": np.cumsum(self.n_cells)[:-1] * dx, "phase": np.asarray(self.phases),
            "queue": np.asarray(self.queues),
        }


def run_episode(env: Any, controller: Controller, demand_seed: int, record: bool = False,
                clearance_cap: float = 0.0) -> tuple[dict[str, float], dict[str, np.ndarray] | None]:
    """One draw on a :class:`~arz_rl.env.SignalCorridorEnv` (its core of one corridor): :func:`play`."""
    episodes, trace = play(env.core, controller, [demand_seed], clearance_cap, record)
    return episodes[0], trace


class AgentController:
    """A trained policy acting deterministically at the run's decision interval, on every corridor
    of a core at once.

    ``shared``: one policy for every junction (:class:`arz_rl.vec_env.SharedJunctionVecEnv`): it
    sees each junction's :meth:`~arz_rl.core.CorridorCore.shared_observation` and answers one
    phase per junction; otherwise the flat policy sees each corridor's observation and answers one
    joint action (``Discrete(2 ** J)``) or one phase per junction (``MultiDiscrete``).  A
    MaskablePPO policy gets the feasible actions' masks.
    """

    def __init__(self, name: str, model: Any, shared: bool = False, decision_interval: float | None = None,
                 max_green: float = 0.0) -> None:
        self.name = name
        self.max_green = max_green  #: s; the maximum green the agent trained under (0: none)
        self.decision_interval = decision_interval  #: s; None: the run's
        self.model = model
        self.shared = shared
        self.masked = type(model).__name__.startswith("Maskable")  # sb3-contrib's MaskablePPO

    def params(self) -> dict[str, Any]:
        extra = {"max_green": self.max_green} if self.max_green else {}
        return {"policy": "shared" if self.shared else "flat", **extra}

    def reset(self, core: CorridorCore, draws: Sequence[int]) -> None:
        core.sim.set_plan(0.0, 0.0)
        self._bits = joint_bits(core.n_junctions)

    def decide(self, core: CorridorCore) -> np.ndarray:
        extra: dict[str, Any] = {}
        b, j = core.batch_size, core.n_junctions
        sig = core.sim.sig
        feasible = feasible_phases(sig, core.sim.net.junc_times, self.max_green)  # (B, J, 2)
        if self.shared:
            if self.masked:
                extra["action_masks"] = feasible.reshape(-1, 2)
            phases, _ = self.model.predict(core.shared_observation().reshape(b * j, -1), deterministic=True, **extra)
            return hold_max_green(sig, np.asarray(phases, dtype=np.int64).reshape(b, j), self.max_green)
        space = self.model.action_space
        joint = hasattr(space, "n")
        if self.masked:
            extra["action_masks"] = (feasible[:, np.arange(j), self._bits].all(axis=2) if joint
                                     else feasible.reshape(b, -1))
        actions, _ = self.model.predict(core.corridor_observation(), deterministic=True, **extra)
        actions = np.asarray(actions, dtype=np.int64)
        return hold_max_green(sig, self._bits[actions.reshape(b)] if joint else actions.reshape(b, j), self.max_green)
