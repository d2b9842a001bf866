"""Road networks and demand: a signalised corridor of ``n`` junctions.

Topology (one direction of the arterial, west to east)::

    entry -> M0 -> [J0] -> M1 -> [J1] -> ... -> [J(n-1)] -> Mn -> exit
                    ^  \\
         entry -> Cj    Xj -> exit        (cross street at every junction)

Phase 0 gives green to the main approach M_j, phase 1 to the cross approach
C_j.  Under phase 0 a share ``turn_main`` of M_j turns into the cross exit X_j,
the rest continues to M_(j+1); under phase 1 a share ``turn_cross`` of C_j
turns onto M_(j+1), the rest crosses into X_j.  The two phases never feed the
same link at once, so a junction is a pair of diverges (Daganzo 1995).

Demand enters at M0 and every C_j through point queues: a morning peak on a Victoria Island
(Lagos) arterial, scaled by a *demand level* (:data:`DEMAND_LEVELS`).  At ``demand_scale`` 1 the
sum of critical flow ratios at the peak is about 0.86 (car saturation flow 3,750 pc/h on two
lanes): with the lost time of the signals (10 s a cycle, see :mod:`arz_rl.sim.junctions`) a
well-split 90 s plan runs near capacity (degree of saturation ~0.97).

Where each Lagos number comes from (nothing here is field data; the thesis should say so):

- Flows, veh/h at the peak (``main_flow``, ``cross_flow``) and the profile: **assumptions**, in
  the range of morning-peak counts reported for Victoria Island arterials (Adeola Odeku, Ahmadu
  Bello Way); replace them with counts when there are counts.
- Motorcycle share (``moto_share``): **assumption**, 0.55 before the June 2022 prohibition of
  commercial motorcycles (okada) in six local government areas including Eti-Osa (Lagos State
  Government, announced 18 May 2022); the sensitivity axis ``moto_share`` (e.g. 0.25 after it:
  private motorcycles and dispatch riders remain) is a parameter, not a default.
- Lanes: two per direction, an **assumption**, in the car jam density of
  :class:`arz_rl.sim.params.ModelParams` (2 x 150 pc/km, HCM 6th ed.).
- Link lengths (400 m main, 250 m cross): **assumptions**, typical block spacing on the island.
- Speeds: 50 km/h urban limit (Lagos State Transport Sector Reform Law 2018) for cars; the
  motorcycles' 60 km/h is an **assumption** (see :mod:`arz_rl.sim.params`).
- Signal timing: yellow 3 s, all-red 2 s, minimum green 10 s (common practice, **assumption** for
  Lagos); start-up lost time 2 s and the yellow used 2 s: HCM 6th ed. (TRB 2016), exhibit 19-11.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .layout import (
    EXIT,
    NO_DEST,
    PHASE_CROSS,
    PHASE_MAIN,
    SEG_CELLS,
    SEG_COLUMNS,
    SEG_DEST,
    SEG_ENTRY,
    SEG_JUNCTION,
    SEG_OUT,
    SEG_PHASE,
    SEG_SOURCE,
    STOP_LINE,
    NetArrays,
)
from .params import PER_HOUR

MAIN_ENTRY = 0  #: the entry feeding the main road (M0); cross street j's entry is j + 1


@dataclass(frozen=True)
class Scenario:
    """A corridor and its demand (lengths m, times s, flows veh/h at the edges)."""

    name: str = "corridor"
    n_junctions: int = 3
    dx: float = 50.0  #: cell size, m
    main_link_length: float = 400.0  #: m, each main link
    cross_link_length: float = 250.0  #: m, each cross approach and exit
    duration: float = 3600.0  #: demand period = episode length, s
    main_flow: float = 3300.0  #: veh/h, peak arrivals at the main entry (all classes; assumption)
    cross_flow: float = 1700.0  #: veh/h, peak arrivals at each cross entry (assumption)
    moto_share: float = 0.55  #: share of motorcycles in every entry's arrivals (assumption, pre-2022)
    demand_scale: float = 1.0  #: multiplier of every arrival rate: the demand level
    #: profile of the morning peak: multiplier of the peak rates at evenly spaced knots
    profile: tuple[float, ...] = (0.70, 0.78, 0.86, 0.93, 0.98, 1.00, 1.00, 0.97, 0.92, 0.87, 0.83, 0.80, 0.78)
    turn_main: float = 0.15  #: share of main-approach traffic turning into the cross exit
    turn_cross: float = 0.30  #: share of cross-approach traffic turning onto the main road
    yellow: float = 3.0  #: s
    all_red: float = 2.0  #: s; no discharge
    min_green: float = 10.0  #: s
    startup_lost: float = 2.0  #: s at a green's start with no discharge (HCM 6th ed.: 2 s)
    yellow_used: float = 2.0  #: s of the yellow traffic still uses (HCM 6th ed.: 2 s)
    demand_noise: float = 0.10  #: std of the lognormal multiplier per knot and entry (0: none)

    def class_flows(self, total: float) -> tuple[float, float]:
        """(motorcycles, cars) in veh/h of an entry with ``total`` peak arrivals, at this demand level."""
        scaled = total * self.demand_scale
        return scaled * self.moto_share, scaled * (1.0 - self.moto_share)

    @property
    def main_demand(self) -> tuple[float, float]:
        """Peak arrivals at the main entry per class (veh/h), demand level included."""
        return self.class_flows(self.main_flow)

    @property
    def cross_demand(self) -> tuple[float, float]:
        """Peak arrivals at each cross entry per class (veh/h), demand level included."""
        return self.class_flows(self.cross_flow)

    def lost_time(self) -> float:
        """Lost time of one phase (s): start-up, the yellow not used, all-red."""
        return self.startup_lost + self.yellow + self.all_red - self.yellow_used

    def to_dict(self) -> dict:
        return {**asdict(self), "main_demand": list(self.main_demand), "cross_demand": list(self.cross_demand)}


#: named demand levels: multipliers of the peak arrivals (``demand_scale``), named by what the best
#: tuned controller (chosen on the validation draws) meets there (tests/test_protocol.py).  At
#: ``under`` (the calibrated peak, critical flow ratios summing to ~0.86 at the peak) no entry
#: queue forms; at ``near`` (~1.07 at the peak, ~0.96 over the hour) it runs near capacity, its
#: entry queues empty by the end of the hour; at ``over`` (~1.29 at the peak, ~1.15 over the hour)
#: no controller serves the demand: the entry queues grow through the hour, and queues fill links
#: back to the junction upstream (spillback).
DEMAND_LEVELS = {"under": 1.0, "near": 1.25, "over": 1.5}


def single_junction(**overrides: object) -> Scenario:
    """One signalised junction (a corridor of length 1)."""
    return Scenario(**{"name": "single", "n_junctions": 1, **overrides})


def corridor(n_junctions: int = 3, **overrides: object) -> Scenario:
    """A corridor of ``n_junctions`` signalised junctions."""
    return Scenario(**{"name": f"corridor{n_junctions}", "n_junctions": n_junctions, **overrides})


SCENARIOS = {"single": single_junction, "corridor": corridor}


def make_scenario(name: str, **overrides: object) -> Scenario:
    """Scenario by name (``single`` or ``corridor``) with field overrides."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}: choose one of {sorted(SCENARIOS)}")
    return SCENARIOS[name](**overrides)


@dataclass
class Network:
    """Static arrays the compiled kernels read (columns named in :mod:`arz_rl.sim.layout`).

    ``seg_int[s]``: cells, the entry feeding it or -1, its downstream end (EXIT or STOP_LINE),
    junction and phase of its stop line, two destinations (segment, SINK or NO_DEST) and the
    entry whose demand fills it at reset; ``seg_frac[s]``: the shares to the two destinations.
    ``junc[j]``: the approach of each phase; ``junc_times[j]``: (yellow, all_red, min_green,
    startup_lost, yellow_used) s.
    ``entry_seg[e]``: the segment entry e feeds.
    """

    scenario: Scenario
    seg_int: np.ndarray
    seg_frac: np.ndarray
    junc: np.ndarray
    junc_times: np.ndarray
    entry_seg: np.ndarray
    knots: np.ndarray  #: (K,) s
    base_demand: np.ndarray  #: (E, 2, K) veh/s
    seg_names: list[str] = field(default_factory=list)
    main_path: list[int] = field(default_factory=list)  #: main segments west to east

    @property
    def n_segments(self) -> int:
        return self.seg_int.shape[0]

    @property
    def n_junctions(self) -> int:
        return self.junc.shape[0]

    @property
    def n_entries(self) -> int:
        return self.entry_seg.shape[0]

    @property
    def max_cells(self) -> int:
        return int(self.seg_int[:, SEG_CELLS].max())

    def total_cells(self) -> int:
        return int(self.seg_int[:, SEG_CELLS].sum())

    @property
    def destinations(self) -> np.ndarray:
        """(S, 2): the two destinations of each segment's stop line (segment, SINK or NO_DEST)."""
        return self.seg_int[:, SEG_DEST:SEG_DEST + 2]

    def arrays(self) -> NetArrays:
        """The bundle the kernels take."""
        return NetArrays(self.seg_int, self.seg_frac, self.junc, self.junc_times, self.entry_seg, self.knots)


def _cells(length: float, dx: float, what: str) -> int:
    n = round(length / dx)
    if n < 2 or abs(n * dx - length) > 1e-9 * length:
        raise ValueError(f"{what}={length} m must be a multiple (>= 2) of dx={dx} m")
    return n


def build_network(sc: Scenario) -> Network:
    """Arrays of the corridor described by ``sc``."""
    if sc.n_junctions < 1:
        raise ValueError("n_junctions must be >= 1")
    if not 0.0 <= sc.moto_share <= 1.0:
        raise ValueError(f"moto_share={sc.moto_share}: a share, between 0 and 1")
    if sc.demand_scale < 0.0:
        raise ValueError(f"demand_scale={sc.demand_scale}: must be >= 0")
    if not 0.0 <= sc.yellow_used <= sc.yellow or sc.startup_lost < 0.0 or sc.startup_lost >= sc.min_green:
        raise ValueError(f"yellow_used={sc.yellow_used} must lie in [0, yellow={sc.yellow}] and startup_lost="
                         f"{sc.startup_lost} in [0, min_green={sc.min_green})")
    nm = _cells(sc.main_link_length, sc.dx, "main_link_length")
    nc = _cells(sc.cross_link_length, sc.dx, "cross_link_length")
    n = sc.n_junctions
    names: list[str] = []
    rows: list[list[int]] = []
    fracs: list[list[float]] = []
    main = [len(names) + k for k in range(n + 1)]
    names += [f"M{k}" for k in range(n + 1)]
    cross_in = [len(names) + k for k in range(n)]
    names += [f"C{k}" for k in range(n)]
    cross_out = [len(names) + k for k in range(n)]
    names += [f"X{k}" for k in range(n)]
    entries = [main[0], *cross_in]
    for _ in range(len(names)):
        row = [0] * SEG_COLUMNS
        row[SEG_ENTRY], row[SEG_OUT], row[SEG_JUNCTION], row[SEG_PHASE] = -1, EXIT, -1, -1
        row[SEG_DEST], row[SEG_DEST + 1], row[SEG_SOURCE] = NO_DEST, NO_DEST, MAIN_ENTRY
        rows.append(row)
        fracs.append([0.0, 0.0])
    for s in main:
        rows[s][SEG_CELLS] = nm
    for s in cross_in + cross_out:
        rows[s][SEG_CELLS] = nc
    for e, s in enumerate(entries):
        rows[s][SEG_ENTRY] = e
    for j in range(n):
        m_in, c_in, m_out, x_out = main[j], cross_in[j], main[j + 1], cross_out[j]
        for s, phase, shares in ((m_in, PHASE_MAIN, [1.0 - sc.turn_main, sc.turn_main]),
                                 (c_in, PHASE_CROSS, [sc.turn_cross, 1.0 - sc.turn_cross])):
            rows[s][SEG_OUT], rows[s][SEG_JUNCTION], rows[s][SEG_PHASE] = STOP_LINE, j, phase
            rows[s][SEG_DEST], rows[s][SEG_DEST + 1] = m_out, x_out
            fracs[s] = shares
        # a cross approach starts filled by its own entry's demand; the main road and the cross
        # exits by the main entry's
        rows[c_in][SEG_SOURCE] = rows[c_in][SEG_ENTRY]
    k = len(sc.profile)
    knots = np.linspace(0.0, sc.duration, k)
    base = np.zeros((len(entries), 2, k))
    prof = np.asarray(sc.profile, dtype=np.float64)
    for e in range(len(entries)):
        peak = sc.main_demand if e == 0 else sc.cross_demand
        for i in range(2):
            base[e, i] = peak[i] * PER_HOUR * prof
    return Network(
        scenario=sc,
        seg_int=np.asarray(rows, dtype=np.int64),
        seg_frac=np.asarray(fracs, dtype=np.float64),
        junc=np.asarray([[main[j], cross_in[j]] for j in range(n)], dtype=np.int64),  # PHASE_MAIN, PHASE_CROSS
        junc_times=np.asarray([[sc.yellow, sc.all_red, sc.min_green, sc.startup_lost, sc.yellow_used]] * n,
                              dtype=np.float64),
        entry_seg=np.asarray(entries, dtype=np.int64),
        knots=knots,
        base_demand=base,
        seg_names=names,
        main_path=main,
    )


def sample_demand(net: Network, rng: np.random.Generator | None, noise: float | None = None) -> np.ndarray:
    """Arrival rates (E, 2, K) in veh/s: the base profile times seeded lognormal noise."""
    sigma = net.scenario.demand_noise if noise is None else noise
    if rng is None or sigma <= 0.0:
        return net.base_demand.copy()
    e, _, k = net.base_demand.shape
    factor = rng.lognormal(mean=-0.5 * sigma**2, sigma=sigma, size=(e, 1, k))
    return net.base_demand * factor
