"""The batched first-order step in torch, for GPUs: thousands of scenarios advanced at once.

Same numerics as :func:`arz_rl.sim.scalar.advance_first_order` (HLL, forward Euler,
Herty-Rascle demand/supply at segment ends, clamping, exact relaxation, the same
accounting), vectorised over the batch instead of looped: every scenario keeps its own
CFL step ``dt[b]``, and scenarios that reached ``t_end`` get ``dt = 0`` and are left
untouched while the others finish.  Float64 throughout, so it agrees with the numba
kernel to round-off (tested on the CPU).

:class:`TorchPhysics` is the tensor twin of :mod:`arz_rl.sim.physics` (the one other place
the pressure law is written).  The signals are not twinned: they stay on the CPU and go through
:mod:`arz_rl.sim.junctions`' own functions at every substep (a few numbers per scenario); only
the step lengths and the phase flowing at each junction cross to the device.

:func:`advance_torch` copies the :class:`~arz_rl.sim.Simulator`'s numpy state to the
device, advances it and copies it back, so every read-out of the simulator works
unchanged.  Imported only when a simulator runs on a torch device, so that numba-only use
never loads torch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..device import torch_name
from .junctions import flowing_phases, signal_steps, tick_all_signals
from .layout import (
    ACC_ARRIVED,
    ACC_CLAMPED,
    ACC_DELAY,
    ACC_DIST,
    ACC_ENTERED,
    ACC_EXITED,
    ACC_SUBSTEPS,
    ACC_SWITCHES,
    ACC_TTS,
    CP_GAMMA,
    CP_PCE,
    CP_TAU,
    CP_VMAX,
    EXIT,
    GHOST,
    JQ_INTEGRAL,
    JQ_MAX,
    JQ_NOW,
    NACC,
    RHO_EPS,
    SEG_CELLS,
    SEG_DEST,
    SEG_ENTRY,
    SEG_JUNCTION,
    SEG_OUT,
    SEG_PHASE,
    SINK,
    STOP_LINE,
    T_EPS,
)
from .physics import BISECTION_STEPS


def torch_device(device: str) -> Any:
    """``torch.device`` of a simulator device (``cpu``, or ``gpu``: the first CUDA device)."""
    if device == "gpu" and not torch.cuda.is_available():
        raise RuntimeError("device=gpu but torch sees no CUDA device on this machine")
    return torch.device(torch_name(device))


class TorchPhysics:
    """The pointwise physics of :mod:`arz_rl.sim.physics` on tensors (class constants as floats)."""

    def __init__(self, cp: np.ndarray, rho_jam: float) -> None:
        self.vmax = [float(cp[i, CP_VMAX]) for i in range(2)]
        self.gamma = [float(cp[i, CP_GAMMA]) for i in range(2)]
        self.tau = [float(cp[i, CP_TAU]) for i in range(2)]
        self.pce = [float(cp[i, CP_PCE]) for i in range(2)]
        self.rho_jam = float(rho_jam)

    def pressure(self, i, e):
        r = torch.clamp(e / self.rho_jam, min=0.0)
        g = self.gamma[i]
        if g == 1.0:
            p = self.vmax[i] * r
        elif g == 2.0:
            p = self.vmax[i] * r * r
        else:
            p = self.vmax[i] * r**g
        return torch.where(e > 0.0, p, torch.zeros_like(p))

    def inverse_pressure(self, i, p):
        return self.rho_jam * torch.clamp(p / self.vmax[i], min=0.0) ** (1.0 / self.gamma[i])

    def speed(self, i, rho, y, p):
        safe = torch.where(rho > RHO_EPS, rho, torch.ones_like(rho))
        v = torch.clamp(y / safe - p, min=0.0, max=self.vmax[i])
        return torch.where(rho > RHO_EPS, v, torch.clamp(self.vmax[i] - p, min=0.0))

    def critical(self, i, w, b):
        g, vmax, rj = self.gamma[i], self.vmax[i], self.rho_jam
        k = w * rj / vmax
        if g == 1.0:
            return 0.5 * (k + b)
        if g == 2.0:
            return (2.0 * b + torch.sqrt(4.0 * b * b + 12.0 * k * rj)) / 6.0
        lo = b.clone()
        hi = self.inverse_pressure(i, w)
        for _ in range(BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            p = self.pressure(i, mid)
            safe = torch.where(mid > 0.0, mid, torch.ones_like(mid))
            gval = torch.where(mid > 0.0, w - p * (1.0 + g * (mid - b) / safe), w)
            lo = torch.where(gval > 0.0, mid, lo)
            hi = torch.where(gval > 0.0, hi, mid)
        return 0.5 * (lo + hi)

    def flux_on_curve(self, i, e, b, w):
        return torch.clamp((e - b) / self.pce[i] * (w - self.pressure(i, e)), min=0.0)

    def demand(self, i, u):
        """u: list of the four components (each (B,))."""
        rho, y = u[2 * i], u[2 * i + 1]
        safe = torch.where(rho > RHO_EPS, rho, torch.ones_like(rho))
        w = y / safe
        e = self.pce[0] * u[0] + self.pce[1] * u[2]
        b = e - self.pce[i] * rho
        ec = self.critical(i, w, b)
        q = self.flux_on_curve(i, torch.minimum(e, ec), b, w)
        ok = (rho > RHO_EPS) & (w > self.pressure(i, b))
        return torch.where(ok, q, torch.zeros_like(q))

    def supply(self, i, u, w_in):
        e = self.pce[0] * u[0] + self.pce[1] * u[2]
        b = e - self.pce[i] * u[2 * i]
        ec = self.critical(i, w_in, b)
        cap = self.flux_on_curve(i, ec, b, w_in)
        v_down = self.speed(i, u[2 * i], u[2 * i + 1], self.pressure(i, e))
        p_star = w_in - v_down
        e_star = self.inverse_pressure(i, p_star)
        q = torch.where((p_star <= 0.0) | (e_star <= ec), cap, self.flux_on_curve(i, e_star, b, w_in))
        return torch.where(w_in > self.pressure(i, b), q, torch.zeros_like(q))

    def pce_supply(self, u_down, dmd, w_in, dp):
        safe = torch.where(dp > 0.0, dp, torch.ones_like(dp))
        sp = torch.zeros_like(dp)
        for i in range(2):
            term = self.pce[i] * dmd[i] / safe * self.pce[i] * self.supply(i, u_down, w_in[i])
            sp = sp + torch.where(dmd[i] > 0.0, term, torch.zeros_like(term))
        return sp


def _rate(dem, knots, t):
    """Piecewise-linear arrival rates: dem (B, E, 2, K), t (B,) -> (B, E, 2)."""
    k = knots.shape[0]
    j = torch.clamp(torch.searchsorted(knots, t.contiguous(), right=False) - 1, 0, k - 2)
    a = (t - knots[j]) / (knots[j + 1] - knots[j])
    lo = dem.gather(-1, j.view(-1, 1, 1, 1).expand(*dem.shape[:-1], 1)).squeeze(-1)
    hi = dem.gather(-1, (j + 1).view(-1, 1, 1, 1).expand(*dem.shape[:-1], 1)).squeeze(-1)
    r = (1.0 - a)[:, None, None] * lo + a[:, None, None] * hi
    r = torch.where((t <= knots[0])[:, None, None], dem[..., 0], r)
    return torch.where((t >= knots[k - 1])[:, None, None], dem[..., k - 1], r)


def advance_torch(sim: Any, duration: float, device: str) -> None:
    """Advance every scenario of ``sim`` (a first-order :class:`Simulator`) by ``duration`` s on
    ``device`` (``cpu`` or ``gpu``)."""
    if sim.order != 1:
        raise ValueError("the torch step implements the first-order scheme only (order=1)")
    net, sc = sim.net, sim.scenario
    dev = torch_device(device)
    f64 = torch.float64

    def put(a):
        return torch.as_tensor(np.ascontiguousarray(a), device=dev)

    ph = TorchPhysics(sim.cp, sim.rho_jam)
    seg_int, seg_frac = net.seg_int, net.seg_frac
    n_seg, cm = net.n_segments, net.max_cells
    full = put(sim.U)
    V = full[..., GHOST:GHOST + cm].clone()  # (B, S, 4, Cm) interior cells
    queue, acc, jq = put(sim.queue), put(sim.acc), put(sim.jq)
    dem, knots = put(sim.demand_rates), put(net.knots)
    # the signals and clocks stay on the CPU, in the simulator's own arrays
    sig, t = sim.sig, sim.t
    switches = np.zeros((sim.batch_size, NACC))  # signal_steps counts switches here
    valid = put(sim.valid[:, GHOST:GHOST + cm])  # (S, Cm)
    last = torch.zeros((n_seg, cm), dtype=torch.bool, device=dev)
    for s in range(n_seg):
        last[s, seg_int[s, SEG_CELLS] - 1] = True
    t_end = float(sim.t.max() + duration)
    dx, cfl = float(sc.dx), float(sim.cfl)
    B = V.shape[0]
    zero = torch.zeros(B, dtype=f64, device=dev)
    ones = torch.ones(B, dtype=f64, device=dev)
    w_free = [torch.full((B,), ph.vmax[i], dtype=f64, device=dev) for i in range(2)]
    dt_signals = np.zeros(B)
    phase_cpu = np.zeros((B, net.n_junctions))

    def primitives(V):
        e = ph.pce[0] * V[:, :, 0] + ph.pce[1] * V[:, :, 2]
        p = [ph.pressure(i, e) for i in range(2)]
        v = [ph.speed(i, V[:, :, 2 * i], V[:, :, 2 * i + 1], p[i]) for i in range(2)]
        return v, p

    v, p = primitives(V)
    while True:
        active_cpu = t < t_end - T_EPS
        if not active_cpu.any():
            break
        # signal events bound the step (and start the transitions due now)
        signal_steps(sig, sim.request, sim.plan, t, t_end, active_cpu, net.junc_times, switches, dt_signals)
        flowing_phases(sig, net.junc_times, phase_cpu)
        active, tb = put(active_cpu), put(t)
        phase_now = put(phase_cpu)
        speeds = torch.maximum(torch.maximum(v[0], (v[0] - ph.gamma[0] * p[0]).abs()),
                               torch.maximum(v[1], (v[1] - ph.gamma[1] * p[1]).abs()))
        smax = torch.clamp((speeds * valid).amax(dim=(1, 2)), min=1e-6)
        dt = torch.clamp(torch.minimum(put(dt_signals), cfl * dx / smax), min=T_EPS)
        dt = torch.where(active, dt, zero)
        dt_safe = torch.where(active, dt, ones)
        # flows through segment ends, from the old state
        fin = torch.zeros((B, n_seg, 4), dtype=f64, device=dev)
        fout = torch.zeros((B, n_seg, 4), dtype=f64, device=dev)
        exit_flux = [zero.clone(), zero.clone()]
        for s in range(n_seg):
            n = int(seg_int[s, SEG_CELLS])
            cell = [V[:, s, q, n - 1] for q in range(4)]
            dmd = [ph.demand(i, cell) for i in range(2)]
            wup = [torch.where(dmd[i] > 0.0, cell[2 * i + 1] / torch.where(cell[2 * i] > 0.0, cell[2 * i], ones), zero)
                   for i in range(2)]
            dp = ph.pce[0] * dmd[0] + ph.pce[1] * dmd[1]
            go = dp > 0.0
            stop_line = seg_int[s, SEG_OUT] == STOP_LINE
            if stop_line:
                go = go & (phase_now[:, int(seg_int[s, SEG_JUNCTION])] == float(seg_int[s, SEG_PHASE]))
            theta = ones.clone()
            if stop_line:
                for k in range(2):
                    dest, share = int(seg_int[s, SEG_DEST + k]), float(seg_frac[s, k])
                    if dest >= 0 and share > 0.0:
                        down = [V[:, dest, q, 0] for q in range(4)]
                        cap = ph.pce_supply(down, dmd, wup, dp) / (share * torch.where(go, dp, ones))
                        theta = torch.minimum(theta, cap)
            for i in range(2):
                qi = torch.where(go, theta * dmd[i], zero)
                fout[:, s, 2 * i] = qi
                fout[:, s, 2 * i + 1] = qi * wup[i]
            if seg_int[s, SEG_OUT] == EXIT:
                for i in range(2):
                    exit_flux[i] = exit_flux[i] + fout[:, s, 2 * i]
            else:
                for k in range(2):
                    dest, share = int(seg_int[s, SEG_DEST + k]), float(seg_frac[s, k])
                    if dest >= 0:
                        fin[:, dest] += share * fout[:, s]
                    elif dest == SINK:
                        for i in range(2):
                            exit_flux[i] = exit_flux[i] + share * fout[:, s, 2 * i]
        rates = _rate(dem, knots, tb)  # (B, E, 2)
        entry_flux = torch.zeros((B, net.n_entries, 2), dtype=f64, device=dev)
        for e_idx in range(net.n_entries):
            s = int(net.entry_seg[e_idx])
            dmd = [queue[:, e_idx, i] / dt_safe + rates[:, e_idx, i] for i in range(2)]
            dp = ph.pce[0] * dmd[0] + ph.pce[1] * dmd[1]
            down = [V[:, s, q, 0] for q in range(4)]
            theta = torch.where(dp > 0.0, torch.clamp(ph.pce_supply(down, dmd, w_free, dp)
                                                      / torch.where(dp > 0.0, dp, ones), max=1.0), zero)
            for i in range(2):
                qi = theta * dmd[i]
                entry_flux[:, e_idx, i] = qi
                fin[:, s, 2 * i] = qi
                fin[:, s, 2 * i + 1] = qi * ph.vmax[i]
        # interior HLL fluxes at the right face of every cell; the last cell's is the segment's outflow
        fr = torch.zeros_like(V)
        fr[..., :-1] = _hll(V[..., :-1], V[..., 1:], [x[..., :-1] for x in v], [x[..., 1:] for x in v],
                            [x[..., :-1] for x in p], [x[..., 1:] for x in p], ph)
        fr = torch.where(last[None, :, None, :], fout[..., None], fr)
        fl = torch.cat([fin[..., None], fr[..., :-1]], dim=-1)
        lam = (dt / dx)[:, None, None, None]
        upd = active[:, None, None, None] & valid[None, :, None, :]
        V = torch.where(upd, V - lam * (fr - fl), V)
        # clamping and exact relaxation
        rho_all = V[:, :, 0::2]
        negative = upd[:, :, 0::2] & (rho_all < 0.0)
        acc[:, ACC_CLAMPED] -= (torch.where(negative, rho_all, torch.zeros_like(rho_all)) * dx).sum(dim=(1, 2, 3))
        for i in range(2):
            rho = torch.where(upd[:, :, 0] & (V[:, :, 2 * i] < 0.0), torch.zeros_like(V[:, :, 2 * i]),
                              V[:, :, 2 * i])
            y = torch.where(upd[:, :, 0] & (rho < RHO_EPS) & (rho == 0.0), torch.zeros_like(rho), V[:, :, 2 * i + 1])
            V[:, :, 2 * i] = rho
            V[:, :, 2 * i + 1] = y
        e = ph.pce[0] * V[:, :, 0] + ph.pce[1] * V[:, :, 2]
        tts = [zero, zero]
        delay = [zero, zero]
        dist = [zero, zero]
        stopped = torch.zeros((B, n_seg), dtype=f64, device=dev)
        new_v, new_p = [], []
        for i in range(2):
            rho, y = V[:, :, 2 * i], V[:, :, 2 * i + 1]
            pi = ph.pressure(i, e)
            vi = ph.speed(i, rho, y, pi)
            if not math.isinf(ph.tau[i]):
                fac = torch.exp(-dt_safe / ph.tau[i])[:, None, None]
                ve = torch.clamp(ph.vmax[i] - pi, min=0.0)
                vi = ve + (vi - ve) * fac
            relaxed = upd[:, :, 0] & (rho > RHO_EPS)
            V[:, :, 2 * i + 1] = torch.where(relaxed, rho * (vi + pi), y)
            vi = ph.speed(i, rho, V[:, :, 2 * i + 1], pi)
            new_v.append(vi)
            new_p.append(pi)
            present = valid[None] & (rho > 0.0)
            lag = rho * dx * (1.0 - vi / ph.vmax[i])
            d = dt[:, None, None]
            tts[i] = (torch.where(present, rho * dx * d, 0.0)).sum(dim=(1, 2))
            delay[i] = (torch.where(present, lag * d, 0.0)).sum(dim=(1, 2))
            dist[i] = (torch.where(present, rho * vi * dx * d, 0.0)).sum(dim=(1, 2))
            stopped = stopped + torch.where(valid[None] & (rho > RHO_EPS), lag, 0.0).sum(dim=2)
        v, p = new_v, new_p
        # entry queues and boundary counts, then the road's
        arrived = rates * dt[:, None, None]
        acc[:, ACC_ARRIVED:ACC_ARRIVED + 2] += arrived.sum(dim=1)
        acc[:, ACC_ENTERED:ACC_ENTERED + 2] += (entry_flux * dt[:, None, None]).sum(dim=1)
        queue = torch.where(active[:, None, None],
                            torch.clamp(queue + arrived - entry_flux * dt[:, None, None], min=0.0), queue)
        acc[:, ACC_TTS:ACC_TTS + 2] += (queue * dt[:, None, None]).sum(dim=1)
        acc[:, ACC_DELAY:ACC_DELAY + 2] += (queue * dt[:, None, None]).sum(dim=1)
        for i in range(2):
            acc[:, ACC_EXITED + i] += exit_flux[i] * dt
            acc[:, ACC_TTS + i] += tts[i]
            acc[:, ACC_DELAY + i] += delay[i]
            acc[:, ACC_DIST + i] += dist[i]
        for j in range(net.n_junctions):
            qn = zero.clone()
            for a in range(2):
                s = int(net.junc[j, a])
                qn = qn + stopped[:, s]
                ent = int(seg_int[s, SEG_ENTRY])
                if ent >= 0:
                    qn = qn + queue[:, ent, 0] + queue[:, ent, 1]
            jq[:, j, JQ_NOW] = torch.where(active, qn, jq[:, j, JQ_NOW])
            jq[:, j, JQ_INTEGRAL] += qn * dt
            jq[:, j, JQ_MAX] = torch.where(active, torch.maximum(jq[:, j, JQ_MAX], qn), jq[:, j, JQ_MAX])
        acc[:, ACC_SUBSTEPS] += active.to(f64)
        dt_cpu = dt.cpu().numpy()
        tick_all_signals(sig, dt_cpu, active_cpu)
        t[:] = np.where(active_cpu, t + dt_cpu, t)
    full[..., GHOST:GHOST + cm] = V
    sim.U[:] = full.cpu().numpy()
    sim.queue[:] = queue.cpu().numpy()
    acc[:, ACC_SWITCHES] += put(switches[:, ACC_SWITCHES])
    sim.acc[:] = acc.cpu().numpy()
    sim.jq[:] = jq.cpu().numpy()


def _hll(ul, ur, vl_, vr_, pl_, pr_, ph: TorchPhysics):
    """HLL fluxes (B, S, 4, N) between face states ``ul`` and ``ur`` (B, S, 4, N) with their speeds and
    pressures (lists of two (B, S, N) tensors): :func:`arz_rl.sim.physics.hll_flux`, vectorised."""
    big = torch.finfo(ul.dtype).max
    sl = torch.full_like(ul[:, :, 0], big)
    sr = torch.full_like(ul[:, :, 0], -big)
    for i in range(2):
        rl, rr = ul[:, :, 2 * i], ur[:, :, 2 * i]
        lam_l = vl_[i] - ph.gamma[i] * pl_[i]
        lam_r = vr_[i] - ph.gamma[i] * pr_[i]
        w_l = ul[:, :, 2 * i + 1] / torch.where(rl > RHO_EPS, rl, torch.ones_like(rl))
        top_l = torch.where(rr <= RHO_EPS, w_l, vl_[i])
        sl = torch.where(rl > RHO_EPS, torch.minimum(sl, lam_l), sl)
        sr = torch.where(rl > RHO_EPS, torch.maximum(sr, top_l), sr)
        sl = torch.where(rr > RHO_EPS, torch.minimum(sl, lam_r), sl)
        sr = torch.where(rr > RHO_EPS, torch.maximum(sr, vr_[i]), sr)
    out = torch.zeros_like(ul)
    width = torch.where(sr > sl, sr - sl, torch.ones_like(sr))
    for i in range(2):
        rl, yl, rr, yr = ul[:, :, 2 * i], ul[:, :, 2 * i + 1], ur[:, :, 2 * i], ur[:, :, 2 * i + 1]
        absent = (rl <= RHO_EPS) & (rr <= RHO_EPS)
        vl = torch.where(rl > RHO_EPS, vl_[i], torch.zeros_like(rl))
        vr = torch.where(rr > RHO_EPS, vr_[i], torch.zeros_like(rr))
        for comp, (a, b) in enumerate(((rl, rr), (yl, yr))):
            fa, fb = a * vl, b * vr
            mid = (sr * fa - sl * fb + sl * sr * (b - a)) / width
            f = torch.where(sl >= 0.0, fa, torch.where(sr <= 0.0, fb, mid))
            out[:, :, 2 * i + comp] = torch.where(absent, torch.zeros_like(f), f)
    return out
