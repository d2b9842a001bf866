"""The comparison protocol: batched episodes equal single ones, the clearance counts delay to the
last vehicle, the tuned baselines' optima lie inside their grids, the headline level is
oversaturated under the best of them, and the primary comparison's interval treats seeds and
draws as random."""

from dataclasses import replace

import numpy as np
import pytest

from arz_rl.baselines import Actuated, FixedTime, MaxPressure, RandomController
from arz_rl.config import build_config
from arz_rl.env import SignalCorridorEnv
from arz_rl.evaluate import AgentController, run_episode
from arz_rl.protocol import (
    Player,
    env_kwargs,
    families,
    grid_edges,
    seed_sets,
    sweep,
    train_env_kwargs,
    tune_baselines,
)
from arz_rl.sim.network import DEMAND_LEVELS
from arz_rl.stats import PRIMARY_METRIC, crossed_bootstrap, primary_comparison

SHORT = {"episode_length": 600.0, "clearance_cap_s": 600.0, "levels": ["near"], "headline_level": "near"}


@pytest.mark.parametrize("controller", [MaxPressure(10.0, 10.0, 20.0), Actuated(10.0, 60.0, 2.5), FixedTime(90.0),
                                        RandomController(0)], ids=lambda c: c.name)
def test_a_batch_of_draws_plays_exactly_what_the_draws_play_one_by_one(controller):
    cfg = build_config("quick", SHORT)
    draws = [30000, 30001, 30002, 30003, 30004]
    batch, _ = Player(cfg, "near").play(controller, draws)
    env = SignalCorridorEnv(**env_kwargs(cfg, "near", controller.decision_interval))
    for draw, got in zip(draws, batch, strict=True):
        one, _ = run_episode(env, controller, draw, clearance_cap=cfg.clearance_cap_s)
        # the batched (SIMD-lane) kernel and the single one agree to round-off over the episode
        assert {k: got[k] for k in one} == pytest.approx(one, rel=1e-9, abs=1e-9), draw


def test_the_clearance_counts_every_vehicle_to_its_exit_and_reports_what_is_left():
    cfg = build_config("quick", {**SHORT, "levels": ["over"], "headline_level": "over"})
    player = Player(cfg, "over")
    fixed, _ = player.play(FixedTime(90.0), [30000, 30001])
    for ep in fixed:  # a fixed plan serves every approach: the corridor empties before the cap
        assert ep["vehicles_left"] == 0.0 and 0.0 < ep["clearance_s"] < cfg.clearance_cap_s
        assert ep["avg_delay_s"] > ep["avg_delay_demand_s"]  # the queues left at the end carry their delay
    # max-pressure with a threshold above what the last queues weigh never serves them: they stay
    stuck, _ = player.play(MaxPressure(10.0, 10.0, 200.0), [30000])
    assert stuck[0]["vehicles_left"] > 1.0 and stuck[0]["clearance_s"] == cfg.clearance_cap_s
    no_clearance = replace(cfg, clearance_cap_s=0.0)
    cut, _ = Player(no_clearance, "over").play(FixedTime(90.0), [30000])
    assert cut[0]["avg_delay_s"] == pytest.approx(cut[0]["avg_delay_demand_s"])
    assert cut[0]["avg_delay_demand_s"] == pytest.approx(fixed[0]["avg_delay_demand_s"])


def test_a_training_episode_ends_with_the_clearance_the_evaluation_counts():
    cfg = build_config("quick", {**SHORT, "levels": ["over"], "headline_level": "over", "clearance_cap_s": 200.0,
                                 "train_clearance_s": 200.0})
    controller = FixedTime(90.0)
    evaluated, _ = Player(cfg, "over").play(controller, [30000])
    assert evaluated[0]["clearance_s"] == 200.0  # the corridor is not empty at the cap: both count 200 s
    assert Player(cfg, "over").core(None).n_decisions == 60  # an evaluation plays its clearance itself
    env = SignalCorridorEnv(**train_env_kwargs(cfg, "over"))
    assert (env.core.n_demand_decisions, env.n_decisions) == (60, 80)
    for _ in range(2):  # a reset brings the demand back
        env.reset(seed=30000)
        controller.reset(env.core, [30000])
        arrivals, delay, truncated = [], 0.0, False
        while not truncated:
            _, _, _, truncated, info = env.step(env.action_of(controller.decide(env.core)[0]))
            arrivals.append(info["arrived"])
            delay += info["delay"]
        assert len(arrivals) == 80 and min(arrivals[:60]) > 0 and max(arrivals[60:]) == 0.0
        # the same vehicles' delay to the same moment: a training episode is the evaluation's, cut at its cap
        assert delay / sum(arrivals) == pytest.approx(evaluated[0]["avg_delay_s"], rel=1e-9)
    with pytest.raises(ValueError, match="train_clearance_s"):
        build_config("quick", {"train_clearance_s": -1.0})


class _AlwaysMain:
    """A policy that asks every junction for the main street, whatever it sees."""

    def predict(self, observations, deterministic=True, **_):
        return np.zeros(len(observations), dtype=np.int64), None


def test_an_agents_maximum_green_is_the_same_rule_in_training_and_in_play():
    cfg = build_config("quick", {**SHORT, "levels": ["over"], "headline_level": "over", "agent_max_green_s": 60.0})
    env = SignalCorridorEnv(**train_env_kwargs(cfg, "over"))
    env.reset(seed=30000)
    longest, delay, arrived = np.zeros(env.n_junctions), 0.0, 0.0
    for _ in range(env.n_decisions):
        masks = env.core.feasible()[0]
        green = env.sim.sig[0, :, 3]  # s in the phase shown
        ended = green >= 60.0
        assert (masks[ended, 0] != masks[ended, 1]).all()  # past the maximum only the other phase is allowed
        longest = np.maximum(longest, np.where(env.sim.sig[0, :, 2] > 0, 0.0, green))
        info = env.step(0)[4]  # main street, always
        delay, arrived = delay + info["delay"], arrived + info["arrived"]
    assert longest.max() < 60.0 + env.decision_interval  # checked at each decision
    # the agent's controller plays under the rule it trained under: the same demand period
    asked, _ = Player(cfg, "over").play(AgentController("main", _AlwaysMain(), shared=True, max_green=60.0), [30000])
    assert asked[0]["avg_delay_demand_s"] == pytest.approx(delay / arrived, rel=1e-9)
    free, _ = Player(cfg, "over").play(AgentController("main", _AlwaysMain(), shared=True), [30000])
    assert free[0]["vehicles_left"] > 10.0 and asked[0]["vehicles_left"] < free[0]["vehicles_left"]
    assert asked[0]["phase_switches"] > free[0]["phase_switches"] == 0.0
    with pytest.raises(ValueError, match="minimum green"):
        SignalCorridorEnv(max_green=5.0)
    # refused by the run's config already, naming its field, before any kernel is launched
    with pytest.raises(ValueError, match=r"agent_max_green_s=10.0: must exceed the minimum green \(10 s\)"):
        build_config("quick", {"agent_max_green_s": 10.0})


def test_a_sweep_plays_each_setting_as_that_setting_alone():
    cfg = build_config("quick", {**SHORT, "tune_mp_intervals": [10.0], "tune_min_greens": [10.0, 20.0],
                                 "tune_mp_thresholds": [0.0, 30.0]})
    player = Player(cfg, "near")
    draws = [20000, 20001]
    results = sweep(player, families(cfg, player.core(None))["max_pressure"], draws)
    assert len(results) == 4
    for r in results:
        alone, _ = player.play(MaxPressure(**r["params"]), draws)
        assert r["validation"][PRIMARY_METRIC] == pytest.approx(np.mean([e[PRIMARY_METRIC] for e in alone]), abs=1e-9)


@pytest.fixture(scope="module")
def full_tuning():
    """The full mode's baseline tuning at every level (its grids, its validation draws)."""
    cfg = build_config("full", {})
    return cfg, {level: tune_baselines(cfg, level, seed_sets(cfg).validation, log=lambda *_: None)
                 for level in cfg.levels}


@pytest.mark.slow
def test_every_tuned_optimum_lies_inside_its_grid_at_every_level(full_tuning):
    cfg, tuned = full_tuning
    assert set(tuned) == set(DEMAND_LEVELS)
    failures = [f"{name} at {level}: {', '.join(t['edges'])}"
                for level, by_name in tuned.items() for name, t in by_name.items() if t["edges"]]
    assert not failures, failures
    for by_name in tuned.values():  # and the effort of each is recorded
        for t in by_name.values():
            assert t["effort"]["episodes"] == t["effort"]["settings"] * cfg.validation_episodes > 40


def test_a_grid_cut_to_exclude_the_optimum_is_caught():
    cfg = build_config("full", {"levels": ["near"], "headline_level": "near", "validation_episodes": 2,
                                "tune_min_greens": [15.0], "tune_max_greens": [150.0],
                                "tune_gaps": [3.0, 4.0, 5.0]})  # the optimum (~2.5 s per lane) cut off
    tuned = tune_baselines(cfg, "near", seed_sets(cfg).validation, log=lambda *_: None, only=("actuated",))
    assert tuned["actuated"]["params"]["gap"] == 3.0
    assert tuned["actuated"]["edges"] == ["gap=3 (lowest of [3.0, 4.0, 5.0])"]
    fam = families(cfg, Player(cfg, "near").core(None))["actuated"]
    assert grid_edges(fam, {"min_green": 15.0, "max_green": 150.0, "gap": 4.0}) == []  # one max green: no edge
    highest = grid_edges(fam, {"min_green": 15.0, "max_green": 150.0, "gap": 5.0})
    assert highest == ["gap=5 (highest of [3.0, 4.0, 5.0])"]


@pytest.mark.slow
def test_the_headline_level_is_oversaturated_under_the_best_tuned_baseline(full_tuning):
    """At ``over`` the best tuned baseline (chosen on validation) lets the entry queues grow through
    the demand period and a queue fill a main link back to the junction upstream (spillback)."""
    cfg, tuned = full_tuning
    level = cfg.headline_level
    best = min(tuned[level].values(), key=lambda t: t["validation"][PRIMARY_METRIC])
    controller = best["controller"]
    core = Player(cfg, level).core(controller.decision_interval, 1)
    core.reset_draws([seed_sets(cfg).test[0]])
    controller.reset(core, [seed_sets(cfg).test[0]])
    sim, net = core.sim, core.sim.net
    pce = np.array([sim.params.motorcycles.pce, sim.params.cars.pce])
    queues, spill = {}, 0.0
    inner = net.main_path[1:-1]  # main links between two junctions
    while not core.truncated:
        core.step(controller.decide(core))
        if round(sim.t[0]) % 900 == 0:
            queues[round(sim.t[0])] = float(sim.queue[0].sum())
        f = sim.fields()[0]
        spill = max(spill, float(((pce[0] * f[inner, 0, 0] + pce[1] * f[inner, 2, 0]) / sim.rho_jam).max()))
    assert queues[900] < queues[1800] < queues[2700] <= queues[3600] + 50.0 and queues[2700] > 300.0, queues
    assert spill > 0.8, spill
    # and at the other levels the best tuned baseline keeps up: the corridor empties soon after the
    # demand period, its queues adding little delay past it
    for other in ("under", "near"):
        t = min(tuned[other].values(), key=lambda t: t["validation"][PRIMARY_METRIC])
        v = t["validation"]
        assert v["vehicles_left"] < 1.0 and v[PRIMARY_METRIC] < 1.05 * v["avg_delay_demand_s"], (other, v)


def test_the_crossed_bootstrap_has_the_variance_of_a_crossed_design_and_covers():
    """Known case: delay differences d[s, k] = mu + a_s + b_k + e_sk with seed, draw and cell
    effects of known spread; the grand mean's variance is sa^2/S + sb^2/D + se^2/(S D)."""
    rng = np.random.default_rng(1)
    n_s, n_d, sa, sb, se = 6, 30, 1.5, 6.0, 2.0
    truth = sa**2 / n_s + sb**2 / n_d + se**2 / (n_s * n_d)
    ses, covered, rejected = [], 0, 0
    trials = 150
    for _ in range(trials):
        d = rng.normal(0, sa, (n_s, 1)) + rng.normal(0, sb, (1, n_d)) + rng.normal(0, se, (n_s, n_d))
        out = crossed_bootstrap(d, reps=600, seed=int(rng.integers(1 << 30)))
        ses.append(out["se"])
        covered += out["ci95_low"] <= 0.0 <= out["ci95_high"]
        rejected += out["p"] < 0.05
    assert np.sqrt(truth) * 0.85 < np.median(ses) < np.sqrt(truth) * 1.35, (np.median(ses), np.sqrt(truth))
    assert covered / trials > 0.88 and rejected / trials < 0.12, (covered, rejected)
    # a clear effect is found; the seed-only view would understate the spread over draws
    d = 5.0 + rng.normal(0, sa, (n_s, 1)) + rng.normal(0, sb, (1, n_d)) + rng.normal(0, se, (n_s, n_d))
    out = crossed_bootstrap(d, reps=2000)
    assert out["p"] < 0.05 and out["ci95_low"] > 0 and out["n_seeds"] == n_s and out["n_draws"] == n_d
    seed_means = d.mean(1)
    assert out["se"] > 1.5 * seed_means.std(ddof=1) / np.sqrt(n_s)


def test_the_primary_comparison_is_the_agent_against_the_baseline_best_on_validation():
    def episodes(values, draws):
        return [{PRIMARY_METRIC: v, "demand_seed": d} for v, d in zip(values, draws, strict=True)]

    draws = [30000, 30001, 30002]
    levels = {"over": {"controllers": {
        "ppo": {"kind": "rl", "per_seed": {"0": {"episodes": episodes([10, 12, 14], draws)},
                                           "1": {"episodes": episodes([11, 13, 15], draws)}}},
        "actuated": {"kind": "tuned", "episodes": episodes([20, 22, 24], draws)},
        "fixed_time": {"kind": "tuned", "episodes": episodes([5, 5, 5], draws)}},
        # fixed-time is better on the test draws, but the validation draws chose actuated
        "tuned": {"actuated": {"validation": {PRIMARY_METRIC: 30.0}},
                  "fixed_time": {"validation": {PRIMARY_METRIC: 31.0}}}}}
    out = primary_comparison(levels, "over", "ppo")
    assert out["baseline"] == "actuated" and out["n_seeds"] == 2 and out["n_draws"] == 3
    assert out["diff_mean"] == pytest.approx(-9.5) and out["improvement_pct"] == pytest.approx(9.5 / 22 * 100)
    assert out["diff_ci95_high"] < 0 and out["significant"] and out["p"] < 0.05
