"""Queue histories at each junction, one evaluation episode per controller."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from . import results, style


def queues(run_dir: str | Path, pdf: str | Path, png: str | Path,
           footer: str | None = None) -> None:
    """Queue (veh) at each junction over time for the comparison set, same demand draw."""
    run_dir = Path(run_dir)
    evaluation = results.evaluation(run_dir / "evaluation_results.json")
    names = results.pick_controllers(evaluation)
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
