"""Compile the simulator's numba kernels into the on-disk cache before a run needs them.

    python -m arz_rl.warmup

Every numba kernel compiles on its first call: 1-2 min of CPU for what a run uses, paid again by
each process that starts on a cold cache.  ``make install`` runs this once, so a quick run starts
warm; the kernels compile in two groups side by side.  The cache is keyed by the content of
:mod:`arz_rl.sim` (see its
``__init__``): after an edit of the simulator the next run compiles again, by itself or here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from .env import SignalCorridorEnv
from .sim import ModelParams, Simulator, make_scenario
from .sim.road import primitive_from_road, road_from_primitive, solve_road
from .validate import mass_balance

#: groups of (what, the function that calls it): a group's kernels share most of their code (the
#: lane kernel's threaded and serial forms; the scalar and general kernels' physics), so a group
#: compiles in one process, and the groups side by side (two, of about equal cost)
GROUPS = (
    (("batch of 8 (SIMD-lane kernel, threads)", "_batch_threads"),
     ("batch of 4 (SIMD-lane kernel, one thread)", "_batch_serial"),
     ("Riemann problems on one road", "_road")),
    (("env step and observation (scalar first-order kernel)", "_env_step"),
     ("mass balance, orders 1 and 2 (general kernel)", "_mass_balance")),
)


def _timed(steps: tuple[tuple[str, str], ...]) -> list[tuple[str, float]]:
    out = []
    for name, step in steps:
        t = time.perf_counter()
        globals()[step]()
        out.append((name, time.perf_counter() - t))
    return out


def warm_up(log=print, workers: int | None = None) -> float:
    """Call every kernel a run uses once, on small inputs, the groups compiled side by side in
    ``workers`` processes (default: one per core, at most one per group; numba writes each cache
    file atomically); returns the seconds it took."""
    import os

    t0 = time.perf_counter()
    workers = min(workers or os.cpu_count() or 1, len(GROUPS))
    if workers <= 1:
        for group in GROUPS:
            for name, seconds in _timed(group):
                log(f"[warmup] {name}: {seconds:.1f} s")
        return time.perf_counter() - t0
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # spawn: a fresh interpreter per worker, no numba or OpenMP state inherited
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for future in [pool.submit(_timed, group) for group in GROUPS]:
            for name, seconds in future.result():
                log(f"[warmup] {name}: {seconds:.1f} s")
    return time.perf_counter() - t0


def _env_step() -> None:
    env = SignalCorridorEnv(scenario="single")
    env.reset(seed=0)
    env.step(0)
    env.sim.fields()


def _batch(n: int, parallel: bool) -> None:
    sim = Simulator(make_scenario("single"), batch_size=n, parallel=parallel)
    sim.reset(None)
    sim.advance(15.0)


def _batch_threads() -> None:
    _batch(8, parallel=True)


def _batch_serial() -> None:
    _batch(4, parallel=False)


def _mass_balance() -> None:
    for order in (1, 2):
        mass_balance(duration=30.0, order=order)


def _road() -> None:
    params = ModelParams()
    cp, n = params.class_arrays(), 16
    u = road_from_primitive(np.full(n, 0.02), np.full(n, 10.0), np.full(n, 0.02), np.full(n, 10.0), cp,
                            params.rho_jam)
    for order in (1, 2):
        solve_road(u.copy(), 50.0, 1.0, order, 0.45, cp, params.rho_jam)
    primitive_from_road(u, cp, params.rho_jam)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(prog="python -m arz_rl.warmup", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    print(f"[warmup] numba kernels compiled or found in the cache in {warm_up():.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
