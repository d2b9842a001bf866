"""Space-time (Hovmöller) diagrams of density and speed at the headline demand level, one test
draw (the first), one row per controller of the comparison set; signal phases at the stop lines."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from arz_rl import results as contract

from . import results, style


def _phase_marks(ax, t_min: np.ndarray, junction_km: np.ndarray, phase: np.ndarray) -> None:
    """The main street's stopped time at each junction as a bar along its stop line: red while it
    has red, grey during lost time, nothing while it flows (colours no colormap uses)."""
    for j, xj in enumerate(junction_km):
        for value, col in style.PHASE_COLORS.items():
            on = phase[:-1, j] == value
            if on.any():
                segments = [[(xj, t_min[k]), (xj, t_min[k + 1])] for k in np.flatnonzero(on)]
                ax.add_collection(LineCollection(segments, colors=col, linewidths=1.6, capstyle="butt"))


def hovmoller(run_dir: str | Path, quantity: str) -> plt.Figure:
    """Density (``quantity='rho'``, veh/km) or speed (``'v'``, km/h) over distance (km) and time
    (min), per class (columns) and controller (rows), on the same demand draw, with the main
    street's phase at each junction along its stop line."""
    run_dir = Path(run_dir)
    evaluation = results.evaluation(run_dir / contract.EVALUATION)
    level = evaluation["headline_level"]
    kinds = results.kinds(evaluation["levels"][level])
    names = style.order(results.pick_controllers(evaluation, level), kinds)
    traces = {n: results.spacetime(run_dir / contract.spacetime_name(level, n)) for n in names}
    unit = "veh/km" if quantity == "rho" else "km/h"
    vmax = max(float(np.max(tr[f"{quantity}_{c}"])) for tr in traces.values() for c in ("m", "c"))
    style.apply()
    fig, axes = style.figure(len(names), 2, height=1.3 * len(names) + 0.8, sharex=True, sharey=True)
    cmap = style.DENSITY_CMAP if quantity == "rho" else style.SPEED_CMAP
    for r, name in enumerate(names):
        tr = traces[name]
        t_min = tr["t"] / 60.0
        for c, cls in enumerate(("m", "c")):
            ax = axes[r, c]
            mesh = ax.pcolormesh(tr["x"] / 1000.0, t_min, tr[f"{quantity}_{cls}"], shading="nearest", cmap=cmap,
                                 vmin=0.0, vmax=vmax, rasterized=True)
            _phase_marks(ax, t_min, tr["junction_x"] / 1000.0, tr["phase"])
            ax.grid(False)
        axes[r, 0].set_ylabel("time (min)")
        axes[r, 0].set_title(style.label(name), loc="left", fontsize=7)  # the row's controller, on one line
    axes[0, 0].set_title("motorcycles", loc="right")
    axes[0, 1].set_title("cars", loc="right")
    for ax in axes[-1]:
        ax.set_xlabel("distance (km)")
    fig.colorbar(mesh, ax=axes, label=f"{'density' if quantity == 'rho' else 'speed'} ({unit})", shrink=0.8)
    marks = [Line2D([], [], color=col, lw=2.0, label=style.PHASE_NAMES[v]) for v, col in style.PHASE_COLORS.items()]
    fig.legend(handles=marks, loc="outside upper center", ncols=2,
               title=f"{level} demand, test draw {evaluation['protocol']['seed_sets']['test'][0]}; at each stop line:",
               title_fontsize=7)
    return fig


def spacetime_density(run_dir: str | Path) -> plt.Figure:
    """:func:`hovmoller` of density."""
    return hovmoller(run_dir, "rho")


def spacetime_speed(run_dir: str | Path) -> plt.Figure:
    """:func:`hovmoller` of speed."""
    return hovmoller(run_dir, "v")
