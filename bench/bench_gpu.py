"""The batched corridor core on a GPU: env-steps/s and corridor decisions/s of the torch step at
B = 256 ... 8,192 corridors, and a training slice (MaskablePPO with its tensors on the device).

    python bench/bench_gpu.py [--batches 256,1024,4096,8192] [--seconds 5]

Prints one table row per batch: corridor env-steps/s of the torch step alone
(``CorridorCore.step`` with random phase requests: the simulator, the junction features, the
rewards) and of the same batch on numba (the CPU's best), and the training slice's corridor
decisions/s (``bench_training``'s fast path, n_steps 16, minibatch 4,096, on ``cuda``).  Without
a CUDA device it says so and exits 0: nothing is measured.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def core_rate(batch: int, device: str, engine: str, seconds: float) -> float:
    """Corridor env-steps/s of ``batch`` corridors stepped by ``engine`` on ``device``."""
    from arz_rl.config import mode_defaults
    from arz_rl.core import CorridorCore
    from arz_rl.protocol import env_kwargs

    core = CorridorCore(batch_size=batch, device=device, engine=engine, **env_kwargs(mode_defaults("full"), "over"))
    core.reset(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    core.step(rng.integers(0, 2, (batch, core.n_junctions)))  # compile / warm up
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        core.step(rng.integers(0, 2, (batch, core.n_junctions)))
        steps += 1
    return steps * batch / (time.perf_counter() - t0)


def training_rate(batch: int, rollouts: int = 2) -> float:
    """Corridor decisions/s of the fast training path with ``batch`` corridors on the GPU."""
    from sb3_contrib import MaskablePPO

    from arz_rl.config import mode_defaults
    from arz_rl.protocol import env_kwargs
    from arz_rl.vec_env import SharedJunctionVecEnv

    vec = SharedJunctionVecEnv(batch, device="gpu", engine="torch", **env_kwargs(mode_defaults("full"), "over"))
    vec.seed(0)
    model = MaskablePPO("MlpPolicy", vec, n_steps=16, batch_size=4096, n_epochs=8, learning_rate=1e-3, seed=0,
                        device="cuda", verbose=0)
    per = model.n_steps * vec.num_envs
    model.learn(per)
    t0 = time.perf_counter()
    model.learn(rollouts * per, reset_num_timesteps=False)
    return rollouts * per / vec.n_junctions / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="256,1024,4096,8192")
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("no CUDA device: nothing measured (run this where a GPU is lent)")
        return 0
    print(f"GPU: {torch.cuda.get_device_name(0)}")
    print(f"{'corridors':>10s} {'torch step on GPU, env-steps/s':>32s} {'numba on CPU, env-steps/s':>27s} "
          f"{'training slice, decisions/s':>29s}")
    for batch in (int(b) for b in args.batches.split(",")):
        gpu = core_rate(batch, "gpu", "torch", args.seconds)
        cpu = core_rate(batch, "cpu", "numba", args.seconds) if batch <= 4096 else float("nan")
        train = training_rate(batch)
        print(f"{batch:10d} {gpu:32,.0f} {cpu:27,.0f} {train:29,.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
