"""Baseline signal controllers, the way a traffic engineer would run them, on a batch of corridors.

- :class:`FixedTime`: one cycle for every junction, Webster's split of the effective green (the
  cycle minus the lost time, HCM), offsets for a green wave along the main road.
- :class:`MaxPressure` (Varaiya 2013): green to the phase whose movements carry the largest
  pressure, decided every ``interval`` seconds, holding a green at least ``min_green``.  With a
  ``threshold`` delta (pc) a junction leaves its green only when the other phase's pressure
  exceeds the current one's by more than delta: the switching-cost variant of max-pressure (a
  switch costs the lost time; cf. the capacity-aware and switching-cost max-pressure variants of
  Gregoire et al. 2015 and Levin et al. 2020), which keeps it from switching on noise.
  ``threshold = 0`` is Varaiya's controller.
- :class:`Actuated`: vehicle-actuated control with gap-out and max-out (the practice in the field):
  a green runs at least ``min_green``; it ends when the detector on its approach sees a gap longer
  than ``gap`` seconds *per lane* (gap-out) or after ``max_green`` (max-out), provided a vehicle
  waits on the other approach (a call); checked every ``step`` seconds.
- :class:`RandomController`: uniformly random requests (a floor, not a baseline anyone would run).

What the detectors see (documented for the thesis):

- Max-pressure reads each link's vehicle count in passenger-car units, as upstream and
  downstream count stations (loops at both ends of a link) would give it, plus the queue at an
  entry (a queue detector); the pressure of a movement is upstream minus turning share times
  downstream.
- Actuated reads, per approach, the flow over a loop ``detector_m`` metres upstream of the stop
  line and a presence detector at the stop line (vehicles in the last cell, 50 m, above
  ``call_threshold`` pc, or a non-empty entry queue: a call; a presence count rather than stopped
  vehicles, since at a red stop line the model's cell-average speed of a few waiting vehicles
  stays near free flow, and a call must not wait for a queue to form).  Engineers set the gap (the
  passage time, or maximum allowable headway) per lane, each lane having its own detector: a gap
  of g seconds per lane is a flow below ``lanes / g`` pc/s over the approach's :data:`LANES`
  lanes (the FHWA Traffic Signal Timing Manual, FHWA-HOP-08-024, 2008, ch. 5, discusses passage
  times of about 2 to 5 s; the tuned grid spans 1-5 s).

Every controller works on a :class:`~arz_rl.core.CorridorCore` of ``B`` corridors (a
:class:`~arz_rl.env.SignalCorridorEnv` is a core of one, ``env.core``): ``reset(core, draws)`` at
the start of an episode (``draws``: the demand draw of each corridor), ``decide(core)`` at each
decision returns the phases (B, J) it asks for; ``decision_interval`` (s, or None for the run's) is
the interval its core steps at; ``params()`` is what tuning chose, recorded in the results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .sim.layout import (
    PLAN_CYCLE,
    PLAN_MAIN_GREEN,
    PLAN_OFFSET,
    SEG_CELLS,
    SEG_ENTRY,
    SIG_PHASE,
    SIG_TARGET,
    SIG_TIME,
    SIG_TRANS,
    T_EPS,
)
from .sim.params import JAM_PER_LANE, PER_HOUR

if TYPE_CHECKING:
    from .core import CorridorCore


class Controller(Protocol):
    name: str
    decision_interval: float | None

    def reset(self, core: CorridorCore, draws: Sequence[int]) -> None: ...

    def decide(self, core: CorridorCore) -> np.ndarray: ...

    def params(self) -> dict[str, Any]: ...


def per_corridor(value: float | Sequence[float] | np.ndarray, batch: int) -> np.ndarray:
    """(B, 1): a setting for every corridor (one value for all, or one per corridor), so that it
    broadcasts against (B, J) junction arrays.  A sweep plays many settings in one batch."""
    v = np.asarray(value, dtype=np.float64).reshape(-1)
    if v.size not in (1, batch):
        raise ValueError(f"a setting of {v.size} values for a batch of {batch} corridors")
    return np.broadcast_to(v, (batch,)).reshape(batch, 1)


def lanes(core: CorridorCore) -> int:
    """Lanes of an approach: the carriageway's jam density over one lane's (HCM: 150 pc/km)."""
    return max(1, int(round(core.sim.params.rho_jam / JAM_PER_LANE)))


def heading(core: CorridorCore) -> np.ndarray:
    """(B, J): the phase each junction shows or is changing to."""
    sig = core.sim.sig
    return np.where(sig[..., SIG_TRANS] > 0.0, sig[..., SIG_TARGET], sig[..., SIG_PHASE]).astype(np.int64)


def may_switch(core: CorridorCore, min_green: float | np.ndarray) -> np.ndarray:
    """(B, J) bool: no transition under way and the green has run ``min_green`` s (a number, or
    (B, 1) per corridor)."""
    sig = core.sim.sig
    return (sig[..., SIG_TRANS] <= 0.0) & (sig[..., SIG_TIME] >= min_green - T_EPS)


def saturation_flow(core: CorridorCore) -> float:
    """Saturation flow of a link (pc/s): the capacity of the car fundamental diagram.

    With ``V_e = v_max (1 - (rho/rho_jam)^gamma)`` the car flow peaks at
    ``rho_c = rho_jam (1 + gamma)^(-1/gamma)``.
    """
    car = core.sim.params.cars
    rho_jam = core.sim.params.rho_jam
    rho_c = rho_jam * (1.0 + car.gamma) ** (-1.0 / car.gamma)
    return rho_c * car.v_max * (1.0 - (rho_c / rho_jam) ** car.gamma)


def webster_main_green(core: CorridorCore, cycle: float) -> float:
    """Displayed main-street green (s) of a ``cycle`` split by Webster's rule.

    The effective green (the cycle minus the lost time of both phases) is shared in proportion to
    the critical flow ratios y = q/s of the two approaches at the peak (PCE); the displayed green
    is the effective one minus the yellow traffic uses plus the start-up lost time (HCM).
    """
    sc = core.scenario
    pce = np.array([core.sim.params.motorcycles.pce, core.sim.params.cars.pce])
    q_main = float(np.dot(pce, sc.main_demand)) * PER_HOUR
    q_cross = float(np.dot(pce, sc.cross_demand)) * PER_HOUR
    # the main road downstream of junction 0 also carries the cross street's turners
    q_main = max(q_main, q_main * (1.0 - sc.turn_main) + q_cross * sc.turn_cross)
    effective = cycle - 2.0 * sc.lost_time()
    main_eff = effective * q_main / (q_main + q_cross)
    main_green = main_eff - sc.yellow_used + sc.startup_lost
    inter = sc.yellow + sc.all_red
    # keep both greens at least min_green
    return float(np.clip(main_green, sc.min_green, cycle - 2.0 * inter - sc.min_green))


def shortest_cycle(core: CorridorCore) -> float:
    """The shortest cycle (s) whose two greens both reach ``min_green``."""
    sc = core.scenario
    return 2.0 * (sc.min_green + sc.yellow + sc.all_red)


class FixedTime:
    """Fixed-time plan: one ``cycle`` (s), Webster split, offsets for a green wave along the main
    road.  ``cycle`` may hold one value per corridor (a sweep)."""

    decision_interval = None

    def __init__(self, cycle: float | Sequence[float], green_wave: bool = True, name: str | None = None) -> None:
        self.cycle = float(cycle) if np.ndim(cycle) == 0 else np.asarray(cycle, dtype=np.float64)
        self.green_wave = green_wave
        self.name = name or f"fixed_{int(np.max(cycle))}"

    def params(self) -> dict[str, Any]:
        return {"cycle": self.cycle, "green_wave": self.green_wave}

    def reset(self, core: CorridorCore, draws: Sequence[int]) -> None:
        sc, sim = core.scenario, core.sim
        cycles = per_corridor(self.cycle, core.batch_size)[:, 0]
        greens = np.array([webster_main_green(core, c) for c in cycles])
        inter = sc.yellow + sc.all_red
        if (np.minimum(greens, cycles - greens - 2.0 * inter) < sc.min_green - T_EPS).any():
            raise ValueError(f"fixed-time: a cycle in {sorted(set(cycles))} s leaves a green under min_green")
        offsets = np.zeros((core.batch_size, core.n_junctions))
        if self.green_wave:
            travel = sc.main_link_length / sim.params.cars.v_max
            offsets = (np.arange(core.n_junctions)[None, :] * travel) % cycles[:, None]
        sim.plan[..., PLAN_CYCLE] = cycles[:, None]
        sim.plan[..., PLAN_MAIN_GREEN] = greens[:, None]
        sim.plan[..., PLAN_OFFSET] = offsets

    def decide(self, core: CorridorCore) -> np.ndarray:
        return core.sim.sig[..., SIG_PHASE].astype(np.int64)


class MaxPressure:
    """Max-pressure control (Varaiya 2013), every ``interval`` s, a green held at least ``min_green``
    s: the phase whose movements have the largest pressure, sum over movements of (upstream -
    turning share x downstream) vehicles in passenger-car units, entry queues included.  A junction
    leaves its phase only for one whose pressure is larger by more than ``threshold`` pc (0: any
    larger pressure; ties keep the phase)."""

    def __init__(self, interval: float | None = None, min_green: float | Sequence[float] = 0.0,
                 threshold: float | Sequence[float] = 0.0, name: str = "max_pressure") -> None:
        if np.min(threshold) < 0:
            raise ValueError(f"max-pressure: threshold={threshold} pc must be >= 0")
        self.decision_interval = interval
        self.min_green = _setting(min_green)
        self.threshold = _setting(threshold)
        self.name = name

    def params(self) -> dict[str, Any]:
        return {"interval": self.decision_interval, "min_green": self.min_green, "threshold": self.threshold}

    def reset(self, core: CorridorCore, draws: Sequence[int]) -> None:
        core.sim.set_plan(0.0, 0.0)
        net = core.sim.net
        self._pce = np.array([core.sim.params.motorcycles.pce, core.sim.params.cars.pce])
        self._up = net.junc  # (J, 2): the approach of each phase
        entry = net.seg_int[net.junc, SEG_ENTRY]  # (J, 2), -1: none
        self._entry = np.where(entry >= 0, entry, 0)
        self._has_entry = entry >= 0
        dest = net.destinations[net.junc]  # (J, 2, 2)
        self._dest = np.where(dest >= 0, dest, 0)
        self._frac = np.where(dest >= 0, net.seg_frac[net.junc], 0.0)

    def pressures(self, core: CorridorCore) -> np.ndarray:
        """Pressure (pc) of phase 0 and 1 at every junction of every corridor, shape (B, J, 2)."""
        sim = core.sim
        load = sim.vehicles_per_segment() @ self._pce  # (B, S)
        queued = sim.queue @ self._pce  # (B, E)
        upstream = load[:, self._up] + np.where(self._has_entry, queued[:, self._entry], 0.0)
        downstream = (self._frac * load[:, self._dest]).sum(-1)
        return upstream - downstream

    def decide(self, core: CorridorCore) -> np.ndarray:
        p = self.pressures(core)
        current = heading(core)
        mine = np.take_along_axis(p, current[..., None], axis=2)[..., 0]
        other = np.take_along_axis(p, 1 - current[..., None], axis=2)[..., 0]
        b = core.batch_size
        switch = ((other - mine > per_corridor(self.threshold, b))
                  & may_switch(core, per_corridor(self.min_green, b)))
        return np.where(switch, 1 - current, current)


class Actuated:
    """Vehicle-actuated control (gap-out / max-out), checked every ``step`` s (see the module
    docstring); ``gap``: seconds per lane."""

    def __init__(self, min_green: float | Sequence[float] = 10.0, max_green: float | Sequence[float] = 60.0,
                 gap: float | Sequence[float] = 3.0, step: float = 2.5, detector_m: float = 50.0,
                 call_threshold: float = 0.5, name: str = "actuated") -> None:
        if np.any(np.asarray(max_green) < np.asarray(min_green)):
            raise ValueError(f"actuated: max_green={max_green} s is below min_green={min_green} s")
        if np.min(gap) <= 0:
            raise ValueError(f"actuated: gap={gap} s per lane must be > 0")
        self.min_green, self.max_green, self.gap = _setting(min_green), _setting(max_green), _setting(gap)
        self.decision_interval = float(step)
        self.detector_m, self.call_threshold = float(detector_m), float(call_threshold)
        self.name = name

    def params(self) -> dict[str, Any]:
        return {"min_green": self.min_green, "max_green": self.max_green, "gap": self.gap,
                "step": self.decision_interval, "detector_m": self.detector_m}

    def reset(self, core: CorridorCore, draws: Sequence[int]) -> None:
        core.sim.set_plan(0.0, 0.0)
        net, sc = core.sim.net, core.scenario
        self._pce = np.array([core.sim.params.motorcycles.pce, core.sim.params.cars.pce])
        cells = net.seg_int[net.junc, SEG_CELLS]  # (J, 2)
        self._last = cells - 1
        self._loop = cells - 1 - np.minimum(cells - 1, int(round(self.detector_m / sc.dx)))
        entry = net.seg_int[net.junc, SEG_ENTRY]
        self._entry = np.where(entry >= 0, entry, 0)
        self._has_entry = entry >= 0
        b = core.batch_size
        self._gap_flow = lanes(core) / per_corridor(self.gap, b)[..., None]  # pc/s: a gap on every lane
        self._min_green = per_corridor(self.min_green, b)
        self._max_green = per_corridor(self.max_green, b)

    def decide(self, core: CorridorCore) -> np.ndarray:
        sim = core.sim
        sig = sim.sig
        phases = sig[..., SIG_PHASE].astype(np.int64)
        ready = (sig[..., SIG_TRANS] <= 0.0) & (sig[..., SIG_TIME] >= self._min_green)
        if not ready.any():
            return phases
        junc = sim.net.junc
        fields = sim.fields()  # (B, S, 4, C): rho_m, v_m, rho_c, v_c
        loop = _cells_at(fields, junc, self._loop)  # (B, J, 2, 4)
        flow = self._pce[0] * loop[..., 0] * loop[..., 1] + self._pce[1] * loop[..., 2] * loop[..., 3]
        at_line = _cells_at(fields, junc, self._last)
        dx = core.scenario.dx
        present = (self._pce[0] * at_line[..., 0] + self._pce[1] * at_line[..., 2]) * dx  # pc in the last cell
        queued = np.where(self._has_entry, (sim.queue @ self._pce)[:, self._entry], 0.0)
        call = (present > self.call_threshold) | (queued > 0.0)  # (B, J, 2)
        gapped = flow < self._gap_flow
        green_gapped = np.take_along_axis(gapped, phases[..., None], axis=2)[..., 0]
        other_calls = np.take_along_axis(call, 1 - phases[..., None], axis=2)[..., 0]
        maxed = sig[..., SIG_TIME] >= self._max_green
        switch = ready & (green_gapped | maxed) & other_calls
        return np.where(switch, 1 - phases, phases)


def _setting(value: float | Sequence[float]) -> float | np.ndarray:
    """A setting as a float, or an array when it holds one value per corridor (a sweep)."""
    return float(value) if np.ndim(value) == 0 else np.asarray(value, dtype=np.float64)


def _cells_at(arrays: np.ndarray, segments: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """``arrays[b, segments[j, p], :, cells[j, p]]`` for every b, j, p: shape (B, J, 2, V)."""
    picked = arrays[:, segments.reshape(-1), :, cells.reshape(-1)]  # (J * 2, B, V): numpy puts them first
    return np.moveaxis(picked, 0, 1).reshape(arrays.shape[0], *segments.shape, arrays.shape[2])


class RandomController:
    """Uniformly random phase requests; each corridor's stream is seeded by (seed, its draw)."""

    name = "random"
    decision_interval = None

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def reset(self, core: CorridorCore, draws: Sequence[int]) -> None:
        core.sim.set_plan(0.0, 0.0)
        self._rngs = [np.random.default_rng([self.seed, int(d)]) for d in draws]

    def decide(self, core: CorridorCore) -> np.ndarray:
        return np.stack([rng.integers(0, 2, size=core.n_junctions) for rng in self._rngs])


def reference_plans(cycles: tuple[float, ...]) -> list[Controller]:
    """The fixed plans kept as reference rows (untuned: the cycles a manual would suggest)."""
    return [FixedTime(c) for c in cycles]


def plan_is_fixed(core: CorridorCore) -> bool:
    """Whether a fixed-time plan runs the signals (requests are then ignored)."""
    return bool((core.sim.plan[..., PLAN_CYCLE] > 0.0).any())
