"""Learning curves of the RL agents."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import results, style


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(y).rolling(window, center=True, min_periods=1).mean().to_numpy()


def learning_curves(run_dir: str | Path, pdf: str | Path, png: str | Path, footer: str | None = None,
                    window: int = style.SMOOTHING_WINDOW, grid_points: int = 100) -> pd.DataFrame:
    """Episode return against timesteps per algorithm: mean over seeds with a 95% band.

    Each seed's curve is smoothed with a centred moving average of ``window``
    episodes, then interpolated on a common timestep grid; the band is mean
    +- 1.96 standard errors across seeds.  Returns the plotted table.
    """
    curves = results.learning_curves(Path(run_dir) / "training_metrics.json")
    style.apply()
    colors = style.controller_colors(list(curves))
    fig, ax = plt.subplots(figsize=(style.TEXT_WIDTH_IN, 3.2))
    rows = []
    for algo, seeds in curves.items():
        end = min(max(c["timesteps"]) for c in seeds.values())
        start = max(min(c["timesteps"]) for c in seeds.values())
        grid = np.linspace(start, end, grid_points)
        ys = np.array([np.interp(grid, c["timesteps"], _smooth(np.array(c["episode_return"]), window))
                       for c in seeds.values()])
        mean = ys.mean(axis=0)
        sem = ys.std(axis=0, ddof=1) / np.sqrt(len(ys)) if len(ys) > 1 else np.zeros_like(mean)
        ax.plot(grid, mean, color=colors[algo], label=f"{algo.upper()} ({len(ys)} seeds)")
        ax.fill_between(grid, mean - 1.96 * sem, mean + 1.96 * sem, color=colors[algo], alpha=0.25, lw=0)
        rows += [{"algorithm": algo, "timesteps": t, "mean_return": m, "sem": s}
                 for t, m, s in zip(grid, mean, sem, strict=True)]
    ax.set_xlabel("Training timesteps (decisions)")
    ax.set_ylabel("Episode return (-delay, 100 veh·s/s)")
    ax.set_title(f"Learning curves, mean over seeds, 95% band, {window}-episode moving average")
    ax.legend()
    style.save(fig, pdf, png, footer)
    return pd.DataFrame(rows)
