"""The figures: learning curves and the controller comparison."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from . import results, style

COMPARISON_METRICS = (
    ("avg_travel_time_s", "Average travel time (s)"),
    ("avg_delay_s", "Average delay per vehicle (s)"),
    ("throughput_veh_h", "Throughput (veh/h)"),
    ("avg_queue_veh", "Average queue per junction (veh)"),
)


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    return pd.Series(y).rolling(window, center=True, min_periods=1).mean().to_numpy()


def learning_curves(training_metrics: str | Path, pdf: str | Path, png: str | Path, footer: str | None = None,
                    window: int = style.SMOOTHING_WINDOW, grid_points: int = 100) -> pd.DataFrame:
    """Episode return against timesteps per algorithm: mean over seeds with a 95% band.

    Each seed's curve is smoothed with a centred moving average of ``window``
    episodes, then interpolated on a common timestep grid; the band is mean
    +- 1.96 standard errors across seeds.  Returns the plotted table.
    """
    curves = results.learning_curves(training_metrics)
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


def _stars(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "ns"


def controller_comparison(evaluation_results: str | Path, pdf: str | Path, png: str | Path,
                          footer: str | None = None) -> pd.DataFrame:
    """Bars of the mean with 95% CIs per controller for four metrics; each RL bar is annotated
    with its Welch-test significance against the best fixed-time plan."""
    data = results.evaluation(evaluation_results)
    ctrls = data["controllers"]
    names = sorted(ctrls, key=lambda n: (ctrls[n]["kind"] != "rl", n))
    colors = style.controller_colors(names)
    best_fixed = data.get("best_fixed_time")
    style.apply()
    fig, axes = plt.subplots(2, 2, figsize=(style.TEXT_WIDTH_IN, 5.2))
    rows = []
    for ax, (metric, label) in zip(axes.ravel(), COMPARISON_METRICS, strict=True):
        means = [ctrls[n]["summary"][metric]["mean"] for n in names]
        lo = [ctrls[n]["summary"][metric]["ci95_low"] for n in names]
        hi = [ctrls[n]["summary"][metric]["ci95_high"] for n in names]
        err = np.array([np.subtract(means, lo), np.subtract(hi, means)])
        ax.bar(range(len(names)), means, yerr=err, color=[colors[n] for n in names], capsize=3)
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=7)
        ax.set_ylabel(label, fontsize=8)
        for i, n in enumerate(names):
            rows.append({"controller": n, "metric": metric, "mean": means[i], "ci95_low": lo[i], "ci95_high": hi[i]})
            if ctrls[n]["kind"] == "rl" and best_fixed:
                p = data["comparisons"][n][best_fixed][metric]["p_value_welch"]
                ax.annotate(_stars(p), (i, hi[i]), ha="center", va="bottom", fontsize=7)
    fig.suptitle(f"Controllers over seeds (95% CI); stars: RL vs {best_fixed}, Welch t-test", fontsize=9)
    style.save(fig, pdf, png, footer)
    return pd.DataFrame(rows)
