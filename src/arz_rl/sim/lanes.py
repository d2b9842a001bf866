"""The first-order kernel with scenarios in SIMD lanes: a batch-innermost layout for batches.

:func:`arz_rl.sim.scalar.advance_first_order` steps one scenario at a time: every cell
update is a chain of scalar operations with branches (vacuum, clamping, the HLL cases, the
demand/supply cases).  Here groups of :data:`LANES` scenarios are stepped together with the
scenario index innermost, ``W[g, s, c, q, lane]``, so each operation runs on all lanes of a
group at once: every lane loop below compiles to vector instructions, its branches to per-lane
selects.  Each lane keeps its own time, CFL step and signal events; a group runs as many
substeps as its slowest lane needs, and a lane that has reached ``t_end`` idles with a step of
zero, its state masked.  Signals, queues and accumulators keep the simulator's layout and are
handled per lane by the scalar kernel's own functions, in the same order.

Same numerics as the scalar kernel, operation for operation: the results are bitwise equal
(tested).  Pressure exponents must be 1 or 2 (the defaults, which keep demand and supply in
closed form): :func:`supports` says whether this kernel applies; the simulator falls back to
the scalar one otherwise.

What keeps a lane loop vectorised (checked with LLVM's remarks while writing this): helpers
called inside it take scalars only and are inlined (an array argument costs reference-count
calls, and any call keeps the loop scalar); divisions are plain (``error_model="numpy"``);
the trip count is read at run time (a constant 8 makes LLVM unroll the loop instead); arrays
are flat and indexed with unsigned offsets (below); stores are unconditional (a select picks
the old value).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from . import physics
from .junctions import count_boundary_flows, end_substep, flowing_phase, rates_at, route_outflow, signal_step
from .layout import (
    ACC_CLAMPED,
    ACC_DELAY,
    ACC_DIST,
    ACC_TTS,
    CP_GAMMA,
    GHOST,
    JIT,
    JIT_INLINE,
    K_PCE,
    K_VMAX,
    SEG_CELLS,
    SEG_DEST,
    SEG_JUNCTION,
    SEG_OUT,
    SEG_PHASE,
    STOP_LINE,
    T_EPS,
)
from .physics import clamp_vacuum, class_constants, hll_class, relaxation_factors, speed, wave_bounds

# the physics for exponents 1 and 2 only: closed forms, nothing in them that keeps a loop scalar
_closed = physics.build(general_exponents=False)
pressure, outflow_demand, entry_share = _closed.pressure, _closed.outflow_demand, _closed.entry_share
pce_supply, relax_and_account = _closed.pce_supply, _closed.relax_and_account

LANES = 8  #: scenarios per group: one 512-bit vector of float64


def supports(cp: np.ndarray) -> bool:
    """Whether this kernel applies to the class constants ``cp`` (both pressure exponents 1 or 2)."""
    return bool(np.all((cp[:, CP_GAMMA] == 1.0) | (cp[:, CP_GAMMA] == 2.0)))


# -- lane loops -----------------------------------------------------------------------------------
# They index flat arrays with unsigned offsets: the distance between any two accesses is then a
# constant LLVM can see (rows of LANES values), where signed or multi-dimensional indexing needs
# run-time overlap checks, too many of them for the cell update.  Layouts (lane innermost):
# W (G, S, C, 4, LANES), prim (S, C, 4, LANES) (v_m, v_c, P_m, P_c), fout/fin (S, 4, LANES),
# flows per entry (E, 8, LANES), scratch rows ``sc`` (N_ROWS, LANES) named R_*.
_Q = tuple(np.uint64(q * LANES) for q in range(4))
Q0, Q1, Q2, Q3 = _Q
CELL = np.uint64(4 * LANES)  #: values per cell in W and prim
# scratch rows, per lane: the step (dt/dx, exp(-dt/tau) per class, dt, active 1/0, dt or 1 when
# idle), green (1/0) at the segment in hand, the flux out of the cell in hand (4) and into it
# (4), running sums (TTS, delay, distance per class, clamped vehicles, stopped-vehicle
# equivalents on the segment in hand), the largest wave speed
(ROW_LAM, ROW_FAC, ROW_DT, ROW_ACT, ROW_DT_SAFE, ROW_FLOW, ROW_FLUX, ROW_PREV, ROW_TTS, ROW_DELAY, ROW_DIST,
 ROW_CLAMPED, ROW_STOP, ROW_SMAX, N_ROWS) = (0, 1, 3, 4, 5, 6, 7, 11, 15, 17, 19, 21, 22, 23, 24)
(R_LAM, R_FAC0, R_FAC1, R_DT, R_ACT, R_DT_SAFE, R_FLOW, R_FLUX, R_PREV, R_TTS, R_DELAY, R_DIST, R_CLAMPED, R_STOP,
 R_SMAX) = (np.uint64(r * LANES) for r in (ROW_LAM, ROW_FAC, ROW_FAC + 1, ROW_DT, ROW_ACT, ROW_DT_SAFE, ROW_FLOW,
                                            ROW_FLUX, ROW_PREV, ROW_TTS, ROW_DELAY, ROW_DIST, ROW_CLAMPED, ROW_STOP,
                                            ROW_SMAX))


@nb.njit(**JIT)
def _primitives(W, ow, prim, op, nl, cp, rho_jam):
    """Speeds and pressures of one cell (W offset ``ow``, prim offset ``op``) in every lane."""
    km, kc = class_constants(cp)
    for lane in range(nl):
        r0, y0, r1, y1 = W[ow + Q0 + lane], W[ow + Q1 + lane], W[ow + Q2 + lane], W[ow + Q3 + lane]
        e = km[K_PCE] * r0 + kc[K_PCE] * r1
        p0 = pressure(km, e, rho_jam)
        p1 = pressure(kc, e, rho_jam)
        prim[op + Q2 + lane] = p0
        prim[op + Q3 + lane] = p1
        prim[op + Q0 + lane] = speed(r0, y0, p0, km[K_VMAX])
        prim[op + Q1 + lane] = speed(r1, y1, p1, kc[K_VMAX])


@nb.njit(**JIT)
def _max_speeds(prim, op, nl, cp, sc):
    """``sc[R_SMAX]`` raised to the largest |eigenvalue| bound of the cell at prim offset ``op``."""
    g0, g1 = cp[0, CP_GAMMA], cp[1, CP_GAMMA]
    for lane in range(nl):
        v0, v1 = prim[op + Q0 + lane], prim[op + Q1 + lane]
        m = max(sc[R_SMAX + lane], v0, abs(v0 - g0 * prim[op + Q2 + lane]))
        sc[R_SMAX + lane] = max(m, v1, abs(v1 - g1 * prim[op + Q3 + lane]))


@nb.njit(**JIT)
def _hll(W, ow, prim, op, nl, cp, sc):
    """:func:`arz_rl.sim.scalar._hll_cached` between the cell at (ow, op) and the next, in every lane,
    into ``sc[R_FLUX:]``."""
    g0, g1 = cp[0, CP_GAMMA], cp[1, CP_GAMMA]
    wr, pr = ow + CELL, op + CELL
    for lane in range(nl):
        rml, yml, rcl, ycl = W[ow + Q0 + lane], W[ow + Q1 + lane], W[ow + Q2 + lane], W[ow + Q3 + lane]
        rmr, ymr, rcr, ycr = W[wr + Q0 + lane], W[wr + Q1 + lane], W[wr + Q2 + lane], W[wr + Q3 + lane]
        vml, vcl, vmr, vcr = prim[op + Q0 + lane], prim[op + Q1 + lane], prim[pr + Q0 + lane], prim[pr + Q1 + lane]
        sl, sr = wave_bounds(math.inf, -math.inf, rml, yml, vml, prim[op + Q2 + lane], rmr, vmr,
                              prim[pr + Q2 + lane], g0)
        sl, sr = wave_bounds(sl, sr, rcl, ycl, vcl, prim[op + Q3 + lane], rcr, vcr, prim[pr + Q3 + lane], g1)
        # no class on either side (sl still inf): _hll_class gives zeros for both
        f0, f1 = hll_class(rml, yml, rmr, ymr, vml, vmr, sl, sr)
        f2, f3 = hll_class(rcl, ycl, rcr, ycr, vcl, vcr, sl, sr)
        sc[R_FLUX + Q0 + lane] = f0
        sc[R_FLUX + Q1 + lane] = f1
        sc[R_FLUX + Q2 + lane] = f2
        sc[R_FLUX + Q3 + lane] = f3


@nb.njit(**JIT)
def _update(W, ow, prim, op, nl, sc, cp, dx, rho_jam):
    """Update the cell at (ow, op) in every lane from the flux into it (``sc[R_PREV:]``) and out
    of it (``sc[R_FLUX:]``), then clamp, relax, cache speeds/pressures and account (the body of
    the scalar kernel's cell loop).  A lane whose ``sc[R_ACT]`` is 0 keeps its state."""
    km, kc = class_constants(cp)
    for lane in range(nl):
        lam, dt = sc[R_LAM + lane], sc[R_DT + lane]
        f0, f1, f2, f3 = sc[R_FLUX + Q0 + lane], sc[R_FLUX + Q1 + lane], sc[R_FLUX + Q2 + lane], \
            sc[R_FLUX + Q3 + lane]
        old0, old1, old2, old3 = W[ow + Q0 + lane], W[ow + Q1 + lane], W[ow + Q2 + lane], W[ow + Q3 + lane]
        r0 = old0 - lam * (f0 - sc[R_PREV + Q0 + lane])
        y0 = old1 - lam * (f1 - sc[R_PREV + Q1 + lane])
        r1 = old2 - lam * (f2 - sc[R_PREV + Q2 + lane])
        y1 = old3 - lam * (f3 - sc[R_PREV + Q3 + lane])
        sc[R_PREV + Q0 + lane] = f0
        sc[R_PREV + Q1 + lane] = f1
        sc[R_PREV + Q2 + lane] = f2
        sc[R_PREV + Q3 + lane] = f3
        clamped = sc[R_CLAMPED + lane]
        r0, y0, removed0 = clamp_vacuum(r0, y0, dx)
        r1, y1, removed1 = clamp_vacuum(r1, y1, dx)
        clamped += removed0
        clamped += removed1
        sc[R_CLAMPED + lane] = clamped
        e = km[K_PCE] * r0 + kc[K_PCE] * r1
        y0, v0, p0, tts0, delay0, dist0, stop0 = relax_and_account(km, r0, y0, e, sc[R_FAC0 + lane], dx, dt, rho_jam)
        y1, v1, p1, tts1, delay1, dist1, stop1 = relax_and_account(kc, r1, y1, e, sc[R_FAC1 + lane], dx, dt, rho_jam)
        prim[op + Q0 + lane] = v0
        prim[op + Q1 + lane] = v1
        prim[op + Q2 + lane] = p0
        prim[op + Q3 + lane] = p1
        sc[R_TTS + Q0 + lane] += tts0
        sc[R_DELAY + Q0 + lane] += delay0
        sc[R_DIST + Q0 + lane] += dist0
        sc[R_TTS + Q1 + lane] += tts1
        sc[R_DELAY + Q1 + lane] += delay1
        sc[R_DIST + Q1 + lane] += dist1
        stop = sc[R_STOP + lane] + stop0
        sc[R_STOP + lane] = stop + stop1
        act = sc[R_ACT + lane] > 0.0
        W[ow + Q0 + lane] = r0 if act else old0
        W[ow + Q1 + lane] = y0 if act else old1
        W[ow + Q2 + lane] = r1 if act else old2
        W[ow + Q3 + lane] = y1 if act else old3


@nb.njit(**JIT)
def _stop_line_flux(W, ow, ow_a, ow_b, to_a, to_b, sh_a, sh_b, nl, sc, cp, rho_jam, fout, fo):
    """Flow out of a segment whose last cell is at ``ow`` (into ``fout`` at offset ``fo``, (4, LANES))
    in every lane: demand of that cell, limited at a stop line by the supply of the destinations
    at ``ow_a``/``ow_b`` (when ``to_a``/``to_b``; shares ``sh_a``/``sh_b``) and by ``sc[R_FLOW]``
    (1 on green)."""
    km, kc = class_constants(cp)
    for lane in range(nl):
        dm0, dm1, w0, w1, dp = outflow_demand(km, kc, W[ow + Q0 + lane], W[ow + Q1 + lane], W[ow + Q2 + lane],
                                              W[ow + Q3 + lane], rho_jam)
        theta = 1.0
        if to_a:
            sp = pce_supply(km, kc, W[ow_a + Q0 + lane], W[ow_a + Q1 + lane], W[ow_a + Q2 + lane],
                             W[ow_a + Q3 + lane], dm0, dm1, w0, w1, dp, rho_jam)
            theta = min(theta, sp / (sh_a * dp))
        if to_b:
            sp = pce_supply(km, kc, W[ow_b + Q0 + lane], W[ow_b + Q1 + lane], W[ow_b + Q2 + lane],
                             W[ow_b + Q3 + lane], dm0, dm1, w0, w1, dp, rho_jam)
            theta = min(theta, sp / (sh_b * dp))
        ok = sc[R_FLOW + lane] > 0.0 and dp > 0.0
        q0 = theta * dm0 if ok else 0.0
        q1 = theta * dm1 if ok else 0.0
        fout[fo + Q0 + lane] = q0
        fout[fo + Q1 + lane] = q0 * w0
        fout[fo + Q2 + lane] = q1
        fout[fo + Q3 + lane] = q1 * w1


@nb.njit(**JIT)
def _entry_flux(W, ow, nl, flows, eo, cp, rho_jam, fin, fi):
    """Flow from an entry queue into the first cell of its segment (at ``ow``) in every lane:
    demand = queue/dt + arrival rate, limited by that cell's supply.  ``flows`` at offset ``eo``:
    rows queue/dt m/c, arrival rate m/c, entry flux m/c (written); ``fin`` at ``fi`` (written)."""
    km, kc = class_constants(cp)
    for lane in range(nl):
        d0 = flows[eo + Q0 + lane] + flows[eo + Q2 + lane]
        d1 = flows[eo + Q1 + lane] + flows[eo + Q3 + lane]
        theta = entry_share(km, kc, d0, d1, W[ow + Q0 + lane], W[ow + Q1 + lane], W[ow + Q2 + lane],
                            W[ow + Q3 + lane], rho_jam)
        q0 = theta * d0
        q1 = theta * d1
        flows[eo + CELL + Q0 + lane] = q0
        flows[eo + CELL + Q1 + lane] = q1
        fin[fi + Q0 + lane] = q0
        fin[fi + Q1 + lane] = q0 * km[K_VMAX]
        fin[fi + Q2 + lane] = q1
        fin[fi + Q3 + lane] = q1 * kc[K_VMAX]


@nb.njit(**JIT_INLINE)
def _cell(g, s, c, n_seg, n_c):
    """Offset of cell c of segment s of group g in W flat; with g = 0, its offset in prim (which
    has W's layout for one group)."""
    return np.uint64(((g * n_seg + s) * n_c + c) * 4 * LANES)


@nb.njit(**JIT)
def _boundary_fluxes(Wf, g, b0, lanes, nl, queue, net, sig, cp, rho_jam, n_c, sc, fin, fout, flows, exit_flux):
    """:func:`arz_rl.sim.scalar.boundary_fluxes` for the lanes of group g (``Wf``: W flat): ``fin``/``fout``
    (S, 4, LANES), ``flows`` (E, 8, LANES) (rows: queue/dt, arrival rates, entry fluxes, per class;
    the rates filled by the caller), ``exit_flux`` (2, LANES); ``sc`` the scratch rows, flat;
    ``nl`` = LANES, the lane loops' trip count (see :func:`_advance_group`)."""
    seg_int, seg_frac, entry_seg = net.seg_int, net.seg_frac, net.entry_seg
    n_seg = seg_int.shape[0]
    finf, foutf, flowsf = fin.reshape(-1), fout.reshape(-1), flows.reshape(-1)
    fin[:] = 0.0
    exit_flux[:] = 0.0
    for s in range(n_seg):
        kind = seg_int[s, SEG_OUT]
        for lane in range(LANES):
            sc[R_FLOW + np.uint64(lane)] = 1.0
        if kind == STOP_LINE:
            j = seg_int[s, SEG_JUNCTION]
            for lane in range(lanes):
                green = flowing_phase(sig[b0 + lane, j], net.junc_times[j]) == seg_int[s, SEG_PHASE]
                sc[R_FLOW + np.uint64(lane)] = 1.0 if green else 0.0
        d_a, d_b = seg_int[s, SEG_DEST], seg_int[s, SEG_DEST + 1]
        to_a = kind == STOP_LINE and d_a >= 0 and seg_frac[s, 0] > 0.0
        to_b = kind == STOP_LINE and d_b >= 0 and seg_frac[s, 1] > 0.0
        last = _cell(g, s, GHOST + seg_int[s, SEG_CELLS] - 1, n_seg, n_c)
        first_a, first_b = _cell(g, max(d_a, 0), GHOST, n_seg, n_c), _cell(g, max(d_b, 0), GHOST, n_seg, n_c)
        _stop_line_flux(Wf, last, first_a, first_b, to_a, to_b, seg_frac[s, 0], seg_frac[s, 1], nl, sc, cp, rho_jam,
                        foutf, np.uint64(s * 4 * LANES))
        route_outflow(s, seg_int, seg_frac, fout, fin, exit_flux)
    for e_ in range(entry_seg.shape[0]):
        s = entry_seg[e_]
        for lane in range(lanes):
            for i in range(2):
                flows[e_, i, lane] = queue[b0 + lane, e_, i] / sc[R_DT_SAFE + np.uint64(lane)]
        _entry_flux(Wf, _cell(g, s, GHOST, n_seg, n_c), nl, flowsf, np.uint64(e_ * 8 * LANES), cp, rho_jam, finf,
                    np.uint64(s * 4 * LANES))


@nb.njit(**JIT)
def _advance_group(g, W, st, net, num, t_end):
    """Advance the scenarios of group g (batch indices g*LANES ...) to ``t_end`` (s)."""
    U, queue, sig, t, acc = st.U, st.queue, st.sig, st.t, st.acc
    cp, rho_jam, dx = num.cp, num.rho_jam, num.dx
    seg_int = net.seg_int
    n_seg = seg_int.shape[0]
    n_e = net.entry_seg.shape[0]
    n_c = U.shape[3]
    b0 = g * LANES
    lanes = min(LANES, U.shape[0] - b0)
    # the lane loops' trip count, read from an array so that it is not a compile-time constant:
    # LLVM would unroll a loop of 8 instead of vectorising it
    nl = np.uint64(W.shape[4])
    Wf = W.reshape(-1)
    prim = np.zeros((n_seg, n_c, 4, LANES))
    primf = prim.reshape(-1)
    sc2 = np.zeros((N_ROWS, LANES))
    sc = sc2.reshape(-1)
    fin = np.zeros((n_seg, 4, LANES))
    fout = np.zeros((n_seg, 4, LANES))
    flows = np.zeros((n_e, 8, LANES))
    ex = np.zeros((2, LANES))
    stopped = np.zeros((n_seg, LANES))
    tb = np.zeros(LANES)
    active = np.zeros(LANES, dtype=np.bool_)
    sc2[ROW_DT_SAFE] = 1.0
    sc2[ROW_FAC:ROW_FAC + 2] = 1.0
    W[g] = 0.0  # lanes past the end of the batch stay empty (and idle)
    for lane in range(lanes):
        for s in range(n_seg):
            for c in range(n_c):
                for q in range(4):
                    W[g, s, c, q, lane] = U[b0 + lane, s, q, c]
    for s in range(n_seg):
        for c in range(GHOST, GHOST + seg_int[s, SEG_CELLS]):
            _primitives(Wf, _cell(g, s, c, n_seg, n_c), primf, _cell(0, s, c, n_seg, n_c), nl, cp, rho_jam)
    while True:
        any_active = False
        for lane in range(lanes):
            b = b0 + lane
            active[lane] = t[b] < t_end - T_EPS
            if active[lane]:
                any_active = True
                tb[lane] = t[b]
                sc2[ROW_DT, lane] = signal_step(b, sig, st.request, st.plan, tb[lane], t_end - tb[lane],
                                                net.junc_times, acc)
        if not any_active:
            break
        sc2[ROW_SMAX] = 1e-6
        for s in range(n_seg):
            for c in range(GHOST, GHOST + seg_int[s, SEG_CELLS]):
                _max_speeds(primf, _cell(0, s, c, n_seg, n_c), nl, cp, sc)
        for lane in range(LANES):
            if active[lane]:
                dt = max(min(sc2[ROW_DT, lane], num.cfl * dx / sc2[ROW_SMAX, lane]), T_EPS)
                rates_at(st.demand_rates[b0 + lane], net.knots, tb[lane], flows[:, 2:4, lane])
                sc2[ROW_FAC, lane], sc2[ROW_FAC + 1, lane] = relaxation_factors(cp, dt)
                sc2[ROW_ACT, lane] = 1.0
                sc2[ROW_DT_SAFE, lane] = dt
            else:
                dt = 0.0
                sc2[ROW_FAC, lane] = sc2[ROW_FAC + 1, lane] = 1.0
                sc2[ROW_ACT, lane] = 0.0
                sc2[ROW_DT_SAFE, lane] = 1.0
            sc2[ROW_DT, lane] = dt
            sc2[ROW_LAM, lane] = dt / dx
        _boundary_fluxes(Wf, g, b0, lanes, nl, queue, net, sig, cp, rho_jam, n_c, sc, fin, fout, flows, ex)
        sc2[ROW_TTS:ROW_STOP] = 0.0
        for s in range(n_seg):
            n = seg_int[s, SEG_CELLS]
            sc2[ROW_PREV:ROW_PREV + 4] = fin[s]
            sc2[ROW_STOP] = 0.0
            for k in range(n):
                c = GHOST + k
                ow = _cell(g, s, c, n_seg, n_c)
                op = _cell(0, s, c, n_seg, n_c)
                if k < n - 1:
                    _hll(Wf, ow, primf, op, nl, cp, sc)
                else:
                    sc2[ROW_FLUX:ROW_FLUX + 4] = fout[s]
                _update(Wf, ow, primf, op, nl, sc, cp, dx, rho_jam)
            stopped[s] = sc2[ROW_STOP]
        for lane in range(lanes):
            if not active[lane]:
                continue
            b = b0 + lane
            dt = sc2[ROW_DT, lane]
            acc[b, ACC_CLAMPED] += sc2[ROW_CLAMPED, lane]
            count_boundary_flows(b, queue, acc, flows[:, 2:4, lane], dt, flows[:, 4:6, lane], ex[:, lane])
            for i in range(2):
                acc[b, ACC_TTS + i] += sc2[ROW_TTS + i, lane]
                acc[b, ACC_DELAY + i] += sc2[ROW_DELAY + i, lane]
                acc[b, ACC_DIST + i] += sc2[ROW_DIST + i, lane]
            end_substep(b, sig, queue, acc, st.jq, t, net.junc, seg_int, stopped[:, lane], tb[lane], dt)
    for lane in range(lanes):
        for s in range(n_seg):
            for c in range(n_c):
                for q in range(4):
                    U[b0 + lane, s, q, c] = W[g, s, c, q, lane]


@nb.njit(**JIT)
def advance_lanes_serial(W, st, net, num, t_end):
    """:func:`advance_lanes` on the calling thread."""
    for g in range(W.shape[0]):
        _advance_group(g, W, st, net, num, t_end)


@nb.njit(parallel=True, **JIT)
def advance_lanes(W, st, net, num, t_end):
    """Advance every scenario of ``st`` to ``t_end`` (s), groups of lanes spread over threads.

    ``W`` (G, S, C, 4, LANES) is scratch for the lane layout of ``U`` (B, S, 4, C), G = ceil(B/LANES).
    """
    for g in nb.prange(W.shape[0]):
        _advance_group(g, W, st, net, num, t_end)
