"""PPO training throughput on SignalCorridor-v0 next to PPO on CartPole-v1, in the same run.

    python bench/bench_training.py [--timesteps 8192]

Same PPO settings (MlpPolicy 64x64, n_steps 1024 per env, batch 64, 10 epochs) on both
envs; then the corridor env vectorised over 1, 2 and all cores (SubprocVecEnv); then the
batched simulator as one VecEnv (16 envs) with numba and torch limited to 1, 2 and all cores;
then what a kernel does: 4 PPO seeds trained by `arz_rl.train.train_all` with 1, 2 and all
worker processes (one thread each).
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numba
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

import arz_rl  # noqa: F401  (registers the env)


def rate(env_id: str, timesteps: int, n_envs: int = 1, subprocess: bool = False, **kwargs) -> float:
    vec_cls = SubprocVecEnv if subprocess and n_envs > 1 else DummyVecEnv
    env = make_vec_env(env_id, n_envs=n_envs, vec_env_cls=vec_cls, env_kwargs=kwargs, seed=0)
    model = PPO("MlpPolicy", env, n_steps=1024, batch_size=64, n_epochs=10, seed=0, device="cpu", verbose=0)
    model.learn(1024 * n_envs)  # warm-up: imports, numba compilation
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
    env = BatchedCorridorVecEnv(n_envs, scenario="single")
    env.seed(0)
    model = PPO("MlpPolicy", env, n_steps=1024 // n_envs, batch_size=64, n_epochs=10, seed=0, device="cpu",
                verbose=0)
    model.learn(1024)
    t0 = time.perf_counter()
    model.learn(timesteps, reset_num_timesteps=False)
    return timesteps / (time.perf_counter() - t0)


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
    corridor = rate(arz_rl.ENV_ID, args.timesteps, scenario="single")
    print(f"{'measure':55s} {'timesteps/s':>12s} {'target':>12s}")
    print(f"{'PPO on CartPole-v1':55s} {cartpole:12,.0f}")
    print(f"{'PPO on SignalCorridor-v0 (single junction)':55s} {corridor:12,.0f} {'>= 80% of CartPole':>12s}"
          f"  {'ok' if corridor >= 0.8 * cartpole else 'BELOW'} ({100 * corridor / cartpole:.0f}%)")
    for n in sorted({1, 2, os.cpu_count() or 1}):
        r = rate(arz_rl.ENV_ID, args.timesteps * n, n_envs=n, subprocess=True, scenario="single")
        print(f"{f'PPO on SignalCorridor-v0, {n} env(s) in subprocesses':55s} {r:12,.0f}")
    base = None
    for n in sorted({1, 2, os.cpu_count() or 1}):
        r = batched_rate(args.timesteps, 16, n)
        base = base or r
        print(f"{f'PPO, batched VecEnv of 16, {n} core(s)':55s} {r:12,.0f} {f'x{r / base:.2f}':>12s}")
    base = None
    for n in sorted({1, 2, os.cpu_count() or 1}):
        r = seeds_rate(args.timesteps, n)
        base = base or r
        print(f"{f'PPO, 4 seeds by train_all, {n} worker process(es)':55s} {r:12,.0f} {f'x{r / base:.2f}':>12s}")


if __name__ == "__main__":
    main()
