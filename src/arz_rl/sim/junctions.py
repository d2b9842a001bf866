"""What happens between cell updates, per scenario: signals, entry arrivals and queues, counters.

Written once for every kernel: the scalar and SIMD-lane kernels call these per scenario, and the
torch step calls the batched forms below on its CPU copy of the signals (they are cheap and
branchy, the cells are what a GPU is for).

Signals: ``sig[b, j]`` = (phase, target, transition left s, time in phase s).  A switch starts a
transition of ``yellow`` then ``all_red``; a switch is only allowed after ``min_green``.  Traffic
discharges on the *effective* green (HCM 6th ed., ch. 19): from ``startup_lost`` seconds after a
green starts (drivers react and accelerate) until ``yellow_used`` seconds into the yellow (the
effective green's extension into it); the rest of the yellow and the all-red are clearance lost
time.  The lost time of a phase is ``startup_lost + yellow + all_red - yellow_used`` and a
signalised approach's capacity ``s (C - L) / C`` over a cycle ``C`` with lost time ``L`` (tested).
A junction follows ``request[b, j]`` unless a fixed-time plan ``plan[b, j]`` = (cycle s, main
green s, offset s) with cycle > 0 is set; the plan's main green (displayed) ends ``main green +
yellow + all_red`` seconds into the cycle.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .layout import (
    ACC_ARRIVED,
    ACC_DELAY,
    ACC_ENTERED,
    ACC_EXITED,
    ACC_SUBSTEPS,
    ACC_SWITCHES,
    ACC_TTS,
    EXIT,
    JIT,
    JQ_INTEGRAL,
    JQ_MAX,
    JQ_NOW,
    JT_ALL_RED,
    JT_MIN_GREEN,
    JT_STARTUP_LOST,
    JT_YELLOW,
    JT_YELLOW_USED,
    PLAN_CYCLE,
    PLAN_MAIN_GREEN,
    PLAN_OFFSET,
    SEG_DEST,
    SEG_ENTRY,
    SEG_OUT,
    SIG_PHASE,
    SIG_TARGET,
    SIG_TIME,
    SIG_TRANS,
    SINK,
    T_EPS,
)


@nb.njit(**JIT)
def rates_at(dem_b, knots, t, out):
    """Arrival rates ``out`` (E, 2) (veh/s) of every entry and class at time ``t`` (s): linear
    between the knots of ``dem_b`` (E, 2, K), constant outside them."""
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
def flowing_phase(sig_j, times_j):
    """Phase discharging now at a junction (its signal ``sig_j``, its ``junc_times`` row
    ``times_j``), or -1 during lost time (start-up, the unused part of the yellow, all-red)."""
    trans = sig_j[SIG_TRANS]
    if trans > 0.0:  # the old phase discharges during the first yellow_used s of its yellow
        clearance = times_j[JT_YELLOW] + times_j[JT_ALL_RED] - times_j[JT_YELLOW_USED]
        return int(sig_j[SIG_PHASE]) if trans > clearance + T_EPS else -1
    return int(sig_j[SIG_PHASE]) if sig_j[SIG_TIME] >= times_j[JT_STARTUP_LOST] - T_EPS else -1


@nb.njit(**JIT)
def signal_step(b, sig, request, plan, tb, dt, junc_times, acc):
    """Start the transitions due at time ``tb`` in scenario b and return the step (s, at most
    ``dt``) that ends at its next signal event (end of yellow, of all-red, of min green, a plan's
    switch)."""
    for j in range(sig.shape[1]):
        yellow, all_red = junc_times[j, JT_YELLOW], junc_times[j, JT_ALL_RED]
        min_green = junc_times[j, JT_MIN_GREEN]
        cycle = plan[b, j, PLAN_CYCLE]
        if cycle > 0.0:
            boundary = plan[b, j, PLAN_MAIN_GREEN] + yellow + all_red
            tau = (tb - plan[b, j, PLAN_OFFSET]) % cycle
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
        if trans > 0.0:  # next: the end of the discharge into the yellow, the end of the yellow, of all-red
            clearance = yellow + all_red - junc_times[j, JT_YELLOW_USED]
            nxt = 0.0
            if clearance < trans - T_EPS:
                nxt = clearance
            if all_red < trans - T_EPS and all_red > nxt:
                nxt = all_red
            dt = min(dt, trans - nxt)
        elif sig[b, j, SIG_TIME] < junc_times[j, JT_STARTUP_LOST] - T_EPS:  # the start-up lost time ends
            dt = min(dt, junc_times[j, JT_STARTUP_LOST] - sig[b, j, SIG_TIME])
    return dt


@nb.njit(**JIT)
def tick_signals(b, sig, dt):
    """Advance every signal clock of scenario b by ``dt`` (s), ending transitions that are over."""
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
def route_outflow(s, seg_int, seg_frac, fout, fin, exit_flux):
    """Send what leaves segment s (``fout[s]`` (4, L) veh/s, for L scenarios side by side) where it
    goes: from an exit out of the network (``exit_flux`` (2, L) veh/s per class), from a stop line
    in its turning shares into the destinations' inflows ``fin`` (S, 4, L) or out (SINK)."""
    if seg_int[s, SEG_OUT] == EXIT:
        for lane in range(fout.shape[2]):
            exit_flux[0, lane] += fout[s, 0, lane]
            exit_flux[1, lane] += fout[s, 2, lane]
        return
    for k in range(2):
        dest = seg_int[s, SEG_DEST + k]
        share = seg_frac[s, k]
        if dest >= 0:
            for q in range(4):
                for lane in range(fout.shape[2]):
                    fin[dest, q, lane] += share * fout[s, q, lane]
        elif dest == SINK:
            for lane in range(fout.shape[2]):
                exit_flux[0, lane] += share * fout[s, 0, lane]
                exit_flux[1, lane] += share * fout[s, 2, lane]


@nb.njit(**JIT)
def count_boundary_flows(b, queue, acc, rates, dt, entry_flux, exit_flux):
    """Arrivals (``rates`` (E, 2) veh/s), entries (``entry_flux`` (E, 2)) and exits (``exit_flux``
    (2,)) over a step ``dt``; the entry queues and the time spent in them."""
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
def end_substep(b, sig, queue, acc, jq, t, junc, seg_int, stopped, tb, dt):
    """After a substep ``dt`` from ``tb``: the queue at every junction (stopped-vehicle equivalents
    on both approaches, ``stopped`` (S,), plus their entry queues), the signal clocks, the substep
    count and the time of scenario b."""
    for j in range(junc.shape[0]):
        qn = 0.0
        for a in range(2):
            s = junc[j, a]
            qn += stopped[s]
            ent = seg_int[s, SEG_ENTRY]
            if ent >= 0:
                qn += queue[b, ent, 0] + queue[b, ent, 1]
        jq[b, j, JQ_NOW] = qn
        jq[b, j, JQ_INTEGRAL] += qn * dt
        jq[b, j, JQ_MAX] = max(jq[b, j, JQ_MAX], qn)
    tick_signals(b, sig, dt)
    acc[b, ACC_SUBSTEPS] += 1.0
    t[b] = tb + dt


# -- batched forms, for the torch step ------------------------------------------------------------
@nb.njit(**JIT)
def signal_steps(sig, request, plan, t, t_end, active, junc_times, acc, dt_out):
    """:func:`signal_step` of every active scenario, from its own time ``t[b]`` up to ``t_end``:
    the step of each into ``dt_out`` (B,); inactive ones get 0."""
    for b in range(sig.shape[0]):
        dt_out[b] = signal_step(b, sig, request, plan, t[b], t_end - t[b], junc_times, acc) if active[b] else 0.0


@nb.njit(**JIT)
def flowing_phases(sig, junc_times, out):
    """:func:`flowing_phase` of every junction of every scenario into ``out`` (B, J) float."""
    for b in range(sig.shape[0]):
        for j in range(sig.shape[1]):
            out[b, j] = flowing_phase(sig[b, j], junc_times[j])


@nb.njit(**JIT)
def tick_all_signals(sig, dt, active):
    """:func:`tick_signals` of every active scenario by its own ``dt[b]``."""
    for b in range(sig.shape[0]):
        if active[b]:
            tick_signals(b, sig, dt[b])
