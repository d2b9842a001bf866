"""Compile the simulator's numba kernels into the on-disk cache before a run needs them.

    python -m arz_rl.warmup

Every numba kernel compiles on its first call: about 10-20 s of CPU for what a run uses, paid
again by each process that starts on a cold cache.  ``make install`` runs this once, so a quick
run starts warm.  The cache is keyed by the content of :mod:`arz_rl.sim` (see its
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


def warm_up(log=print) -> float:
    """Call every kernel a run uses once, on small inputs; returns the seconds it took."""
    t0 = time.perf_counter()
    steps = [
        ("env step and observation (scalar first-order kernel)", _env_step),
        ("batch of 8 (SIMD-lane kernel, threads)", lambda: _batch(8, parallel=True)),
        ("batch of 4 (SIMD-lane kernel, one thread)", lambda: _batch(4, parallel=False)),
        ("mass balance, orders 1 and 2 (general kernel)", _mass_balance),
        ("Riemann problems on one road", _road),
    ]
    for name, step in steps:
        t = time.perf_counter()
        step()
        log(f"[warmup] {name}: {time.perf_counter() - t:.1f} s")
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
