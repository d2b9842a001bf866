"""Training throughput: the full-mode PPO paths beside SB3's PPO on CartPole-v1, in the same
process, and where a corridor decision's time goes.

    python bench/bench_training.py [--repeats 3] [--rollouts 2]

Rows (each the median of ``--repeats`` timings, after a warm-up rollout and update):

- SB3 PPO on CartPole-v1 (MlpPolicy 64x64, n_steps 512, minibatch 64, 4 epochs, one torch thread):
  timesteps/s, the yardstick.
- **before**: the full-mode path as it was (4 corridors, n_steps 1,024, minibatch 64, 10 epochs,
  SB3's default Adam, two torch threads: what numba's OpenMP start left torch with).
- **default**: the full-mode path now (``arz_rl.config.mode_defaults("full")``: its corridors,
  rollout, minibatch, epochs; fused Adam, one torch thread).
- **fast**: 256 corridors, n_steps 16, minibatch 4,096, 8 epochs, ReLU: the throughput path
  (``experiment.full.ppo`` settings in bench/README.md), which learns less per decision.
- The profile of the default and the fast path: of a decision's time, the simulator, the junction
  features, the VecEnv's own work, SB3's rollout loop (policy forward, sampling, buffer) and the
  gradient update.

Corridor decisions/s and each path's ratio to CartPole.  Threads: the simulator gets every core
this process may use, the learner one (:mod:`arz_rl.threads`; two torch threads make each small
minibatch 3x slower here).
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym

from arz_rl.threads import available_cores, configure_process, set_threads

CARTPOLE = {"n_steps": 512, "batch_size": 64, "n_epochs": 4}
BEFORE = {"n_envs": 4, "torch_threads": 2, "adam": "default",
          "ppo": {"n_steps": 1024, "batch_size": 64, "n_epochs": 10, "learning_rate": 3e-4}}
FAST = {"n_envs": 256, "ppo": {"n_steps": 16, "batch_size": 4096, "n_epochs": 8, "learning_rate": 1e-3,
                               "activation": "relu"}}


def cartpole_rate(timesteps: int) -> float:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    env = make_vec_env("CartPole-v1", n_envs=1, seed=0)
    model = PPO("MlpPolicy", env, seed=0, device="cpu", verbose=0, **CARTPOLE)
    model.learn(512)
    t0 = time.perf_counter()
    model.learn(timesteps, reset_num_timesteps=False)
    return timesteps / (time.perf_counter() - t0)


def full_mode_model(settings: dict | None = None, level: str = "over"):
    """MaskablePPO on the shared-junction VecEnv with the full mode's settings (``settings``
    overriding n_envs and ppo), as :func:`arz_rl.train.train_agent` builds it."""
    from dataclasses import replace

    from sb3_contrib import MaskablePPO

    from arz_rl.config import mode_defaults
    from arz_rl.protocol import env_kwargs
    from arz_rl.train import hyperparameters
    from arz_rl.vec_env import SharedJunctionVecEnv

    cfg = mode_defaults("full")
    settings = settings or {}
    cfg = replace(cfg, ppo={**cfg.ppo, **settings.get("ppo", {})})
    n_envs = settings.get("n_envs", cfg.n_envs)
    vec = SharedJunctionVecEnv(n_envs, **env_kwargs(cfg, level))
    vec.seed(0)
    hp = hyperparameters(cfg, "ppo")
    if settings.get("adam") == "default":
        hp["policy_kwargs"].pop("optimizer_kwargs")
    return MaskablePPO("MlpPolicy", vec, seed=0, device="cpu", verbose=0, **hp), vec


def path_rate(settings: dict | None, rollouts: int, profile: dict | None = None) -> float:
    """Corridor decisions/s of ``rollouts`` rollouts + updates of a full-mode path."""
    settings = settings or {}
    set_threads(available_cores(), settings.get("torch_threads", 1))
    model, vec = full_mode_model(settings)
    per_rollout = model.n_steps * vec.num_envs
    model.learn(per_rollout)  # warm-up: the first rollout and update
    if profile is not None:
        _instrument(model, vec, profile)
    t0 = time.perf_counter()
    model.learn(rollouts * per_rollout, reset_num_timesteps=False)
    elapsed = time.perf_counter() - t0
    if profile is not None:
        profile["total"] = profile.get("total", 0.0) + elapsed
        profile["decisions"] = profile.get("decisions", 0) + rollouts * per_rollout // vec.n_junctions
    return rollouts * per_rollout / vec.n_junctions / elapsed


def _instrument(model, vec, profile: dict) -> None:
    """Accumulate the seconds of each part of a decision into ``profile``."""

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                profile[name] = profile.get(name, 0.0) + time.perf_counter() - t
        return wrapper

    vec.core.sim.advance = timed("simulator", vec.core.sim.advance)
    vec.core.refresh = timed("features", vec.core.refresh)
    vec.step_wait = timed("vecenv_step", vec.step_wait)
    vec.action_masks = timed("masks", vec.action_masks)
    model.collect_rollouts = timed("rollout", model.collect_rollouts)
    model.train = timed("update", model.train)


def print_profile(name: str, profile: dict) -> None:
    per = 1e6 / profile["decisions"]
    rollout, update, step = profile["rollout"], profile["update"], profile["vecenv_step"]
    parts = [("simulator (the batched kernel)", profile["simulator"]),
             ("junction features", profile["features"]),
             ("the VecEnv's own work (observations, rewards, infos)",
              step - profile["simulator"] - profile["features"]),
             ("action masks", profile["masks"]),
             ("SB3's rollout loop (policy forward, sampling, buffer, callbacks)", rollout - step - profile["masks"]),
             ("gradient update (minibatches x epochs)", update),
             ("other (learn's own bookkeeping)", profile["total"] - rollout - update)]
    print(f"\nwhere a corridor decision's {profile['total'] * per:.1f} us go ({name}):")
    for part, seconds in parts:
        print(f"  {part:70s} {seconds * per:8.1f} us  {100 * seconds / profile['total']:5.1f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rollouts", type=int, default=2, help="rollouts + updates timed per repeat")
    args = ap.parse_args()
    configure_process()
    cores = available_cores()
    set_threads(cores, 1)
    gym.make("CartPole-v1")
    cartpole = statistics.median(cartpole_rate(16_384) for _ in range(args.repeats))
    from arz_rl.config import mode_defaults

    full = mode_defaults("full")
    profiles: dict[str, dict] = {"default": {}, "fast": {}}
    rows = [("before: 4 corridors, n_steps 1024, minibatch 64, 10 epochs, SB3 Adam, 2 torch threads",
             statistics.median(path_rate(BEFORE, 1) for _ in range(args.repeats)))]
    ppo = full.ppo
    rows.append((f"default: {full.n_envs} corridors, n_steps {ppo['n_steps']}, minibatch {ppo['batch_size']}, "
                 f"{ppo['n_epochs']} epochs, fused Adam",
                 statistics.median(path_rate(None, args.rollouts, profiles["default"]) for _ in range(args.repeats))))
    rows.append(("fast: 256 corridors, n_steps 16, minibatch 4096, 8 epochs, ReLU, fused Adam",
                 statistics.median(path_rate(FAST, args.rollouts, profiles["fast"]) for _ in range(args.repeats))))
    print(f"cores: {cores}; threads: numba {cores}, torch 1 (before: 2); medians of {args.repeats}")
    print(f"{'measure':88s} {'per s':>9s} {'x CartPole':>11s}")
    print(f"{'SB3 PPO on CartPole-v1 (n_steps 512, minibatch 64, 4 epochs), timesteps':88s} {cartpole:9,.0f}")
    for label, rate in rows:
        print(f"{label + ', corridor decisions':88s} {rate:9,.0f} {rate / cartpole:10.2f}x")
    for name, profile in profiles.items():
        print_profile(name, profile)


if __name__ == "__main__":
    main()
