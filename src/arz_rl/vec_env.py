"""Batched corridors as stable-baselines3 VecEnvs: the flat (joint) view and the shared one.

Both are views of one :class:`~arz_rl.core.CorridorCore`: the corridors are the batch axis of
its simulator (numba threads or SIMD lanes over the batch, or the torch step on a GPU), a step
advances them all in one call and :meth:`~arz_rl.core.CorridorCore.step` is the one step body.
Episodes all have the same length, so every env truncates at the same step and is reset with its
own demand draw.

- :class:`BatchedCorridorVecEnv`: one env per corridor, observations, actions, rewards and
  action masks those of :class:`~arz_rl.env.SignalCorridorEnv` (the flat policy).
- :class:`SharedJunctionVecEnv`: one env per junction of every corridor, for one policy shared by
  all junctions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from .core import CorridorCore, joint_bits

#: SignalCorridorEnv's arguments that are not the core's
_VIEW_ONLY = ("actions",)


class _CorridorBatch(VecEnv):
    """What both views share: the core of ``n_corridors`` corridors, their demand stream and
    episode returns, and the parts of the VecEnv interface one simulator answers (no per-env
    attributes or methods, but the action masks sb3-contrib's MaskablePPO asks for at every
    step).  Subclasses give the observation, the actions and the masks."""

    def __init__(self, n_corridors: int, num_envs: int, observation_space: spaces.Space, action_space: spaces.Space,
                 core: CorridorCore) -> None:
        self.core = core
        self.sim = core.sim
        self.n_corridors = n_corridors
        self.n_junctions = core.n_junctions
        self.decision_interval = core.decision_interval
        self._rng = np.random.default_rng()
        self._returns = np.zeros(n_corridors)
        self._started = time.time()
        self._phases = np.zeros((n_corridors, core.n_junctions), dtype=np.int64)
        super().__init__(num_envs, observation_space, action_space)

    def seed(self, seed: int | None = None) -> Sequence[None | int]:
        self._rng = np.random.default_rng(seed)
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def reset(self) -> np.ndarray:
        self.core.reset(self._rng)
        self._returns[:] = 0.0
        return self._observation()

    def step_wait(self) -> VecEnvStepReturn:
        costs = self.core.step(self._phases)
        obs = self._observation()
        self._returns -= costs.sum(1)
        rewards = self._rewards(costs)
        dones = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if self.core.truncated:  # every corridor truncates now: report, then start the next episodes
            dones[:] = True
            for k, info in enumerate(infos):
                info["terminal_observation"] = obs[k]
                info["TimeLimit.truncated"] = True
            elapsed = round(time.time() - self._started, 6)
            self._episodes_ended([{"r": float(r), "l": self.core.decisions, "t": elapsed} for r in self._returns],
                                 infos)
            obs = self.reset()
        return obs, rewards, dones, infos

    def _episodes_ended(self, episodes: list[dict[str, float]], infos: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _rewards(self, costs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def action_masks(self) -> np.ndarray:
        raise NotImplementedError

    def _observation(self) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.core, attr_name) for _ in self._get_indices(indices)]

    def has_attr(self, attr_name: str) -> bool:
        return attr_name == "action_masks" or hasattr(self.core, attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(f"{type(self).__name__} shares one simulator: cannot set {attr_name!r} per env")

    def env_method(self, method_name: str, *args: Any, indices: VecEnvIndices = None, **kwargs: Any) -> list[Any]:
        if method_name == "action_masks":
            masks = self.action_masks()
            return [masks[i] for i in self._get_indices(indices)]
        raise AttributeError(f"{type(self).__name__} has no per-env {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs


class BatchedCorridorVecEnv(_CorridorBatch):
    """``n_envs`` corridors stepped together; ``device`` (``cpu``/``gpu``) and ``engine`` (``numba``/
    ``torch``) are the simulator's (:mod:`arz_rl.device`).  ``env_kwargs`` are
    :class:`~arz_rl.env.SignalCorridorEnv`'s: observations, actions (``actions``: joint or phases),
    rewards and masks are that env's, corridor by corridor."""

    def __init__(self, n_envs: int, device: str = "cpu", engine: str | None = None, actions: str = "joint",
                 **env_kwargs: Any) -> None:
        core = CorridorCore(batch_size=n_envs, device=device, engine=engine, **env_kwargs)
        n_j = core.n_junctions
        self._joint = n_j == 1 or actions == "joint"
        action_space = spaces.Discrete(2**n_j) if self._joint else spaces.MultiDiscrete([2] * n_j)
        low = -1.0 if core.observation == "junction" else 0.0
        observation_space = spaces.Box(low, 1.0, shape=(core.observation_size,), dtype=np.float32)
        self._bits = joint_bits(n_j)
        super().__init__(n_envs, n_envs, observation_space, action_space, core)

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions, dtype=np.int64)
        if self._joint:  # joint actions: bit j is junction j's phase
            if actions.size != self.num_envs or actions.min() < 0 or actions.max() >= self.action_space.n:
                raise ValueError(f"actions must be one joint action in [0, {self.action_space.n}) per env: {actions!r}")
            self._phases[:] = self._bits[actions.reshape(-1)]
            return
        phases = actions.reshape(self.num_envs, -1)
        if phases.shape[1] != self._phases.shape[1] or phases.min() < 0 or phases.max() > 1:
            raise ValueError(f"actions must give phase 0 or 1 for each junction of each env: {actions!r}")
        self._phases[:] = phases

    def _rewards(self, costs: np.ndarray) -> np.ndarray:
        return (-costs.sum(1)).astype(np.float32)

    def _episodes_ended(self, episodes: list[dict[str, float]], infos: list[dict[str, Any]]) -> None:
        for info, episode in zip(infos, episodes, strict=True):
            info["episode"] = episode

    def action_masks(self) -> np.ndarray:
        """Each corridor's feasible actions, as :meth:`SignalCorridorEnv.action_masks`: (n_envs, 2 ** J)
        for joint actions, (n_envs, 2 J) for per-junction phases."""
        feasible = self.core.feasible()
        if self._joint:
            return feasible[:, np.arange(self._bits.shape[1]), self._bits].all(axis=2)
        return feasible.reshape(self.num_envs, -1)

    def _observation(self) -> np.ndarray:
        return self.core.corridor_observation()


class SharedJunctionVecEnv(_CorridorBatch):
    """``n_corridors`` corridors stepped together, offered junction by junction: one SB3 env per
    (corridor, junction), so a single policy acts at every junction (parameter sharing, as in
    MPLight and RESCO's independent learners) and every junction's transitions train it.

    Observation of each junction: :meth:`~arz_rl.core.CorridorCore.shared_observation` (its own
    features and its neighbours' summary, the same size on a corridor of any length); action
    ``Discrete(2)`` (the phase to show next), masked by :meth:`action_masks`; reward minus the
    junction's own cost (the registered reward's, :mod:`arz_rl.core`).  ``monitor_file``
    (optional) receives one row per corridor episode in SB3's monitor format, its return being the
    corridor's (the sum over its junctions), so learning curves compare with the flat policy's.
    """

    def __init__(self, n_corridors: int, device: str = "cpu", engine: str | None = None,
                 monitor_file: str | None = None, **env_kwargs: Any) -> None:
        from stable_baselines3.common.monitor import ResultsWriter

        env_kwargs = {k: v for k, v in env_kwargs.items() if k not in _VIEW_ONLY}
        core = CorridorCore(batch_size=n_corridors, device=device, engine=engine, **env_kwargs)
        super().__init__(n_corridors, n_corridors * core.n_junctions,
                         spaces.Box(-1.0, 1.0, shape=(core.shared_size,), dtype=np.float32), spaces.Discrete(2), core)
        self._monitor = None
        if monitor_file is not None:
            self._monitor = ResultsWriter(monitor_file, header={"t_start": self._started,
                                                                "env_id": "SharedJunctionVecEnv"})

    def step_async(self, actions: np.ndarray) -> None:
        phases = np.asarray(actions, dtype=np.int64).reshape(self.n_corridors, self.n_junctions)
        if phases.min() < 0 or phases.max() > 1:
            raise ValueError(f"actions must be phase 0 or 1 for every junction: {actions!r}")
        self._phases[:] = phases

    def _rewards(self, costs: np.ndarray) -> np.ndarray:
        return (-costs).reshape(-1).astype(np.float32)

    def _episodes_ended(self, episodes: list[dict[str, float]], infos: list[dict[str, Any]]) -> None:
        for b, episode in enumerate(episodes):  # one episode per corridor, reported at its first junction
            infos[b * self.n_junctions]["episode"] = episode
            if self._monitor is not None:
                self._monitor.write_row(episode)

    def action_masks(self) -> np.ndarray:
        """(num_envs, 2) bool: the phases each junction may be asked for (:func:`~arz_rl.core.feasible_phases`)."""
        return self.core.feasible().reshape(-1, 2)

    def _observation(self) -> np.ndarray:
        return self.core.shared_observation().reshape(self.num_envs, -1)

    def close(self) -> None:
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None


def pick_engine(n_envs: int, device: str, steps: int = 4, **env_kwargs: Any) -> tuple[str, str, dict]:
    """Where to step a batch of ``n_envs`` corridors on a run resolved to ``device`` (cpu | gpu):
    ``(device, engine, record)``.  On the CPU: numba.  On a GPU: numba on the CPU and the torch
    step on the GPU are both timed on ``steps`` decisions of this very batch and the faster is
    kept (a GPU pays off for large batches only); the record says which, why, and the env steps/s
    of each."""
    if device == "cpu":
        return "cpu", "numba", {"device": "cpu", "engine": "numba", "why": "the run is on the cpu"}
    env_kwargs = {k: v for k, v in env_kwargs.items() if k not in _VIEW_ONLY}
    rates = {}
    for candidate, engine in (("cpu", "numba"), ("gpu", "torch")):
        core = CorridorCore(batch_size=n_envs, device=candidate, engine=engine, **env_kwargs)
        core.reset(np.random.default_rng(0))
        phases = np.zeros((n_envs, core.n_junctions), dtype=np.int64)
        core.step(phases)  # compile / warm up
        t0 = time.perf_counter()
        for k in range(steps):
            core.step(phases + (k % 2))
        rates[(candidate, engine)] = steps * n_envs / (time.perf_counter() - t0)
    best = max(rates, key=rates.get)
    return best[0], best[1], {"device": best[0], "engine": best[1], "why": f"fastest for a batch of {n_envs}",
                              "env_steps_per_s": {f"{d}/{e}": round(v, 1) for (d, e), v in rates.items()}}
