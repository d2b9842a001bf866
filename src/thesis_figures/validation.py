"""The solver's validation: Riemann problems against exact solutions, and convergence."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from . import results, style


def riemann(run_dir: str | Path, pdf: str | Path, png: str | Path,
            footer: str | None = None) -> None:
    """Numerical (MUSCL, finest grid) against exact density for every Riemann case, and L1 error
    against resolution (log-log) with the observed order."""
    import pandas as pd

    validation_dir = Path(run_dir) / "validation"
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
        df = pd.read_csv(results.verified(path))
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
