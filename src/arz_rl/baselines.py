"""Baseline signal controllers, the way a traffic engineer would run them.

- :class:`FixedTime`: one cycle for every junction, Webster's split of the effective green (the
  cycle minus the lost time, HCM), offsets for a green wave along the main road.
- :class:`MaxPressure` (Varaiya 2013): green to the phase whose movements carry the largest
  pressure, decided every ``interval`` seconds, holding a green at least ``min_green``.
- :class:`Actuated`: vehicle-actuated control with gap-out and max-out (the practice in the field):
  a green runs at least ``min_green``; it ends when the detector on its approach sees a gap longer
  than ``gap`` seconds (gap-out) or after ``max_green`` (max-out), provided a vehicle waits on the
  other approach (a call); checked every ``step`` seconds.
- :class:`RandomController`: uniformly random requests (a floor, not a baseline anyone would run).

What the detectors see (documented for the thesis):

- Max-pressure reads each link's vehicle count in passenger-car units, as upstream and
  downstream count stations (loops at both ends of a link) would give it, plus the queue at an
  entry (a queue detector); the pressure of a movement is upstream minus turning share times
  downstream.
- Actuated reads, per approach, the flow over a loop ``detector_m`` metres upstream of the stop
  line (pc/s; a gap longer than ``gap`` seconds means a flow below 1/``gap``) and a presence
  detector at the stop line (stopped-vehicle equivalents in the last cell above
  ``call_threshold`` pc, or a non-empty entry queue: a call).

Every controller offers ``reset(env)`` at the start of an episode and ``act(obs, env)`` at each
decision; ``decision_interval`` (s, or None for the run's) is the interval its environment steps
at; ``params()`` is what tuning chose, recorded in the results.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .env import SignalCorridorEnv
from .sim.layout import GHOST, Q_RHO, SEG_CELLS, SEG_ENTRY, SIG_PHASE, SIG_TIME, SIG_TRANS
from .sim.params import PER_HOUR


class Controller(Protocol):
    name: str
    decision_interval: float | None

    def reset(self, env: SignalCorridorEnv) -> None: ...

    def act(self, obs: np.ndarray, env: SignalCorridorEnv) -> np.ndarray | int: ...

    def params(self) -> dict[str, Any]: ...


def _as_action(env: SignalCorridorEnv, phases: np.ndarray) -> np.ndarray | int:
    return env.action_of(phases)


def saturation_flow(env: SignalCorridorEnv) -> float:
    """Saturation flow of a link (pc/s): the capacity of the car fundamental diagram.

    With ``V_e = v_max (1 - (rho/rho_jam)^gamma)`` the car flow peaks at
    ``rho_c = rho_jam (1 + gamma)^(-1/gamma)``.
    """
    car = env.sim.params.cars
    rho_jam = env.sim.params.rho_jam
    rho_c = rho_jam * (1.0 + car.gamma) ** (-1.0 / car.gamma)
    return rho_c * car.v_max * (1.0 - (rho_c / rho_jam) ** car.gamma)


def webster_main_green(env: SignalCorridorEnv, cycle: float) -> float:
    """Displayed main-street green (s) of a ``cycle`` split by Webster's rule.

    The effective green (the cycle minus the lost time of both phases) is shared in proportion to
    the critical flow ratios y = q/s of the two approaches at the peak (PCE); the displayed green
    is the effective one minus the yellow traffic uses plus the start-up lost time (HCM).
    """
    sc = env.scenario
    pce = np.array([env.sim.params.motorcycles.pce, env.sim.params.cars.pce])
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


def shortest_cycle(env: SignalCorridorEnv) -> float:
    """The shortest cycle (s) whose two greens both reach ``min_green``."""
    sc = env.scenario
    return 2.0 * (sc.min_green + sc.yellow + sc.all_red)


class FixedTime:
    """Fixed-time plan: one ``cycle`` (s), Webster split, offsets for a green wave along the main road."""

    decision_interval = None

    def __init__(self, cycle: float, green_wave: bool = True, name: str | None = None) -> None:
        self.cycle = float(cycle)
        self.green_wave = green_wave
        self.name = name or f"fixed_{int(cycle)}"

    def params(self) -> dict[str, Any]:
        return {"cycle": self.cycle, "green_wave": self.green_wave}

    def reset(self, env: SignalCorridorEnv) -> None:
        sc = env.scenario
        offsets = None
        if self.green_wave:
            travel = sc.main_link_length / env.sim.params.cars.v_max
            offsets = (np.arange(env.n_junctions) * travel) % self.cycle
        env.set_fixed_plan(self.cycle, webster_main_green(env, self.cycle), offsets)

    def act(self, obs: np.ndarray, env: SignalCorridorEnv) -> np.ndarray | int:
        return _as_action(env, env.sim.sig[0, :, SIG_PHASE].astype(np.int64))


class MaxPressure:
    """Max-pressure control (Varaiya 2013), every ``interval`` s, a green held at least ``min_green``
    s: the phase whose movements have the largest pressure, sum over movements of (upstream -
    turning share x downstream) vehicles in passenger-car units, entry queues included.  Ties keep
    the phase."""

    def __init__(self, interval: float | None = None, min_green: float = 0.0, name: str = "max_pressure") -> None:
        self.decision_interval = interval
        self.min_green = float(min_green)
        self.name = name

    def params(self) -> dict[str, Any]:
        return {"interval": self.decision_interval, "min_green": self.min_green}

    def reset(self, env: SignalCorridorEnv) -> None:
        env.set_fixed_plan(0.0, 0.0)
        net = env.sim.net
        self._pce = np.array([env.sim.params.motorcycles.pce, env.sim.params.cars.pce])
        self._entry_of = net.seg_int[:, SEG_ENTRY]
        self._dest = net.destinations
        self._frac = net.seg_frac

    def pressures(self, env: SignalCorridorEnv) -> np.ndarray:
        """Pressure (pc) of phase 0 and 1 at every junction, shape (J, 2)."""
        sim = env.sim
        load = sim.vehicles_per_segment()[0] @ self._pce
        queued = sim.queue[0] @ self._pce
        out = np.zeros((env.n_junctions, 2))
        for j, approaches in enumerate(sim.net.junc):
            for phase, s in enumerate(approaches):
                upstream = load[s] + (queued[self._entry_of[s]] if self._entry_of[s] >= 0 else 0.0)
                downstream = sum(f * load[d] for d, f in zip(self._dest[s], self._frac[s], strict=True) if d >= 0)
                out[j, phase] = upstream - downstream
        return out

    def act(self, obs: np.ndarray, env: SignalCorridorEnv) -> np.ndarray | int:
        p = self.pressures(env)
        sig = env.sim.sig[0]
        current = sig[:, SIG_PHASE].astype(np.int64)
        best = np.argmax(p, axis=1)
        keep = p[np.arange(len(p)), current] >= p.max(axis=1)
        held = (sig[:, SIG_TRANS] <= 0.0) & (sig[:, SIG_TIME] < self.min_green)  # too early to leave
        return _as_action(env, np.where(keep | held, current, best))


class Actuated:
    """Vehicle-actuated control (gap-out / max-out), checked every ``step`` s (see the module docstring)."""

    def __init__(self, min_green: float = 10.0, max_green: float = 60.0, gap: float = 3.0, step: float = 2.5,
                 detector_m: float = 50.0, call_threshold: float = 0.5, name: str = "actuated") -> None:
        if max_green < min_green:
            raise ValueError(f"actuated: max_green={max_green} s is below min_green={min_green} s")
        self.min_green, self.max_green, self.gap = float(min_green), float(max_green), float(gap)
        self.decision_interval = float(step)
        self.detector_m, self.call_threshold = float(detector_m), float(call_threshold)
        self.name = name

    def params(self) -> dict[str, Any]:
        return {"min_green": self.min_green, "max_green": self.max_green, "gap": self.gap,
                "step": self.decision_interval, "detector_m": self.detector_m}

    def reset(self, env: SignalCorridorEnv) -> None:
        env.set_fixed_plan(0.0, 0.0)
        self._pce = np.array([env.sim.params.motorcycles.pce, env.sim.params.cars.pce])
        self._vmax = env.sim.cp[:, 0]

    def _detector_flow(self, env: SignalCorridorEnv, fields: np.ndarray, s: int) -> float:
        """pc/s over the loop ``detector_m`` upstream of segment s's stop line (``fields``: the
        simulator's primitive fields of this scenario, (S, 4, cells))."""
        n = int(env.sim.net.seg_int[s, SEG_CELLS])
        back = min(n - 1, int(round(self.detector_m / env.scenario.dx)))
        f = fields[s, :, n - 1 - back]  # rho_m, v_m, rho_c, v_c
        return float(self._pce[0] * f[0] * f[1] + self._pce[1] * f[2] * f[3])

    def _call(self, env: SignalCorridorEnv, fields: np.ndarray, s: int) -> bool:
        """A vehicle waits at segment s's stop line (presence detector) or in its entry queue."""
        sim = env.sim
        n = int(sim.net.seg_int[s, SEG_CELLS])
        cell = sim.U[0, s, :, GHOST + n - 1]
        f = fields[s, :, n - 1]
        stopped = sum(self._pce[i] * cell[Q_RHO + 2 * i] * env.scenario.dx * (1.0 - f[2 * i + 1] / self._vmax[i])
                      for i in range(2))
        entry = int(sim.net.seg_int[s, SEG_ENTRY])
        return stopped > self.call_threshold or (entry >= 0 and float(sim.queue[0, entry] @ self._pce) > 0.0)

    def act(self, obs: np.ndarray, env: SignalCorridorEnv) -> np.ndarray | int:
        sig = env.sim.sig[0]
        phases = sig[:, SIG_PHASE].astype(np.int64)
        fields = None
        for j, approaches in enumerate(env.sim.net.junc):
            if sig[j, SIG_TRANS] > 0.0 or sig[j, SIG_TIME] < self.min_green:
                continue
            fields = env.sim.fields()[0] if fields is None else fields  # read once per decision
            green, other = approaches[phases[j]], approaches[1 - phases[j]]
            gapped = self._detector_flow(env, fields, green) < 1.0 / self.gap
            maxed = sig[j, SIG_TIME] >= self.max_green
            if (gapped or maxed) and self._call(env, fields, other):
                phases[j] = 1 - phases[j]
        return _as_action(env, phases)


class RandomController:
    """Uniformly random phase requests, seeded per episode."""

    name = "random"
    decision_interval = None

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._episode = 0

    def params(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def reset(self, env: SignalCorridorEnv) -> None:
        env.set_fixed_plan(0.0, 0.0)
        self._rng = np.random.default_rng([self.seed, self._episode])
        self._episode += 1

    def act(self, obs: np.ndarray, env: SignalCorridorEnv) -> np.ndarray | int:
        return _as_action(env, self._rng.integers(0, 2, size=env.n_junctions))


def reference_plans(cycles: tuple[float, ...]) -> list[Controller]:
    """The fixed plans kept as reference rows (untuned: the cycles a manual would suggest)."""
    return [FixedTime(c) for c in cycles]
