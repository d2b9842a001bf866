"""Pointwise numerics of the two-class ARZ model, compiled with numba.

State of one cell: ``u = (rho_m, y_m, rho_c, y_c)`` with ``y_i = rho_i w_i``
(veh/m and veh/s).  Class constants ``cp`` are the (2, 4) array of
:meth:`ModelParams.class_arrays` (v_max m/s, gamma, tau s, pce).

The interface flux is HLL per class (Harten, Lax & van Leer 1983) with wave
speeds bounded by the ARZ eigenvalues ``lambda_1 = v - rho_eff P'(rho_eff) =
v - gamma P`` and ``lambda_2 = v``.  Junction and boundary fluxes use ARZ
demand and supply (Herty & Rascle 2006, SIAM J. Math. Anal. 38(2)): the
largest flux the upstream cell can send along its own ``w`` curve, and the
largest flux the downstream cell can take from vehicles carrying ``w_in``.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

RHO_EPS = 1e-10  #: veh/m below which a class is treated as absent (vacuum)
# error_model "numpy": a division is a plain instruction, not a zero check that raises (every
# division here is guarded or harmless), which lets loops be vectorised
JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
#: for helpers called inside the lane loops of :mod:`arz_rl.sim.lanes`: a call left there keeps a loop scalar
JIT_INLINE = {**JIT, "inline": "always"}


@nb.njit(**JIT)
def effective_density(rho_m: float, rho_c: float, cp: np.ndarray) -> float:
    """Car-equivalent density rho_eff (veh/m)."""
    return cp[0, 3] * rho_m + cp[1, 3] * rho_c


@nb.njit(**JIT)
def pressure(i: int, e: float, cp: np.ndarray, rho_jam: float) -> float:
    """Pressure P_i(rho_eff) (m/s)."""
    r = e / rho_jam
    if r <= 0.0:
        return 0.0
    g = cp[i, 1]
    # integer exponents are the defaults: avoid the cost of a general pow
    if g == 1.0:
        return cp[i, 0] * r
    if g == 2.0:
        return cp[i, 0] * r * r
    return cp[i, 0] * r**g


@nb.njit(**JIT)
def velocity(i: int, rho: float, y: float, e: float, cp: np.ndarray, rho_jam: float) -> float:
    """Speed v_i = y_i/rho_i - P_i (m/s), kept in the invariant region [0, v_max]."""
    if rho <= RHO_EPS:
        return max(0.0, cp[i, 0] - pressure(i, e, cp, rho_jam))
    v = y / rho - pressure(i, e, cp, rho_jam)
    if v < 0.0:
        return 0.0
    if v > cp[i, 0]:
        return cp[i, 0]
    return v


@nb.njit(**JIT)
def max_wave_speed(u: np.ndarray, cp: np.ndarray, rho_jam: float) -> float:
    """Largest |eigenvalue| bound in one cell (m/s), for the CFL condition."""
    e = effective_density(u[0], u[2], cp)
    s = 0.0
    for i in range(2):
        v = velocity(i, u[2 * i], u[2 * i + 1], e, cp, rho_jam)
        c = cp[i, 1] * pressure(i, e, cp, rho_jam)
        s = max(s, v, abs(v - c))
    return s


@nb.njit(**JIT)
def hll_flux(ul: np.ndarray, ur: np.ndarray, cp: np.ndarray, rho_jam: float, f: np.ndarray) -> None:
    """HLL flux between states ``ul`` and ``ur`` (each shape (4,)) written into ``f``.

    One pair of wave speeds serves all four components: the eigenvalues of the
    two-class system lie in ``[min_i (v_i - gamma_i P_i), max_i v_i]`` (checked
    in the tests), taken over the classes present on either side; next to
    vacuum the rarefaction front moves at ``w``.
    """
    el = effective_density(ul[0], ul[2], cp)
    er = effective_density(ur[0], ur[2], cp)
    sl = 0.0
    sr = 0.0
    present = False
    for i in range(2):
        for side in range(2):
            u = ul if side == 0 else ur
            e = el if side == 0 else er
            rho = u[2 * i]
            if rho <= RHO_EPS:
                continue
            v = velocity(i, rho, u[2 * i + 1], e, cp, rho_jam)
            lam1 = v - cp[i, 1] * pressure(i, e, cp, rho_jam)
            top = v
            if side == 0 and ur[2 * i] <= RHO_EPS:
                top = u[2 * i + 1] / rho  # rarefaction into vacuum: its front moves at w_L
            if not present:
                sl, sr, present = lam1, top, True
            else:
                sl = min(sl, lam1)
                sr = max(sr, top)
    for i in range(2):
        rl, yl = ul[2 * i], ul[2 * i + 1]
        rr, yr = ur[2 * i], ur[2 * i + 1]
        if not present or (rl <= RHO_EPS and rr <= RHO_EPS):
            f[2 * i] = 0.0
            f[2 * i + 1] = 0.0
            continue
        vl = velocity(i, rl, yl, el, cp, rho_jam) if rl > RHO_EPS else 0.0
        vr = velocity(i, rr, yr, er, cp, rho_jam) if rr > RHO_EPS else 0.0
        fl0, fl1 = rl * vl, yl * vl
        fr0, fr1 = rr * vr, yr * vr
        if sl >= 0.0:
            f[2 * i] = fl0
            f[2 * i + 1] = fl1
        elif sr <= 0.0:
            f[2 * i] = fr0
            f[2 * i + 1] = fr1
        else:
            inv = 1.0 / (sr - sl)
            f[2 * i] = (sr * fl0 - sl * fr0 + sl * sr * (rr - rl)) * inv
            f[2 * i + 1] = (sr * fl1 - sl * fr1 + sl * sr * (yr - yl)) * inv


@nb.njit(**JIT)
def relax_cell(u: np.ndarray, dt: float, cp: np.ndarray, rho_jam: float) -> None:
    """Exact relaxation of v_i towards V_e,i over ``dt`` at frozen density (in place)."""
    e = effective_density(u[0], u[2], cp)
    for i in range(2):
        rho = u[2 * i]
        if rho <= RHO_EPS:
            continue
        tau = cp[i, 2]
        p = pressure(i, e, cp, rho_jam)
        v = velocity(i, rho, u[2 * i + 1], e, cp, rho_jam)
        if math.isinf(tau):
            u[2 * i + 1] = rho * (v + p)
            continue
        ve = max(0.0, cp[i, 0] - p)
        v = ve + (v - ve) * math.exp(-dt / tau)
        u[2 * i + 1] = rho * (v + p)


@nb.njit(**JIT)
def minmod(a: float, b: float) -> float:
    """Minmod slope limiter."""
    if a * b <= 0.0:
        return 0.0
    return a if abs(a) < abs(b) else b


@nb.njit(**JIT)
def _critical_eff_density(i: int, w: float, b: float, cp: np.ndarray, rho_jam: float) -> float:
    """rho_eff at which class i's flux on its ``w`` curve peaks, other classes frozen at ``b``."""
    gamma = cp[i, 1]
    # Flux q(e) = (e - b)/a (w - P(e)); q'(e) = 0 <=> w = P(e) (1 + gamma (e - b)/e).
    k = w * rho_jam / cp[i, 0]
    if gamma == 1.0:  # w = vmax (2e - b)/rho_jam
        return 0.5 * (k + b)
    if gamma == 2.0:  # w = vmax (3e^2 - 2be)/rho_jam^2
        return (2.0 * b + math.sqrt(4.0 * b * b + 12.0 * k * rho_jam)) / 6.0
    lo = b
    hi = rho_jam * (w / cp[i, 0]) ** (1.0 / gamma)
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        p = pressure(i, mid, cp, rho_jam)
        g = w - p * (1.0 + gamma * (mid - b) / mid) if mid > 0.0 else w
        if g > 0.0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@nb.njit(**JIT)
def class_flux_on_curve(i: int, e: float, b: float, w: float, cp: np.ndarray, rho_jam: float) -> float:
    """Flux (veh/s) of class i at rho_eff ``e`` on the curve ``w`` (other classes at ``b``)."""
    rho = (e - b) / cp[i, 3]
    return max(0.0, rho * (w - pressure(i, e, cp, rho_jam)))


@nb.njit(**JIT)
def demand(i: int, u: np.ndarray, cp: np.ndarray, rho_jam: float) -> float:
    """Demand (veh/s): the largest flux class i can send out of cell ``u``."""
    rho = u[2 * i]
    if rho <= RHO_EPS:
        return 0.0
    w = u[2 * i + 1] / rho
    e = effective_density(u[0], u[2], cp)
    b = e - cp[i, 3] * rho
    if w <= pressure(i, b, cp, rho_jam):
        return 0.0
    ec = _critical_eff_density(i, w, b, cp, rho_jam)
    if e <= ec:
        return class_flux_on_curve(i, e, b, w, cp, rho_jam)
    return class_flux_on_curve(i, ec, b, w, cp, rho_jam)


@nb.njit(**JIT)
def supply(i: int, u: np.ndarray, w_in: float, cp: np.ndarray, rho_jam: float) -> float:
    """Supply (veh/s): the largest flux of class-i vehicles carrying ``w_in`` cell ``u`` can take.

    The entering vehicles keep ``w_in`` and take the downstream speed: their
    density rho* solves ``w_in = v_down + P_i(b + pce_i rho*)`` (Herty & Rascle
    2006).  Supply is the capacity of the ``w_in`` curve when rho* is below its
    critical density, else the flux at rho*.
    """
    e = effective_density(u[0], u[2], cp)
    b = e - cp[i, 3] * u[2 * i]
    if w_in <= pressure(i, b, cp, rho_jam):
        return 0.0
    ec = _critical_eff_density(i, w_in, b, cp, rho_jam)
    cap = class_flux_on_curve(i, ec, b, w_in, cp, rho_jam)
    v_down = velocity(i, u[2 * i], u[2 * i + 1], e, cp, rho_jam)
    p_star = w_in - v_down
    if p_star <= 0.0:
        return cap
    ratio = p_star / cp[i, 0]
    g = cp[i, 1]
    # P^-1 without a general pow for the default exponents
    e_star = rho_jam * (ratio if g == 1.0 else math.sqrt(ratio) if g == 2.0 else ratio ** (1.0 / g))
    if e_star <= ec:
        return cap
    return class_flux_on_curve(i, e_star, b, w_in, cp, rho_jam)
