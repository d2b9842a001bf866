"""Space-time (Hovmöller) diagrams and queue histories of one evaluation episode per controller."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from . import results, style

#: main-street phase colours on the junction markers: green, all-red/yellow, red
PHASE_COLORS = {0: "#009E73", -1: "#F0E442", 1: "#D55E00"}


def pick_controllers(evaluation: dict) -> list[str]:
    """Best fixed-time plan, max-pressure and every RL agent (the thesis's comparison set)."""
    ctrls = evaluation["controllers"]
    chosen = [evaluation["best_fixed_time"]] if evaluation.get("best_fixed_time") else []
    if "max_pressure" in ctrls:
        chosen.append("max_pressure")
    chosen += sorted(n for n, c in ctrls.items() if c["kind"] == "rl")
    return chosen


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
    names = pick_controllers(evaluation)
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


def queues(run_dir: str | Path, pdf: str | Path, png: str | Path,
           footer: str | None = None) -> None:
    """Queue (veh) at each junction over time for the comparison set, same demand draw."""
    run_dir = Path(run_dir)
    evaluation = results.evaluation(run_dir / "evaluation_results.json")
    names = pick_controllers(evaluation)
    traces = {n: results.spacetime(run_dir / f"spacetime_{n}.npz") for n in names}
    n_j = traces[names[0]]["queue"].shape[1]
    colors = style.controller_colors(list(evaluation["controllers"]))
    style.apply()
    fig, axes = plt.subplots(1, n_j, figsize=(style.TEXT_WIDTH_IN, 2.6), sharey=True, squeeze=False)
    for j in range(n_j):
        ax = axes[0, j]
        for name in names:
            tr = traces[name]
            ax.plot(tr["t"] / 60.0, tr["queue"][:, j], color=colors[name], label=name, lw=1.2)
        ax.set_title(f"junction {j + 1}", fontsize=8)
        ax.set_xlabel("time (min)")
    axes[0, 0].set_ylabel("queue (veh)")
    axes[0, -1].legend(fontsize=7)
    style.save(fig, pdf, png, footer)


def riemann(validation_dir: str | Path, pdf: str | Path, png: str | Path,
            footer: str | None = None) -> None:
    """Numerical (MUSCL, finest grid) against exact density for every Riemann case, and L1 error
    against resolution (log-log) with the observed order."""
    import pandas as pd

    validation_dir = Path(validation_dir)
    table = results.riemann_table(validation_dir / "riemann_table.csv")
    cases = list(dict.fromkeys(table["case"]))
    style.apply()
    ncol = 3
    nrow = -(-len(cases) // ncol) + 1
    fig = plt.figure(figsize=(style.TEXT_WIDTH_IN, 1.7 * nrow + 0.5))
    grid = fig.add_gridspec(nrow, ncol)
    for i, case in enumerate(cases):
        path = validation_dir / f"riemann_{case}.csv"
        if not path.exists():
            raise results.ResultsError(f"{path}: file missing")
        df = pd.read_csv(path)
        ax = fig.add_subplot(grid[i // ncol, i % ncol])
        cls = "rho_m" if case.startswith("moto") else "rho_c"
        if case.startswith("mixed"):
            ax.plot(df["x"], df["rho_m"], lw=1, label="motorcycles")
            ax.plot(df["x"], df["rho_c"], lw=1, label="cars")
        else:
            ax.plot(df["x"], df["rho_exact"], color="k", lw=1, label="exact")
            ax.plot(df["x"], df[cls], color=style.OKABE_ITO[0], lw=1, ls="--", label="MUSCL-RK2")
        ax.set_title(case.replace("_", " "), fontsize=7)
        ax.tick_params(labelsize=6)
        if i == 0:
            ax.legend(fontsize=6)
    ax = fig.add_subplot(grid[nrow - 1, :])
    for (case, scheme), g in table.groupby(["case", "scheme"], sort=False):
        g = g.sort_values("n_cells")
        order = g["order"].dropna()
        ax.loglog(g["n_cells"], g["l1_error"], marker="o", ms=2, lw=0.8,
                  ls="-" if scheme == "muscl_rk2" else ":",
                  label=f"{case} {scheme} (order {order.iloc[-1]:.2f})" if len(order) else f"{case} {scheme}")
    ax.set_xlabel("cells")
    ax.set_ylabel("L1 density error (veh)")
    ax.legend(fontsize=4.5, ncol=3)
    fig.suptitle("Riemann problems: profiles at t = 25 s (top) and convergence (bottom)", fontsize=9)
    style.save(fig, pdf, png, footer)
