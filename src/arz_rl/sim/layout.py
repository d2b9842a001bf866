"""Names for every position in the simulator's arrays, and the bundles the kernels take.

The bottom of :mod:`arz_rl.sim`: every kernel module imports from here and nothing here imports
a kernel.  An array column is read as ``seg_int[s, SEG_CELLS]`` or ``acc[b, ACC_DELAY + i]``,
never by a bare number; per-class pairs are laid out class after class (motorcycles ``i = 0``,
cars ``i = 1``).

Arrays (``B`` scenarios, ``S`` segments, ``C`` cells with ghosts, ``J`` junctions, ``E`` entries,
``K`` demand knots):

- ``U`` (B, S, 4, C): conserved variables per cell, ``Q_RHO + 2 i`` = rho_i (veh/m),
  ``Q_Y + 2 i`` = y_i = rho_i w_i (veh/s); :data:`GHOST` ghost cells each side.
- ``cp`` (2, 4): class constants per class, columns ``CP_*`` (m/s, -, s, -).
- ``seg_int`` (S, 8) int64: columns ``SEG_*``; ``seg_frac`` (S, 2): turning shares to the two
  destinations of a stop line.
- ``junc`` (J, 2): the approach segment of each phase (``PHASE_MAIN``, ``PHASE_CROSS``);
  ``junc_times`` (J, 5): columns ``JT_*`` (s).
- ``sig`` (B, J, 4): columns ``SIG_*``; ``request`` (B, J) int64: phase asked for;
  ``plan`` (B, J, 3): columns ``PLAN_*`` (s), a fixed-time plan when its cycle is > 0.
- ``queue`` (B, E, 2): vehicles waiting at each entry per class; ``demand_rates`` (B, E, 2, K):
  arrival rates (veh/s) at the knots ``knots`` (K,) (s).
- ``acc`` (B, NACC): running totals, columns ``ACC_*``; ``jq`` (B, J, 3): junction queues,
  columns ``JQ_*``; ``t`` (B,): simulated time (s).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# numba options of every kernel.  error_model "numpy": a division is a plain instruction, not a
# zero check that raises (every division here is guarded or harmless), which lets loops vectorise
JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
#: for the pointwise physics: inlined where called (a call left in a loop keeps it scalar)
JIT_INLINE = {"nogil": True, "error_model": "numpy", "inline": "always"}

RHO_EPS = 1e-10  #: veh/m below which a class is treated as absent (vacuum)
T_EPS = 1e-9  #: s, tolerance on signal event times
GHOST = 2  #: ghost cells each side of a segment (the MUSCL stencil's reach)

# conserved variables of a cell: class i's density at Q_RHO + 2 i, its y = rho w at Q_Y + 2 i
Q_RHO, Q_Y = 0, 1
# class constants cp[i, :]
CP_VMAX, CP_GAMMA, CP_TAU, CP_PCE = 0, 1, 2, 3
# the tuple k = (v_max, gamma, pce) of one class that the pointwise physics takes
# (physics.class_constants; a tuple, not cp's row: tau is not in it)
K_VMAX, K_GAMMA, K_PCE = 0, 1, 2
# segments seg_int[s, :]: cells, entry feeding it (-1: none), what its downstream end is (EXIT or
# STOP_LINE), junction and phase of its stop line (-1: none), the two destinations of a stop line
# (a segment index, SINK, or NO_DEST) at SEG_DEST + k, and whose demand fills it at reset (an entry)
SEG_CELLS, SEG_ENTRY, SEG_OUT, SEG_JUNCTION, SEG_PHASE, SEG_DEST, SEG_SOURCE = 0, 1, 2, 3, 4, 5, 7
SEG_COLUMNS = 8
EXIT, STOP_LINE = 0, 1
SINK, NO_DEST = -1, -2
# junc[j, :]: the approach each phase gives green to
PHASE_MAIN, PHASE_CROSS = 0, 1
# junc_times[j, :]: yellow, all-red, minimum green, start-up lost time at a green's start, and the
# part of the yellow traffic still uses (the effective green's extension into it), all in s
JT_YELLOW, JT_ALL_RED, JT_MIN_GREEN, JT_STARTUP_LOST, JT_YELLOW_USED = 0, 1, 2, 3, 4
# signals sig[b, j, :]: phase shown, phase a transition leads to, transition time left, time in phase
SIG_PHASE, SIG_TARGET, SIG_TRANS, SIG_TIME = 0, 1, 2, 3
# fixed-time plans plan[b, j, :]: cycle, main-street green, offset
PLAN_CYCLE, PLAN_MAIN_GREEN, PLAN_OFFSET = 0, 1, 2
# accumulators acc[b, :] (per-class pairs m, c): vehicles arrived at, entered from, exited the
# network; total time spent, delay (veh s); distance (veh m); switches, vehicles clamped, substeps
ACC_ARRIVED, ACC_ENTERED, ACC_EXITED, ACC_TTS, ACC_DELAY, ACC_DIST = 0, 2, 4, 6, 8, 10
ACC_SWITCHES, ACC_CLAMPED, ACC_SUBSTEPS, NACC = 12, 13, 14, 15
# junction queues jq[b, j, :] (stopped-vehicle equivalents): time integral (veh s), maximum, now
JQ_INTEGRAL, JQ_MAX, JQ_NOW = 0, 1, 2


class NetArrays(NamedTuple):
    """The static arrays of a network (see :class:`arz_rl.sim.network.Network`)."""

    seg_int: np.ndarray
    seg_frac: np.ndarray
    junc: np.ndarray
    junc_times: np.ndarray
    entry_seg: np.ndarray
    knots: np.ndarray


class State(NamedTuple):
    """What the kernels advance in place: one row per scenario of the batch."""

    U: np.ndarray
    queue: np.ndarray
    sig: np.ndarray
    request: np.ndarray
    plan: np.ndarray
    t: np.ndarray
    demand_rates: np.ndarray
    acc: np.ndarray
    jq: np.ndarray


class Numerics(NamedTuple):
    """The scheme's settings and the model's constants."""

    cfl: float  #: Courant number
    dx: float  #: cell size, m
    cp: np.ndarray  #: class constants (2, 4)
    rho_jam: float  #: jam density in car equivalents, veh/m
