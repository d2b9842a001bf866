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
from .env import SignalCorridorEnv
from .sim.layout import ACC_ARRIVED, ACC_DELAY, ACC_EXITED, ACC_SWITCHES, ACC_TTS, JQ_INTEGRAL, JQ_MAX
from .stats import METRICS  # noqa: F401  (re-exported)


def phases_from_flat(action: int, n_junctions: int) -> np.ndarray:
    """The phases (n_junctions,) encoded by a flat action: bit j is junction j's phase."""
    return np.array([(int(action) >> j) & 1 for j in range(n_junctions)], dtype=np.int64)


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

    def snap(info: dict[str, Any]) -> None:
        f = env.sim.fields()[0]
        frames.append(np.concatenate([f[s, :, :n] for s, n in zip(main, n_cells, strict=True)], axis=1))
        phases.append(np.where(info["in_transition"], -1, info["phase"]))
        queues.append(info["queue"])
        times.append(info["time"])

    if record:
        snap(env._info(np.zeros_like(env.sim.acc[0]), np.zeros(env.n_junctions)))
    while True:
        obs, reward, terminated, truncated, info = env.step(controller.act(obs, env))
        total_reward += reward
        if record:
            snap(info)
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
    """A trained stable-baselines3 policy, acting deterministically (at the run's decision interval)."""

    decision_interval = None

    def __init__(self, name: str, model: Any) -> None:
        self.name = name
        self.model = model

    def params(self) -> dict[str, Any]:
        return {}

    def reset(self, env: SignalCorridorEnv) -> None:
        env.set_fixed_plan(0.0, 0.0)

    def act(self, obs: np.ndarray, env: SignalCorridorEnv) -> np.ndarray | int:
        action, _ = self.model.predict(obs, deterministic=True)
        if env.n_junctions > 1 and np.ndim(action) == 0:  # flat DQN action: bit j is junction j
            return phases_from_flat(action, env.n_junctions)
        return action
