"""Finite-volume solver for one road with transmissive ends (the validation workhorse).

Cells hold conserved variables ``(rho_m, y_m, rho_c, y_c)``; the array has two
ghost cells on each side, shape ``(4, n + 4)``.  ``order=1`` is Godunov-type
HLL with forward Euler; ``order=2`` is MUSCL reconstruction of the primitive
pair (rho_i, w_i) with the minmod limiter and the SSP-RK2 (Heun) integrator.
The relaxation source is split off and integrated exactly (Godunov splitting
at order 1, Strang splitting at order 2), so it is stable for any tau.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .layout import GHOST, JIT, RHO_EPS
from .physics import class_constants, effective_density, hll_flux, max_wave_speed, pressure, relax_cell, velocity


@nb.njit(**JIT)
def minmod(a: float, b: float) -> float:
    """Minmod slope limiter."""
    if a * b <= 0.0:
        return 0.0
    return a if abs(a) < abs(b) else b


@nb.njit(**JIT)
def reconstruct_faces(u: np.ndarray, n: int, order: int, left: np.ndarray, right: np.ndarray,
                      cp: np.ndarray, rho_jam: float) -> None:
    """Face states of every cell of ``u`` (4, n+4): ``left[:, k]``/``right[:, k]`` are the
    values at the left/right face of cell k (ghosts included, constant there)."""
    total = n + 2 * GHOST
    for k in range(total):
        for q in range(4):
            left[q, k] = u[q, k]
            right[q, k] = u[q, k]
    if order < 2:
        return
    for k in range(1, total - 1):
        for i in range(2):
            r0, r1, r2 = u[2 * i, k - 1], u[2 * i, k], u[2 * i, k + 1]
            dr = minmod(r1 - r0, r2 - r1)
            if r0 > RHO_EPS and r1 > RHO_EPS and r2 > RHO_EPS:
                w0 = u[2 * i + 1, k - 1] / r0
                w1 = u[2 * i + 1, k] / r1
                w2 = u[2 * i + 1, k + 1] / r2
                dw = minmod(w1 - w0, w2 - w1)
            else:
                w1 = u[2 * i + 1, k] / r1 if r1 > RHO_EPS else 0.0
                dw = 0.0
            rl = r1 - 0.5 * dr
            rr = r1 + 0.5 * dr
            left[2 * i, k] = rl
            right[2 * i, k] = rr
            left[2 * i + 1, k] = rl * (w1 - 0.5 * dw)
            right[2 * i + 1, k] = rr * (w1 + 0.5 * dw)
        # the classes are limited one by one, so their faces can leave the invariant
        # region together (rho_eff > rho_jam or v < 0): fall back to first order there
        if not (_admissible(left[:, k], cp, rho_jam) and _admissible(right[:, k], cp, rho_jam)):
            for q in range(4):
                left[q, k] = u[q, k]
                right[q, k] = u[q, k]


@nb.njit(**JIT)
def _admissible(u: np.ndarray, cp: np.ndarray, rho_jam: float) -> bool:
    ks = class_constants(cp)
    e = effective_density(u[0], u[2], cp)
    if e > rho_jam:
        return False
    for i in range(2):
        if u[2 * i] > RHO_EPS and u[2 * i + 1] / u[2 * i] < pressure(ks[i], e, rho_jam):
            return False
    return True


@nb.njit(**JIT)
def _fill_transmissive(u: np.ndarray, n: int) -> None:
    for q in range(4):
        for g in range(GHOST):
            u[q, g] = u[q, GHOST]
            u[q, n + GHOST + g] = u[q, n + GHOST - 1]


@nb.njit(**JIT)
def _euler_stage(
    u: np.ndarray, n: int, dx: float, dt: float, order: int, cp: np.ndarray, rho_jam: float,
    out: np.ndarray, left: np.ndarray, right: np.ndarray, flux: np.ndarray, f: np.ndarray,
) -> None:
    """out = u - dt/dx (F_{k+1/2} - F_{k-1/2}) on interior cells."""
    _fill_transmissive(u, n)
    reconstruct_faces(u, n, order, left, right, cp, rho_jam)
    for k in range(n + 1):
        c = GHOST - 1 + k  # interface between cell c and c+1
        hll_flux(right[:, c], left[:, c + 1], cp, rho_jam, f)
        for q in range(4):
            flux[q, k] = f[q]
    lam = dt / dx
    for k in range(n):
        c = GHOST + k
        for q in range(4):
            out[q, c] = u[q, c] - lam * (flux[q, k + 1] - flux[q, k])
        for i in range(2):
            if out[2 * i, c] < RHO_EPS:  # round-off only; CFL keeps HLL positive
                out[2 * i, c] = 0.0
                out[2 * i + 1, c] = 0.0


@nb.njit(**JIT)
def solve_road(
    u: np.ndarray, dx: float, t_end: float, order: int, cfl: float, cp: np.ndarray, rho_jam: float
) -> int:
    """Advance ``u`` (4, n+4) in place to ``t_end`` seconds; returns the number of steps."""
    n = u.shape[1] - 2 * GHOST
    left = np.empty_like(u)
    right = np.empty_like(u)
    flux = np.empty((4, n + 1))
    f = np.empty(4)
    u1 = u.copy()
    u2 = u.copy()
    t = 0.0
    steps = 0
    while t < t_end - 1e-12:
        smax = 1e-6
        for k in range(GHOST, n + GHOST):
            smax = max(smax, max_wave_speed(u[:, k], cp, rho_jam))
        dt = min(cfl * dx / smax, t_end - t)
        if order < 2:
            _euler_stage(u, n, dx, dt, order, cp, rho_jam, u1, left, right, flux, f)
            for k in range(GHOST, n + GHOST):
                relax_cell(u1[:, k], dt, cp, rho_jam)
                for q in range(4):
                    u[q, k] = u1[q, k]
        else:
            for k in range(GHOST, n + GHOST):
                relax_cell(u[:, k], 0.5 * dt, cp, rho_jam)
            _euler_stage(u, n, dx, dt, order, cp, rho_jam, u1, left, right, flux, f)
            _euler_stage(u1, n, dx, dt, order, cp, rho_jam, u2, left, right, flux, f)
            for k in range(GHOST, n + GHOST):
                for q in range(4):
                    u[q, k] = 0.5 * (u[q, k] + u2[q, k])
                relax_cell(u[:, k], 0.5 * dt, cp, rho_jam)
        t += dt
        steps += 1
    _fill_transmissive(u, n)
    return steps


def road_from_primitive(rho_m: np.ndarray, v_m: np.ndarray, rho_c: np.ndarray, v_c: np.ndarray,
                        cp: np.ndarray, rho_jam: float) -> np.ndarray:
    """Conserved array (4, n+4) with ghosts from primitive profiles (veh/m, m/s), shape (n,)."""
    n = rho_m.shape[0]
    u = np.zeros((4, n + 2 * GHOST))
    km, kc = class_constants(cp)
    for k in range(n):
        e = effective_density(rho_m[k], rho_c[k], cp)
        u[0, GHOST + k] = rho_m[k]
        u[1, GHOST + k] = rho_m[k] * (v_m[k] + pressure(km, e, rho_jam))
        u[2, GHOST + k] = rho_c[k]
        u[3, GHOST + k] = rho_c[k] * (v_c[k] + pressure(kc, e, rho_jam))
    _fill_transmissive(u, n)
    return u


def primitive_from_road(u: np.ndarray, cp: np.ndarray, rho_jam: float) -> dict[str, np.ndarray]:
    """Interior profiles rho_m, v_m, rho_c, v_c (veh/m, m/s) of a road array (4, n+4)."""
    inner = u[:, GHOST:-GHOST]
    n = inner.shape[1]
    out = {name: np.zeros(n) for name in ("rho_m", "v_m", "rho_c", "v_c")}
    for k in range(n):
        cell = np.ascontiguousarray(inner[:, k])
        out["rho_m"][k] = inner[0, k]
        out["rho_c"][k] = inner[2, k]
        out["v_m"][k] = velocity(0, cell, cp, rho_jam)
        out["v_c"][k] = velocity(1, cell, cp, rho_jam)
    return out
