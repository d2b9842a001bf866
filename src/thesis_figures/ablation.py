"""The ablation: every learned controller (the agents and the PPO variants of
``experiment.<mode>.ablations``) at the headline level, against the best tuned baseline.

Per variant: its training seeds' mean delays over the test draws (points), their mean and 95 %
bootstrap interval over seeds (bar), and how many seeds kept a checkpoint PPO trained (not the
cloned one: a warm start's clone is a checkpoint too).  The best tuned baseline (chosen on the
validation draws) is the vertical band: its mean over the test draws and the 95 % interval over
draws.  :func:`ablation_table` is the same in numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from arz_rl import results as contract

from . import results, style


def ablation_rows(run_dir: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per learned controller at the headline level: delay mean and interval over seeds,
    per-seed values, seeds that kept a trained checkpoint, the finished policy's loss against its
    best checkpoint (%), and the difference to the best tuned baseline; with that baseline's summary."""
    run_dir = Path(run_dir)
    ev = results.evaluation(run_dir / contract.EVALUATION)
    train = results.load_json(run_dir / contract.TRAINING)
    level = ev["headline_level"]
    lv = ev["levels"][level]
    ctrls = lv["controllers"]
    tuned = lv.get("tuned", {})
    best = (min(tuned, key=lambda n: tuned[n]["validation"]["avg_delay_s"]) if tuned
            else min((n for n, c in ctrls.items() if c["kind"] == "tuned"),
                     key=lambda n: ctrls[n]["summary"]["avg_delay_s"]["mean"]))
    base = ctrls[best]["summary"]["avg_delay_s"]
    rows = []
    for name in style.order([n for n, c in ctrls.items() if c["kind"] == "rl"], results.kinds(lv)):
        s = ctrls[name]["summary"]["avg_delay_s"]
        records = train["runs"][level].get(name, {})
        kept = sum(int(r["chosen_checkpoint"]["timesteps"]) > 0 for r in records.values())
        trained = [r for r in records.values() if r.get("timesteps", 0) > 0]
        decay = [r["final_above_best_pct"] for r in trained if r.get("final_above_best_pct") is not None]
        rows.append({"controller": name, "label": style.label(name), "mean": s["mean"], "low": s["ci95_low"],
                     "high": s["ci95_high"], "seeds": len(records), "kept_trained": kept,
                     "trained": bool(trained), "final_above_best_pct": max(decay) if decay else None,
                     "diff_vs_best": s["mean"] - base["mean"],
                     "values": results.per_seed_values(ctrls[name], "avg_delay_s")})
    return pd.DataFrame(rows), {"name": best, "label": style.label(best), **base, "level": level}


def ablation(run_dir: str | Path) -> plt.Figure:
    """Delay of every learned controller at the headline level, seeds as points (see the module
    docstring)."""
    df, base = ablation_rows(run_dir)
    style.apply()
    fig, axes = style.figure(1, 1, height=0.9 + 0.32 * max(1, len(df)))
    ax = np.asarray(axes).ravel()[0]
    ax.axvspan(base["ci95_low"], base["ci95_high"], color="0.85", lw=0, zorder=0,
               label=f"{base['label']}: 95 % interval over test draws")
    ax.axvline(base["mean"], color="0.3", lw=1.0, ls="--", zorder=1, label=f"{base['label']}: mean")
    for i, row in enumerate(df.itertuples()):
        color = style.color(row.controller, {row.controller: "rl"})
        jitter = np.linspace(-0.12, 0.12, len(row.values)) if len(row.values) > 1 else [0.0]
        ax.scatter(row.values, i + np.asarray(jitter), s=10, color=color, alpha=0.6, lw=0, zorder=2)
        ax.errorbar(row.mean, i, xerr=[[row.mean - row.low], [row.high - row.mean]], fmt="o", ms=4, color=color,
                    mfc="white", capsize=2, lw=1.2, zorder=3)
    ax.set_yticks(range(len(df)))
    ax.set_yticklabels([f"{row.label}\n(trained checkpoint kept: {row.kept_trained}/{row.seeds})"
                        for row in df.itertuples()])
    ax.set_ylim(len(df) - 0.5, -0.5)
    ax.set_xlabel(f"delay to the last vehicle (s/veh), {base['level']} level")
    values = np.concatenate([np.asarray(v, dtype=float) for v in df["values"]] + [[base["ci95_low"],
                                                                                    base["ci95_high"]]])
    span = float(values.max() - values.min()) or 1.0
    ax.set_xlim(float(values.min()) - 0.06 * span, float(values.max()) + 0.06 * span)
    ax.grid(axis="y", visible=False)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=style.legend_columns(labels))
    return fig
