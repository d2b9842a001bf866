"""Space-time (Hovmöller) diagrams of density and speed, one evaluation episode per controller."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from . import results, style

#: main-street phase colours on the junction markers: green, all-red/yellow, red
PHASE_COLORS = {0: "#009E73", -1: "#F0E442", 1: "#D55E00"}


def _phase_marks(ax, trace: dict) -> None:
    """Signal phases along the time axis at each junction's position (main street's view)."""
    t = trace["t"]
    for j, xj in enumerate(trace["junction_x"]):
        for k in range(t.size - 1):
            ax.plot([xj, xj], [t[k], t[k + 1]], color=PHASE_COLORS.get(int(trace["phase"][k, j]), "k"), lw=3,
                    solid_capstyle="butt")


def hovmoller(run_dir: str | Path, quantity: str, pdf: str | Path, png: str | Path,
              footer: str | None = None) -> None:
    """Density (``quantity='rho'``, veh/km) or speed (``'v'``, km/h) over x and t, per class (columns)
    and controller (rows), on the same demand draw; junction phases drawn at the stop lines."""
    run_dir = Path(run_dir)
    evaluation = results.evaluation(run_dir / "evaluation_results.json")
    names = results.pick_controllers(evaluation)
    traces = {n: results.spacetime(run_dir / f"spacetime_{n}.npz") for n in names}
    unit = "veh/km" if quantity == "rho" else "km/h"
    vmax = max(float(np.max(tr[f"{quantity}_{c}"])) for tr in traces.values() for c in ("m", "c"))
    style.apply()
    fig, axes = plt.subplots(len(names), 2, figsize=(style.TEXT_WIDTH_IN, 1.9 * len(names) + 0.6),
                             sharex=True, sharey=True, squeeze=False)
    cmap = "viridis" if quantity == "rho" else "magma"
    for r, name in enumerate(names):
        tr = traces[name]
        for c, (cls, label) in enumerate((("m", "motorcycles"), ("c", "cars"))):
            ax = axes[r, c]
            mesh = ax.pcolormesh(tr["x"], tr["t"] / 60.0, tr[f"{quantity}_{cls}"], shading="nearest", cmap=cmap,
                                 vmin=0.0, vmax=vmax, rasterized=True)
            _phase_marks(ax, dict(tr, t=tr["t"] / 60.0))
            ax.set_title(f"{name}: {label}", fontsize=8)
            if c == 0:
                ax.set_ylabel("time (min)")
            if r == len(names) - 1:
                ax.set_xlabel("position along the corridor (m)")
    fig.colorbar(mesh, ax=axes, label=f"{'density' if quantity == 'rho' else 'speed'} ({unit})", shrink=0.8)
    style.save(fig, pdf, png, footer)


def spacetime_density(run_dir: str | Path, pdf: str | Path, png: str | Path, footer: str | None = None) -> None:
    """:func:`hovmoller` of density."""
    hovmoller(run_dir, "rho", pdf, png, footer)


def spacetime_speed(run_dir: str | Path, pdf: str | Path, png: str | Path, footer: str | None = None) -> None:
    """:func:`hovmoller` of speed."""
    hovmoller(run_dir, "v", pdf, png, footer)
