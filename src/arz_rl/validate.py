"""Numerical validation: Riemann problems against the exact ARZ solution, a two-class
convergence study, and mass balance over a long signalised run.

    python -m arz_rl.validate --out DIR

Writes ``riemann_table.csv`` (case, scheme, n_cells, l1_error, order),
``riemann_<case>.csv`` (final profile at the finest grid, second-order scheme:
x in m, rho_* in veh/km, v_* in km/h, plus rho_exact/v_exact where a closed
form exists) and ``mass_balance.csv``.  ``l1_error`` is the L1 norm of the
density error summed over classes, in vehicles; ``order`` is
log2(e(n/2)/e(n)).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import results as contract
from .progress import Progress
from .sim.layout import ACC_ARRIVED, ACC_CLAMPED, ACC_EXITED
from .sim.network import make_scenario
from .sim.params import KMH, PER_KM, ModelParams
from .sim.riemann import OneClassARZ
from .sim.road import primitive_from_road, road_from_primitive, solve_road
from .sim.simulator import Simulator

LENGTH = 1000.0  #: m, the Riemann domain; the jump sits at its middle
T_FINAL = 25.0  #: s, before any wave reaches an end
CFL = 0.45
SCHEMES = {"first_order": 1, "muscl_rk2": 2}
RESOLUTIONS = (100, 200, 400, 800)
REFERENCE_FACTOR = 4  #: the two-class reference grid is this many times the finest


@dataclass(frozen=True)
class RiemannCase:
    """Left/right states in veh/km and km/h of one class (0 motorcycles, 1 cars), or both."""

    name: str
    cls: int | None  #: None: both classes interact (no closed form)
    left: tuple[float, float, float, float]  #: rho_m, v_m, rho_c, v_c
    right: tuple[float, float, float, float]


def _alone(name: str, cls: int, left: tuple[float, float], right: tuple[float, float]) -> RiemannCase:
    pad = (0.0, 0.0)
    lhs = (*left, *pad) if cls == 0 else (*pad, *left)
    rhs = (*right, *pad) if cls == 0 else (*pad, *right)
    return RiemannCase(name, cls, lhs, rhs)


CASES = (
    _alone("moto_shock", 0, (100, 50), (400, 15)),
    _alone("moto_rarefaction", 0, (500, 5), (200, 20)),
    _alone("moto_vacuum", 0, (300, 15), (100, 40)),
    _alone("moto_contact", 0, (150, 30), (450, 30)),
    _alone("car_shock", 1, (60, 35), (200, 8)),
    _alone("car_rarefaction", 1, (200, 10), (80, 30)),
    _alone("car_vacuum", 1, (120, 20), (40, 45)),
    _alone("car_contact", 1, (60, 25), (180, 25)),
    RiemannCase("mixed_two_class", None, (150, 45, 60, 40), (250, 20, 150, 12)),
)


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    edges = np.linspace(0.0, LENGTH, n + 1)
    return edges, 0.5 * (edges[1:] + edges[:-1])


def simulate(case: RiemannCase, n: int, order: int, params: ModelParams) -> dict[str, np.ndarray]:
    """Numerical profile (SI) of ``case`` on ``n`` cells at T_FINAL."""
    cp = params.class_arrays()
    _, xc = _grid(n)
    side = xc < 0.5 * LENGTH
    units = (PER_KM, KMH, PER_KM, KMH)
    prim = [np.where(side, a * s, b * s) for a, b, s in zip(case.left, case.right, units, strict=True)]
    u = road_from_primitive(*prim, cp, params.rho_jam)
    solve_road(u, LENGTH / n, T_FINAL, order, CFL, cp, params.rho_jam)
    return primitive_from_road(u, cp, params.rho_jam)


def exact(case: RiemannCase, n: int, params: ModelParams) -> tuple[np.ndarray, np.ndarray]:
    """Exact cell averages of density (veh/m) and of flow (veh/s) of a one-class case."""
    c = params.cars if case.cls == 1 else params.motorcycles
    model = OneClassARZ(c.v_max, c.gamma, c.pce, params.rho_jam)
    k = 2 * case.cls
    left = (case.left[k] * PER_KM, case.left[k + 1] * KMH)
    right = (case.right[k] * PER_KM, case.right[k + 1] * KMH)
    edges, _ = _grid(n)
    return model.cell_averages(edges, 0.5 * LENGTH, T_FINAL, left, right)


def _block_mean(a: np.ndarray, factor: int) -> np.ndarray:
    return a.reshape(-1, factor).mean(axis=1)


def riemann_study(cases=CASES, resolutions=RESOLUTIONS, schemes=SCHEMES,
                  progress: Progress | None = None) -> tuple[pd.DataFrame, dict]:
    """L1 errors and observed orders for every case, scheme and grid; finest profiles."""
    rows = []
    profiles = {}
    finest = max(resolutions)
    for k, case in enumerate(cases):
        if progress is not None:
            progress.update(k, case=case.name)
        # the one-class cases use the pure ARZ system (no relaxation) the exact solution solves
        params = ModelParams().with_relaxation(case.cls is None)
        reference = None
        if case.cls is None:
            ref = simulate(case, finest * REFERENCE_FACTOR, 2, params)
            reference = {k: ref[k] for k in ("rho_m", "rho_c")}
        for scheme, order in schemes.items():
            prev = None
            for n in resolutions:
                num = simulate(case, n, order, params)
                if reference is None:
                    rho_exact, _ = exact(case, n, params)
                    rho_num = num["rho_m"] if case.cls == 0 else num["rho_c"]
                    err = np.abs(rho_num - rho_exact).sum() * LENGTH / n
                else:
                    f = finest * REFERENCE_FACTOR // n
                    err = sum(np.abs(num[k] - _block_mean(reference[k], f)).sum() for k in reference) * LENGTH / n
                order_obs = np.log2(prev / err) if prev is not None and err > 0 else np.nan
                rows.append({"case": case.name, "scheme": scheme, "n_cells": n, "l1_error": err,
                             "order": order_obs})
                prev = err
                if n == finest and order == 2:
                    profiles[case.name] = _profile(case, num, n, params)
    if progress is not None:
        progress.update(len(cases), force=True)
    return pd.DataFrame(rows), profiles


def _profile(case: RiemannCase, num: dict[str, np.ndarray], n: int, params: ModelParams) -> pd.DataFrame:
    _, xc = _grid(n)
    df = pd.DataFrame({"x": xc, "rho_m": num["rho_m"] / PER_KM, "v_m": num["v_m"] / KMH,
                       "rho_c": num["rho_c"] / PER_KM, "v_c": num["v_c"] / KMH})
    if case.cls is not None:
        rho, q = exact(case, n, params)
        df["rho_exact"] = rho / PER_KM
        df["v_exact"] = np.where(rho > 0, q / np.where(rho > 0, rho, 1.0), np.nan) / KMH
    return df


def mass_balance(scenario: str = "corridor", duration: float = 3600.0, order: int = 1,
                 engine: str = "numba", lanes: bool | None = None) -> dict[str, float]:
    """Vehicles in = out + on the road (+ in entry queues) over a signalised run, in vehicles;
    ``engine``, ``lanes``: the simulator's (numba, or the torch step on the CPU; the SIMD-lane
    kernel)."""
    sim = Simulator(make_scenario(scenario), order=order, engine=engine, lanes=lanes)
    sim.reset(np.random.default_rng(7))
    sim.set_plan(90.0, 45.0, np.array([0.0, 30.0, 60.0][: sim.net.n_junctions]))
    initial = float(sim.vehicles_on_road().sum())
    sim.advance(duration)
    acc = sim.acc[0]
    arrived = float(acc[ACC_ARRIVED:ACC_ARRIVED + 2].sum())
    exited = float(acc[ACC_EXITED:ACC_EXITED + 2].sum())
    on_road = float(sim.vehicles_on_road().sum())
    queued = float(sim.queue.sum())
    clamped = float(acc[ACC_CLAMPED])
    residual = initial + arrived - exited - on_road - queued
    return {"scenario": scenario, "order": order, "duration_s": duration, "initial": initial, "arrived": arrived,
            "exited": exited, "on_road": on_road, "queued": queued, "clamped": clamped, "residual": residual,
            "relative_residual": abs(residual) / arrived}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m arz_rl.validate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    table, profiles = riemann_study(progress=Progress("solver", "validate", len(CASES), "Riemann cases", every_s=0.0))
    table.to_csv(args.out / contract.RIEMANN_TABLE, index=False)
    for name, df in profiles.items():
        df.to_csv(args.out / contract.riemann_profile_name(name), index=False)
    balance = pd.DataFrame([mass_balance(order=o) for o in (1, 2)])
    balance.to_csv(args.out / contract.MASS_BALANCE, index=False)
    with pd.option_context("display.width", 120, "display.max_rows", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        print(balance.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    ok = all((g["l1_error"].diff().dropna() < 0).all() for _, g in table.groupby(["case", "scheme"]))
    print("L1 error decreases with refinement in every case:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
