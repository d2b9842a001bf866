"""The scalar kernels: the batch advanced one scenario at a time (numba, threads over scenarios).

Every kernel advances the :class:`~arz_rl.sim.layout.State` of each scenario to ``t_end`` in
place; each scenario takes its own CFL steps, cut at its signal events.  Within a segment the
solver is :mod:`arz_rl.sim.road`'s (HLL, optionally MUSCL/SSP-RK2); at its ends the fluxes come
from entries (point queues), exits and signalised stop lines (:func:`boundary_fluxes`), so no
reconstruction stencil ever crosses a stop line.

- :func:`advance_first_order` (and its threaded twin): the experiment's scheme in one fused pass
  per substep: speeds and pressures once per cell and substep, cells updated in place while
  streaming along each segment, one relaxation factor per class and substep.
- :func:`advance_general` (and twin): order 1 or 2 with ghost cells and stage arrays, the
  reference the fused kernel is tested against.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from .junctions import count_boundary_flows, end_substep, flowing_phase, rates_at, route_outflow, signal_step
from .layout import (
    ACC_CLAMPED,
    ACC_DELAY,
    ACC_DIST,
    ACC_TTS,
    CP_GAMMA,
    CP_PCE,
    CP_VMAX,
    GHOST,
    JIT,
    JT_MIN_GREEN,
    K_PCE,
    K_VMAX,
    Q_RHO,
    Q_Y,
    RHO_EPS,
    SEG_CELLS,
    SEG_DEST,
    SEG_ENTRY,
    SEG_JUNCTION,
    SEG_OUT,
    SEG_PHASE,
    SIG_PHASE,
    SIG_TIME,
    SIG_TRANS,
    STOP_LINE,
    T_EPS,
)
from .physics import (
    clamp_vacuum,
    class_constants,
    entry_share,
    hll_class,
    hll_flux,
    max_wave_speed,
    outflow_demand,
    pce_supply,
    pressure,
    relax_and_account,
    relax_cell,
    relaxation_factors,
    speed,
    velocity,
    wave_bounds,
)
from .road import reconstruct_faces

PHASE_TIME_SCALE = 120.0  #: s; the observation's time in phase is divided by this (and capped at 1)


@nb.njit(**JIT)
def boundary_fluxes(u, queue_b, rates, dt, net, sig_b, cp, rho_jam, fin, fout, entry_flux, exit_flux):
    """Flows (veh/s) through every segment end of one scenario over a step ``dt``.

    ``fout[s]`` (4, 1) leaves segment s at its downstream end (stop line or exit), ``fin[s]`` (4, 1)
    enters at its upstream end (from a junction or an entry queue); ``entry_flux`` (E, 2) and
    ``exit_flux`` (2, 1) are the network's boundary flows (the trailing axis is the one scenario,
    as :func:`arz_rl.sim.junctions.route_outflow` takes them), ``rates`` (E, 2) the arrival rates
    now.  A stop line sends its last cell's demand, scaled down so that no destination receives
    more than its supply; an entry sends its queue (over ``dt``) plus its arrivals, as its first
    cell's supply allows; drivers enter in equilibrium at free-flow speed.  Reads only interior
    cells of ``u`` (S, 4, C).
    """
    km, kc = class_constants(cp)
    seg_int, seg_frac = net.seg_int, net.seg_frac
    fin[:] = 0.0
    fout[:] = 0.0
    exit_flux[:] = 0.0
    for s in range(seg_int.shape[0]):
        last = GHOST + seg_int[s, SEG_CELLS] - 1
        kind = seg_int[s, SEG_OUT]
        if kind == STOP_LINE:
            j = seg_int[s, SEG_JUNCTION]
            if flowing_phase(sig_b[j], net.junc_times[j]) != seg_int[s, SEG_PHASE]:
                continue
        d0, d1, w0, w1, dp = outflow_demand(km, kc, u[s, 0, last], u[s, 1, last], u[s, 2, last], u[s, 3, last],
                                            rho_jam)
        if dp <= 0.0:
            continue
        theta = 1.0
        if kind == STOP_LINE:
            for k in range(2):
                dest = seg_int[s, SEG_DEST + k]
                share = seg_frac[s, k]
                if dest >= 0 and share > 0.0:
                    sp = pce_supply(km, kc, u[dest, 0, GHOST], u[dest, 1, GHOST], u[dest, 2, GHOST],
                                    u[dest, 3, GHOST], d0, d1, w0, w1, dp, rho_jam)
                    theta = min(theta, sp / (share * dp))
        q0 = theta * d0
        q1 = theta * d1
        fout[s, 0, 0] = q0
        fout[s, 1, 0] = q0 * w0
        fout[s, 2, 0] = q1
        fout[s, 3, 0] = q1 * w1
        route_outflow(s, seg_int, seg_frac, fout, fin, exit_flux)
    for e_ in range(net.entry_seg.shape[0]):
        s = net.entry_seg[e_]
        d0 = queue_b[e_, 0] / dt + rates[e_, 0]
        d1 = queue_b[e_, 1] / dt + rates[e_, 1]
        theta = entry_share(km, kc, d0, d1, u[s, 0, GHOST], u[s, 1, GHOST], u[s, 2, GHOST], u[s, 3, GHOST], rho_jam)
        q0 = theta * d0
        q1 = theta * d1
        entry_flux[e_, 0] = q0
        entry_flux[e_, 1] = q1
        fin[s, 0, 0] = q0
        fin[s, 1, 0] = q0 * km[K_VMAX]
        fin[s, 2, 0] = q1
        fin[s, 3, 0] = q1 * kc[K_VMAX]


# -- the fused first-order kernel ------------------------------------------------------------------
@nb.njit(**JIT)
def _primitives(u, s, c, cp, rho_jam, prim):
    """Speeds and pressures ``prim[s, :, c] = (v_m, v_c, P_m, P_c)`` of one cell."""
    ks = class_constants(cp)
    e = cp[0, CP_PCE] * u[s, 0, c] + cp[1, CP_PCE] * u[s, 2, c]
    for i in range(2):
        p = pressure(ks[i], e, rho_jam)
        prim[s, 2 + i, c] = p
        prim[s, i, c] = speed(u[s, 2 * i, c], u[s, 2 * i + 1, c], p, cp[i, CP_VMAX])


@nb.njit(**JIT)
def _hll_cached(u, prim, s, c, g0, g1):
    """HLL fluxes between cells c and c+1 of segment s from their cached speeds and pressures
    (``g0``, ``g1``: the classes' pressure exponents)."""
    rml, yml, rcl, ycl = u[s, 0, c], u[s, 1, c], u[s, 2, c], u[s, 3, c]
    rmr, ymr, rcr, ycr = u[s, 0, c + 1], u[s, 1, c + 1], u[s, 2, c + 1], u[s, 3, c + 1]
    vml, vcl, vmr, vcr = prim[s, 0, c], prim[s, 1, c], prim[s, 0, c + 1], prim[s, 1, c + 1]
    sl, sr = wave_bounds(math.inf, -math.inf, rml, yml, vml, prim[s, 2, c], rmr, vmr, prim[s, 2, c + 1], g0)
    sl, sr = wave_bounds(sl, sr, rcl, ycl, vcl, prim[s, 3, c], rcr, vcr, prim[s, 3, c + 1], g1)
    if sl == math.inf:  # vacuum on both sides
        return 0.0, 0.0, 0.0, 0.0
    f0, f1 = hll_class(rml, yml, rmr, ymr, vml, vmr, sl, sr)
    f2, f3 = hll_class(rcl, ycl, rcr, ycr, vcl, vcr, sl, sr)
    return f0, f1, f2, f3


@nb.njit(**JIT)
def _advance_first_order(b, st, net, num, t_end):
    """Scenario b to ``t_end`` by the fused first-order scheme (see the module docstring)."""
    cp, rho_jam, dx = num.cp, num.rho_jam, num.dx
    seg_int = net.seg_int
    n_seg = seg_int.shape[0]
    n_e = net.entry_seg.shape[0]
    km, kc = class_constants(cp)
    u = st.U[b]
    prim = np.empty_like(u)
    fin = np.zeros((n_seg, 4, 1))
    fout = np.zeros((n_seg, 4, 1))
    ef = np.zeros((n_e, 2))
    ex = np.zeros((2, 1))
    g0, g1 = cp[0, CP_GAMMA], cp[1, CP_GAMMA]
    stopped = np.zeros(n_seg)
    rates = np.empty((n_e, 2))
    dem_b = st.demand_rates[b]
    for s in range(n_seg):
        for c in range(GHOST, GHOST + seg_int[s, SEG_CELLS]):
            _primitives(u, s, c, cp, rho_jam, prim)
    while st.t[b] < t_end - T_EPS:
        tb = st.t[b]
        dt = signal_step(b, st.sig, st.request, st.plan, tb, t_end - tb, net.junc_times, st.acc)
        smax = 1e-6
        for s in range(n_seg):
            for c in range(GHOST, GHOST + seg_int[s, SEG_CELLS]):
                for i in range(2):
                    v = prim[s, i, c]
                    smax = max(smax, v, abs(v - cp[i, CP_GAMMA] * prim[s, 2 + i, c]))
        dt = max(min(dt, num.cfl * dx / smax), T_EPS)
        rates_at(dem_b, net.knots, tb, rates)
        boundary_fluxes(u, st.queue[b], rates, dt, net, st.sig[b], cp, rho_jam, fin, fout, ef, ex)
        lam = dt / dx
        fac0, fac1 = relaxation_factors(cp, dt)
        tts_m = tts_c = delay_m = delay_c = dist_m = dist_c = clamped = 0.0
        for s in range(n_seg):
            n = seg_int[s, SEG_CELLS]
            p0, p1, p2, p3 = fin[s, 0, 0], fin[s, 1, 0], fin[s, 2, 0], fin[s, 3, 0]
            stop_s = 0.0
            for k in range(n):
                c = GHOST + k
                if k == n - 1:
                    f0, f1, f2, f3 = fout[s, 0, 0], fout[s, 1, 0], fout[s, 2, 0], fout[s, 3, 0]
                else:
                    f0, f1, f2, f3 = _hll_cached(u, prim, s, c, g0, g1)
                r0 = u[s, 0, c] - lam * (f0 - p0)
                y0 = u[s, 1, c] - lam * (f1 - p1)
                r1 = u[s, 2, c] - lam * (f2 - p2)
                y1 = u[s, 3, c] - lam * (f3 - p3)
                p0, p1, p2, p3 = f0, f1, f2, f3
                # clamping: round-off only, the CFL condition keeps HLL positive
                r0, y0, removed0 = clamp_vacuum(r0, y0, dx)
                r1, y1, removed1 = clamp_vacuum(r1, y1, dx)
                clamped += removed0
                clamped += removed1
                e = km[K_PCE] * r0 + kc[K_PCE] * r1
                y0, v0, pm, tts0, delay0, dist0, stop0 = relax_and_account(km, r0, y0, e, fac0, dx, dt, rho_jam)
                y1, v1, pc, tts1, delay1, dist1, stop1 = relax_and_account(kc, r1, y1, e, fac1, dx, dt, rho_jam)
                u[s, 0, c], u[s, 1, c], u[s, 2, c], u[s, 3, c] = r0, y0, r1, y1
                prim[s, 0, c], prim[s, 1, c], prim[s, 2, c], prim[s, 3, c] = v0, v1, pm, pc
                tts_m += tts0
                delay_m += delay0
                dist_m += dist0
                tts_c += tts1
                delay_c += delay1
                dist_c += dist1
                stop_s += stop0
                stop_s += stop1
            stopped[s] = stop_s
        acc = st.acc
        acc[b, ACC_CLAMPED] += clamped
        count_boundary_flows(b, st.queue, acc, rates, dt, ef, ex[:, 0])
        acc[b, ACC_TTS] += tts_m
        acc[b, ACC_TTS + 1] += tts_c
        acc[b, ACC_DELAY] += delay_m
        acc[b, ACC_DELAY + 1] += delay_c
        acc[b, ACC_DIST] += dist_m
        acc[b, ACC_DIST + 1] += dist_c
        end_substep(b, st.sig, st.queue, acc, st.jq, st.t, net.junc, seg_int, stopped, tb, dt)


@nb.njit(**JIT)
def advance_first_order(st, net, num, t_end):
    """Advance every scenario of the batch to ``t_end`` (s), one after the other (fused, order 1)."""
    for b in range(st.U.shape[0]):
        _advance_first_order(b, st, net, num, t_end)


@nb.njit(parallel=True, **JIT)
def advance_first_order_threads(st, net, num, t_end):
    """:func:`advance_first_order` with the scenarios spread over numba's threads."""
    for b in nb.prange(st.U.shape[0]):
        _advance_first_order(b, st, net, num, t_end)


# -- the general (reference) kernel ---------------------------------------------------------------
@nb.njit(**JIT)
def _stage(u, out, queue_b, dem_b, tb, dt, net, sig_b, order, num, left, right, fin, fout, entry_flux, exit_flux,
           f, rates):
    """One forward-Euler stage ``out = u + dt L(u)`` of a whole network; boundary flows (veh/s)
    of the stage go to ``entry_flux`` (E, 2) and ``exit_flux`` (2,)."""
    seg_int = net.seg_int
    n_seg = seg_int.shape[0]
    for s in range(n_seg):
        n = seg_int[s, SEG_CELLS]
        for q in range(4):
            for g in range(GHOST):
                u[s, q, g] = u[s, q, GHOST]
                u[s, q, n + GHOST + g] = u[s, q, n + GHOST - 1]
        reconstruct_faces(u[s], n, order, left[s], right[s], num.cp, num.rho_jam)
    rates_at(dem_b, net.knots, tb, rates)
    boundary_fluxes(u, queue_b, rates, dt, net, sig_b, num.cp, num.rho_jam, fin, fout, entry_flux, exit_flux)
    lam = dt / num.dx
    prev = np.empty(4)
    for s in range(n_seg):
        n = seg_int[s, SEG_CELLS]
        for q in range(4):
            prev[q] = fin[s, q, 0]
        for k in range(n):
            c = GHOST + k
            if k == n - 1:
                for q in range(4):
                    f[q] = fout[s, q, 0]
            else:
                hll_flux(right[s, :, c], left[s, :, c + 1], num.cp, num.rho_jam, f)
            for q in range(4):
                out[s, q, c] = u[s, q, c] - lam * (f[q] - prev[q])
                prev[q] = f[q]


@nb.njit(**JIT)
def _advance_general(b, st, net, num, t_end, order):
    cp, rho_jam, dx = num.cp, num.rho_jam, num.dx
    seg_int = net.seg_int
    n_seg = seg_int.shape[0]
    n_e = net.entry_seg.shape[0]
    u = st.U[b]
    out1 = u.copy()
    out2 = u.copy()
    left = np.empty_like(u)
    right = np.empty_like(u)
    fin = np.zeros((n_seg, 4, 1))
    fout = np.zeros((n_seg, 4, 1))
    ef1 = np.zeros((n_e, 2))
    ef2 = np.zeros((n_e, 2))
    ex1 = np.zeros((2, 1))
    ex2 = np.zeros((2, 1))
    f = np.empty(4)
    rates = np.empty((n_e, 2))
    stopped = np.zeros(n_seg)
    dem_b = st.demand_rates[b]
    while st.t[b] < t_end - T_EPS:
        tb = st.t[b]
        dt = signal_step(b, st.sig, st.request, st.plan, tb, t_end - tb, net.junc_times, st.acc)
        smax = 1e-6
        for s in range(n_seg):
            for k in range(GHOST, GHOST + seg_int[s, SEG_CELLS]):
                smax = max(smax, max_wave_speed(u[s, :, k], cp, rho_jam))
        dt = max(min(dt, num.cfl * dx / smax), T_EPS)
        if order < 2:
            _stage(u, out1, st.queue[b], dem_b, tb, dt, net, st.sig[b], order, num, left, right, fin, fout, ef1,
                   ex1, f, rates)
            for s in range(n_seg):
                for k in range(GHOST, GHOST + seg_int[s, SEG_CELLS]):
                    for q in range(4):
                        u[s, q, k] = out1[s, q, k]
            ef2[:, :] = ef1
            ex2[:] = ex1
        else:
            for s in range(n_seg):
                for k in range(GHOST, GHOST + seg_int[s, SEG_CELLS]):
                    relax_cell(u[s, :, k], 0.5 * dt, cp, rho_jam)
            _stage(u, out1, st.queue[b], dem_b, tb, dt, net, st.sig[b], order, num, left, right, fin, fout, ef1,
                   ex1, f, rates)
            _stage(out1, out2, st.queue[b], dem_b, tb, dt, net, st.sig[b], order, num, left, right, fin, fout, ef2,
                   ex2, f, rates)
            for s in range(n_seg):
                for k in range(GHOST, GHOST + seg_int[s, SEG_CELLS]):
                    for q in range(4):
                        u[s, q, k] = 0.5 * (u[s, q, k] + out2[s, q, k])
            for e in range(n_e):
                for i in range(2):
                    ef2[e, i] = 0.5 * (ef1[e, i] + ef2[e, i])
            for i in range(2):
                ex2[i, 0] = 0.5 * (ex1[i, 0] + ex2[i, 0])
        relax_dt = dt if order < 2 else 0.5 * dt
        for s in range(n_seg):
            for k in range(GHOST, GHOST + seg_int[s, SEG_CELLS]):
                for i in range(2):
                    u[s, Q_RHO + 2 * i, k], u[s, Q_Y + 2 * i, k], removed = clamp_vacuum(
                        u[s, Q_RHO + 2 * i, k], u[s, Q_Y + 2 * i, k], dx)
                    st.acc[b, ACC_CLAMPED] += removed
                relax_cell(u[s, :, k], relax_dt, cp, rho_jam)
        # bookkeeping over [tb, tb + dt]
        rates_at(dem_b, net.knots, tb, rates)
        count_boundary_flows(b, st.queue, st.acc, rates, dt, ef2, ex2[:, 0])
        for s in range(n_seg):
            stop_s = 0.0
            for k in range(GHOST, GHOST + seg_int[s, SEG_CELLS]):
                for i in range(2):
                    rho = u[s, Q_RHO + 2 * i, k]
                    if rho <= 0.0:
                        continue
                    v = velocity(i, u[s, :, k], cp, rho_jam)
                    lag = rho * dx * (1.0 - v / cp[i, CP_VMAX])  # stopped-vehicle equivalents
                    st.acc[b, ACC_TTS + i] += rho * dx * dt
                    st.acc[b, ACC_DELAY + i] += lag * dt
                    st.acc[b, ACC_DIST + i] += rho * v * dx * dt
                    if rho > RHO_EPS:
                        stop_s += lag
            stopped[s] = stop_s
        end_substep(b, st.sig, st.queue, st.acc, st.jq, st.t, net.junc, seg_int, stopped, tb, dt)


@nb.njit(**JIT)
def advance_general(st, net, num, t_end, order):
    """Advance every scenario to ``t_end`` (s) with the general kernel (order 1 or 2), one after the other."""
    for b in range(st.U.shape[0]):
        _advance_general(b, st, net, num, t_end, order)


@nb.njit(parallel=True, **JIT)
def advance_general_threads(st, net, num, t_end, order):
    """:func:`advance_general` with the scenarios spread over numba's threads."""
    for b in nb.prange(st.U.shape[0]):
        _advance_general(b, st, net, num, t_end, order)


# -- read-outs ------------------------------------------------------------------------------------
@nb.njit(**JIT)
def observe(st, net, cp, rho_jam, k_obs, q_scale, out):
    """Observation vectors ``out`` (B, J * (2 (4 k_obs + 1) + 4)) in [0, 1].

    Per junction, for its main then its cross approach, for the ``k_obs`` cells nearest the stop
    line (nearest first): rho_m pce_m/rho_jam, v_m/v_max_m, rho_c pce_c/rho_jam, v_c/v_max_c; then
    the approach's entry queue q/(q + q_scale) in pc (0 for a link fed by a junction).  Then the
    phase one-hot (2), a flag set during yellow/all-red, and time in phase / PHASE_TIME_SCALE
    (capped at 1).
    """
    per = 2 * (4 * k_obs + 1) + 4
    U, queue, sig = st.U, st.queue, st.sig
    for b in range(U.shape[0]):
        for j in range(net.junc.shape[0]):
            o = j * per
            for a in range(2):
                s = net.junc[j, a]
                n = net.seg_int[s, SEG_CELLS]
                for r in range(k_obs):
                    c = GHOST + n - 1 - r
                    for i in range(2):
                        out[b, o] = min(1.0, cp[i, CP_PCE] * U[b, s, Q_RHO + 2 * i, c] / rho_jam)
                        out[b, o + 1] = velocity(i, U[b, s, :, c], cp, rho_jam) / cp[i, CP_VMAX]
                        o += 2
                ent = net.seg_int[s, SEG_ENTRY]
                qv = 0.0
                if ent >= 0:
                    qv = cp[0, CP_PCE] * queue[b, ent, 0] + cp[1, CP_PCE] * queue[b, ent, 1]
                out[b, o] = qv / (qv + q_scale)
                o += 1
            phase = int(sig[b, j, SIG_PHASE])
            out[b, o] = 1.0 if phase == 0 else 0.0
            out[b, o + 1] = 1.0 if phase == 1 else 0.0
            out[b, o + 2] = 1.0 if sig[b, j, SIG_TRANS] > 0.0 else 0.0
            out[b, o + 3] = min(1.0, sig[b, j, SIG_TIME] / PHASE_TIME_SCALE)


#: junction features per approach bin: occupancy (pc/jam) and speed / v_max of each class
BIN_FEATURES = 4
#: per approach after its bins: entry queue, downstream head and whole-link occupancy, pressure
APPROACH_EXTRA = 4
#: per junction after both approaches: phase one-hot (2), in transition, time in phase, switch allowed
SIGNAL_FEATURES = 5


def junction_feature_size(n_bins: int) -> int:
    """Features per junction of :func:`junction_features` with ``n_bins`` bins per approach."""
    return 2 * (BIN_FEATURES * n_bins + APPROACH_EXTRA) + SIGNAL_FEATURES


@nb.njit(**JIT)
def _link_load(U_bs, n, pce_m, pce_c, dx):
    """Vehicles (pc) on a segment's ``n`` cells."""
    load = 0.0
    for k in range(GHOST, GHOST + n):
        load += pce_m * U_bs[Q_RHO, k] + pce_c * U_bs[Q_RHO + 2, k]
    return load * dx


@nb.njit(**JIT)
def junction_features(U, queue, sig, junc, seg_int, seg_frac, junc_times, cp, rho_jam, dx, n_bins, q_scale, out):
    """What a junction's detectors see, ``out`` (B, J, F) with F = :func:`junction_feature_size`.

    Per approach (main, then cross): its whole link in ``n_bins`` bins of equal length, nearest the
    stop line first, each bin's occupancy pce_i rho_i / rho_jam (mean over its cells) and the
    class's speed v_i / v_max_i (density-weighted, 1 in an empty bin) for both classes; then the
    entry queue q / (q + q_scale) (pc; 0 for a link fed by a junction); the occupancy of the
    downstream links (turning-share weighted) over their first quarter (where spillback starts)
    and over their whole length; the approach's pressure (pc upstream, entry queue included, minus
    turning share x pc downstream) over the link's jam load, clipped to [-1, 1].  Then the phase
    one-hot (2), a yellow/all-red flag, time in phase / PHASE_TIME_SCALE (capped at 1) and whether
    a switch may start now (no transition, minimum green served).  All in [-1, 1].  Takes the
    arrays themselves, not the State/NetArrays bundles: this runs at every decision, and numba
    unboxes bare arrays faster.
    """
    pce_m, pce_c = cp[0, CP_PCE], cp[1, CP_PCE]
    for b in range(U.shape[0]):
        for j in range(junc.shape[0]):
            o = 0
            for a in range(2):
                s = junc[j, a]
                n = seg_int[s, SEG_CELLS]
                for r in range(n_bins):
                    hi = n - (r * n) // n_bins
                    lo = n - ((r + 1) * n) // n_bins
                    for i in range(2):
                        occ = 0.0
                        moving = 0.0
                        dens = 0.0
                        for k in range(lo, hi):
                            c = GHOST + k
                            rho = U[b, s, Q_RHO + 2 * i, c]
                            occ += cp[i, CP_PCE] * rho
                            dens += rho
                            moving += rho * velocity(i, U[b, s, :, c], cp, rho_jam)
                        width = max(1, hi - lo)
                        out[b, j, o] = min(1.0, occ / (width * rho_jam))
                        out[b, j, o + 1] = moving / (dens * cp[i, CP_VMAX]) if dens > RHO_EPS * width else 1.0
                        o += 2
                ent = seg_int[s, SEG_ENTRY]
                qv = 0.0
                if ent >= 0:
                    qv = pce_m * queue[b, ent, 0] + pce_c * queue[b, ent, 1]
                out[b, j, o] = qv / (qv + q_scale)
                head = 0.0
                whole = 0.0
                downstream = 0.0
                for d in range(2):
                    dest = seg_int[s, SEG_DEST + d]
                    if dest < 0:
                        continue
                    share = seg_frac[s, d]
                    nd = seg_int[dest, SEG_CELLS]
                    nh = max(1, nd // 4)
                    load_head = 0.0
                    for k in range(GHOST, GHOST + nh):
                        load_head += pce_m * U[b, dest, Q_RHO, k] + pce_c * U[b, dest, Q_RHO + 2, k]
                    load = _link_load(U[b, dest], nd, pce_m, pce_c, 1.0)
                    head += share * min(1.0, load_head / (nh * rho_jam))
                    whole += share * min(1.0, load / (nd * rho_jam))
                    downstream += share * load * dx
                out[b, j, o + 1] = head
                out[b, j, o + 2] = whole
                upstream = _link_load(U[b, s], n, pce_m, pce_c, dx) + qv
                out[b, j, o + 3] = max(-1.0, min(1.0, (upstream - downstream) / (n * dx * rho_jam)))
                o += APPROACH_EXTRA
            phase = int(sig[b, j, SIG_PHASE])
            out[b, j, o] = 1.0 if phase == 0 else 0.0
            out[b, j, o + 1] = 1.0 if phase == 1 else 0.0
            moving_on = sig[b, j, SIG_TRANS] > 0.0
            out[b, j, o + 2] = 1.0 if moving_on else 0.0
            out[b, j, o + 3] = min(1.0, sig[b, j, SIG_TIME] / PHASE_TIME_SCALE)
            allowed = not moving_on and sig[b, j, SIG_TIME] >= junc_times[j, JT_MIN_GREEN] - T_EPS
            out[b, j, o + 4] = 1.0 if allowed else 0.0


@nb.njit(**JIT)
def primitive_fields(U, seg_int, cp, rho_jam, out):
    """Interior profiles ``out`` (B, S, 4, Cmax): rho_m, v_m, rho_c, v_c (veh/m, m/s)."""
    for b in range(U.shape[0]):
        for s in range(seg_int.shape[0]):
            for k in range(seg_int[s, SEG_CELLS]):
                c = GHOST + k
                for i in range(2):
                    out[b, s, 2 * i, k] = U[b, s, Q_RHO + 2 * i, c]
                    out[b, s, 2 * i + 1, k] = velocity(i, U[b, s, :, c], cp, rho_jam)
