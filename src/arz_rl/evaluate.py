"""Evaluation episodes, their metrics, and the statistics that compare controllers.

Metric definitions (per episode; all from the simulation):

- ``avg_travel_time_s``: total time spent in the system (on links and in entry
  queues, veh s) / vehicles that arrived during the episode.
- ``avg_delay_s``: total delay (time lost against free-flow speed on links,
  plus all time in entry queues, veh s) / vehicles that arrived.
- ``throughput_veh_h``: vehicles that left the network / episode length, veh/h.
- ``avg_queue_veh``: queue per junction in stopped-vehicle equivalents (each
  vehicle on its approaches counts 1 - v/v_max, so a stopped one counts 1; plus
  its entry queue), averaged over time and junctions.
- ``max_queue_veh``: the largest queue any junction reached.
- ``phase_switches``: signal changes started, all junctions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .baselines import Controller
from .env import SignalCorridorEnv, feasible_phases
from .sim.layout import ACC_ARRIVED, ACC_DELAY, ACC_EXITED, ACC_SWITCHES, ACC_TTS, JQ_INTEGRAL, JQ_MAX
from .stats import METRICS  # noqa: F401  (re-exported)


def episode_metrics(env: SignalCorridorEnv) -> dict[str, float]:
    """Metrics of the episode just played in ``env`` (see the module docstring)."""
    sim = env.sim
    acc = sim.acc[0]
    arrived = acc[ACC_ARRIVED:ACC_ARRIVED + 2].sum()
    duration = float(sim.t[0])
    return {
        "avg_travel_time_s": float(acc[ACC_TTS:ACC_TTS + 2].sum() / arrived),
        "avg_delay_s": float(acc[ACC_DELAY:ACC_DELAY + 2].sum() / arrived),
        "throughput_veh_h": float(acc[ACC_EXITED:ACC_EXITED + 2].sum() / duration * 3600.0),
        "avg_queue_veh": float(sim.jq[0, :, JQ_INTEGRAL].mean() / duration),
        "max_queue_veh": float(sim.jq[0, :, JQ_MAX].max()),
        "phase_switches": float(acc[ACC_SWITCHES]),
    }


def run_episode(env: SignalCorridorEnv, controller: Controller, demand_seed: int,
                record: bool = False) -> tuple[dict[str, float], dict[str, np.ndarray] | None]:
    """Play one episode with ``controller`` on the demand drawn from ``demand_seed``.

    With ``record`` the trace for space-time diagrams is returned: at every
    decision the main-road fields (rho_m, v_m, rho_c, v_c over x), phases and
    queues of every junction.
    """
    obs, _ = env.reset(seed=demand_seed)
    controller.reset(env)
    frames: list[np.ndarray] = []
    phases: list[np.ndarray] = []
    queues: list[np.ndarray] = []
    times: list[float] = []
    total_reward = 0.0
    main = env.sim.net.main_path
    n_cells = env.sim.net.seg_int[main, 0]

    def snap(time: float) -> None:
        f = env.sim.fields()[0]
        frames.append(np.concatenate([f[s, :, :n] for s, n in zip(main, n_cells, strict=True)], axis=1))
        state = env.signal_state()
        phases.append(np.where(state["in_transition"], -1, state["phase"]))
        queues.append(state["queue"])
        times.append(time)

    if record:
        snap(float(env.sim.t[0]))
    while True:
        obs, reward, terminated, truncated, info = env.step(controller.act(obs, env))
        total_reward += reward
        if record:
            snap(info["time"])
        if terminated or truncated:
            break
    metrics = episode_metrics(env)
    metrics["return"] = total_reward
    if not record:
        return metrics, None
    dx = env.scenario.dx
    x = (np.arange(int(n_cells.sum())) + 0.5) * dx
    stack = np.stack(frames)  # (T, 4, X)
    trace = {
        "t": np.asarray(times), "x": x, "rho_m": stack[:, 0] * 1000.0, "v_m": stack[:, 1] * 3.6,
        "rho_c": stack[:, 2] * 1000.0, "v_c": stack[:, 3] * 3.6,
        "junction_x": np.cumsum(n_cells)[:-1] * dx, "phase": np.asarray(phases), "queue": np.asarray(queues),
    }
    return metrics, trace


class AgentController:
    """A trained policy acting deterministically at the run's decision interval.

    ``shared``: one policy for every junction (:class:`arz_rl.vec_env.SharedJunctionVecEnv`): it
    sees each junction's :meth:`~arz_rl.env.SignalCorridorEnv.shared_observation` and answers one
    phase per junction; otherwise the flat policy sees the corridor's observation and answers an
    action of the env's action space.  A MaskablePPO policy gets the feasible actions' masks.
    """

    decision_interval = None

    def __init__(self, name: str, model: Any, shared: bool = False) -> None:
        self.name = name
        self.model = model
        self.shared = shared
        self.masked = type(model).__name__.startswith("Maskable")  # sb3-contrib's MaskablePPO

    def params(self) -> dict[str, Any]:
        return {"policy": "shared" if self.shared else "flat"}

    def reset(self, env: SignalCorridorEnv) -> None:
        env.set_fixed_plan(0.0, 0.0)

    def act(self, obs: np.ndarray, env: SignalCorridorEnv) -> np.ndarray | int:
        extra: dict[str, Any] = {}
        if self.shared:
            if self.masked:
                extra["action_masks"] = feasible_phases(env.sim.sig, env.sim.net.junc_times)[0]
            phases, _ = self.model.predict(env.shared_observation(), deterministic=True, **extra)
            return env.action_of(np.asarray(phases).reshape(-1))
        if self.masked:
            extra["action_masks"] = env.action_masks()
        action, _ = self.model.predict(obs, deterministic=True, **extra)
        return action
