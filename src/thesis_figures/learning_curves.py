"""Learning curves of the agents: the training return, and the validation delay that chose the
checkpoint, per demand level."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from arz_rl import results as contract

from . import results, style


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(y).rolling(window, center=True, min_periods=1).mean().to_numpy()


def learning_curves(run_dir: str | Path, window: int = style.SMOOTHING_WINDOW, grid_points: int = 100) -> plt.Figure:
    """Top row: episode return against timesteps (each seed thin, smoothed over ``window``
    episodes; the mean over seeds thick); bottom row: the mean delay over the validation draws at
    each scoring, each seed, the chosen checkpoint marked.  One column per demand level."""
    curves = results.learning_curves(Path(run_dir) / contract.TRAINING)
    levels = list(curves)
    style.apply()
    fig, axes = style.figure(2, len(levels), height=3.9, sharex="col")
    for c, level in enumerate(levels):
        top, bottom = axes[0, c], axes[1, c]
        for algo in style.order(list(curves[level])):
            seeds = curves[level][algo]
            col = style.color(algo)
            end = min(max(cv["timesteps"]) for cv in seeds.values())
            start = max(min(cv["timesteps"]) for cv in seeds.values())
            grid = np.linspace(start, end, grid_points)
            ys = np.array([np.interp(grid, cv["timesteps"], _smooth(np.array(cv["episode_return"]), window))
                           for cv in seeds.values()])
            for row in ys:
                top.plot(grid, row, color=col, lw=0.5, alpha=0.45)
            key = style.label(f"{style.label(algo)} (n = {len(ys)})", wrap=28)
            top.plot(grid, ys.mean(axis=0), color=col, lw=1.5, label=key)
            for cv in seeds.values():
                if cv["validation"]:
                    t = [h["timesteps"] for h in cv["validation"]]
                    d = [h["avg_delay_s"] for h in cv["validation"]]
                    bottom.plot(t, d, color=col, lw=0.7, alpha=0.7, marker="o", ms=2)
                if cv.get("chosen"):
                    bottom.scatter([cv["chosen"]["timesteps"]], [cv["chosen"]["avg_delay_s"]], marker="*", s=40,
                                   color=col, edgecolor="black", lw=0.4, zorder=4)
        top.set_title(f"{level} demand")
        bottom.set_xlabel("training steps (×1000)")
        if c == 0:
            top.set_ylabel("episode return")
            bottom.set_ylabel("validation delay (s/veh, log)")
        bottom.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}"))
        scores = [h["avg_delay_s"] for seeds in curves[level].values() for cv in seeds.values()
                  for h in cv["validation"]]
        if scores:  # early scorings are an order of magnitude above the kept ones: a log scale
            style.log_axis(bottom.yaxis, min(scores), max(scores))
        bottom.locator_params(axis="x", nbins=4)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=style.legend_columns(labels))
    return fig
