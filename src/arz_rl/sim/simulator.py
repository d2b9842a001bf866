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

import numba as nb
import numpy as np

from .network import EXIT, SINK, STOP_LINE, Network, Scenario, build_network, sample_demand
from .numerics import JIT, RHO_EPS, demand, hll_flux, max_wave_speed, relax_cell, supply, velocity
from .params import ModelParams
from .road import GHOST, reconstruct_faces

# accumulators acc[b, :] (per class pairs m, c)
ACC_ARRIVED, ACC_ENTERED, ACC_EXITED, ACC_TTS, ACC_DELAY, ACC_DIST = 0, 2, 4, 6, 8, 10
ACC_SWITCHES, ACC_CLAMPED, ACC_SUBSTEPS, NACC = 12, 13, 14, 15
SIG_PHASE, SIG_TARGET, SIG_TRANS, SIG_TIME = 0, 1, 2, 3
JQ_INTEGRAL, JQ_MAX, JQ_NOW = 0, 1, 2
T_EPS = 1e-9


@nb.njit(**JIT)
def _rate(dem: np.ndarray, knots: np.ndarray, t: float) -> float:
    """Piecewise-linear arrival rate (veh/s) at time t from knot values ``dem`` (K,)."""
    k = knots.shape[0]
    if t <= knots[0]:
        return dem[0]
    if t >= knots[k - 1]:
        return dem[k - 1]
    j = np.searchsorted(knots, t) - 1
    a = (t - knots[j]) / (knots[j + 1] - knots[j])
    return (1.0 - a) * dem[j] + a * dem[j + 1]


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
def _stage(u, out, queue, dem_b, knots, t, dt, seg_int, seg_frac, junc_times, sig_b, entry_seg,
           order, dx, cp, rho_jam, left, right, fin, fout, entry_flux, exit_flux, f):
    """One forward-Euler stage ``out = u + dt L(u)`` of a whole network; boundary flows
    (veh/s) of the stage go to ``entry_flux`` (E, 2) and ``exit_flux`` (2,)."""
    n_seg = seg_int.shape[0]
    fin[:, :] = 0.0
    fout[:, :] = 0.0
    exit_flux[:] = 0.0
    for s in range(n_seg):
        n = seg_int[s, 0]
        for q in range(4):
            for g in range(GHOST):
                u[s, q, g] = u[s, q, GHOST]
                u[s, q, n + GHOST + g] = u[s, q, n + GHOST - 1]
        reconstruct_faces(u[s], n, order, left[s], right[s], cp, rho_jam)
    dmd = np.empty(2)
    wup = np.empty(2)
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
    w_free = cp[:, 0].copy()  # drivers enter in equilibrium: w = v_max
    for e in range(entry_seg.shape[0]):
        s = entry_seg[e]
        dp = 0.0
        for i in range(2):
            dmd[i] = queue[e, i] / dt + _rate(dem_b[e, i], knots, t)
            dp += cp[i, 3] * dmd[i]
        theta = 0.0
        if dp > 0.0:
            theta = min(1.0, _pce_supply(u[s, :, GHOST], dmd, w_free, dp, cp, rho_jam) / dp)
        for i in range(2):
            qi = theta * dmd[i]
            entry_flux[e, i] = qi
            fin[s, 2 * i] = qi
            fin[s, 2 * i + 1] = qi * cp[i, 0]
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
def _advance_one(b, U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac,
                 junc, junc_times, entry_seg, order, cfl, dx, cp, rho_jam, acc, jq):
    n_seg = seg_int.shape[0]
    n_j = junc.shape[0]
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
    dem_b = demand_rates[b]
    while t[b] < t_end - T_EPS:
        tb = t[b]
        dt = t_end - tb
        for j in range(n_j):
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
        for e in range(n_e):
            for i in range(2):
                arrived = _rate(dem_b[e, i], knots, tb) * dt
                acc[b, ACC_ARRIVED + i] += arrived
                acc[b, ACC_ENTERED + i] += ef2[e, i] * dt
                queue[b, e, i] = max(0.0, queue[b, e, i] + arrived - ef2[e, i] * dt)
                acc[b, ACC_TTS + i] += queue[b, e, i] * dt
                acc[b, ACC_DELAY + i] += queue[b, e, i] * dt
        for i in range(2):
            acc[b, ACC_EXITED + i] += ex2[i] * dt
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
        for j in range(n_j):
            qn = 0.0
            for a in range(2):
                s = junc[j, a]
                for k in range(GHOST, GHOST + seg_int[s, 0]):
                    e_loc = cp[0, 3] * u[s, 0, k] + cp[1, 3] * u[s, 2, k]
                    for i in range(2):
                        rho = u[s, 2 * i, k]
                        if rho > RHO_EPS:
                            # stopped-vehicle equivalents: a vehicle at speed v counts 1 - v/v_max
                            v = velocity(i, rho, u[s, 2 * i + 1, k], e_loc, cp, rho_jam)
                            qn += rho * dx * (1.0 - v / cp[i, 0])
                ent = seg_int[s, 1]
                if ent >= 0:
                    qn += queue[b, ent, 0] + queue[b, ent, 1]
            jq[b, j, JQ_NOW] = qn
            jq[b, j, JQ_INTEGRAL] += qn * dt
            jq[b, j, JQ_MAX] = max(jq[b, j, JQ_MAX], qn)
            if sig[b, j, SIG_TRANS] > 0.0:
                sig[b, j, SIG_TRANS] -= dt
                if sig[b, j, SIG_TRANS] <= T_EPS:
                    sig[b, j, SIG_TRANS] = 0.0
                    sig[b, j, SIG_PHASE] = sig[b, j, SIG_TARGET]
                    sig[b, j, SIG_TIME] = 0.0
            else:
                sig[b, j, SIG_TIME] += dt
        acc[b, ACC_SUBSTEPS] += 1.0
        t[b] = tb + dt


@nb.njit(**JIT)
def advance_serial(U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac, junc,
                   junc_times, entry_seg, order, cfl, dx, cp, rho_jam, acc, jq):
    """Advance every scenario of the batch to ``t_end`` (s), one after the other."""
    for b in range(U.shape[0]):
        _advance_one(b, U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac,
                     junc, junc_times, entry_seg, order, cfl, dx, cp, rho_jam, acc, jq)


@nb.njit(parallel=True, cache=True, nogil=True)
def advance_parallel(U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac, junc,
                     junc_times, entry_seg, order, cfl, dx, cp, rho_jam, acc, jq):
    """Advance every scenario of the batch to ``t_end`` (s), scenarios spread over threads."""
    for b in nb.prange(U.shape[0]):
        _advance_one(b, U, queue, sig, request, plan, t, t_end, demand_rates, knots, seg_int, seg_frac,
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
    """

    def __init__(self, scenario: Scenario, batch_size: int = 1, order: int = 1, cfl: float = 0.45,
                 params: ModelParams | None = None, parallel: bool | None = None) -> None:
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
        self.order = order
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
        kernel = advance_parallel if self.parallel else advance_serial
        net = self.net
        kernel(self.U, self.queue, self.sig, self.request, self.plan, self.t, float(self.t.max() + duration),
               self.demand_rates, net.knots, net.seg_int, net.seg_frac, net.junc, net.junc_times,
               net.entry_seg, self.order, self.cfl, self.scenario.dx, self.cp, self.rho_jam,
               self.acc, self.jq)

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
