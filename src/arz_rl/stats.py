"""Statistics of the evaluation: per-controller summaries and RL-vs-baseline tests.

Needs only numpy and scipy, so the results of several kernels (a fan-out) can
be merged and re-summarised where the figures are drawn.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy import stats

METRICS = ("avg_travel_time_s", "avg_delay_s", "throughput_veh_h", "avg_queue_veh", "max_queue_veh", "phase_switches")
LOWER_IS_BETTER = {"avg_travel_time_s": True, "avg_delay_s": True, "throughput_veh_h": False,
                   "avg_queue_veh": True, "max_queue_veh": True, "phase_switches": True}


def summarize(values: list[float] | np.ndarray) -> dict[str, float | int]:
    """Mean, sample std and 95% t-interval of ``values``."""
    v = np.asarray(values, dtype=float)
    n = v.size
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half, "n": n}


def compare(rl: np.ndarray, base: np.ndarray, rl_paired: np.ndarray, base_paired: np.ndarray,
            lower_is_better: bool) -> dict[str, Any]:
    """RL against a baseline on one metric.

    ``rl``/``base`` are per-seed means (the unit of replication: a training
    seed), compared with Welch's t-test; ``*_paired`` are the matched
    per-episode values (same demand draw), compared with a paired t-test.
    ``improvement_pct`` is positive when RL is better.  A p-value is None when
    the test is undefined (fewer than two values or zero variance).
    """
    rl_mean, base_mean = float(np.mean(rl)), float(np.mean(base))
    sign = 1.0 if lower_is_better else -1.0
    improvement = sign * (base_mean - rl_mean) / abs(base_mean) * 100.0 if base_mean != 0 else None

    def finite(p: float) -> float | None:
        return float(p) if np.isfinite(p) else None

    p_welch = p_paired = None
    warnings.filterwarnings("ignore", message="Precision loss occurred", category=RuntimeWarning)
    if len(rl) > 1 and len(base) > 1 and (np.std(rl) > 0 or np.std(base) > 0):
        p_welch = finite(stats.ttest_ind(rl, base, equal_var=False).pvalue)
    diff = np.asarray(rl_paired) - np.asarray(base_paired)
    if diff.size > 1 and np.std(diff) > 0:
        p_paired = finite(stats.ttest_rel(rl_paired, base_paired).pvalue)
    better = (rl_mean < base_mean) if lower_is_better else (rl_mean > base_mean)
    return {
        "rl_mean": rl_mean, "baseline_mean": base_mean, "improvement_pct": improvement,
        "p_value_welch": p_welch, "p_value_paired": p_paired,
        "significant": bool(better and p_welch is not None and p_welch < 0.05),
    }


def aggregate(per: dict[str, dict[str, Any]], kinds: dict[str, str]) -> dict[str, Any]:
    """Summaries and comparisons from per-seed results.

    ``per[controller][seed] = {"episodes": [metrics...], "mean": {metric: value}}``;
    ``kinds[controller]`` is "rl" or "baseline".  Returns ``controllers``,
    ``comparisons`` (every RL controller against every baseline, on the seeds
    both were evaluated on) and ``best_fixed_time``.
    """
    results: dict[str, Any] = {"controllers": {}, "comparisons": {}}
    for name, seeds in per.items():
        summary = {m: summarize([s["mean"][m] for s in seeds.values()]) for m in METRICS}
        results["controllers"][name] = {"kind": kinds[name], "per_seed": seeds, "summary": summary}
    for rl in (n for n, kind in kinds.items() if kind == "rl"):
        results["comparisons"][rl] = {}
        for base in (n for n, kind in kinds.items() if kind == "baseline"):
            shared = [s for s in per[rl] if s in per[base]]
            row = {}
            for m in METRICS:
                rl_seed = np.array([per[rl][s]["mean"][m] for s in shared])
                base_seed = np.array([per[base][s]["mean"][m] for s in shared])
                rl_ep = np.array([ep[m] for s in shared for ep in per[rl][s]["episodes"]])
                base_ep = np.array([ep[m] for s in shared for ep in per[base][s]["episodes"]])
                row[m] = compare(rl_seed, base_seed, rl_ep, base_ep, LOWER_IS_BETTER[m])
            results["comparisons"][rl][base] = row
    fixed = [n for n in kinds if n.startswith("fixed_")]
    if fixed:
        results["best_fixed_time"] = min(
            fixed, key=lambda n: results["controllers"][n]["summary"]["avg_travel_time_s"]["mean"])
    return results
