"""The comparison's statistics against scipy: seed-level paired tests, Holm families, bootstrap
summaries, and the numbers a run writes recomputed from its own per-seed values."""

import json

import numpy as np
import pytest
from scipy import stats as sp

from arz_rl import stats

AGENT = np.array([10.2, 11.5, 9.8, 12.1, 10.9])  # s/veh, one value per training seed
BASELINE = 11.4  # a deterministic baseline's mean over the same test draws


def test_a_comparison_is_the_paired_seed_level_test_scipy_computes():
    r = stats.compare(AGENT, BASELINE, lower_is_better=True)
    diff = AGENT - BASELINE
    assert r["n"] == 5
    assert r["p_ttest"] == pytest.approx(sp.ttest_rel(AGENT, np.full(5, BASELINE)).pvalue, rel=1e-12)
    assert r["p_ttest"] == pytest.approx(sp.ttest_1samp(diff, 0.0).pvalue, rel=1e-12)
    assert r["p_wilcoxon"] == pytest.approx(sp.wilcoxon(diff).pvalue, rel=1e-12)
    ci = sp.ttest_1samp(diff, 0.0).confidence_interval(0.95)
    assert (r["diff_ci95_low"], r["diff_ci95_high"]) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert r["diff_mean"] == pytest.approx(diff.mean())
    assert r["improvement_pct"] == pytest.approx(-diff.mean() / BASELINE * 100)
    assert r["agent_better"] is True  # mean 10.9 < 11.4
    # a higher-is-better metric (throughput) flips the sign of the improvement
    up = stats.compare(AGENT, BASELINE, lower_is_better=False)
    assert up["improvement_pct"] == pytest.approx(-r["improvement_pct"]) and up["agent_better"] is False


def test_per_seed_pairs_are_paired_too():
    base = np.array([11.0, 11.9, 10.1, 12.0, 11.6])  # a baseline that varies with the seed
    r = stats.compare(AGENT, base, lower_is_better=True)
    assert r["p_ttest"] == pytest.approx(sp.ttest_rel(AGENT, base).pvalue, rel=1e-12)
    assert r["p_wilcoxon"] == pytest.approx(sp.wilcoxon(AGENT - base).pvalue, rel=1e-12)


def test_undefined_tests_say_so():
    one = stats.compare(np.array([10.0]), 11.0, lower_is_better=True)
    assert one["p_ttest"] is None and one["p_wilcoxon"] is None and one["diff_ci95_low"] is None
    same = stats.compare(np.array([11.0, 11.0, 11.0]), 11.0, lower_is_better=True)
    assert same["p_ttest"] is None and same["p_wilcoxon"] is None


def test_holm_matches_its_definition():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> monotone 0.02, 0.03, 0.06, 0.06
    assert stats.holm(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.2, None, 0.01]) == [pytest.approx(0.2), None, pytest.approx(0.02)]
    assert stats.holm([0.6, 0.7]) == [1.0, 1.0]


def test_bootstrap_interval_never_leaves_the_values():
    s = stats.summarize([0.1, 0.2, 30.0])  # a skewed, non-negative quantity over 3 seeds
    assert 0.1 <= s["ci95_low"] <= s["mean"] <= s["ci95_high"] <= 30.0
    t_low = np.mean([0.1, 0.2, 30.0]) - sp.t.ppf(0.975, 2) * np.std([0.1, 0.2, 30.0], ddof=1) / np.sqrt(3)
    assert t_low < 0  # what a t-interval would have drawn
    assert stats.summarize([5.0]) == {"mean": 5.0, "std": 0.0, "ci95_low": 5.0, "ci95_high": 5.0, "n": 1}


def _level(per_seed_episodes: dict[str, list[float]], baseline_episodes: list[float]) -> dict:
    def episodes(values):
        return [{m: v for m in stats.METRICS} for v in values]

    def mean(values):
        return {m: float(np.mean(values)) for m in stats.METRICS}

    return {"controllers": {
        "ppo": {"kind": "rl", "per_seed": {s: {"episodes": episodes(v), "mean": mean(v)}
                                           for s, v in per_seed_episodes.items()}},
        "fixed_time": {"kind": "tuned", "episodes": episodes(baseline_episodes), "mean": mean(baseline_episodes)},
    }}


def test_episodes_do_not_inflate_n():
    """Three training seeds of 40 test episodes each: n is 3, not 120, and p is the seed-level one
    (pooling the episodes would give a p many orders of magnitude smaller)."""
    rng = np.random.default_rng(1)
    seed_means = {"0": 10.0, "1": 11.4, "2": 10.6}
    draws = rng.normal(0, 0.3, 40)  # the common test draws: same demand for every controller
    per_seed = {s: list(m + draws + rng.normal(0, 0.05, 40)) for s, m in seed_means.items()}
    baseline = list(11.3 + draws)
    levels = {"over": _level(per_seed, baseline)}
    stats.analyse(levels)
    r = levels["over"]["comparisons"]["ppo"]["fixed_time"]["avg_delay_s"]
    seed_level = np.array([np.mean(v) for v in per_seed.values()])
    assert r["n"] == 3
    assert r["p_ttest"] == pytest.approx(sp.ttest_rel(seed_level, np.full(3, np.mean(baseline))).pvalue, rel=1e-9)
    pooled = sp.ttest_rel(np.concatenate(list(per_seed.values())), np.tile(baseline, 3)).pvalue
    assert pooled < 1e-6 < r["p_ttest"]
    assert levels["over"]["controllers"]["ppo"]["summary"]["avg_delay_s"]["n"] == 3


def test_evaluation_results_recomputed_from_their_per_seed_values(tiny_run):
    """Every comparison a run wrote, recomputed with scipy from the per-seed values it wrote next
    to it; the Holm families recomputed over all levels."""
    ev = json.loads((tiny_run / "evaluation_results.json").read_text())
    families: dict[str, list[tuple[float, dict]]] = {"primary": [], "secondary": [], "reference": []}
    for data in ev["levels"].values():
        ctrls = data["controllers"]
        for agent, rows in data["comparisons"].items():
            seeds = sorted(ctrls[agent]["per_seed"], key=int)
            for base, metrics in rows.items():
                for metric, r in metrics.items():
                    a = np.array([np.mean([ep[metric] for ep in ctrls[agent]["per_seed"][s]["episodes"]])
                                  for s in seeds])
                    b = np.mean([ep[metric] for ep in ctrls[base]["episodes"]])
                    assert [ep["demand_seed"] for ep in ctrls[base]["episodes"]] == ev["protocol"]["seed_sets"]["test"]
                    assert r["n"] == len(seeds) == 2
                    assert r["agent_mean"] == pytest.approx(a.mean()) and r["baseline_mean"] == pytest.approx(b)
                    diff = a - b
                    if diff.std(ddof=1) > 0:
                        assert r["p_ttest"] == pytest.approx(sp.ttest_1samp(diff, 0.0).pvalue, rel=1e-9)
                        ci = sp.ttest_1samp(diff, 0.0).confidence_interval(0.95)
                        assert (r["diff_ci95_low"], r["diff_ci95_high"]) == pytest.approx((ci.low, ci.high))
                        families[r["family"]].append((r["p_ttest"], r))
                    else:
                        assert r["p_ttest"] is None and r["p_holm"] is None
                    kind = ctrls[base]["kind"]
                    expected = "reference" if kind != "tuned" else "primary" if metric == "avg_delay_s" else "secondary"
                    assert r["family"] == expected
    assert families["primary"], "no primary comparison had a p"
    for family, members in families.items():
        m = len(members)
        assert ev["protocol"]["families"][family] == m
        ordered = sorted(members, key=lambda x: x[0])
        for rank, (_, r) in enumerate(ordered):
            # Holm: the running maximum of (m - k) p_(k) up to this rank, capped at 1
            bound = min(1.0, max((m - k) * q for k, (q, _) in enumerate(ordered[:rank + 1])))
            assert r["p_holm"] == pytest.approx(bound)
            assert r["significant"] == (r["p_holm"] < 0.05)
