"""Queue histories at each junction at the headline demand level, one test draw, per controller."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from arz_rl import results as contract

from . import results, style


def queues(run_dir: str | Path) -> plt.Figure:
    """Queue (stopped-vehicle equivalents on both approaches plus their entry queues, veh) at each
    junction over time for the comparison set, on the same demand draw."""
    run_dir = Path(run_dir)
    evaluation = results.evaluation(run_dir / contract.EVALUATION)
    level = evaluation["headline_level"]
    kinds = results.kinds(evaluation["levels"][level])
    names = style.order(results.pick_controllers(evaluation, level), kinds)
    traces = {n: results.spacetime(run_dir / contract.spacetime_name(level, n)) for n in names}
    n_j = traces[names[0]]["queue"].shape[1]
    style.apply()
    fig, axes = style.figure(1, n_j, height=2.3, sharey=True)
    for j in range(n_j):
        ax = axes[0, j]
        for name in names:
            tr = traces[name]
            ax.plot(tr["t"] / 60.0, tr["queue"][:, j], color=style.color(name, kinds),
                    label=style.label(name, wrap=28) if j == 0 else None, lw=1.1)
        ax.set_title(f"junction {j + 1}")
        ax.set_xlabel("time (min)")
    axes[0, 0].set_ylabel("queue (veh)")
    fig.legend(loc="outside upper center", ncols=style.legend_columns([style.label(n, wrap=28) for n in names]),
               title=f"{level} demand, test draw {evaluation['protocol']['seed_sets']['test'][0]}")
    return fig
