"""The controller comparison."""

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


def _stars(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "ns"


def controller_comparison(run_dir: str | Path, pdf: str | Path, png: str | Path,
                          footer: str | None = None) -> pd.DataFrame:
    """Bars of the mean with 95% CIs per controller for four metrics; each RL bar is annotated
    with its Welch-test significance against the best fixed-time plan."""
    data = results.evaluation(Path(run_dir) / "evaluation_results.json")
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
