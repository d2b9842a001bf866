"""The statistics of the comparison: seed-level tests, Holm-Bonferroni families, summaries.

The unit of replication is the **training seed**: an RL agent's value is its mean over the test
draws (every controller plays the same draws), one number per seed.  A baseline is deterministic
given a draw, so its value is its mean over the same draws, one number, and the comparison of an
agent with it is paired through the draws: per seed, the difference of the two means.  So the
tests below run on ``n = seeds`` values, however many episodes there are (episodes of one seed
are not independent replicates of the training; pooling them would inflate n).

Per comparison: the mean difference (agent - baseline) with its 95 % t-interval, the improvement
in % of the baseline (positive = the agent is better), a paired t-test and a Wilcoxon
signed-rank test (two-sided; with n < 6 the exact Wilcoxon cannot go below 0.0625), both at seed
level, and the Holm-Bonferroni adjusted p of its family.  Families: **primary** = every agent
against every tuned baseline on :data:`PRIMARY_METRIC` at every demand level; **secondary** = the
same pairs on the other metrics; **reference** = every agent against the untuned reference rows
(the 60/90/120 s plans, random) on every metric.  ``significant`` means Holm-adjusted p (t-test)
< :data:`ALPHA`.

Needs only numpy and scipy, so the results of several kernels (a fan-out) can be merged and
analysed again where the figures are drawn.
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
#: delay per vehicle, entry queues included (vehicles still queued at the end count their wait so far)
PRIMARY_METRIC = "avg_delay_s"
ALPHA = 0.05
BOOTSTRAP = 10_000  #: resamples of the percentile bootstrap of a mean


def _finite(p: float) -> float | None:
    return float(p) if p is not None and np.isfinite(p) else None


def summarize(values: list[float] | np.ndarray, seed: int = 0) -> dict[str, float | int]:
    """Mean, sample std and a 95 % percentile-bootstrap interval of the mean of ``values``.

    The bootstrap interval stays inside the range of the values, so a non-negative quantity never
    gets an interval below zero (a t-interval over 2-5 seeds does); with one value it is that value.
    """
    v = np.asarray(values, dtype=float)
    n = v.size
    mean = float(v.mean())
    std = float(v.std(ddof=1)) if n > 1 else 0.0
    if n > 1 and std > 0:
        rng = np.random.default_rng(seed)
        means = v[rng.integers(0, n, size=(BOOTSTRAP, n))].mean(axis=1)
        low, high = (float(q) for q in np.percentile(means, [2.5, 97.5]))
    else:
        low = high = mean
    return {"mean": mean, "std": std, "ci95_low": low, "ci95_high": high, "n": n}


def compare(agent: np.ndarray, baseline: np.ndarray | float, lower_is_better: bool) -> dict[str, Any]:
    """An agent's per-seed values against a baseline's (per seed, paired, or one number for all).

    Returns n, both means, the mean difference (agent - baseline) with its 95 % t-interval, the
    improvement in % of the baseline (positive: the agent is better), and the two-sided p of a
    paired t-test and of a Wilcoxon signed-rank test on the per-seed differences (None when
    undefined: fewer than two seeds, or no variation).
    """
    agent = np.asarray(agent, dtype=float)
    base = np.broadcast_to(np.asarray(baseline, dtype=float), agent.shape)
    diff = agent - base
    n = diff.size
    d_mean = float(diff.mean())
    base_mean = float(base.mean())
    sign = 1.0 if lower_is_better else -1.0
    improvement = sign * -d_mean / abs(base_mean) * 100.0 if base_mean != 0 else None
    p_t = p_w = None
    half = None
    if n > 1:
        sd = float(diff.std(ddof=1))
        half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n))
        if sd > 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                p_t = _finite(stats.ttest_rel(agent, base).pvalue)
        if np.any(diff != 0):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                p_w = _finite(stats.wilcoxon(diff, alternative="two-sided").pvalue)
    better = d_mean < 0 if lower_is_better else d_mean > 0
    return {"n": n, "agent_mean": float(agent.mean()), "baseline_mean": base_mean, "diff_mean": d_mean,
            "diff_ci95_low": d_mean - half if half is not None else None,
            "diff_ci95_high": d_mean + half if half is not None else None,
            "improvement_pct": improvement, "agent_better": bool(better), "p_ttest": p_t, "p_wilcoxon": p_w}


def crossed_bootstrap(diff: np.ndarray, reps: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """The mean of ``diff`` (S, D), one value per (training seed, demand draw), with a 95 % interval
    and a two-sided p-value that treat **both** the seeds and the draws as random samples.

    Seeds and draws are crossed factors (every seed plays every draw), so the resampling is
    Owen's pigeonhole bootstrap (Owen 2007, *The pigeonhole bootstrap*, Ann. Appl. Stat. 1(2)):
    each replicate draws S seeds and D draws independently with replacement and takes the mean of
    the S x D cells they pick.  Its variance estimates var(mean) = s_seed^2 / S + s_draw^2 / D +
    s_cell^2 / (S D) (slightly conservatively); the percentile interval follows.  The p-value is
    the share of replicates, centred on the estimate, at least as far from it as the estimate is
    from 0 (``(1 + k) / (1 + reps)``), testing mean = 0.  With one seed (or one draw) that factor
    cannot vary and the interval speaks of the other only (``n_seeds``/``n_draws`` say so).
    """
    d = np.asarray(diff, dtype=float)
    if d.ndim != 2 or d.size == 0 or not np.isfinite(d).all():
        raise ValueError(f"crossed_bootstrap needs a finite (seeds, draws) array, got shape {d.shape}")
    n_s, n_d = d.shape
    mean = float(d.mean())
    rng = np.random.default_rng(seed)
    rows = rng.multinomial(n_s, np.full(n_s, 1.0 / n_s), size=reps).astype(float)
    cols = rng.multinomial(n_d, np.full(n_d, 1.0 / n_d), size=reps).astype(float)
    means = np.einsum("rs,sd,rd->r", rows, d, cols) / (n_s * n_d)
    low, high = (float(q) for q in np.percentile(means, [2.5, 97.5]))
    far = np.abs(means - mean) >= abs(mean) - 1e-12
    p = float((1 + far.sum()) / (1 + reps)) if means.std() > 0 else None  # nothing varies: no test
    return {"mean": mean, "ci95_low": low, "ci95_high": high, "se": float(means.std(ddof=1)), "p": p,
            "n_seeds": n_s, "n_draws": n_d, "reps": reps,
            "method": "pigeonhole bootstrap over training seeds and demand draws (Owen 2007)"}


def primary_comparison(levels: dict[str, dict[str, Any]], level: str, agent: str) -> dict[str, Any]:
    """The one primary comparison: ``agent`` against the best tuned baseline at ``level`` (best: the
    lowest validation mean of :data:`PRIMARY_METRIC`, so no test draw chooses it), on the test
    draws, with :func:`crossed_bootstrap`'s interval and p over (seed, draw) differences."""
    data = levels[level]
    tuned = data.get("tuned", {})
    if not tuned:
        raise ValueError(f"level {level}: no tuned baseline to compare {agent} with")
    best = min(tuned, key=lambda name: tuned[name]["validation"][PRIMARY_METRIC])
    ctrls = data["controllers"]
    if agent not in ctrls or ctrls[agent]["kind"] != "rl":
        raise ValueError(f"level {level}: no trained agent {agent!r} among {sorted(ctrls)}")
    base_eps = ctrls[best]["episodes"]
    draws = [ep["demand_seed"] for ep in base_eps]
    seeds = sorted(ctrls[agent]["per_seed"], key=int)
    agent_vals = np.array([[ep[PRIMARY_METRIC] for ep in ctrls[agent]["per_seed"][s]["episodes"]] for s in seeds])
    for s in seeds:  # every seed played the baseline's draws, in the same order
        if [ep["demand_seed"] for ep in ctrls[agent]["per_seed"][s]["episodes"]] != draws:
            raise ValueError(f"level {level}: {agent} seed {s} did not play the draws {best} played")
    base_vals = np.array([ep[PRIMARY_METRIC] for ep in base_eps])
    boot = crossed_bootstrap(agent_vals - base_vals[None, :])
    base_mean = float(base_vals.mean())
    return {"level": level, "agent": agent, "baseline": best, "metric": PRIMARY_METRIC,
            "baseline_chosen_on": "validation draws (lowest mean of the metric among the tuned baselines)",
            "agent_mean": float(agent_vals.mean()), "baseline_mean": base_mean,
            "diff_mean": boot["mean"], "diff_ci95_low": boot["ci95_low"], "diff_ci95_high": boot["ci95_high"],
            "improvement_pct": -boot["mean"] / abs(base_mean) * 100.0 if base_mean else None,
            "p": boot["p"], "significant": bool(boot["p"] is not None and boot["p"] < ALPHA),
            "n_seeds": boot["n_seeds"], "n_draws": boot["n_draws"], "seeds": [int(s) for s in seeds],
            "draws": draws, "method": boot["method"], "reps": boot["reps"], "se": boot["se"]}


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None stays None and does not count in the family)."""
    idx = [i for i, p in enumerate(pvalues) if p is not None]
    m = len(idx)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def family_of(baseline_kind: str, metric: str) -> str:
    if baseline_kind != "tuned":
        return "reference"
    return "primary" if metric == PRIMARY_METRIC else "secondary"


TEST_DESCRIPTION = ("two-sided paired t-test at seed level (each training seed's mean over the common test "
                    "draws against the baseline's mean over the same draws), Holm-adjusted within its family; "
                    "Wilcoxon signed-rank alongside")


def analyse(levels: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Summaries and comparisons of every level, in place; returns the family bookkeeping.

    ``levels[level]["controllers"][name]`` holds ``kind`` (rl, tuned, reference) and either
    ``per_seed`` ({seed: {"mean": {metric: v}}}, an agent) or ``mean`` ({metric: v} over the
    test draws, a deterministic baseline) and ``episodes``.  Writes each controller's ``summary``
    (over seeds for an agent, over the test draws for a baseline) and ``levels[level]
    ["comparisons"][agent][baseline][metric]`` with the Holm-adjusted p of its family.
    """
    entries: list[tuple[str, dict[str, Any]]] = []
    for data in levels.values():
        ctrls = data["controllers"]
        for c in ctrls.values():
            if c["kind"] == "rl":
                values = {m: [s["mean"][m] for s in c["per_seed"].values()] for m in METRICS}
            else:
                values = {m: [ep[m] for ep in c["episodes"]] for m in METRICS}
            c["summary"] = {m: summarize(v) for m, v in values.items()}
        data["comparisons"] = {}
        for agent in (n for n, c in ctrls.items() if c["kind"] == "rl"):
            seeds = sorted(ctrls[agent]["per_seed"], key=int)
            data["comparisons"][agent] = {}
            for base, bc in ((n, c) for n, c in ctrls.items() if c["kind"] != "rl"):
                row = {}
                for m in METRICS:
                    a = np.array([ctrls[agent]["per_seed"][s]["mean"][m] for s in seeds])
                    row[m] = {**compare(a, bc["mean"][m], LOWER_IS_BETTER[m]), "family": family_of(bc["kind"], m)}
                    entries.append((row[m]["family"], row[m]))
                data["comparisons"][agent][base] = row
    families: dict[str, int] = {}
    for family in ("primary", "secondary", "reference"):
        members = [r for f, r in entries if f == family]
        for r, p in zip(members, holm([r["p_ttest"] for r in members]), strict=True):
            r["p_holm"] = p
            r["significant"] = bool(p is not None and p < ALPHA)
        families[family] = sum(r["p_ttest"] is not None for r in members)
    return {"families": families, "alpha": ALPHA, "primary_metric": PRIMARY_METRIC, "correction": "holm",
            "test": TEST_DESCRIPTION,
            "unit": "training seed (its mean over the common test draws)"}
