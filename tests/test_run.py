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


def test_outputs_are_complete_and_finite(quick):
    train = json.loads((quick / "training_metrics.json").read_text())
    ev = json.loads((quick / "evaluation_results.json").read_text())
    for algo in ("ppo", "dqn"):
        for seed in ("0", "1"):
            rec = train["runs"][algo][seed]
            assert rec["gradient_updates"] > 0
            curve = rec["learning_curve"]
            assert len(curve["timesteps"]) >= 2 and np.isfinite(curve["episode_return"]).all()
            assert (quick / rec["model"]).exists()
        assert (quick / "monitor" / f"{algo}_seed0_0.monitor.csv").exists()
    names = set(ev["controllers"])
    assert names == {"ppo", "dqn", "fixed_60", "fixed_90", "fixed_120", "max_pressure", "random"}
    for name, c in ev["controllers"].items():
        for metric, s in c["summary"].items():
            assert np.isfinite([s["mean"], s["std"], s["ci95_low"], s["ci95_high"]]).all(), (name, metric)
        assert (quick / f"spacetime_{name}.npz").exists()
    assert set(ev["comparisons"]["ppo"]) == {"fixed_60", "fixed_90", "fixed_120", "max_pressure", "random"}
    assert ev["parameters"]["timesteps"] == {"ppo": 256, "dqn": 300}
    st = np.load(quick / "spacetime_ppo.npz")
    assert st["rho_m"].shape == st["v_c"].shape and st["rho_m"].shape[0] == 11


def test_dqn_keeps_only_its_newest_replay_buffer(quick):
    folder = quick / "checkpoints" / "dqn_seed0"
    models = sorted(folder.glob("dqn_seed0_*_steps.zip"))
    buffers = list(folder.glob("dqn_seed0_replay_buffer_*_steps.pkl"))
    assert len(models) >= 3  # a checkpoint every 100 steps, and the final one
    assert [b.name for b in buffers] == ["dqn_seed0_replay_buffer_300_steps.pkl"]


def test_same_seed_same_evaluation(quick, tmp_path):
    again = tmp_path / "again"
    run(build_config("quick", TINY), again, log=lambda *_: None)
    a = json.loads((quick / "evaluation_results.json").read_text())["controllers"]
    b = json.loads((again / "evaluation_results.json").read_text())["controllers"]
    assert a == b


def test_resume_continues_from_checkpoint(quick, tmp_path):
    import shutil

    work = tmp_path / "resume"
    shutil.copytree(quick, work)
    more = {**TINY, "seeds": 1, "algorithms": "ppo", "timesteps": {"ppo": 512, "dqn": 300}}
    run(build_config("quick", more), work, log=lambda *_: None)
    rec = json.loads((work / "training_metrics.json").read_text())["runs"]["ppo"]["0"]
    assert rec["resumed_from"] == 256 and rec["timesteps"] == 512


def test_cli_rejects_bad_values(capsys):
    with pytest.raises(SystemExit):
        main(["--mode", "quick", "--algorithms", "a2c", "--out", "/tmp/never"])
    assert "algorithms" in capsys.readouterr().err


def test_ppo_with_several_envs_trains_on_the_batched_simulator(tmp_path):
    cfg = {**TINY, "seeds": 1, "algorithms": "ppo", "n_envs": 4, "timesteps": {"ppo": 512, "dqn": 300},
           "episode_length": 60.0}
    messages = []
    run(build_config("quick", cfg), tmp_path, log=messages.append)
    rec = json.loads((tmp_path / "training_metrics.json").read_text())["runs"]["ppo"]["0"]
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
