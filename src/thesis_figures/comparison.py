"""The comparison of the controllers (at the headline demand level) and its sensitivity to demand.

What the marks mean (the captions say it too): a learned controller's points are its training
seeds (each the mean over the common test draws); a baseline's points are the test draws (it is
deterministic given a draw).  The bar is the 95 % percentile-bootstrap interval of the mean, which
never leaves the range of the values (no delay below zero).  Significance follows
:mod:`arz_rl.stats`: paired over the draws, at seed level, Holm-adjusted within its family.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from arz_rl import results as contract

from . import results, style

COMPARISON_METRICS = (
    ("avg_delay_s", "delay (s/veh)"),
    ("avg_travel_time_s", "travel time (s)"),
    ("throughput_veh_h", "throughput (veh/h)"),
    ("avg_queue_veh", "queue (veh)"),
)


LABEL_WRAP = 24  #: characters per line of a controller's name on an axis


def _p(p: float | None) -> str:
    return "n/a" if p is None else "<0.001" if p < 0.001 else f"{p:.3f}"


def controller_comparison(run_dir: str | Path) -> plt.Figure:
    """Every controller at the headline level on four metrics: per-seed (agents) or per-draw
    (baselines) points, the mean and its 95 % bootstrap interval; each agent's label carries its
    Holm-adjusted p against the best tuned baseline on delay (``*``: below 0.05)."""
    data = results.evaluation(Path(run_dir) / contract.EVALUATION)
    level = data["headline_level"]
    lv = data["levels"][level]
    ctrls = lv["controllers"]
    kinds = results.kinds(lv)
    names = style.order(list(ctrls), kinds)
    tuned = [n for n in names if kinds[n] == "tuned"]
    best = min(tuned, key=lambda n: ctrls[n]["summary"]["avg_delay_s"]["mean"]) if tuned else None
    tick_labels = []
    for name in names:
        text = style.label(name, wrap=LABEL_WRAP)
        if best and kinds[name] == "rl":
            cmp = lv["comparisons"][name][best]["avg_delay_s"]
            text += f"\n($p_\\mathrm{{H}}$ {_p(cmp['p_holm'])}{'*' if cmp['significant'] else ''})"
        tick_labels.append(text)
    lines = max(t.count("\n") + 1 for t in tick_labels)
    style.apply()
    fig, axes = style.figure(1, len(COMPARISON_METRICS), height=0.75 + max(0.2, 0.125 * lines) * len(names),
                             sharey=True)
    y = np.arange(len(names))[::-1]
    for ax, (metric, label) in zip(axes[0], COMPARISON_METRICS, strict=True):
        points = pd.DataFrame([{"controller": name, "value": v, "y": yi}
                               for yi, name in zip(y, names, strict=True)
                               for v in results.per_seed_values(ctrls[name], metric)])
        # the individual values (seeds, draws) as a strip, jittered across each controller's row
        sns.stripplot(data=points, x="value", y="y", hue="controller", orient="h", native_scale=True,
                      palette={n: style.color(n, kinds) for n in names}, size=2.5, alpha=0.55, jitter=0.18,
                      linewidth=0, legend=False, ax=ax, zorder=2)
        ax.set_ylabel("")
        for yi, name in zip(y, names, strict=True):
            c = ctrls[name]
            s = c["summary"][metric]
            col = style.color(name, kinds)
            # the mean a hollow mark, the interval drawn over it with end caps: a narrow interval
            # (agents over a few seeds) still shows beside its mark
            ax.scatter([s["mean"]], [yi], s=22, marker="D" if c["kind"] == "rl" else "o", facecolor="white",
                       edgecolor=col, lw=1.0, zorder=3)
            ax.errorbar([s["mean"]], [yi], xerr=[[s["mean"] - s["ci95_low"]], [s["ci95_high"] - s["mean"]]],
                        fmt="none", ecolor=col, elinewidth=1.4, capsize=2.5, capthick=1.2, zorder=4)
        ax.set_xlabel(label)
        ax.grid(axis="y", visible=False)
        ax.margins(x=0.08)  # no mark on an axis line
        ax.locator_params(axis="x", nbins=3)
    axes[0, 0].set_yticks(y, tick_labels)
    axes[0, 0].set_ylim(-0.6, len(names) - 0.4)
    n_seeds = max((len(c["per_seed"]) for c in ctrls.values() if c["kind"] == "rl"), default=0)
    n_draws = len(data["protocol"]["seed_sets"]["test"])
    fig.suptitle(f"{level} demand · agents: n = {n_seeds} seeds · baselines: n = {n_draws} test draws · "
                 f"$p_\\mathrm{{H}}$: delay vs {style.label(best) if best else '-'}, Holm-adjusted", fontsize=7)
    return fig


def sensitivity(run_dir: str | Path) -> plt.Figure:
    """Improvement (%) of each agent over each tuned baseline on delay, per demand level, with the
    95 % interval of the paired difference and a filled mark where the Holm-adjusted p < 0.05."""
    data = results.evaluation(Path(run_dir) / contract.EVALUATION)
    levels = sorted(data["levels"], key=lambda lv: data["levels"][lv]["demand_scale"])
    first = data["levels"][levels[0]]
    kinds = results.kinds(first)
    agents = style.order([n for n, k in kinds.items() if k == "rl"], kinds)
    tuned = style.order([n for n, k in kinds.items() if k == "tuned"], kinds)
    style.apply()
    fig, axes = style.figure(1, max(1, len(tuned)), height=2.4, sharey=True)
    x = np.arange(len(levels))
    width = 0.6 / max(1, len(agents))
    for ax, base in zip(axes[0], tuned, strict=False):
        ax.axhline(0.0, color="0.5", lw=0.6)
        for k, agent in enumerate(agents):
            col = style.color(agent, kinds)
            for i, level in enumerate(levels):
                cmp = data["levels"][level]["comparisons"][agent][base]["avg_delay_s"]
                base_mean = cmp["baseline_mean"]
                xi = x[i] + (k - (len(agents) - 1) / 2) * width
                if cmp["diff_ci95_low"] is not None and base_mean:
                    lo, hi = (-cmp["diff_ci95_high"] / base_mean * 100, -cmp["diff_ci95_low"] / base_mean * 100)
                    ax.plot([xi, xi], [lo, hi], color=col, lw=1.4)
                n = len(first["controllers"][agent]["per_seed"])
                key = style.label(f"{style.label(agent)} (n = {n} seeds)", wrap=LABEL_WRAP)
                ax.scatter([xi], [cmp["improvement_pct"]], s=24, marker="D",
                           color=col if cmp["significant"] else "white", edgecolor=col, lw=1.0, zorder=3,
                           label=key if i == 0 and ax is axes[0, 0] else None)
        ax.set_xticks(x, levels)
        ax.set_xlim(-0.6, len(levels) - 0.4)  # every mark clear of the axis lines
        ax.set_title(style.label(f"vs {style.label(base)}", wrap=LABEL_WRAP))
        ax.set_xlabel("demand level")
        ax.grid(axis="x", visible=False)
    axes[0, 0].set_ylabel("delay improvement (%)")
    if agents:
        labels = axes[0, 0].get_legend_handles_labels()[1]
        fig.legend(loc="outside upper center", ncols=style.legend_columns(labels))
    return fig
