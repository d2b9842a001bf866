"""Batched corridors as stable-baselines3 VecEnvs: the flat (joint) view and the shared one.

The corridors are the batch axis of one :class:`~arz_rl.sim.Simulator`: a step advances them all
in a single call (numba threads or SIMD lanes over the batch, or the torch step on a GPU), so
training uses every core a kernel has without one process per env.  Episodes all have the same
length, so every env truncates at the same step and is reset with its own demand draw.

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

from .env import (
    NEIGHBOUR_FEATURES,
    QUEUE_SCALE,
    SignalCorridorEnv,
    feasible_phases,
    heading_phase,
    junction_costs,
    shared_view,
)
from .sim import Simulator
from .sim.layout import ACC_DELAY, ACC_SWITCHES, JQ_INTEGRAL


class _CorridorBatch(VecEnv):
    """What both views share: ``n_corridors`` corridors of one template :class:`SignalCorridorEnv`
    in one batched simulator, their demand stream and episode clock, and the parts of the VecEnv
    interface one simulator answers (no per-env attributes or methods, but the action masks
    sb3-contrib's MaskablePPO asks for at every step).  Subclasses give the observation, the step
    and the masks."""

    def __init__(self, template: SignalCorridorEnv, n_corridors: int, num_envs: int, observation_space: spaces.Space,
                 action_space: spaces.Space, device: str, engine: str | None) -> None:
        self.template = template
        self.n_corridors = n_corridors
        self.n_junctions = template.n_junctions
        self.sim = Simulator(template.scenario, batch_size=n_corridors, order=template.sim.order,
                             parallel=n_corridors > 1, device=device, engine=engine)
        self._features = np.zeros((n_corridors,) + template._features.shape[1:])
        self._actions = np.zeros((n_corridors, template.n_junctions), dtype=np.int64)
        self._rng = np.random.default_rng()
        self._step = 0
        self._returns = np.zeros(n_corridors)
        self._started = time.time()
        super().__init__(num_envs, observation_space, action_space)

    def seed(self, seed: int | None = None) -> Sequence[None | int]:
        self._rng = np.random.default_rng(seed)
        return [None if seed is None else seed + i for i in range(self.num_envs)]

    def reset(self) -> np.ndarray:
        self.sim.reset(self._rng, self.template.demand_noise)
        self._step = 0
        self._returns[:] = 0.0
        return self._observation()

    def action_masks(self) -> np.ndarray:
        raise NotImplementedError

    def _observation(self) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self.template, attr_name) for _ in self._get_indices(indices)]

    def has_attr(self, attr_name: str) -> bool:
        return attr_name == "action_masks" or hasattr(self.template, attr_name)

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
    ``torch``) are the simulator's (:mod:`arz_rl.device`).  ``env_kwargs`` are :class:`SignalCorridorEnv`'s.
    """

    def __init__(self, n_envs: int, device: str = "cpu", engine: str | None = None, **env_kwargs: Any) -> None:
        template = SignalCorridorEnv(**env_kwargs)
        super().__init__(template, n_envs, n_envs, template.observation_space, template.action_space, device, engine)
        self._obs = np.zeros((n_envs, self.sim.observation_size(template.k_obs)))

    def step_async(self, actions: np.ndarray) -> None:
        actions = np.asarray(actions, dtype=np.int64)
        if isinstance(self.action_space, spaces.Discrete):  # joint actions: bit j is junction j's phase
            if actions.size != self.num_envs or actions.min() < 0 or actions.max() >= self.action_space.n:
                raise ValueError(f"actions must be one joint action in [0, {self.action_space.n}) per env: {actions!r}")
            self._actions[:] = self.template._bits[actions.reshape(-1)]
            return
        phases = actions.reshape(self.num_envs, -1)
        if phases.shape[1] != self._actions.shape[1] or phases.min() < 0 or phases.max() > 1:
            raise ValueError(f"actions must give phase 0 or 1 for each junction of each env: {actions!r}")
        self._actions[:] = phases

    def step_wait(self) -> VecEnvStepReturn:
        sim, env = self.sim, self.template
        sim.request[:] = self._actions
        delay_before = sim.acc[:, ACC_DELAY:ACC_DELAY + 2].sum(1)
        queue_before = sim.jq[:, :, JQ_INTEGRAL].copy()
        switches_before = sim.acc[:, ACC_SWITCHES].copy()
        sim.advance(env.decision_interval)
        obs = self._observation()
        cost = junction_costs(env.reward_kind, sim, delay_before, queue_before, self._features, env.n_bins,
                              env.decision_interval).sum(1)
        cost += env.switch_penalty * (sim.acc[:, ACC_SWITCHES] - switches_before)
        rewards = (-cost).astype(np.float32)
        self._returns += rewards
        self._step += 1
        infos: list[dict[str, Any]] = [{"time": float(sim.t[b])} for b in range(self.num_envs)]
        dones = np.zeros(self.num_envs, dtype=bool)
        if self._step >= env.n_decisions:  # every env truncates now: report, then start the next episodes
            dones[:] = True
            for b, info in enumerate(infos):
                info["terminal_observation"] = obs[b]
                info["TimeLimit.truncated"] = True
                info["episode"] = {"r": float(self._returns[b]), "l": self._step,
                                   "t": round(time.time() - self._started, 6)}
            obs = self.reset()
        return obs, rewards, dones, infos

    def action_masks(self) -> np.ndarray:
        """Each corridor's feasible actions, as :meth:`SignalCorridorEnv.action_masks`: (n_envs, 2 ** J)
        for joint actions, (n_envs, 2 J) for per-junction phases."""
        feasible = feasible_phases(self.sim.sig, self.sim.net.junc_times)
        if isinstance(self.action_space, spaces.Discrete):
            bits = self.template._bits
            return feasible[:, np.arange(bits.shape[1]), bits].all(axis=2)
        return feasible.reshape(self.num_envs, -1)

    def _observation(self) -> np.ndarray:
        self.sim.junction_features(self.template.n_bins, QUEUE_SCALE, self._features)
        if self.template.observation_kind == "junction":
            return self._features.reshape(self.num_envs, -1).astype(np.float32)
        self.sim.observe(self.template.k_obs, QUEUE_SCALE, self._obs)
        return self._obs.astype(np.float32)


class SharedJunctionVecEnv(_CorridorBatch):
    """``n_corridors`` corridors stepped together, offered junction by junction: one SB3 env per
    (corridor, junction), so a single policy acts at every junction (parameter sharing, as in
    MPLight and RESCO's independent learners) and every junction's transitions train it.

    Observation of each junction: :meth:`SignalCorridorEnv.shared_observation` (its own features
    and its neighbours' summary, the same size on a corridor of any length); action ``Discrete(2)``
    (the phase to show next), masked by :meth:`action_masks`; reward minus the junction's own cost
    (:func:`~arz_rl.env.junction_costs`: its queue or pressure, or its equal share of the corridor's
    delay) and ``switch_penalty`` per change it started.  ``monitor_file`` (optional) receives one
    row per corridor episode in SB3's monitor format, its return being the corridor's (the sum over
    its junctions), so learning curves compare with the flat policy's.
    """

    def __init__(self, n_corridors: int, device: str = "cpu", engine: str | None = None,
                 monitor_file: str | None = None, **env_kwargs: Any) -> None:
        from stable_baselines3.common.monitor import ResultsWriter

        template = SignalCorridorEnv(**env_kwargs)
        dim = template._features.shape[2] + 2 * NEIGHBOUR_FEATURES
        super().__init__(template, n_corridors, n_corridors * template.n_junctions,
                         spaces.Box(-1.0, 1.0, shape=(dim,), dtype=np.float32), spaces.Discrete(2), device, engine)
        self._monitor = None
        if monitor_file is not None:
            self._monitor = ResultsWriter(monitor_file, header={"t_start": self._started,
                                                                "env_id": "SharedJunctionVecEnv"})

    def step_async(self, actions: np.ndarray) -> None:
        phases = np.asarray(actions, dtype=np.int64).reshape(self.n_corridors, self.n_junctions)
        if phases.min() < 0 or phases.max() > 1:
            raise ValueError(f"actions must be phase 0 or 1 for every junction: {actions!r}")
        self._actions[:] = phases

    def step_wait(self) -> VecEnvStepReturn:
        sim, env = self.sim, self.template
        sim.request[:] = self._actions
        heading = heading_phase(sim.sig)
        delay_before = sim.acc[:, ACC_DELAY:ACC_DELAY + 2].sum(1)
        queue_before = sim.jq[:, :, JQ_INTEGRAL].copy()
        sim.advance(env.decision_interval)
        obs = self._observation()
        costs = junction_costs(env.reward_kind, sim, delay_before, queue_before, self._features, env.n_bins,
                               env.decision_interval)
        costs += env.switch_penalty * (heading_phase(sim.sig) != heading)
        self._returns -= costs.sum(1)
        rewards = (-costs).reshape(-1).astype(np.float32)
        self._step += 1
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        dones = np.zeros(self.num_envs, dtype=bool)
        if self._step >= env.n_decisions:  # every corridor truncates now: report, then start the next episodes
            dones[:] = True
            for k, info in enumerate(infos):
                info["terminal_observation"] = obs[k]
                info["TimeLimit.truncated"] = True
            elapsed = round(time.time() - self._started, 6)
            for b in range(self.n_corridors):  # one episode per corridor, reported at its first junction
                episode = {"r": float(self._returns[b]), "l": self._step, "t": elapsed}
                infos[b * self.n_junctions]["episode"] = episode
                if self._monitor is not None:
                    self._monitor.write_row(episode)
            obs = self.reset()
        return obs, rewards, dones, infos

    def action_masks(self) -> np.ndarray:
        """(num_envs, 2) bool: the phases each junction may be asked for (:func:`feasible_phases`)."""
        return feasible_phases(self.sim.sig, self.sim.net.junc_times).reshape(-1, 2)

    def _observation(self) -> np.ndarray:
        self.sim.junction_features(self.template.n_bins, QUEUE_SCALE, self._features)
        return shared_view(self._features, self.template.n_bins).reshape(self.num_envs, -1).astype(np.float32)

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
    rates = {}
    for candidate, engine in (("cpu", "numba"), ("gpu", "torch")):
        env = BatchedCorridorVecEnv(n_envs, device=candidate, engine=engine, **env_kwargs)
        env.seed(0)
        env.reset()
        actions = np.zeros((n_envs, *env.action_space.shape), dtype=np.int64)
        env.step(actions)  # compile / warm up
        t0 = time.perf_counter()
        for k in range(steps):
            env.step(actions + (k % 2))
        rates[(candidate, engine)] = steps * n_envs / (time.perf_counter() - t0)
    best = max(rates, key=rates.get)
    return best[0], best[1], {"device": best[0], "engine": best[1], "why": f"fastest for a batch of {n_envs}",
                              "env_steps_per_s": {f"{d}/{e}": round(v, 1) for (d, e), v in rates.items()}}
