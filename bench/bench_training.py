"""PPO training throughput on SignalCorridor-v0 next to PPO on CartPole-v1, in the same run.

    python bench/bench_training.py [--timesteps 8192]

First the issue's comparison: SB3's PPO (MlpPolicy 64x64, n_steps 512, batch 64, 4 epochs, one
torch thread) on CartPole-v1 and on the default registered env ``gym.make(SignalCorridor-v0)``
(the 3-junction corridor, joint actions, junction observations, 10 s decisions); the same on an
empty env with the corridor's spaces (what SB3 itself costs there), and the policy the thesis
trains: MaskablePPO with one policy shared by the junctions of 16 batched corridors (timesteps
= corridor decisions).  Then the corridor env over 1, 2 and all cores (SubprocVecEnv), the
batched VecEnv with 1, 2 and all numba/torch threads, and 4 PPO seeds by `train_all` with 1, 2
and all worker processes (one thread each).
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numba
import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import arz_rl  # noqa: F401  (registers the env)

#: the issue's settings: n_steps 512, batch 64, 4 epochs (one torch thread, set in main)
SETTINGS = {"n_steps": 512, "batch_size": 64, "n_epochs": 4}


class EmptyCorridor(gym.Env):
    """The corridor env's spaces and episode length with nothing behind them: what SB3 costs."""

    def __init__(self) -> None:
        template = gym.make(arz_rl.ENV_ID).unwrapped
        self.observation_space, self.action_space = template.observation_space, template.action_space
        self._obs = np.zeros(self.observation_space.shape, dtype=np.float32)
        self._n, self._t = template.n_decisions, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._t = 0
        return self._obs, {}

    def step(self, action):
        self._t += 1
        return self._obs, 0.0, False, self._t >= self._n, {}


def rate(env_id, timesteps: int, n_envs: int = 1, subprocess: bool = False, **kwargs) -> float:
    vec_cls = SubprocVecEnv if subprocess and n_envs > 1 else DummyVecEnv
    env = make_vec_env(env_id, n_envs=n_envs, vec_env_cls=vec_cls, env_kwargs=kwargs, seed=0)
    model = PPO("MlpPolicy", env, seed=0, device="cpu", verbose=0, **SETTINGS)
    model.learn(512 * n_envs)  # warm-up: imports, numba compilation
    t0 = time.perf_counter()
    model.learn(timesteps, reset_num_timesteps=False)
    elapsed = time.perf_counter() - t0
    env.close()
    return timesteps / elapsed


def batched_rate(timesteps: int, n_envs: int, threads: int) -> float:
    """PPO timesteps/s on the batched VecEnv with ``threads`` numba and torch threads."""
    from arz_rl.vec_env import BatchedCorridorVecEnv

    numba.set_num_threads(threads)
    torch.set_num_threads(threads)
    env = BatchedCorridorVecEnv(n_envs)
    env.seed(0)
    model = PPO("MlpPolicy", env, seed=0, device="cpu", verbose=0, **{**SETTINGS, "n_steps": 512 // n_envs})
    model.learn(512)
    t0 = time.perf_counter()
    model.learn(timesteps, reset_num_timesteps=False)
    return timesteps / (time.perf_counter() - t0)


def shared_rate(timesteps: int, n_corridors: int) -> float:
    """Corridor decisions/s of MaskablePPO with one policy shared by the junctions of
    ``n_corridors`` batched corridors (what a full run trains: rollouts of 512 per junction env)."""
    from sb3_contrib import MaskablePPO

    from arz_rl.vec_env import SharedJunctionVecEnv

    env = SharedJunctionVecEnv(n_corridors)
    env.seed(0)
    model = MaskablePPO("MlpPolicy", env, seed=0, device="cpu", verbose=0, **SETTINGS)
    steps = 512 * env.num_envs
    model.learn(steps)
    t0 = time.perf_counter()
    model.learn(max(timesteps * env.n_junctions, steps), reset_num_timesteps=False)
    return (model.num_timesteps - steps) / env.n_junctions / (time.perf_counter() - t0)


def seeds_rate(timesteps: int, workers: int) -> float:
    """Total PPO timesteps/s of 4 seeds trained by train_all with ``workers`` processes."""
    import tempfile
    from pathlib import Path

    from arz_rl.config import build_config
    from arz_rl.train import train_all

    cfg = build_config("quick", {"algorithms": ["ppo"], "seeds": 4, "levels": ["over"], "scenario": "single",
                                 "workers": workers,
                                 "timesteps": {"ppo": timesteps}, "eval_freq": timesteps, "checkpoint_freq": timesteps})
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        train_all(cfg, Path(out), "cpu", log=lambda *_: None)
        return 4 * timesteps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timesteps", type=int, default=8192)
    args = ap.parse_args()
    torch.set_num_threads(1)
    gym.make("CartPole-v1")
    cartpole = rate("CartPole-v1", args.timesteps)
    corridor = rate(arz_rl.ENV_ID, args.timesteps)
    empty = rate(EmptyCorridor, args.timesteps)
    print(f"{'measure':62s} {'timesteps/s':>12s} {'target':>12s}")
    print(f"{'PPO on CartPole-v1':62s} {cartpole:12,.0f}")
    print(f"{'PPO on gym.make(SignalCorridor-v0) (3-junction corridor)':62s} {corridor:12,.0f} "
          f"{'>= 80% of CartPole':>12s}  {'ok' if corridor >= 0.8 * cartpole else 'BELOW'} "
          f"({100 * corridor / cartpole:.0f}%)")
    print(f"{'PPO on an empty env with the corridor env spaces':62s} {empty:12,.0f} "
          f"{'':>12s}  (the env costs {1e6 * (1 / corridor - 1 / empty):.0f} us per step)")
    print(f"{'MaskablePPO, shared policy, 16 batched corridors (decisions)':62s} "
          f"{shared_rate(args.timesteps, 16):12,.0f}")
    for n in sorted({1, 2, os.cpu_count() or 1}):
        r = rate(arz_rl.ENV_ID, args.timesteps * n, n_envs=n, subprocess=True)
        print(f"{f'PPO on SignalCorridor-v0, {n} env(s) in subprocesses':62s} {r:12,.0f}")
    base = None
    for n in sorted({1, 2, os.cpu_count() or 1}):
        r = batched_rate(args.timesteps, 16, n)
        base = base or r
        print(f"{f'PPO, batched VecEnv of 16, {n} core(s)':62s} {r:12,.0f} {f'x{r / base:.2f}':>12s}")
    base = None
    for n in sorted({1, 2, os.cpu_count() or 1}):
        r = seeds_rate(args.timesteps, n)
        base = base or r
        print(f"{f'PPO, 4 seeds by train_all, {n} worker process(es)':62s} {r:12,.0f} {f'x{r / base:.2f}':>12s}")


if __name__ == "__main__":
    main()
