"""``SignalCorridorEnv`` x n as one stable-baselines3 VecEnv over a batched simulator.

The ``n_envs`` corridors are the batch axis of one :class:`~arz_rl.sim.Simulator`:
a step advances them all in a single call (numba threads over the batch, or the
torch step on a GPU), so training uses every core a kernel has without one
process per env.  Observations, actions, rewards and ``info`` are those of
:class:`~arz_rl.env.SignalCorridorEnv` (same scenario, same reward); episodes all
have the same length, so every env truncates at the same step and is reset with
its own demand draw.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from .env import QUEUE_SCALE, REWARD_SCALE, SignalCorridorEnv
from .sim import Simulator
from .sim.layout import ACC_DELAY, JQ_INTEGRAL


class BatchedCorridorVecEnv(VecEnv):
    """``n_envs`` corridors stepped together; ``device`` (``cpu``/``gpu``) and ``engine`` (``numba``/
    ``torch``) are the simulator's (:mod:`arz_rl.device`).  ``env_kwargs`` are :class:`SignalCorridorEnv`'s.
    """

    def __init__(self, n_envs: int, device: str = "cpu", engine: str | None = None, **env_kwargs: Any) -> None:
        template = SignalCorridorEnv(**env_kwargs)
        self.template = template
        self.sim = Simulator(template.scenario, batch_size=n_envs, order=template.sim.order,
                             parallel=n_envs > 1, device=device, engine=engine)
        self.decision_interval = template.decision_interval
        self.n_decisions = template.n_decisions
        self.reward_kind = template.reward_kind
        self.k_obs = template.k_obs
        self.demand_noise = template.demand_noise
        self._obs = np.zeros((n_envs, self.sim.observation_size(self.k_obs)))
        self._actions = np.zeros((n_envs, template.n_junctions), dtype=np.int64)
        self._rng = np.random.default_rng()
        self._step = 0
        self._returns = np.zeros(n_envs)
        self._started = time.time()
        super().__init__(n_envs, template.observation_space, template.action_space)

    def seed(self, seed: int | None = None) -> Sequence[None | int]:
        self._rng = np.random.default_rng(seed)
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def reset(self) -> np.ndarray:
        self.sim.reset(self._rng, self.demand_noise)
        self._step = 0
        self._returns[:] = 0.0
        return self._observation()

    def step_async(self, actions: np.ndarray) -> None:
        phases = np.asarray(actions, dtype=np.int64).reshape(self.num_envs, -1)
        if phases.shape[1] != self._actions.shape[1] or phases.min() < 0 or phases.max() > 1:
            raise ValueError(f"actions must give phase 0 or 1 for each junction of each env: {actions!r}")
        self._actions[:] = phases

    def step_wait(self) -> VecEnvStepReturn:
        sim = self.sim
        sim.request[:] = self._actions
        delay_before = sim.acc[:, ACC_DELAY:ACC_DELAY + 2].sum(1)
        queue_before = sim.jq[:, :, JQ_INTEGRAL].sum(1)
        sim.advance(self.decision_interval)
        if self.reward_kind == "delay":
            cost = (sim.acc[:, ACC_DELAY:ACC_DELAY + 2].sum(1) - delay_before) / self.decision_interval
        else:
            cost = (sim.jq[:, :, JQ_INTEGRAL].sum(1) - queue_before) / self.decision_interval
        rewards = (-cost / REWARD_SCALE).astype(np.float32)
        self._returns += rewards
        self._step += 1
        obs = self._observation()
        infos: list[dict[str, Any]] = [{"time": float(sim.t[b])} for b in range(self.num_envs)]
        dones = np.zeros(self.num_envs, dtype=bool)
        if self._step >= self.n_decisions:  # every env truncates now: report, then start the next episodes
            dones[:] = True
            for b, info in enumerate(infos):
                info["terminal_observation"] = obs[b]
                info["TimeLimit.truncated"] = True
                info["episode"] = {"r": float(self._returns[b]), "l": self._step,
                                   "t": round(time.time() - self._started, 6)}
            obs = self.reset()
        return obs, rewards, dones, infos

    def _observation(self) -> np.ndarray:
        self.sim.observe(self.k_obs, QUEUE_SCALE, self._obs)
        return self._obs.astype(np.float32)

    def close(self) -> None:
        pass

    # -- the rest of the VecEnv interface: one env class, no wrappers -----------------------
    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.template, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(f"BatchedCorridorVecEnv shares one simulator: cannot set {attr_name!r} per env")

    def env_method(self, method_name: str, *args: Any, indices: VecEnvIndices = None, **kwargs: Any) -> list[Any]:
        raise AttributeError(f"BatchedCorridorVecEnv has no per-env {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs


def pick_engine(n_envs: int, device: str, steps: int = 4, **env_kwargs: Any) -> tuple[str, str, dict]:
    """Where to step a batch of ``n_envs`` corridors on a run resolved to ``device`` (cpu | gpu):
    ``(device, engine, record)``.  On the CPU: numba.  On a GPU: numba on the CPU and the torch
    step on the GPU are both timed on ``steps`` decisions of this very batch and the faster is
    kept (a GPU pays off for large batches only); the record says which, why, and the env steps/s
    of each."""
    if device == "cpu":
        return "cpu", "numba", {"device": "cpu", "engine": "numba", "why": "the run is on the cpu"}
    rates = {}
    for candidate, engine in (("cpu", "numba"), ("gpu", "torch")):
        env = BatchedCorridorVecEnv(n_envs, device=candidate, engine=engine, **env_kwargs)
        env.seed(0)
        env.reset()
        actions = np.zeros((n_envs, env.template.n_junctions), dtype=np.int64)
        env.step(actions)  # compile / warm up
        t0 = time.perf_counter()
        for k in range(steps):
            env.step(actions + (k % 2))
        rates[(candidate, engine)] = steps * n_envs / (time.perf_counter() - t0)
    best = max(rates, key=rates.get)
    return best[0], best[1], {"device": best[0], "engine": best[1], "why": f"fastest for a batch of {n_envs}",
                              "env_steps_per_s": {f"{d}/{e}": round(v, 1) for (d, e), v in rates.items()}}
