"""The simulator: a batch of independent corridors of one scenario, and the kernel that steps it.

:class:`Simulator` owns the state arrays (named in :mod:`arz_rl.sim.layout`) and picks the kernel:
the fused scalar kernel (:mod:`arz_rl.sim.scalar`), the SIMD-lane kernel for batches
(:mod:`arz_rl.sim.lanes`), the general reference kernel (order 2, or ``reference=True``), or the
torch step on a GPU (:mod:`arz_rl.sim.torch_step`).  The physics itself lives in
:mod:`arz_rl.sim.physics`, the signal logic in :mod:`arz_rl.sim.junctions`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..device import DEVICES
from . import lanes as lane_kernel
from .layout import (
    GHOST,
    NACC,
    PLAN_CYCLE,
    PLAN_MAIN_GREEN,
    PLAN_OFFSET,
    Q_RHO,
    Q_Y,
    SEG_CELLS,
    SEG_SOURCE,
    SIG_TIME,
    Numerics,
    State,
)
from .network import Network, Scenario, build_network, sample_demand
from .params import ModelParams
from .physics import relax_cell
from .scalar import (
    advance_first_order,
    advance_first_order_threads,
    advance_general,
    advance_general_threads,
    junction_features,
    observe,
    primitive_fields,
)

ENGINES = ("numba", "torch")
INITIAL_FILL = 0.8  #: links start at this share of their source entry's first-knot arrival rate, in free flow


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
        device: ``cpu`` (default) or ``gpu`` (see :mod:`arz_rl.device`).
        engine: ``numba`` (CPU only; the default there) or ``torch``, the vectorised step of
            :mod:`arz_rl.sim.torch_step` (order 1; the default on a GPU, and testable on the CPU);
            :func:`arz_rl.vec_env.pick_engine` times both for a training batch.
        lanes: step groups of scenarios in SIMD lanes (:mod:`arz_rl.sim.lanes`, order 1 on numba,
            bitwise equal to the scalar kernel); default: when ``batch_size >= 4`` (below that the
            empty lanes cost more than the vectors gain) and both pressure exponents are 1 or 2.
    """

    def __init__(self, scenario: Scenario, batch_size: int = 1, order: int = 1, cfl: float = 0.45,
                 params: ModelParams | None = None, parallel: bool | None = None, reference: bool = False,
                 device: str = "cpu", engine: str | None = None, lanes: bool | None = None) -> None:
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
        if device not in DEVICES:
            raise ValueError(f"device={device!r}: allowed {DEVICES}")
        engine = engine or ("numba" if device == "cpu" else "torch")
        if engine not in ENGINES or (engine == "numba" and device != "cpu"):
            raise ValueError(f"engine={engine!r} on device={device!r}: numba runs on the cpu, torch on cpu or gpu")
        if engine == "torch" and order != 1:
            raise ValueError("the torch engine steps the first-order scheme only; use order=1 or engine='numba'")
        self.device = device
        self.engine = engine
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
        # the kernels take three bundles of views on these arrays (never copies)
        self.state = State(self.U, self.queue, self.sig, self.request, self.plan, self.t, self.demand_rates,
                           self.acc, self.jq)
        self._net_arrays = self.net.arrays()
        self.numerics = Numerics(float(cfl), float(scenario.dx), self.cp, float(self.rho_jam))
        can_lanes = engine == "numba" and not self._general and lane_kernel.supports(self.cp)
        if lanes and not can_lanes:
            raise ValueError("lanes=True needs engine='numba', order=1, reference=False and pressure exponents 1 or 2")
        self.lanes = can_lanes and (batch_size >= lane_kernel.LANES // 2 if lanes is None else lanes)
        if self.lanes:
            groups = -(-b // lane_kernel.LANES)
            self._lane_scratch = np.zeros((groups, s, self.U.shape[3], 4, lane_kernel.LANES))
            self._lane_advance = lane_kernel.advance_lanes if self.parallel else lane_kernel.advance_lanes_serial
        self._dx = float(scenario.dx)
        self.valid = np.zeros((s, self.U.shape[3]), dtype=bool)
        for k in range(s):
            self.valid[k, GHOST:GHOST + self.net.seg_int[k, SEG_CELLS]] = True

    # -- set-up -----------------------------------------------------------------
    def reset(self, rng: np.random.Generator | Sequence[np.random.Generator] | None = None,
              demand_noise: float | None = None) -> None:
        """Initial state: every link at the free-flow density of its entry's initial demand,
        empty queues, phase 0 green; demand redrawn with ``rng`` (None: the base profile; one
        generator: scenario after scenario from it; a sequence: scenario b from ``rng[b]``)."""
        if isinstance(rng, Sequence) and len(rng) != self.batch_size:
            raise ValueError(f"reset: {len(rng)} generators for a batch of {self.batch_size} scenarios")
        for b in range(self.batch_size):
            self.demand_rates[b] = sample_demand(self.net, rng[b] if isinstance(rng, Sequence) else rng, demand_noise)
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
            # links at a share of their source's first-knot arrival rate, in free flow (v = V_e at low density)
            src, n = net.seg_int[s, SEG_SOURCE], net.seg_int[s, SEG_CELLS]
            for i in range(2):
                vmax = self.cp[i, 0]
                rho = self.demand_rates[:, src, i, 0] * INITIAL_FILL / vmax
                self.U[:, s, Q_RHO + 2 * i, GHOST:GHOST + n] = rho[:, None]
                self.U[:, s, Q_Y + 2 * i, GHOST:GHOST + n] = (rho * vmax)[:, None]
        self.relax_all()

    def relax_all(self) -> None:
        """Project every cell onto the invariant region (used after editing ``U`` by hand)."""
        for b in range(self.batch_size):
            for s in range(self.net.n_segments):
                for k in range(GHOST, GHOST + self.net.seg_int[s, SEG_CELLS]):
                    relax_cell(self.U[b, s, :, k], 0.0, self.cp, self.rho_jam)

    def set_plan(self, cycle: float, main_green: float, offsets: np.ndarray | None = None) -> None:
        """Fixed-time plan on every junction: ``cycle`` and effective ``main_green`` (s);
        offsets (J,) in s.  ``cycle <= 0`` hands control back to :attr:`request`."""
        if cycle > 0.0:
            inter = self.scenario.yellow + self.scenario.all_red
            cross = cycle - main_green - 2.0 * inter
            if min(main_green, cross) < self.scenario.min_green:
                raise ValueError(f"plan cycle={cycle} s main_green={main_green} s leaves a green under min_green")
        self.plan[:, :, PLAN_CYCLE] = cycle
        self.plan[:, :, PLAN_MAIN_GREEN] = main_green
        self.plan[:, :, PLAN_OFFSET] = 0.0 if offsets is None else np.asarray(offsets)[None, :]

    # -- stepping ---------------------------------------------------------------
    def advance(self, duration: float) -> None:
        """Advance all scenarios by ``duration`` seconds."""
        if self.engine == "torch":
            from .torch_step import advance_torch

            advance_torch(self, duration, self.device)
            return
        t_end = float(self.t.max() + duration)
        if self.lanes:
            self._lane_advance(self._lane_scratch, self.state, self._net_arrays, self.numerics, t_end)
        elif self._general:
            kernel = advance_general_threads if self.parallel else advance_general
            kernel(self.state, self._net_arrays, self.numerics, t_end, self.order)
        else:
            kernel = advance_first_order_threads if self.parallel else advance_first_order
            kernel(self.state, self._net_arrays, self.numerics, t_end)

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
        """Observation vectors of every scenario into ``out`` (see :func:`arz_rl.sim.scalar.observe`)."""
        observe(self.state, self._net_arrays, self.cp, self.rho_jam, k_obs, q_scale, out)
        return out

    def junction_features(self, n_bins: int, q_scale: float, out: np.ndarray) -> np.ndarray:
        """What each junction's detectors see, into ``out`` (B, J, F) (see
        :func:`arz_rl.sim.scalar.junction_features`)."""
        net = self.net
        junction_features(self.U, self.queue, self.sig, net.junc, net.seg_int, net.seg_frac, net.junc_times, self.cp,
                          self.rho_jam, self._dx, n_bins, q_scale, out)
        return out
