"""Baseline signal controllers: fixed-time (Webster splits, green wave), max-pressure, random.

Every controller offers ``reset(env)`` at the start of an episode and
``act(obs, env)`` at each decision, returning an action of the env's space.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .env import SignalCorridorEnv
from .sim.layout import SEG_ENTRY, SIG_PHASE
from .sim.params import PER_HOUR


class Controller(Protocol):
    name: str

    def reset(self, env: SignalCorridorEnv) -> None: ...

    def act(self, obs: np.ndarray, env: SignalCorridorEnv) -> np.ndarray | int: ...


def _as_action(env: SignalCorridorEnv, phases: np.ndarray) -> np.ndarray | int:
    return int(phases[0]) if env.n_junctions == 1 else phases.astype(np.int64)


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

    Greens are shared in proportion to the critical flow ratios y = q/s of the
    two approaches at the peak (PCE); yellow discharges, all-red is lost time.
    """
    sc = env.scenario
    pce = np.array([env.sim.params.motorcycles.pce, env.sim.params.cars.pce])
    q_main = float(np.dot(pce, sc.main_demand)) * PER_HOUR
    q_cross = float(np.dot(pce, sc.cross_demand)) * PER_HOUR
    # the main road downstream of junction 0 also carries the cross street's turners
    q_main = max(q_main, q_main * (1.0 - sc.turn_main) + q_cross * sc.turn_cross)
    effective = cycle - 2.0 * sc.all_red
    main_eff = effective * q_main / (q_main + q_cross)
    inter = sc.yellow + sc.all_red
    main_green = main_eff - sc.yellow
    # keep both greens at least min_green
    return float(np.clip(main_green, sc.min_green, cycle - 2.0 * inter - sc.min_green))


class FixedTime:
    """Fixed-time plan: one ``cycle`` (s), Webster split, offsets for a green wave along the main road."""

    def __init__(self, cycle: float, green_wave: bool = True) -> None:
        self.cycle = float(cycle)
        self.green_wave = green_wave
        self.name = f"fixed_{int(cycle)}"

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
    """Max-pressure control (Varaiya 2013): at each decision give green to the phase whose
    movements have the largest pressure, sum over movements of (upstream - turning share x
    downstream) vehicles in passenger-car units, entry queues included.  Ties keep the phase."""

    name = "max_pressure"

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
        current = env.sim.sig[0, :, SIG_PHASE].astype(np.int64)
        best = np.argmax(p, axis=1)
        keep = p[np.arange(len(p)), current] >= p.max(axis=1)
        return _as_action(env, np.where(keep, current, best))


class RandomController:
    """Uniformly random phase requests, seeded per episode."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._episode = 0

    def reset(self, env: SignalCorridorEnv) -> None:
        env.set_fixed_plan(0.0, 0.0)
        self._rng = np.random.default_rng([self.seed, self._episode])
        self._episode += 1

    def act(self, obs: np.ndarray, env: SignalCorridorEnv) -> np.ndarray | int:
        return _as_action(env, self._rng.integers(0, 2, size=env.n_junctions))


def baseline_controllers(cycles: tuple[float, ...], seed: int = 0) -> list[Controller]:
    """Fixed-time at each cycle, max-pressure and random."""
    return [*(FixedTime(c) for c in cycles), MaxPressure(), RandomController(seed)]
