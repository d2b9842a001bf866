"""Training throughput: the default full-mode PPO path beside SB3's PPO on CartPole-v1, in the same
process, and where a corridor decision's time goes.

    python bench/bench_training.py [--repeats 3] [--rollouts 4]

Rows (each the median of ``--repeats`` timings, after a warm-up):

- SB3 PPO on CartPole-v1 (MlpPolicy 64x64, n_steps 512, minibatch 64, 4 epochs): timesteps/s.
- The default full-mode PPO path: MaskablePPO with one policy shared by the junctions of
  ``n_envs`` batched corridors (``arz_rl.config.mode_defaults("full")``: its corridors, rollout,
  minibatch, epochs), at the headline demand level; corridor decisions/s and its ratio to CartPole
  (target: at least 5x).
- The same path with the settings it had before (4 corridors, n_steps 1024, minibatch 64,
  10 epochs), for the before/after figure.
- The profile of the default path: of a decision's time, the simulator, the junction features,
  the VecEnv's own work (observations, rewards, masks, infos), SB3's rollout loop (policy
  forward, sampling, the rollout buffer, callbacks) and the gradient update.
- Two agents trained side by side by ``train_all`` in two worker processes (one thread each: what
  a full run does with its 15 agents on 2 cores): their summed decisions/s.

Threads: the simulator and the learner take turns, so both get every core this process may use
(:func:`arz_rl.threads.set_threads`); the worker processes get one each.
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym

from arz_rl.threads import available_cores, configure_process, set_threads

CARTPOLE = {"n_steps": 512, "batch_size": 64, "n_epochs": 4}
BEFORE = {"n_envs": 4, "ppo": {"n_steps": 1024, "batch_size": 64, "n_epochs": 10, "learning_rate": 3e-4}}


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
    from sb3_contrib import MaskablePPO

    from arz_rl.config import mode_defaults
    from arz_rl.protocol import env_kwargs
    from arz_rl.train import hyperparameters
    from arz_rl.vec_env import SharedJunctionVecEnv

    cfg = mode_defaults("full")
    settings = settings or {}
    n_envs = settings.get("n_envs", cfg.n_envs)
    vec = SharedJunctionVecEnv(n_envs, **env_kwargs(cfg, level))
    vec.seed(0)
    hp = hyperparameters(cfg, "ppo")
    hp.update(settings.get("ppo", {}))
    return MaskablePPO("MlpPolicy", vec, seed=0, device="cpu", verbose=0, **hp), vec


def path_rate(settings: dict | None, rollouts: int, profile: dict | None = None) -> float:
    """Corridor decisions/s of ``rollouts`` rollouts + updates of the full-mode path."""
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


def workers_rate(decisions: int) -> float:
    """Summed corridor decisions/s of two agents trained by train_all in two worker processes."""
    import tempfile
    from pathlib import Path

    from arz_rl.config import build_config
    from arz_rl.train import train_all

    cfg = build_config("full", {"algorithms": ["ppo"], "seeds": 2, "levels": ["over"], "workers": 2,
                                "timesteps": {"ppo": decisions}, "eval_freq": 10 * decisions,
                                "checkpoint_freq": 10 * decisions, "validation_episodes": 1})
    with tempfile.TemporaryDirectory() as out:
        runs = train_all(cfg, Path(out), "cpu", log=lambda *_: None)
    return sum(r["timesteps_per_s"] for r in runs["over"]["ppo"].values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rollouts", type=int, default=4, help="rollouts + updates timed per repeat")
    args = ap.parse_args()
    configure_process()
    cores = available_cores()
    threads = set_threads(cores, cores)
    gym.make("CartPole-v1")
    cartpole = statistics.median(cartpole_rate(16_384) for _ in range(args.repeats))
    profile: dict = {}
    after = statistics.median(path_rate(None, args.rollouts, profile) for _ in range(args.repeats))
    before = statistics.median(path_rate(BEFORE, 1) for _ in range(args.repeats))
    from arz_rl.config import mode_defaults

    full = mode_defaults("full")
    two = statistics.median(workers_rate(60_000) for _ in range(args.repeats))
    set_threads(cores, cores)
    print(f"cores: {cores}; threads: numba {threads['numba']}, torch {threads['torch']}; "
          f"medians of {args.repeats}")
    print(f"{'measure':78s} {'per s':>10s} {'x CartPole':>11s}")
    print(f"{'SB3 PPO on CartPole-v1 (n_steps 512, minibatch 64, 4 epochs), timesteps':78s} {cartpole:10,.0f}")
    ppo = full.ppo
    label = (f"full-mode PPO path now: {full.n_envs} corridors, n_steps {ppo['n_steps']}, minibatch "
             f"{ppo['batch_size']}, {ppo['n_epochs']} epochs, decisions")
    status = "ok" if after >= 5 * cartpole else "BELOW the 5x target"
    print(f"{label:78s} {after:10,.0f} {after / cartpole:10.2f}x  {status}")
    print(f"{'full-mode PPO path before: 4 corridors, n_steps 1024, minibatch 64, 10 epochs':78s} {before:10,.0f} "
          f"{before / cartpole:10.2f}x")
    print(f"{'two agents by train_all in two worker processes (summed), decisions':78s} {two:10,.0f} "
          f"{two / cartpole:10.2f}x")
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
    print(f"\nwhere a corridor decision's {profile['total'] * per:.1f} us go (default path):")
    for name, seconds in parts:
        print(f"  {name:70s} {seconds * per:8.1f} us  {100 * seconds / profile['total']:5.1f} %")


if __name__ == "__main__":
    main()
