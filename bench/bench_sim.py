"""Simulator and environment throughput, with a memory-bound ceiling measured in the same run.

    python bench/bench_sim.py [--seconds 3]

Prints a table: env steps/s (single junction, 3-junction corridor, a batch of 64
scenarios stepped at once, by the SIMD-lane kernel and by the scalar one), simulated
cell-updates/s, and the cell-updates/s of a
plain streaming numba kernel over arrays of the same size (what this CPU can
stream), with the targets of the performance issue beside them; then the batch of 64 with 1 and 2
threads, alone and beside a busy process, with libgomp's defaults and with the kernel's thread plan
(``--sharing-only``: just that).
"""

from __future__ import annotations

import argparse
import os
import time

import numba as nb
import numpy as np

from arz_rl.env import SignalCorridorEnv
from arz_rl.sim import Simulator, make_scenario
from arz_rl.sim.layout import ACC_SUBSTEPS


def env_rate(scenario: str, seconds: float) -> tuple[float, float]:
    """(env steps/s, cell-updates/s) of one env under random phase requests."""
    env = SignalCorridorEnv(scenario=scenario)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    env.step(env.action_space.sample())  # compile outside the clock
    substeps, base = 0.0, env.sim.acc[0, ACC_SUBSTEPS]
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        action = rng.integers(0, 2, size=env.n_junctions)
        _, _, _, truncated, _ = env.step(action if env.n_junctions > 1 else int(action[0]))
        steps += 1
        if truncated:
            substeps += env.sim.acc[0, ACC_SUBSTEPS] - base
            env.reset(seed=steps)
            base = 0.0
    elapsed = time.perf_counter() - t0
    substeps += env.sim.acc[0, ACC_SUBSTEPS] - base
    return steps / elapsed, substeps * env.sim.net.total_cells() / elapsed


def batch_rate(batch: int, seconds: float, scenario: str = "single", device: str = "cpu", engine: str | None = None,
               lanes: bool | None = None) -> tuple[float, float]:
    """(env steps/s summed over the batch, cell-updates/s) of ``batch`` scenarios stepped at once
    (``lanes``: the simulator's choice of the SIMD-lane kernel)."""
    sim = Simulator(make_scenario(scenario), batch_size=batch, parallel=True, device=device, engine=engine, lanes=lanes)
    sim.reset(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    warm = time.perf_counter()
    while time.perf_counter() - warm < 1.0:  # compile, and wake the thread pool, outside the clock
        sim.advance(15.0)
    sim.reset(np.random.default_rng(0))
    substeps, base = 0.0, sim.acc[:, ACC_SUBSTEPS].sum()
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sim.request[:] = rng.integers(0, 2, size=sim.request.shape)
        sim.advance(15.0)
        steps += 1
        if sim.t[0] >= sim.scenario.duration:
            substeps += sim.acc[:, ACC_SUBSTEPS].sum() - base
            sim.reset(np.random.default_rng(steps))
            base = 0.0
    elapsed = time.perf_counter() - t0
    substeps += sim.acc[:, ACC_SUBSTEPS].sum() - base
    return batch * steps / elapsed, substeps * sim.net.total_cells() / elapsed


@nb.njit(cache=True, parallel=True)
def _stream(u: np.ndarray, out: np.ndarray, reps: int) -> None:
    """A first-order upwind update of 4 variables per cell: the memory traffic of a cell update."""
    for _ in range(reps):
        for b in nb.prange(u.shape[0]):
            for q in range(u.shape[1]):
                for c in range(1, u.shape[2]):
                    out[b, q, c] = u[b, q, c] - 0.4 * (u[b, q, c] - u[b, q, c - 1])
        u, out = out, u


def streaming_ceiling(batch: int, cells: int, seconds: float) -> float:
    """Cell-updates/s of the streaming kernel on a (batch, 4, cells) array."""
    u = np.random.default_rng(0).random((batch, 4, cells))
    out = np.empty_like(u)
    _stream(u, out, 1)
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        _stream(u, out, 100)
        reps += 100
    return reps * batch * cells / (time.perf_counter() - t0)


def _batch_rate_in_a_process(threads: int, seconds: float, env: dict[str, str]) -> float:
    """``batch_rate(64)`` in a fresh process with ``threads`` numba threads and ``env``: the
    threading layer and its spin policy are set when a process starts."""
    import subprocess
    import sys

    code = (f"import numba; numba.set_num_threads({threads}); import bench_sim; "
            f"print(bench_sim.batch_rate(64, {seconds})[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.abspath(__file__)), env={**os.environ, **env})
    return float(out.stdout.strip().splitlines()[-1])


def sharing_rates(seconds: float) -> list[tuple[str, float]]:
    """The batch of 64 with 1 and 2 numba threads, alone and beside a busy process (a spinning
    Python loop on one core), with the kernel's thread plan (:mod:`arz_rl.threads`) and without."""
    import subprocess
    import sys

    from arz_rl.threads import thread_environment

    plans = {"libgomp defaults": {"OMP_WAIT_POLICY": "", "GOMP_SPINCOUNT": ""},
             "sleep at once (PASSIVE)": {"OMP_WAIT_POLICY": "PASSIVE", "GOMP_SPINCOUNT": ""},
             "the kernel's plan (short spin)": {"OMP_WAIT_POLICY": "", **thread_environment(2)}}
    rows = []
    for busy in (False, True):
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
        try:
            for plan, env in plans.items():
                for threads in (1, 2):
                    where = "beside a busy process" if busy else "alone"
                    rows.append((f"batch of 64, {threads} thread(s), {where}, {plan}",
                                 _batch_rate_in_a_process(threads, seconds, env)))
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--gpu-batch", type=int, default=4096, help="batch stepped by the torch step on a GPU")
    ap.add_argument("--sharing-only", action="store_true", help="only the rates under shared cores")
    args = ap.parse_args()
    if args.sharing_only:
        for name, value in sharing_rates(args.seconds):
            print(f"{name:70s} {value:14,.0f} env steps/s")
        return
    import torch
    single, single_cells = env_rate("single", args.seconds)
    corridor, corridor_cells = env_rate("corridor", args.seconds)
    batch, batch_cells = batch_rate(64, args.seconds)
    scalar_batch, _ = batch_rate(64, args.seconds, lanes=False)
    n_cells = Simulator(make_scenario("single")).net.total_cells()
    ceiling = streaming_ceiling(64, n_cells, args.seconds)
    rows = [
        ("env steps/s, single junction (1 env)", single, 5_000),
        ("env steps/s, corridor of 3 junctions (1 env)", corridor, 2_000),
        ("env steps/s, batch of 64 single junctions (SIMD lanes)", batch, 100_000),
        ("env steps/s, batch of 64, scalar kernel (one scenario at a time)", scalar_batch, None),
        ("cell-updates/s, single junction (1 env)", single_cells, None),
        ("cell-updates/s, corridor (1 env)", corridor_cells, None),
        ("cell-updates/s, batch of 64", batch_cells, None),
        ("cell-updates/s, streaming ceiling (same array size)", ceiling, None),
    ]
    torch_cpu, _ = batch_rate(64, args.seconds, engine="torch")
    rows.append(("env steps/s, batch of 64, torch step on the CPU", torch_cpu, None))
    if torch.cuda.is_available():
        for name in ("single", "corridor"):
            gpu, gpu_cells = batch_rate(args.gpu_batch, args.seconds, scenario=name, device="gpu")
            gpu_name = torch.cuda.get_device_name(0)
            rows.append((f"env steps/s, batch of {args.gpu_batch} {name}, torch step on {gpu_name}", gpu, None))
            rows.append((f"cell-updates/s, same (GPU {name})", gpu_cells, None))
    else:
        rows.append(("torch step on a GPU: no CUDA device here", float("nan"), None))
    print(f"cores: {os.cpu_count()}, numba threads: {nb.get_num_threads()}")
    print(f"{'measure':70s} {'value':>14s} {'target':>10s}  status")
    for name, value, target in rows:
        status = "" if target is None else ("ok" if value >= target else "BELOW")
        print(f"{name:70s} {value:14,.0f} {target if target else '':>10}  {status}")
    print(f"batch simulator at {100 * batch_cells / ceiling:.1f}% of the streaming ceiling; "
          f"{1e9 * (os.cpu_count() or 1) / batch_cells:.0f} ns per cell-substep per core")
    print("\nshared cores (each a fresh process):")
    for name, value in sharing_rates(args.seconds):
        print(f"{name:70s} {value:14,.0f} env steps/s")


if __name__ == "__main__":
    main()
