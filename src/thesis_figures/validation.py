"""The solver's validation: Riemann problems against exact solutions, and convergence."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from arz_rl import results as contract

from . import results, style

#: the convergence panel's cases: neither the profiles' blue and vermillion (which mean cars and
#: motorcycles above) nor a pale yellow; each case has its own marker as well
CASE_COLORS = ["#009E73", "#CC79A7", "#56B4E9", "#000000", "#7F7F7F", "#8C564B", "#17BECF", "#9467BD", "#BCBD22"]
CASE_MARKERS = ["o", "s", "^", "v", "D", "P", "X", "<", ">"]


def riemann(run_dir: str | Path) -> plt.Figure:
    """Numerical (MUSCL-RK2, finest grid) against exact density for every Riemann case (top), and
    the L1 error against the number of cells, log-log, with the observed order of the finest pair
    (bottom; solid MUSCL-RK2, dotted first order)."""
    import pandas as pd

    validation_dir = Path(run_dir) / contract.VALIDATION_DIR
    table = results.riemann_table(validation_dir / contract.RIEMANN_TABLE)
    cases = list(dict.fromkeys(table["case"]))
    style.apply()
    ncol = 3
    nrow = -(-len(cases) // ncol)
    fig = plt.figure(figsize=(style.FULL_WIDTH, 1.35 * nrow + 2.3), layout="constrained")
    grid = fig.add_gridspec(nrow + 1, ncol, height_ratios=[1] * nrow + [1.6])
    for i, case in enumerate(cases):
        path = validation_dir / contract.riemann_profile_name(case)
        if not path.exists():
            raise results.ResultsError(f"{path}: file missing")
        df = pd.read_csv(results.verified(path))
        ax = fig.add_subplot(grid[i // ncol, i % ncol])
        x = df["x"] / 1000.0
        if case.startswith("mixed"):
            ax.plot(x, df["rho_m"], lw=1, color=style.OKABE_ITO[1], label="motorcycles")
            ax.plot(x, df["rho_c"], lw=1, color=style.OKABE_ITO[0], label="cars")
        else:
            cls = "rho_m" if case.startswith("moto") else "rho_c"
            ax.plot(x, df["rho_exact"], color="k", lw=1, label="exact")
            ax.plot(x, df[cls], color=style.OKABE_ITO[0], lw=1, ls="--", label="MUSCL-RK2")
        ax.set_title(case.replace("_", " "), pad=2)
        if i // ncol == nrow - 1 or i + ncol >= len(cases):
            ax.set_xlabel("x (km)")
        ax.tick_params(labelsize=6)
        ax.locator_params(nbins=3)
        if i % ncol == 0:
            ax.set_ylabel("veh/km")
    ax = fig.add_subplot(grid[nrow, :2])
    handles = []
    for k, case in enumerate(cases):
        for scheme, ls in (("muscl_rk2", "-"), ("first_order", ":")):
            g = table[(table["case"] == case) & (table["scheme"] == scheme)].sort_values("n_cells")
            if g.empty:
                continue
            line, = ax.loglog(g["n_cells"], g["l1_error"], marker=CASE_MARKERS[k % len(CASE_MARKERS)], ms=3,
                              lw=0.8, ls=ls, color=CASE_COLORS[k % len(CASE_COLORS)])
            if scheme == "muscl_rk2":
                order = g["order"].dropna()
                handles.append((line, f"{case.replace('_', ' ')} ({order.iloc[-1]:.2f})" if len(order) else case))
    ax.set_xlabel("cells")
    ax.set_ylabel("L1 density error (veh)")
    ax.xaxis.set_major_locator(FixedLocator(sorted(set(table["n_cells"]))))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_locator(NullLocator())
    key = fig.add_subplot(grid[nrow, 2])
    key.axis("off")
    profiles = [Line2D([], [], color="k", lw=1), Line2D([], [], color=style.OKABE_ITO[0], lw=1, ls="--"),
                Line2D([], [], color=style.OKABE_ITO[1], lw=1), Line2D([], [], color=style.OKABE_ITO[0], lw=1)]
    fig.legend(profiles, ["exact", "MUSCL-RK2", "motorcycles (mixed case)", "cars (mixed case)"],
               loc="outside upper center", ncols=4)
    schemes = [Line2D([], [], color="0.3", lw=0.8), Line2D([], [], color="0.3", lw=0.8, ls=":")]
    key.legend([h for h, _ in handles] + schemes, [t for _, t in handles] + ["MUSCL-RK2", "first order"],
               loc="center left", fontsize=5.5, title="convergence (observed order)", title_fontsize=6)
    return fig
