"""Batched network simulator: many independent corridors advanced at once.

Every state array has a leading batch axis ``B``: ``U[b, s, q, c]`` holds the
conserved variables ``q`` (rho_m, y_m, rho_c, y_c) of cell ``c`` (two ghost
cells each side) of segment ``s`` in scenario ``b``.  Each scenario takes its
own CFL time steps; all stop at the same ``t_end``.  Within a segment the
solver is :mod:`arz_rl.sim.road`'s (HLL, optional MUSCL/SSP-RK2); at its ends
the fluxes come from entries (point queues), exits, and signalised stop
lines, so no reconstruction stencil ever crosses a stop line.

Signals: ``sig[b, j] = (phase, target, transition left s, time in phase s)``.
A switch starts a transition of ``yellow`` (the old phase still discharges)
then ``all_red`` (nothing moves); a switch is only allowed after
``min_green``.  A junction follows ``request[b, j]`` unless a fixed-time plan
``plan[b, j] = (cycle s, main green s, offset s)`` with cycle > 0 is set.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .network import EXIT, SINK, STOP_LINE, Network, Scenario, build_network, sample_demand
from .numerics import JIT, RHO_EPS, demand, hll_flux, max_wave_speed, pressure, relax_cell, supply, velocity
from .params import ModelParams
from .road import GHOST, reconstruct_faces

# accumulators acc[b, :] (per class pairs m, c)
ACC_ARRIVED, ACC_ENTERED, ACC_EXITED, ACC_TTS, ACC_DELAY, ACC_DIST = 0, 2, 4, 6, 8, 10
ACC_SWITCHES, ACC_CLAMPED, ACC_SUBSTEPS, NACC = 12, 13, 14, 15
SIG_PHASE, SIG_TARGET, SIG_TRANS, SIG_TIME = 0, 1, 2, 3
JQ_INTEGRAL, JQ_MAX, JQ_NOW = 0, 1, 2
T_EPS = 1e-9


@nb.njit(**JIT)
def _rates_at(dem_b: np.ndarray, knots: np.ndarray, t: float, out: np.ndarray) -> None:
    """Arrival rates ``out`` (E, 2) (veh/s) of every entry and class at time t."""
    k = knots.shape[0]
    if t <= knots[0]:
        j, a = 0, 0.0
    elif t >= knots[k - 1]:
        j, a = k - 2, 1.0
    else:
        j = np.searchsorted(knots, t) - 1
        a = (t - knots[j]) / (knots[j + 1] - knots[j])
    for e in range(dem_b.shape[0]):
        for i in range(2):
            out[e, i] = (1.0 - a) * dem_b[e, i, j] + a * dem_b[e, i, j + 1]


@nb.njit(**JIT)
def _flowing_phase(sig_j: np.ndarray, all_red: float) -> int:
    """Phase discharging now at a junction, or -1 during all-red."""
    trans = sig_j[SIG_TRANS]
    if trans <= 0.0 or trans > all_red:
        return int(sig_j[SIG_PHASE])
    return -1


@nb.njit(**JIT)
def _pce_supply(u_down, dmd, w_in, dp, cp, rho_jam):
    """Supply (pc/s) of cell ``u_down`` to a two-class demand ``dmd`` (veh/s) whose PCE total is
    ``dp``: each class's supply in pc, weighted by that class's share of the PCE demand."""
    sp = 0.0
    for i in range(2):
        if dmd[i] > 0.0:
            sp += cp[i, 3] * dmd[i] / dp * cp[i, 3] * supply(i, u_down, w_in[i], cp, rho_jam)
    return sp


@nb.njit(**JIT)
def _boundary_fluxes(u, queue, rates, dt, seg_int, seg_frac, junc_times, sig_b, entry_seg, cp, rho_jam,
                     fin, fout, entry_flux, exit_flux, dmd, wup, w_free):
    """Flows (veh/s) through every segment end over a step ``dt`` from ``t``: ``fout[s]`` leaves
    segment s at its downstream end (stop line or exit), ``fin[s]`` enters at its upstream end
    (from a junction or an entry queue); ``entry_flux`` (E, 2) and ``exit_flux`` (2,) are the
    network's boundary flows; ``rates`` (E, 2) the arrival rates now, ``w_free`` (2,) v_max per
    class (drivers enter in equilibrium).  Reads only interior cells of ``u`` (S, 4, C)."""
    n_seg = seg_int.shape[0]
    fin[:, :] = 0.0
    fout[:, :] = 0.0
    exit_flux[:] = 0.0
    for s in range(n_seg):
        n = seg_int[s, 0]
        last = GHOST + n - 1
        kind = seg_int[s, 2]
        if kind == STOP_LINE:
            j = seg_int[s, 3]
            if _flowing_phase(sig_b[j], junc_times[j, 1]) != seg_int[s, 4]:
                continue
        dp = 0.0
        for i in range(2):
            dmd[i] = demand(i, u[s, :, last], cp, rho_jam)
            wup[i] = u[s, 2 * i + 1, last] / u[s, 2 * i, last] if dmd[i] > 0.0 else 0.0
            dp += cp[i, 3] * dmd[i]
        if dp <= 0.0:
            continue
        theta = 1.0
        if kind == STOP_LINE:
            for k in range(2):
                dest = seg_int[s, 5 + k]
                share = seg_frac[s, k]
                if dest >= 0 and share > 0.0:
                    theta = min(theta, _pce_supply(u[dest, :, GHOST], dmd, wup, dp, cp, rho_jam) / (share * dp))
        for i in range(2):
            qi = theta * dmd[i]
            fout[s, 2 * i] = qi
            fout[s, 2 * i + 1] = qi * wup[i]
        if kind == EXIT:
            for i in range(2):
                exit_flux[i] += fout[s, 2 * i]
        else:
            for k in range(2):
                dest = seg_int[s, 5 + k]
                share = seg_frac[s, k]
                if dest >= 0:
                    for q in range(4):
                        fin[dest, q] += share * fout[s, q]
                elif dest == SINK:
                    for i in range(2):
                        exit_flux[i] += share * fout[s, 2 * i]
    for e in range(entry_seg.shape[0]):
        s = entry_seg[e]
        dp = 0.0
        for i in range(2):
            dmd[i] = queue[e, i] / dt + rates[e, i]
            dp += cp[i, 3] * dmd[i]
        theta = 0.0
        if dp > 0.0:
            theta = min(1.0, _pce_supply(u[s, :, GHOST], dmd, w_free, dp, cp, rho_jam) / dp)
        for i in range(2):
            qi = theta * dmd[i]
            entry_flux[e, i] = qi
            fin[s, 2 * i] = qi
            fin[s, 2 * i + 1] = qi * cp[i, 0]


@nb.njit(**JIT)
def _stage(u, out, queue, dem_b, knots, t, dt, seg_int, seg_frac, junc_times, sig_b, entry_seg,
           order, dx, cp, rho_jam, left, right, fin, fout, entry_flux, exit_flux, f):
    """One forward-Euler stage ``out = u + dt L(u)`` of a whole network; boundary flows
    (veh/s) of the stage go to ``entry_flux`` (E, 2) and ``exit_flux`` (2,)."""
    n_seg = seg_int.shape[0]
    for s in range(n_seg):
        n = seg_int[s, 0]
        for q in range(4):
            for g in range(GHOST):
                u[s, q, g] = u[s, q, GHOST]
                u[s, q, n + GHOST + g] = u[s, q, n + GHOST - 1]
        reconstruct_faces(u[s], n, order, left[s], right[s], cp, rho_jam)
    rates = np.empty((entry_seg.shape[0], 2))
    _rates_at(dem_b, knots, t, rates)
    _boundary_fluxes(u, queue, rates, dt, seg_int, seg_frac, junc_times, sig_b, entry_seg, cp, rho_jam,
                     fin, fout, entry_flux, exit_flux, np.empty(2), np.empty(2), cp[:, 0].copy())
    lam = dt / dx
    prev = np.empty(4)
    for s in range(n_seg):
        n = seg_int[s, 0]
        for q in range(4):
            prev[q] = fin[s, q]
        for k in range(n):
            c = GHOST + k
            if k == n - 1:
                for q in range(4):
                    f[q] = fout[s, q]
            else:
                hll_flux(right[s, :, c], left[s, :, c + 1], cp, rho_jam, f)
            for q in range(4):
                out[s, q, c] = u[s, q, c] - lam * (f[q] - prev[q])
                prev[q] = f[q]


@nb.njit(**JIT)
def _signal_step(b, sig, request, plan, tb, dt, junc_times, acc):
    """Start the transitions requested at time ``tb`` and return the step (s, at most ``dt``)
    that ends at the next signal event (end of yellow, of all-red, of min green, plan switch)."""
    for j in range(sig.shape[1]):
        yellow, all_red, min_green = junc_times[j, 0], junc_times[j, 1], junc_times[j, 2]
        cycle = plan[b, j, 0]
        if cycle > 0.0:
            boundary = plan[b, j, 1] + yellow + all_red
            tau = (tb - plan[b, j, 2]) % cycle
            desired = 0 if tau < boundary - T_EPS else 1
            if desired == 0:
                dt = min(dt, boundary - tau)
            else:
                dt = min(dt, cycle - tau)
        else:
            desired = request[b, j]
        trans = sig[b, j, SIG_TRANS]
        if trans <= 0.0 and desired != int(sig[b, j, SIG_PHASE]):
            if sig[b, j, SIG_TIME] >= min_green - T_EPS:
                sig[b, j, SIG_TRANS] = yellow + all_red
                sig[b, j, SIG_TARGET] = desired
                acc[b, ACC_SWITCHES] += 1.0
                trans = yellow + all_red
            else:
                dt = min(dt, min_green - sig[b, j, SIG_TIME])
        if trans > 0.0:
            dt = min(dt, trans - all_red if trans > all_red + T_EPS else trans)
    return dt


@nb.njit(**JIT)
def _count_boundary_flows(b, queue, acc, rates, dt, entry_flux, exit_flux):
    """Arrivals, entries and exits over [tb, tb + dt]; entry queues and the time spent in them."""
    for e in range(queue.shape[1]):
        for i in range(2):
            arrived = rates[e, i] * dt
            acc[b, ACC_ARRIVED + i] += arrived
            acc[b, ACC_ENTERED + i] += entry_flux[e, i] * dt
            queue[b, e, i] = max(0.0, queue[b, e, i] + arrived - entry_flux[e, i] * dt)
            acc[b, ACC_TTS + i] += queue[b, e, i] * dt
            acc[b, ACC_DELAY + i] += queue[b, e, i] * dt
    for i in range(2):
        acc[b, ACC_EXITED + i] += exit_flux[i] * dt


@nb.njit(**JIT)
def _tick_signals(b, sig, dt):
    """Advance every signal's clocks by ``dt`` (s), ending transitions that are over."""
    for j in range(sig.shape[1]):
        if sig[b, j, SIG_TRANS] > 0.0:
            sig[b, j, SIG_TRANS] -= dt
            if sig[b, j, SIG_TRANS] <= T_EPS:
                sig[b, j, SIG_TRANS] = 0.0
                sig[b, j, SIG_PHASE] = sig[b, j, SIG_TARGET]
                sig[b, j, SIG_TIME] = 0.0
        else:
            sig[b, j, SIG_TIME] += dt


@nb.njit(**JIT)
def _advance_general(b, U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac,
                 junc, junc_times, entry_seg, order, cfl, dx, cp, rho_jam, acc, jq):
    n_seg = seg_int.shape[0]
    n_e = entry_seg.shape[0]
    u = U[b]
    out1 = u.copy()
    out2 = u.copy()
    left = np.empty_like(u)
    right = np.empty_like(u)
    fin = np.zeros((n_seg, 4))
    fout = np.zeros((n_seg, 4))
    ef1 = np.zeros((n_e, 2))
    ef2 = np.zeros((n_e, 2))
    ex1 = np.zeros(2)
    ex2 = np.zeros(2)
    f = np.empty(4)
    stopped = np.zeros(n_seg)
    dem_b = demand_rates[b]
    while t[b] < t_end - T_EPS:
        tb = t[b]
        dt = _signal_step(b, sig, request, plan, tb, t_end - tb, junc_times, acc)
        smax = 1e-6
        for s in range(n_seg):
            for k in range(GHOST, GHOST + seg_int[s, 0]):
                smax = max(smax, max_wave_speed(u[s, :, k], cp, rho_jam))
        dt = max(min(dt, cfl * dx / smax), T_EPS)
        if order < 2:
            _stage(u, out1, queue[b], dem_b, knots, tb, dt, seg_int, seg_frac, junc_times, sig[b], entry_seg,
                   order, dx, cp, rho_jam, left, right, fin, fout, ef1, ex1, f)
            for s in range(n_seg):
                for k in range(GHOST, GHOST + seg_int[s, 0]):
                    for q in range(4):
                        u[s, q, k] = out1[s, q, k]
            ef2[:, :] = ef1
            ex2[:] = ex1
        else:
            for s in range(n_seg):
                for k in range(GHOST, GHOST + seg_int[s, 0]):
                    relax_cell(u[s, :, k], 0.5 * dt, cp, rho_jam)
            _stage(u, out1, queue[b], dem_b, knots, tb, dt, seg_int, seg_frac, junc_times, sig[b], entry_seg,
                   order, dx, cp, rho_jam, left, right, fin, fout, ef1, ex1, f)
            _stage(out1, out2, queue[b], dem_b, knots, tb, dt, seg_int, seg_frac, junc_times, sig[b],
                   entry_seg, order, dx, cp, rho_jam, left, right, fin, fout, ef2, ex2, f)
            for s in range(n_seg):
                for k in range(GHOST, GHOST + seg_int[s, 0]):
                    for q in range(4):
                        u[s, q, k] = 0.5 * (u[s, q, k] + out2[s, q, k])
            for e in range(n_e):
                for i in range(2):
                    ef2[e, i] = 0.5 * (ef1[e, i] + ef2[e, i])
            for i in range(2):
                ex2[i] = 0.5 * (ex1[i] + ex2[i])
        relax_dt = dt if order < 2 else 0.5 * dt
        for s in range(n_seg):
            for k in range(GHOST, GHOST + seg_int[s, 0]):
                for i in range(2):
                    if u[s, 2 * i, k] < RHO_EPS:
                        if u[s, 2 * i, k] < 0.0:
                            acc[b, ACC_CLAMPED] -= u[s, 2 * i, k] * dx
                        u[s, 2 * i, k] = max(u[s, 2 * i, k], 0.0)
                        if u[s, 2 * i, k] == 0.0:
                            u[s, 2 * i + 1, k] = 0.0
                relax_cell(u[s, :, k], relax_dt, cp, rho_jam)
        # bookkeeping over [tb, tb + dt]
        rates = np.empty((n_e, 2))
        _rates_at(dem_b, knots, tb, rates)
        _count_boundary_flows(b, queue, acc, rates, dt, ef2, ex2)
        for s in range(n_seg):
            for k in range(GHOST, GHOST + seg_int[s, 0]):
                e_loc = cp[0, 3] * u[s, 0, k] + cp[1, 3] * u[s, 2, k]
                for i in range(2):
                    rho = u[s, 2 * i, k]
                    if rho <= 0.0:
                        continue
                    v = velocity(i, rho, u[s, 2 * i + 1, k], e_loc, cp, rho_jam)
                    acc[b, ACC_TTS + i] += rho * dx * dt
                    acc[b, ACC_DELAY + i] += rho * dx * (1.0 - v / cp[i, 0]) * dt
                    acc[b, ACC_DIST + i] += rho * v * dx * dt
        for s in range(n_seg):
            stop_s = 0.0
            for k in range(GHOST, GHOST + seg_int[s, 0]):
                e_loc = cp[0, 3] * u[s, 0, k] + cp[1, 3] * u[s, 2, k]
                for i in range(2):
                    rho = u[s, 2 * i, k]
                    if rho > RHO_EPS:
                        # stopped-vehicle equivalents: a vehicle at speed v counts 1 - v/v_max
                        v = velocity(i, rho, u[s, 2 * i + 1, k], e_loc, cp, rho_jam)
                        stop_s += rho * dx * (1.0 - v / cp[i, 0])
            stopped[s] = stop_s
        _end_substep(b, sig, queue, acc, jq, t, junc, seg_int, stopped, tb, dt)


@nb.njit(**JIT)
def _end_substep(b, sig, queue, acc, jq, t, junc, seg_int, stopped, tb, dt):
    """Queues at the junctions (stopped-vehicle equivalents on both approaches, ``stopped`` (S,),
    plus their entry queues), signal clocks, substep count and time after a substep ``dt``."""
    for j in range(junc.shape[0]):
        qn = 0.0
        for a in range(2):
            s = junc[j, a]
            qn += stopped[s]
            ent = seg_int[s, 1]
            if ent >= 0:
                qn += queue[b, ent, 0] + queue[b, ent, 1]
        jq[b, j, JQ_NOW] = qn
        jq[b, j, JQ_INTEGRAL] += qn * dt
        jq[b, j, JQ_MAX] = max(jq[b, j, JQ_MAX], qn)
    _tick_signals(b, sig, dt)
    acc[b, ACC_SUBSTEPS] += 1.0
    t[b] = tb + dt


@nb.njit(**JIT)
def _speed(rho, y, p, vmax):
    """v = y/rho - P clamped to [0, v_max] (:func:`numerics.velocity` with P known)."""
    if rho <= RHO_EPS:
        return max(0.0, vmax - p)
    v = y / rho - p
    if v < 0.0:
        return 0.0
    return vmax if v > vmax else v


@nb.njit(**JIT)
def _primitives(u, s, c, cp, rho_jam, prim):
    """Speeds and pressures ``prim[s, :, c] = (v_m, v_c, P_m, P_c)`` of one cell."""
    e = cp[0, 3] * u[s, 0, c] + cp[1, 3] * u[s, 2, c]
    for i in range(2):
        p = pressure(i, e, cp, rho_jam)
        prim[s, 2 + i, c] = p
        prim[s, i, c] = _speed(u[s, 2 * i, c], u[s, 2 * i + 1, c], p, cp[i, 0])


@nb.njit(**JIT)
def _hll_class(rl, yl, rr, yr, vl, vr, sl, sr):
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


@nb.njit(**JIT)
def _wave_bounds(sl, sr, rl, yl, vl, pl, rr, vr, pr, g):
    """HLL speed bounds (sl, sr) widened by one class's waves in a left (rho, y, v, P) and a right
    (rho, v, P) cell, ``g`` its pressure exponent; a class absent on a side adds nothing."""
    if rl > RHO_EPS:
        sl = min(sl, vl - g * pl)
        sr = max(sr, yl / rl if rr <= RHO_EPS else vl)  # rarefaction into vacuum moves at w_L
    if rr > RHO_EPS:
        sl = min(sl, vr - g * pr)
        sr = max(sr, vr)
    return sl, sr


@nb.njit(**JIT)
def _hll_cached(u, prim, s, c, g0, g1):
    """:func:`numerics.hll_flux` between cells c and c+1 of segment s from cached speeds and
    pressures (``g0``, ``g1``: the classes' pressure exponents); returns the four fluxes."""
    rml, yml, rcl, ycl = u[s, 0, c], u[s, 1, c], u[s, 2, c], u[s, 3, c]
    rmr, ymr, rcr, ycr = u[s, 0, c + 1], u[s, 1, c + 1], u[s, 2, c + 1], u[s, 3, c + 1]
    vml, vcl, vmr, vcr = prim[s, 0, c], prim[s, 1, c], prim[s, 0, c + 1], prim[s, 1, c + 1]
    sl, sr = _wave_bounds(math.inf, -math.inf, rml, yml, vml, prim[s, 2, c], rmr, vmr, prim[s, 2, c + 1], g0)
    sl, sr = _wave_bounds(sl, sr, rcl, ycl, vcl, prim[s, 3, c], rcr, vcr, prim[s, 3, c + 1], g1)
    if sl == math.inf:  # vacuum on both sides
        return 0.0, 0.0, 0.0, 0.0
    f0, f1 = _hll_class(rml, yml, rmr, ymr, vml, vmr, sl, sr)
    f2, f3 = _hll_class(rcl, ycl, rcr, ycr, vcl, vcr, sl, sr)
    return f0, f1, f2, f3


@nb.njit(**JIT)
def _advance_first_order(b, U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac,
                         junc, junc_times, entry_seg, cfl, dx, cp, rho_jam, acc, jq):
    """First-order scheme of :func:`_advance_general` in one fused pass per substep.

    Speeds and pressures are computed once per cell and substep (after the relaxation, which
    leaves densities and so pressures unchanged) and reused by the next substep's CFL bound,
    fluxes and accounting; cells are updated in place while streaming along each segment
    (interface k+1/2 only needs the old states of cells k and k+1); the relaxation factor
    exp(-dt/tau) is one per class and substep.  Same numerics, equal to round-off.
    """
    n_seg = seg_int.shape[0]
    n_e = entry_seg.shape[0]
    u = U[b]
    prim = np.empty_like(u)
    fin = np.zeros((n_seg, 4))
    fout = np.zeros((n_seg, 4))
    ef = np.zeros((n_e, 2))
    ex = np.zeros(2)
    dmd = np.empty(2)
    wup = np.empty(2)
    g0, g1 = cp[0, 1], cp[1, 1]
    stopped = np.zeros(n_seg)
    fac = np.ones(2)
    rates = np.empty((n_e, 2))
    w_free = cp[:, 0].copy()
    dem_b = demand_rates[b]
    for s in range(n_seg):
        for c in range(GHOST, GHOST + seg_int[s, 0]):
            _primitives(u, s, c, cp, rho_jam, prim)
    while t[b] < t_end - T_EPS:
        tb = t[b]
        dt = _signal_step(b, sig, request, plan, tb, t_end - tb, junc_times, acc)
        smax = 1e-6
        for s in range(n_seg):
            for c in range(GHOST, GHOST + seg_int[s, 0]):
                for i in range(2):
                    v = prim[s, i, c]
                    smax = max(smax, v, abs(v - cp[i, 1] * prim[s, 2 + i, c]))
        dt = max(min(dt, cfl * dx / smax), T_EPS)
        _rates_at(dem_b, knots, tb, rates)
        _boundary_fluxes(u, queue[b], rates, dt, seg_int, seg_frac, junc_times, sig[b], entry_seg, cp, rho_jam,
                         fin, fout, ef, ex, dmd, wup, w_free)
        lam = dt / dx
        for i in range(2):
            fac[i] = 1.0 if math.isinf(cp[i, 2]) else math.exp(-dt / cp[i, 2])
        tts_m = tts_c = delay_m = delay_c = dist_m = dist_c = clamped = 0.0
        for s in range(n_seg):
            n = seg_int[s, 0]
            p0, p1, p2, p3 = fin[s, 0], fin[s, 1], fin[s, 2], fin[s, 3]
            stop_s = 0.0
            for k in range(n):
                c = GHOST + k
                if k == n - 1:
                    f0, f1, f2, f3 = fout[s, 0], fout[s, 1], fout[s, 2], fout[s, 3]
                else:
                    f0, f1, f2, f3 = _hll_cached(u, prim, s, c, g0, g1)
                u[s, 0, c] -= lam * (f0 - p0)
                u[s, 1, c] -= lam * (f1 - p1)
                u[s, 2, c] -= lam * (f2 - p2)
                u[s, 3, c] -= lam * (f3 - p3)
                p0, p1, p2, p3 = f0, f1, f2, f3
                for i in range(2):
                    if u[s, 2 * i, c] < RHO_EPS:
                        if u[s, 2 * i, c] < 0.0:
                            clamped -= u[s, 2 * i, c] * dx
                            u[s, 2 * i, c] = 0.0
                        if u[s, 2 * i, c] == 0.0:
                            u[s, 2 * i + 1, c] = 0.0
                e = cp[0, 3] * u[s, 0, c] + cp[1, 3] * u[s, 2, c]
                for i in range(2):
                    vmax = cp[i, 0]
                    rho = u[s, 2 * i, c]
                    p = pressure(i, e, cp, rho_jam)
                    prim[s, 2 + i, c] = p
                    if rho > RHO_EPS:  # exact relaxation towards V_e = v_max - P at frozen density
                        v = _speed(rho, u[s, 2 * i + 1, c], p, vmax)
                        ve = max(0.0, vmax - p)
                        if fac[i] != 1.0:
                            v = ve + (v - ve) * fac[i]  # a convex combination: stays in [0, v_max]
                        u[s, 2 * i + 1, c] = rho * (v + p)
                    else:
                        v = max(0.0, vmax - p)
                    prim[s, i, c] = v
                    if rho > 0.0:
                        lag = rho * dx * (1.0 - v / vmax)  # stopped-vehicle equivalents
                        if i == 0:
                            tts_m += rho * dx * dt
                            delay_m += lag * dt
                            dist_m += rho * v * dx * dt
                        else:
                            tts_c += rho * dx * dt
                            delay_c += lag * dt
                            dist_c += rho * v * dx * dt
                        if rho > RHO_EPS:
                            stop_s += lag
            stopped[s] = stop_s
        acc[b, ACC_CLAMPED] += clamped
        _count_boundary_flows(b, queue, acc, rates, dt, ef, ex)
        acc[b, ACC_TTS] += tts_m
        acc[b, ACC_TTS + 1] += tts_c
        acc[b, ACC_DELAY] += delay_m
        acc[b, ACC_DELAY + 1] += delay_c
        acc[b, ACC_DIST] += dist_m
        acc[b, ACC_DIST + 1] += dist_c
        _end_substep(b, sig, queue, acc, jq, t, junc, seg_int, stopped, tb, dt)


@nb.njit(**JIT)
def advance_serial(U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac, junc,
                   junc_times, entry_seg, cfl, dx, cp, rho_jam, acc, jq):
    """Advance every scenario of the batch to ``t_end`` (s), one after the other (first order, fused)."""
    for b in range(U.shape[0]):
        _advance_first_order(b, U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac,
                             junc, junc_times, entry_seg, cfl, dx, cp, rho_jam, acc, jq)


@nb.njit(parallel=True, **JIT)
def advance_parallel(U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac, junc,
                     junc_times, entry_seg, cfl, dx, cp, rho_jam, acc, jq):
    """Advance every scenario of the batch to ``t_end`` (s), scenarios spread over threads (first order)."""
    for b in nb.prange(U.shape[0]):
        _advance_first_order(b, U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac,
                             junc, junc_times, entry_seg, cfl, dx, cp, rho_jam, acc, jq)


@nb.njit(**JIT)
def advance_general_serial(U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac, junc,
                           junc_times, entry_seg, order, cfl, dx, cp, rho_jam, acc, jq):
    """:func:`advance_serial` with the general kernel (order 1 or 2, ghost cells, stage arrays)."""
    for b in range(U.shape[0]):
        _advance_general(b, U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac,
                         junc, junc_times, entry_seg, order, cfl, dx, cp, rho_jam, acc, jq)


@nb.njit(parallel=True, **JIT)
def advance_general_parallel(U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac, junc,
                             junc_times, entry_seg, order, cfl, dx, cp, rho_jam, acc, jq):
    """:func:`advance_parallel` with the general kernel."""
    for b in nb.prange(U.shape[0]):
        _advance_general(b, U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac,
                         junc, junc_times, entry_seg, order, cfl, dx, cp, rho_jam, acc, jq)


@nb.njit(**JIT)
def observe(U, queue, sig, junc, seg_int, junc_times, cp, rho_jam, k_obs, q_scale, out):
    """Observation vectors ``out`` (B, J * per_junction) in [0, 1].

    Per junction, for its main then its cross approach, for the ``k_obs`` cells
    nearest the stop line (nearest first): rho_m pce_m/rho_jam, v_m/v_max_m,
    rho_c pce_c/rho_jam, v_c/v_max_c; then the approach's entry queue q/(q+q_scale)
    (0 for a link fed by a junction).  Then the phase one-hot (2), a flag set
    during yellow/all-red, and time in phase / 120 s (capped at 1).
    """
    per = 2 * (4 * k_obs + 1) + 4
    for b in range(U.shape[0]):
        for j in range(junc.shape[0]):
            o = j * per
            for a in range(2):
                s = junc[j, a]
                n = seg_int[s, 0]
                for r in range(k_obs):
                    c = GHOST + n - 1 - r
                    e = cp[0, 3] * U[b, s, 0, c] + cp[1, 3] * U[b, s, 2, c]
                    for i in range(2):
                        rho = U[b, s, 2 * i, c]
                        out[b, o] = min(1.0, cp[i, 3] * rho / rho_jam)
                        out[b, o + 1] = velocity(i, rho, U[b, s, 2 * i + 1, c], e, cp, rho_jam) / cp[i, 0]
                        o += 2
                ent = seg_int[s, 1]
                qv = 0.0
                if ent >= 0:
                    qv = cp[0, 3] * queue[b, ent, 0] + cp[1, 3] * queue[b, ent, 1]
                out[b, o] = qv / (qv + q_scale)
                o += 1
            phase = int(sig[b, j, SIG_PHASE])
            out[b, o] = 1.0 if phase == 0 else 0.0
            out[b, o + 1] = 1.0 if phase == 1 else 0.0
            out[b, o + 2] = 1.0 if sig[b, j, SIG_TRANS] > 0.0 else 0.0
            out[b, o + 3] = min(1.0, sig[b, j, SIG_TIME] / 120.0)


@nb.njit(**JIT)
def primitive_fields(U, seg_int, cp, rho_jam, out):
    """Interior profiles ``out`` (B, S, 4, Cmax): rho_m, v_m, rho_c, v_c (veh/m, m/s)."""
    for b in range(U.shape[0]):
        for s in range(seg_int.shape[0]):
            for k in range(seg_int[s, 0]):
                c = GHOST + k
                e = cp[0, 3] * U[b, s, 0, c] + cp[1, 3] * U[b, s, 2, c]
                for i in range(2):
                    out[b, s, 2 * i, k] = U[b, s, 2 * i, c]
                    out[b, s, 2 * i + 1, k] = velocity(i, U[b, s, 2 * i, c], U[b, s, 2 * i + 1, c], e, cp, rho_jam)


class Simulator:
    """A batch of ``batch_size`` independent corridors of one scenario.

    Args:
        scenario: the network and its demand.
        batch_size: number of scenarios stepped together (leading axis of every array).
        order: 1 (HLL, Euler) or 2 (MUSCL + SSP-RK2).
        cfl: Courant number (<= 0.5 keeps densities non-negative).
        params: model constants.
        parallel: spread the batch over numba's threads (default: when batch_size >= 8).
        reference: step order 1 with the general (unfused) kernel, the reference of the tests.
        device: ``numba`` (CPU threads, the default), or a torch device (``cpu``, ``cuda``, ``gpu``)
            for the vectorised torch step of :mod:`arz_rl.sim.torch_step` (order 1); see
            :func:`arz_rl.vec_env.pick_simulator_device` for the choice.
        lanes: step groups of scenarios in SIMD lanes (:mod:`arz_rl.sim.lanes`, order 1 on numba,
            bitwise equal to the scalar kernel); default: when ``batch_size >= 4`` (below that the
            empty lanes cost more than the vectors gain) and both pressure exponents are 1 or 2.
    """

    def __init__(self, scenario: Scenario, batch_size: int = 1, order: int = 1, cfl: float = 0.45,
                 params: ModelParams | None = None, parallel: bool | None = None, reference: bool = False,
                 device: str = "numba", lanes: bool | None = None) -> None:
        if order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {order}")
        if not 0.0 < cfl <= 0.5:
            raise ValueError(f"cfl must be in (0, 0.5], got {cfl}")
        self.scenario = scenario
        self.net: Network = build_network(scenario)
        self.params = params or ModelParams()
        self.cp = self.params.class_arrays()
        self.rho_jam = self.params.rho_jam
        self.batch_size = batch_size
        if device != "numba" and order != 1:
            raise ValueError(f"device={device!r} steps the first-order scheme only; use order=1 or device='numba'")
        self.device = device
        self.order = order
        # order 1 runs the fused kernel; order 2 (and the reference) the general one, compiled only when used
        self._general = order != 1 or reference
        self.cfl = cfl
        self.parallel = batch_size >= 8 if parallel is None else parallel
        b, s, j, e = batch_size, self.net.n_segments, self.net.n_junctions, self.net.n_entries
        self.U = np.zeros((b, s, 4, self.net.max_cells + 2 * GHOST))
        self.queue = np.zeros((b, e, 2))
        self.sig = np.zeros((b, j, 4))
        self.request = np.zeros((b, j), dtype=np.int64)
        self.plan = np.zeros((b, j, 3))
        self.t = np.zeros(b)
        self.acc = np.zeros((b, NACC))
        self.jq = np.zeros((b, j, 3))
        self.demand_rates = np.repeat(self.net.base_demand[None], b, axis=0)
        from . import lanes as lane_kernel  # imports this module

        can_lanes = device == "numba" and not self._general and lane_kernel.supports(self.cp)
        if lanes and not can_lanes:
            raise ValueError("lanes=True needs device='numba', order=1, reference=False and pressure exponents 1 or 2")
        self.lanes = can_lanes and (batch_size >= lane_kernel.LANES // 2 if lanes is None else lanes)
        if self.lanes:
            groups = -(-b // lane_kernel.LANES)
            self._lane_scratch = np.zeros((groups, s, self.U.shape[3], 4, lane_kernel.LANES))
            self._lane_advance = lane_kernel.advance_lanes if self.parallel else lane_kernel.advance_lanes_serial
        self.valid = np.zeros((s, self.U.shape[3]), dtype=bool)
        for k in range(s):
            self.valid[k, GHOST:GHOST + self.net.seg_int[k, 0]] = True

    # -- set-up -----------------------------------------------------------------
    def reset(self, rng: np.random.Generator | None = None, demand_noise: float | None = None) -> None:
        """Initial state: every link at the free-flow density of its entry's initial demand,
        empty queues, phase 0 green; demand redrawn with ``rng`` (None: the base profile)."""
        for b in range(self.batch_size):
            self.demand_rates[b] = sample_demand(self.net, rng, demand_noise)
        self.U[:] = 0.0
        self.queue[:] = 0.0
        self.sig[:] = 0.0
        self.sig[:, :, SIG_TIME] = self.scenario.min_green
        self.request[:] = 0
        self.t[:] = 0.0
        self.acc[:] = 0.0
        self.jq[:] = 0.0
        net = self.net
        for s in range(net.n_segments):
            # links at the first knot's entering flow, in free flow (v = V_e at low density)
            src = 0 if net.seg_names[s].startswith(("M", "X")) else int(net.seg_int[s, 1])
            n = net.seg_int[s, 0]
            for i in range(2):
                q = self.demand_rates[:, src, i, 0] * 0.8
                rho = q / self.cp[i, 0]
                self.U[:, s, 2 * i, GHOST:GHOST + n] = rho[:, None]
                self.U[:, s, 2 * i + 1, GHOST:GHOST + n] = (rho * self.cp[i, 0])[:, None]
        self.relax_all()

    def relax_all(self) -> None:
        """Project every cell onto the invariant region (used after editing ``U`` by hand)."""
        for b in range(self.batch_size):
            for s in range(self.net.n_segments):
                for k in range(GHOST, GHOST + self.net.seg_int[s, 0]):
                    relax_cell(self.U[b, s, :, k], 0.0, self.cp, self.rho_jam)

    def set_plan(self, cycle: float, main_green: float, offsets: np.ndarray | None = None) -> None:
        """Fixed-time plan on every junction: ``cycle`` and effective ``main_green`` (s);
        offsets (J,) in s.  ``cycle <= 0`` hands control back to :attr:`request`."""
        if cycle > 0.0:
            inter = self.scenario.yellow + self.scenario.all_red
            cross = cycle - main_green - 2.0 * inter
            if min(main_green, cross) < self.scenario.min_green:
                raise ValueError(f"plan cycle={cycle} s main_green={main_green} s leaves a green under min_green")
        self.plan[:, :, 0] = cycle
        self.plan[:, :, 1] = main_green
        self.plan[:, :, 2] = 0.0 if offsets is None else np.asarray(offsets)[None, :]

    # -- stepping ---------------------------------------------------------------
    def advance(self, duration: float) -> None:
        """Advance all scenarios by ``duration`` seconds."""
        if self.device != "numba":
            from .torch_step import advance_torch, torch_device

            advance_torch(self, duration, torch_device(self.device))
            return
        net = self.net
        args = (self.U, self.queue, self.sig, self.request, self.plan, self.t, float(self.t.max() + duration),
                self.demand_rates, net.knots, net.seg_int, net.seg_frac, net.junc, net.junc_times, net.entry_seg)
        tail = (self.cfl, self.scenario.dx, self.cp, self.rho_jam, self.acc, self.jq)
        if self.lanes:
            self._lane_advance(self._lane_scratch, *args, *tail)
        elif self._general:
            kernel = advance_general_parallel if self.parallel else advance_general_serial
            kernel(*args, self.order, *tail)
        else:
            (advance_parallel if self.parallel else advance_serial)(*args, *tail)

    # -- read-outs --------------------------------------------------------------
    def vehicles_per_segment(self) -> np.ndarray:
        """Vehicles (B, S, 2) on each segment per class."""
        return (self.U[:, :, 0::2, :] * self.valid[None, :, None, :]).sum(-1) * self.scenario.dx

    def vehicles_on_road(self) -> np.ndarray:
        """Vehicles (B, 2) on the road per class."""
        return self.vehicles_per_segment().sum(1)

    def fields(self) -> np.ndarray:
        """Primitive fields (B, S, 4, Cmax): rho_m, v_m, rho_c, v_c (veh/m, m/s); NaN-free."""
        out = np.zeros((self.batch_size, self.net.n_segments, 4, self.net.max_cells))
        primitive_fields(self.U, self.net.seg_int, self.cp, self.rho_jam, out)
        return out

    def observation_size(self, k_obs: int) -> int:
        return self.net.n_junctions * (2 * (4 * k_obs + 1) + 4)

    def observe(self, k_obs: int, q_scale: float, out: np.ndarray) -> np.ndarray:
        observe(self.U, self.queue, self.sig, self.net.junc, self.net.seg_int, self.net.junc_times,
                self.cp, self.rho_jam, k_obs, q_scale, out)
        return out
