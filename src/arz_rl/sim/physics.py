"""The two-class ARZ physics at one point, written once and inlined into every numba kernel.

Model (per class i in {m: motorcycles, c: cars}; see :mod:`arz_rl.sim.params` for the constants)::

    w_i = v_i + P_i(rho_eff),   rho_eff = pce_m rho_m + pce_c rho_c
    P_i(r) = v_max,i (r / rho_jam) ** gamma_i,   V_e,i(r) = max(0, v_max,i - P_i(r))

A class's constants travel as a tuple ``k = (v_max m/s, gamma, pce)`` (:func:`class_constants`),
read by name (``k[K_VMAX]``, ``k[K_GAMMA]``, ``k[K_PCE]``: :mod:`arz_rl.sim.layout`);
the state of a class in a cell as ``(rho veh/m, y = rho w veh/s)``.  Every function takes and
returns scalars, so the scalar kernels, the SIMD-lane kernel (whose lane loops vectorise only
when nothing in them is a call) and the one-road solver all inline the same code.

To change the pressure law, edit :func:`pressure`, its inverse :func:`inverse_pressure` and the
critical density of :func:`critical_density` here (the flux maximum on a ``w`` curve follows from
it), then the same three in the torch twin (:class:`arz_rl.sim.torch_step.TorchPhysics`); the
equality tests (fused == general, lanes == scalar bitwise, torch == numba) and the Riemann
validation catch a forgotten one.

:func:`build` makes the set; the module's own names are the general set (any exponent >= 1,
bisection for the critical density); ``build(general_exponents=False)`` makes the set the lane
kernel uses, where only exponents 1 and 2 exist (closed forms, no loop, no ``pow``), which is
what lets its loops vectorise.  For exponents 1 and 2 both sets compute the same operations.

Interface fluxes are HLL per class (Harten, Lax & van Leer 1983) with one pair of wave speeds
bounding the ARZ eigenvalues ``v - gamma P`` and ``v`` of every class present; junction and
boundary fluxes use ARZ demand and supply (Herty & Rascle 2006, SIAM J. Math. Anal. 38(2)).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numba as nb
import numpy as np

from .layout import CP_GAMMA, CP_PCE, CP_TAU, CP_VMAX, JIT, JIT_INLINE, K_GAMMA, K_PCE, K_VMAX, Q_RHO, Q_Y, RHO_EPS

BISECTION_STEPS = 40  #: critical density for a non-integer exponent: halvings of the bracket


def build(general_exponents: bool = True) -> SimpleNamespace:
    """The pointwise physics as numba functions to inline; ``general_exponents=False``: the
    closed forms for exponents 1 and 2 only (no loop, no ``pow``: vectorisable)."""

    @nb.njit(**JIT_INLINE)
    def pressure(k, e, rho_jam):
        """P(e) (m/s) of a class ``k`` at car-equivalent density ``e`` (veh/m)."""
        r = e / rho_jam
        if k[K_GAMMA] == 1.0:
            p = k[K_VMAX] * r
        elif k[K_GAMMA] == 2.0 or not general_exponents:
            p = k[K_VMAX] * r * r
        else:
            p = k[K_VMAX] * r ** k[K_GAMMA]
        return p if r > 0.0 else 0.0

    @nb.njit(**JIT_INLINE)
    def inverse_pressure(k, p, rho_jam):
        """The density e (veh/m) with P(e) = ``p`` (m/s, >= 0)."""
        ratio = p / k[K_VMAX]
        if k[K_GAMMA] == 1.0:
            return rho_jam * ratio
        if k[K_GAMMA] == 2.0 or not general_exponents:
            return rho_jam * math.sqrt(max(ratio, 0.0))
        return rho_jam * max(ratio, 0.0) ** (1.0 / k[K_GAMMA])

    @nb.njit(**JIT_INLINE)
    def critical_density(k, w, b, rho_jam):
        """rho_eff (veh/m) at which the class's flux along its curve ``w`` peaks, the other class
        frozen at car-equivalent density ``b``: q(e) = (e - b)/pce (w - P(e)) has q'(e) = 0 where
        w = P(e) (1 + gamma (e - b)/e)."""
        kk = w * rho_jam / k[K_VMAX]
        if k[K_GAMMA] == 1.0:  # w = v_max (2e - b)/rho_jam
            return 0.5 * (kk + b)
        if k[K_GAMMA] == 2.0 or not general_exponents:  # w = v_max (3e^2 - 2be)/rho_jam^2
            return (2.0 * b + math.sqrt(4.0 * b * b + 12.0 * kk * rho_jam)) / 6.0
        lo = b
        hi = inverse_pressure(k, w, rho_jam)
        for _ in range(BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            g = w - pressure(k, mid, rho_jam) * (1.0 + k[K_GAMMA] * (mid - b) / mid) if mid > 0.0 else w
            if g > 0.0:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    @nb.njit(**JIT_INLINE)
    def flux_on_curve(k, e, b, w, rho_jam):
        """Flux (veh/s) of the class at rho_eff ``e`` on its curve ``w`` (other class at ``b``)."""
        rho = (e - b) / k[K_PCE]
        return max(0.0, rho * (w - pressure(k, e, rho_jam)))

    @nb.njit(**JIT_INLINE)
    def demand(k, rho, y, e, rho_jam):
        """Demand (veh/s): the largest flux the class (rho, y) can send out of a cell of rho_eff ``e``."""
        w = y / rho
        b = e - k[K_PCE] * rho
        ec = critical_density(k, w, b, rho_jam)
        q = flux_on_curve(k, e if e <= ec else ec, b, w, rho_jam)
        return 0.0 if rho <= RHO_EPS or w <= pressure(k, b, rho_jam) else q

    @nb.njit(**JIT_INLINE)
    def supply(k, rho, y, e, w_in, rho_jam):
        """Supply (veh/s): the largest flux of this class's vehicles carrying ``w_in`` that a cell
        holding the class at (rho, y), rho_eff ``e``, can take.  The entering vehicles keep
        ``w_in`` and take the downstream speed: their density solves w_in = v_down + P(b + pce rho*)
        (Herty & Rascle 2006); supply is the capacity of the ``w_in`` curve when that lies below
        its critical density, else the flux there."""
        b = e - k[K_PCE] * rho
        ec = critical_density(k, w_in, b, rho_jam)
        cap = flux_on_curve(k, ec, b, w_in, rho_jam)
        p_star = w_in - speed(rho, y, pressure(k, e, rho_jam), k[K_VMAX])
        e_star = inverse_pressure(k, p_star, rho_jam)
        q = cap if p_star <= 0.0 or e_star <= ec else flux_on_curve(k, e_star, b, w_in, rho_jam)
        return 0.0 if w_in <= pressure(k, b, rho_jam) else q

    @nb.njit(**JIT_INLINE)
    def pce_supply(km, kc, r0, y0, r1, y1, d0, d1, w0, w1, dp, rho_jam):
        """Supply (pc/s) of a cell (r0, y0, r1, y1) to a two-class demand (d0, d1) (veh/s) carrying
        (w0, w1), whose PCE total is ``dp``: each class's supply in pc, weighted by that class's
        share of the PCE demand."""
        e = km[K_PCE] * r0 + kc[K_PCE] * r1
        sp = 0.0
        if d0 > 0.0:
            sp += km[K_PCE] * d0 / dp * km[K_PCE] * supply(km, r0, y0, e, w0, rho_jam)
        if d1 > 0.0:
            sp += kc[K_PCE] * d1 / dp * kc[K_PCE] * supply(kc, r1, y1, e, w1, rho_jam)
        return sp

    @nb.njit(**JIT_INLINE)
    def outflow_demand(km, kc, r0, y0, r1, y1, rho_jam):
        """What a cell (r0, y0, r1, y1) sends downstream unhindered: the demand of each class
        (veh/s), the ``w`` each carries, and their PCE total (pc/s)."""
        e = km[K_PCE] * r0 + kc[K_PCE] * r1
        d0 = demand(km, r0, y0, e, rho_jam)
        d1 = demand(kc, r1, y1, e, rho_jam)
        w0 = y0 / r0 if d0 > 0.0 else 0.0
        w1 = y1 / r1 if d1 > 0.0 else 0.0
        dp = 0.0
        dp += km[K_PCE] * d0
        dp += kc[K_PCE] * d1
        return d0, d1, w0, w1, dp

    @nb.njit(**JIT_INLINE)
    def entry_share(km, kc, d0, d1, r0, y0, r1, y1, rho_jam):
        """Share (0-1) of an entry's demand (d0, d1) (veh/s), entering at free-flow speed, that
        its first cell (r0, y0, r1, y1) takes."""
        dp = 0.0
        dp += km[K_PCE] * d0
        dp += kc[K_PCE] * d1
        sp = pce_supply(km, kc, r0, y0, r1, y1, d0, d1, km[K_VMAX], kc[K_VMAX], dp, rho_jam)
        return min(1.0, sp / dp) if dp > 0.0 else 0.0

    @nb.njit(**JIT_INLINE)
    def relax(k, rho, y, e, fac, rho_jam):
        """Exact relaxation of the class's speed towards V_e over a step with ``fac`` =
        exp(-dt/tau) (1: none, only the projection onto 0 <= v <= v_max), at frozen density:
        (y after it, speed v, pressure P)."""
        vmax = k[K_VMAX]
        p = pressure(k, e, rho_jam)
        ve = max(0.0, vmax - p)
        v = speed(rho, y, p, vmax)
        v = ve + (v - ve) * fac if fac != 1.0 else v  # a convex combination: stays in [0, v_max]
        present = rho > RHO_EPS
        return (rho * (v + p) if present else y), (v if present else ve), p

    @nb.njit(**JIT_INLINE)
    def relax_and_account(k, rho, y, e, fac, dx, dt, rho_jam):
        """:func:`relax` of the class in an updated cell of ``dx`` m over a step ``dt`` s, and what
        the cell adds to the totals: (y, v, P, time spent veh s, delay veh s, distance veh m,
        stopped-vehicle equivalents).  A vehicle at speed v is delayed 1 - v/v_max of its time."""
        y, v, p = relax(k, rho, y, e, fac, rho_jam)
        lag = rho * dx * (1.0 - v / k[K_VMAX])
        moving = rho > 0.0
        return (y, v, p, rho * dx * dt if moving else 0.0, lag * dt if moving else 0.0,
                rho * v * dx * dt if moving else 0.0, lag if rho > RHO_EPS else 0.0)

    return SimpleNamespace(pressure=pressure, inverse_pressure=inverse_pressure,
                           critical_density=critical_density, flux_on_curve=flux_on_curve, demand=demand,
                           supply=supply, pce_supply=pce_supply, outflow_demand=outflow_demand,
                           entry_share=entry_share, relax=relax, relax_and_account=relax_and_account)


# -- pieces without exponent cases: one definition serves both sets ----------------------------------
@nb.njit(**JIT_INLINE)
def speed(rho, y, p, vmax):
    """v = y/rho - P clamped to [0, v_max] (m/s); the equilibrium speed max(0, v_max - P) in vacuum."""
    if rho <= RHO_EPS:
        return max(0.0, vmax - p)
    v = y / rho - p
    if v < 0.0:
        return 0.0
    return vmax if v > vmax else v


@nb.njit(**JIT_INLINE)
def wave_bounds(sl, sr, rl, yl, vl, pl, rr, vr, pr, gamma):
    """HLL speed bounds (sl, sr) (m/s) widened by one class's waves in a left (rho, y, v, P) and a
    right (rho, v, P) cell (``gamma`` its exponent); a class absent on a side adds nothing; a
    rarefaction into vacuum moves at w_L."""
    if rl > RHO_EPS:
        sl = min(sl, vl - gamma * pl)
        sr = max(sr, yl / rl if rr <= RHO_EPS else vl)
    if rr > RHO_EPS:
        sl = min(sl, vr - gamma * pr)
        sr = max(sr, vr)
    return sl, sr


@nb.njit(**JIT_INLINE)
def hll_class(rl, yl, rr, yr, vl, vr, sl, sr):
    """HLL flux (rho v, y v) of one class between two cells, given the wave-speed bounds."""
    if rl <= RHO_EPS and rr <= RHO_EPS:
        return 0.0, 0.0
    if rl <= RHO_EPS:
        vl = 0.0
    if rr <= RHO_EPS:
        vr = 0.0
    if sl >= 0.0:
        return rl * vl, yl * vl
    if sr <= 0.0:
        return rr * vr, yr * vr
    inv = 1.0 / (sr - sl)
    return ((sr * rl * vl - sl * rr * vr + sl * sr * (rr - rl)) * inv,
            (sr * yl * vl - sl * yr * vr + sl * sr * (yr - yl)) * inv)


@nb.njit(**JIT_INLINE)
def clamp_vacuum(rho, y, dx):
    """A class's (rho, y) after a finite-volume update with round-off below zero (the CFL condition
    keeps HLL positive) set to vacuum: (rho, y, vehicles removed in a cell of ``dx`` m)."""
    removed = -(rho * dx) if rho < 0.0 else 0.0
    rho = 0.0 if rho < 0.0 else rho
    return rho, (0.0 if rho == 0.0 else y), removed


@nb.njit(**JIT_INLINE)
def class_constants(cp):
    """(v_max, gamma, pce) of motorcycles and of cars from ``cp`` (2, 4), as the tuples ``k``
    (positions K_VMAX, K_GAMMA, K_PCE)."""
    return ((cp[0, CP_VMAX], cp[0, CP_GAMMA], cp[0, CP_PCE]),
            (cp[1, CP_VMAX], cp[1, CP_GAMMA], cp[1, CP_PCE]))


@nb.njit(**JIT_INLINE)
def relaxation_factors(cp, dt):
    """exp(-dt/tau) of both classes (1 when tau is infinite: relaxation off)."""
    return ((1.0 if math.isinf(cp[0, CP_TAU]) else math.exp(-dt / cp[0, CP_TAU])),
            (1.0 if math.isinf(cp[1, CP_TAU]) else math.exp(-dt / cp[1, CP_TAU])))


@nb.njit(**JIT_INLINE)
def effective_density(rho_m, rho_c, cp):
    """Car-equivalent density rho_eff (veh/m)."""
    return cp[0, CP_PCE] * rho_m + cp[1, CP_PCE] * rho_c


_general = build(general_exponents=True)
pressure = _general.pressure
inverse_pressure = _general.inverse_pressure
critical_density = _general.critical_density
flux_on_curve = _general.flux_on_curve
demand = _general.demand
supply = _general.supply
pce_supply = _general.pce_supply
outflow_demand = _general.outflow_demand
entry_share = _general.entry_share
relax = _general.relax
relax_and_account = _general.relax_and_account


# -- the same physics on a cell's array u = (rho_m, y_m, rho_c, y_c) (reference kernel, one road) --
@nb.njit(**JIT)
def velocity(i, u, cp, rho_jam):
    """Speed v_i (m/s) of class i in cell ``u`` (4,)."""
    ks = class_constants(cp)
    e = effective_density(u[Q_RHO], u[Q_RHO + 2], cp)
    return speed(u[Q_RHO + 2 * i], u[Q_Y + 2 * i], pressure(ks[i], e, rho_jam), ks[i][K_VMAX])


@nb.njit(**JIT)
def max_wave_speed(u, cp, rho_jam):
    """Largest |eigenvalue| bound (m/s) in cell ``u`` (4,), for the CFL condition."""
    ks = class_constants(cp)
    e = effective_density(u[Q_RHO], u[Q_RHO + 2], cp)
    s = 0.0
    for i in range(2):
        p = pressure(ks[i], e, rho_jam)
        v = speed(u[Q_RHO + 2 * i], u[Q_Y + 2 * i], p, ks[i][K_VMAX])
        s = max(s, v, abs(v - ks[i][K_GAMMA] * p))
    return s


@nb.njit(**JIT)
def hll_flux(ul, ur, cp, rho_jam, f):
    """HLL flux between cells ``ul`` and ``ur`` (each (4,)) written into ``f`` (4,)."""
    ks = class_constants(cp)
    el = effective_density(ul[Q_RHO], ul[Q_RHO + 2], cp)
    er = effective_density(ur[Q_RHO], ur[Q_RHO + 2], cp)
    sl, sr = math.inf, -math.inf
    v = np.empty((2, 2))
    for i in range(2):
        pl, pr = pressure(ks[i], el, rho_jam), pressure(ks[i], er, rho_jam)
        v[i, 0] = speed(ul[Q_RHO + 2 * i], ul[Q_Y + 2 * i], pl, ks[i][K_VMAX])
        v[i, 1] = speed(ur[Q_RHO + 2 * i], ur[Q_Y + 2 * i], pr, ks[i][K_VMAX])
        sl, sr = wave_bounds(sl, sr, ul[Q_RHO + 2 * i], ul[Q_Y + 2 * i], v[i, 0], pl, ur[Q_RHO + 2 * i], v[i, 1],
                             pr, ks[i][K_GAMMA])
    for i in range(2):
        if sl == math.inf:  # vacuum on both sides
            f[2 * i], f[2 * i + 1] = 0.0, 0.0
        else:
            f[2 * i], f[2 * i + 1] = hll_class(ul[Q_RHO + 2 * i], ul[Q_Y + 2 * i], ur[Q_RHO + 2 * i],
                                               ur[Q_Y + 2 * i], v[i, 0], v[i, 1], sl, sr)


@nb.njit(**JIT)
def relax_cell(u, dt, cp, rho_jam):
    """Exact relaxation of every class of cell ``u`` (4,) over ``dt`` s, in place (``dt = 0``:
    projection onto the invariant region)."""
    ks = class_constants(cp)
    fac = relaxation_factors(cp, dt)
    e = effective_density(u[Q_RHO], u[Q_RHO + 2], cp)
    for i in range(2):
        u[Q_Y + 2 * i] = relax(ks[i], u[Q_RHO + 2 * i], u[Q_Y + 2 * i], e, fac[i], rho_jam)[0]


@nb.njit(**JIT)
def cell_demand(i, u, cp, rho_jam):
    """Demand (veh/s) of class i out of cell ``u`` (4,)."""
    ks = class_constants(cp)
    e = effective_density(u[Q_RHO], u[Q_RHO + 2], cp)
    return demand(ks[i], u[Q_RHO + 2 * i], u[Q_Y + 2 * i], e, rho_jam)


@nb.njit(**JIT)
def cell_supply(i, u, w_in, cp, rho_jam):
    """Supply (veh/s) of cell ``u`` (4,) to class-i vehicles carrying ``w_in``."""
    ks = class_constants(cp)
    e = effective_density(u[Q_RHO], u[Q_RHO + 2], cp)
    return supply(ks[i], u[Q_RHO + 2 * i], u[Q_Y + 2 * i], e, w_in, rho_jam)
