"""The run entry point end to end at toy sizes: files, finiteness, learning, reproducibility."""

import json

import numpy as np
import pytest
from conftest import TINY_RUN as TINY

from arz_rl.config import build_config
from arz_rl.run import main, run


@pytest.fixture(scope="module")
def quick(tiny_run):
    return tiny_run


BASELINES = {"fixed_time", "max_pressure", "actuated", "fixed_60", "fixed_90", "fixed_120", "random"}


def test_outputs_are_complete_and_finite(quick):
    train = json.loads((quick / "training_metrics.json").read_text())
    ev = json.loads((quick / "evaluation_results.json").read_text())
    assert set(train["runs"]) == set(ev["levels"]) == {"near", "over"} and ev["headline_level"] == "over"
    for level, algos in train["runs"].items():
        for algo in ("ppo", "dqn"):
            for seed in ("0", "1"):
                rec = algos[algo][seed]
                assert rec["gradient_updates"] > 0 and rec["level"] == level
                curve = rec["learning_curve"]
                assert len(curve["timesteps"]) >= 2 and np.isfinite(curve["episode_return"]).all()
                assert (quick / rec["model"]).exists()
                # the checkpoint kept is the one with the lowest mean delay over the validation draws
                scores = rec["validation_curve"]
                assert len(scores) >= 2
                assert rec["chosen_checkpoint"]["avg_delay_s"] == min(s["avg_delay_s"] for s in scores)
            # PPO's shared policy learns on the batched junction env (one monitor row per corridor episode)
            suffix = "batch0" if algo == "ppo" else "0"
            assert (quick / "monitor" / f"{algo}_seed0_{level}_{suffix}.monitor.csv").exists()
        assert algos["ppo"]["0"]["policy"] == "shared" and algos["dqn"]["0"]["policy"] == "flat"
    for level, data in ev["levels"].items():
        names = set(data["controllers"])
        assert names == {"ppo", "dqn", "ppo_clone_only", "ppo_scratch"} | BASELINES  # the agents and the ablation
        for name, c in data["controllers"].items():
            for metric, s in c["summary"].items():
                assert np.isfinite([s["mean"], s["std"], s["ci95_low"], s["ci95_high"]]).all(), (name, metric)
                assert s["n"] == (2 if c["kind"] == "rl" else len(ev["protocol"]["seed_sets"]["test"]))
            assert (quick / f"spacetime_{level}_{name}.npz").exists()
        assert set(data["comparisons"]["ppo"]) == BASELINES
        assert set(data["tuned"]) == {"fixed_time", "max_pressure", "actuated"}
        assert data["tuned"]["fixed_time"]["params"]["cycle"] in (50.0, 80.0)
    assert ev["parameters"]["timesteps"] == {"ppo": 256, "dqn": 300}
    st = np.load(quick / "spacetime_over_ppo.npz")
    assert st["rho_m"].shape == st["v_c"].shape and st["rho_m"].shape[0] == 150 / 10 + 1  # 10 s decisions


def test_the_primary_comparison_is_recomputed_from_the_per_seed_per_draw_values(quick):
    from arz_rl.stats import crossed_bootstrap

    ev = json.loads((quick / "evaluation_results.json").read_text())
    primary = ev["primary"]
    level = ev["levels"][primary["level"]]
    tuned = level["tuned"]
    assert primary["level"] == ev["headline_level"] and primary["agent"] == "ppo"
    assert primary["baseline"] == min(tuned, key=lambda n: tuned[n]["validation"]["avg_delay_s"])
    base = np.array([ep["avg_delay_s"] for ep in level["controllers"][primary["baseline"]]["episodes"]])
    agent = np.array([[ep["avg_delay_s"] for ep in s["episodes"]]
                      for _, s in sorted(level["controllers"]["ppo"]["per_seed"].items(), key=lambda kv: int(kv[0]))])
    again = crossed_bootstrap(agent - base[None, :])
    assert primary["n_seeds"] == 2 and primary["n_draws"] == len(ev["protocol"]["seed_sets"]["test"])
    assert primary["diff_mean"] == pytest.approx(again["mean"]) and primary["p"] == again["p"]
    assert (primary["diff_ci95_low"], primary["diff_ci95_high"]) == (again["ci95_low"], again["ci95_high"])
    for c in level["controllers"].values():  # delay to the last vehicle, the cut one, and what was left
        for ep in (c["episodes"] if c["kind"] != "rl" else [e for s in c["per_seed"].values() for e in s["episodes"]]):
            assert ep["avg_delay_s"] >= ep["avg_delay_demand_s"] - 1e-9 and ep["vehicles_left"] >= 0.0
            assert 0.0 <= ep["clearance_s"] <= ev["parameters"]["clearance_cap_s"]


def test_the_three_seed_sets_are_disjoint_and_recorded(quick):
    sets = json.loads((quick / "evaluation_results.json").read_text())["protocol"]["seed_sets"]
    assert sets["disjoint"] is True
    assert len(sets["validation"]) == TINY["validation_episodes"] and len(sets["test"]) == TINY["eval_episodes"]
    assert not set(sets["training"]) & set(sets["validation"])
    assert not set(sets["validation"]) & set(sets["test"]) and not set(sets["training"]) & set(sets["test"])
    # every controller (every agent seed) played exactly the test draws
    ev = json.loads((quick / "evaluation_results.json").read_text())
    for data in ev["levels"].values():
        for c in data["controllers"].values():
            runs = c["per_seed"].values() if c["kind"] == "rl" else [c]
            for r in runs:
                assert [ep["demand_seed"] for ep in r["episodes"]] == sets["test"]


def test_dqn_keeps_only_its_newest_replay_buffer(quick):
    folder = quick / "state" / "checkpoints" / "dqn_seed0_near"
    models = sorted(folder.glob("dqn_seed0_near_*_steps.zip"))
    buffers = list(folder.glob("dqn_seed0_near_replay_buffer_*_steps.pkl"))
    assert len(models) >= 3  # a checkpoint every 100 steps, and the final one
    assert [b.name for b in buffers] == ["dqn_seed0_near_replay_buffer_300_steps.pkl"]


def test_same_seed_same_evaluation(quick, tmp_path):
    again = tmp_path / "again"
    run(build_config("quick", TINY), again, log=lambda *_: None)
    a = json.loads((quick / "evaluation_results.json").read_text())["levels"]
    b = json.loads((again / "evaluation_results.json").read_text())["levels"]
    assert a == b


def test_resume_continues_from_checkpoint(quick, tmp_path):
    import shutil

    work = tmp_path / "resume"
    shutil.copytree(quick, work)
    more = {**TINY, "seeds": 1, "algorithms": "ppo", "levels": ["over"], "timesteps": {"ppo": 512, "dqn": 300}}
    run(build_config("quick", more), work, log=lambda *_: None)
    rec = json.loads((work / "training_metrics.json").read_text())["runs"]["over"]["ppo"]["0"]
    assert rec["resumed_from"] == 256 and rec["timesteps"] == 512


def test_cli_rejects_bad_values(capsys):
    with pytest.raises(SystemExit):
        main(["--mode", "quick", "--algorithms", "a2c", "--out", "/tmp/never"])
    assert "algorithms" in capsys.readouterr().err


def test_ppo_with_several_envs_trains_on_the_batched_simulator(tmp_path):
    cfg = {**TINY, "seeds": 1, "algorithms": "ppo", "n_envs": 4, "timesteps": {"ppo": 512, "dqn": 300},
           "episode_length": 60.0, "levels": ["over"]}
    messages = []
    run(build_config("quick", cfg), tmp_path, log=messages.append)
    rec = json.loads((tmp_path / "training_metrics.json").read_text())["runs"]["over"]["ppo"]["0"]
    assert rec["n_envs"] == 4
    assert (rec["simulator"]["device"], rec["simulator"]["engine"]) in (("cpu", "numba"), ("gpu", "torch"))
    assert rec["timesteps"] >= 512 and rec["gradient_updates"] > 0
    curve = rec["learning_curve"]
    assert len(curve["episode_return"]) >= 512 // 4 // 4  # 4 envs x 4-decision episodes
    assert all(np.isfinite(curve["episode_return"])) and len(set(curve["episode_return"])) > 1
    assert any("simulated by numba on the cpu" in m or "simulated by torch on the gpu" in m for m in messages)


def test_warm_up_calls_every_kernel_a_run_uses():
    from arz_rl.warmup import warm_up

    lines: list[str] = []
    assert warm_up(log=lines.append) > 0.0
    assert len(lines) == 5 and all(line.startswith("[warmup] ") for line in lines)


class PassesAfter:
    """A deadline that passes at its ``n``-th look: the stop lands mid-training on every machine."""

    def __init__(self, n: int) -> None:
        self.looks, self.n = 0, n

    def passed(self) -> bool:
        self.looks += 1
        return self.looks > self.n

    def check(self, before: str) -> None:
        from arz_rl.resume import OutOfTime

        if self.passed():
            raise OutOfTime(f"deadline passed before {before}")


def test_a_run_stopped_at_its_deadline_goes_on_from_its_saved_state(tmp_path):
    from arz_rl.resume import CONTINUE_FILE, EXIT_CONTINUE, OutOfTime

    cfg = build_config("quick", {**TINY, "seeds": 1, "levels": ["over"], "timesteps": {"ppo": 512, "dqn": 300}})
    out = tmp_path / "out"
    # PPO looks at every step of its 4 envs (2 rollouts of 64), DQN at every 4th of its 300 steps:
    # 70 looks stop both mid-way, PPO after its first rollout
    with pytest.raises(OutOfTime):
        run(cfg, out, log=lambda *_: None, deadline=PassesAfter(70))
    stopped = json.loads((out / "state" / CONTINUE_FILE).read_text())
    assert "tuned_over" in stopped["done"] and not any(u.startswith("evaluated") for u in stopped["done"])
    assert not (out / "evaluation_results.json").exists()
    saved = {p.parent.name for p in (out / "state" / "checkpoints").glob("*/session.pkl")}
    assert {"ppo_seed0_over", "dqn_seed0_over"} <= saved
    assert list((out / "state" / "checkpoints" / "dqn_seed0_over").glob("*replay_buffer*"))
    messages: list[str] = []
    run(cfg, out, log=messages.append)  # the next part: no deadline
    assert any("going on from an earlier part" in m for m in messages)
    assert not any("tuned fixed_time" in m for m in messages)  # the tuning unit was not redone
    train = json.loads((out / "training_metrics.json").read_text())["runs"]["over"]
    for algo, total in (("ppo", 512), ("dqn", 300)):
        rec = train[algo]["0"]
        assert len(rec["sessions"]) == 2, (algo, rec["sessions"])
        first, second = rec["sessions"]
        assert first["from"] == 0 and 0 < first["to"] == second["from"] < second["to"] == rec["timesteps"] == total
        assert rec["resumed_from"] == first["to"]
        # the validation history of the first session is kept: steps only grow
        steps = [h["timesteps"] for h in rec["validation_curve"]]
        assert steps == sorted(steps) and steps[0] <= first["to"]
        assert np.all(np.diff(rec["learning_curve"]["wall_time_s"]) >= 0)
    assert json.loads((out / "evaluation_results.json").read_text())["primary"]["n_seeds"] == 1
    assert EXIT_CONTINUE not in (0, 1, 2)
