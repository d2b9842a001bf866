"""The RL controller: its observations and rewards, action masking, the shared policy, the
max-pressure warm start and the Optuna study."""

import json
import multiprocessing
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from arz_rl import ENV_ID
from arz_rl.config import build_config
from arz_rl.env import OBSERVATIONS, REWARDS, SignalCorridorEnv, feasible_phases
from arz_rl.evaluate import AgentController, run_episode
from arz_rl.sim.layout import SIG_PHASE, SIG_TIME, SIG_TRANS
from arz_rl.vec_env import BatchedCorridorVecEnv, SharedJunctionVecEnv


@pytest.mark.parametrize("observation", OBSERVATIONS)
@pytest.mark.parametrize("reward", REWARDS)
@pytest.mark.parametrize("actions", ["joint", "phases"])
def test_checkers_pass_with_every_option(observation, reward, actions):
    env = gym.make(ENV_ID, observation=observation, reward=reward, actions=actions, switch_penalty=0.05,
                   episode_length=60.0).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env)
        sb3_check_env(env, warn=True)
    obs, _ = env.reset(seed=0)
    for _ in range(env.n_decisions):
        obs, reward_value, _, _, _ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and np.isfinite(reward_value)


def _play_masked(env: SignalCorridorEnv, seed: int) -> None:
    """Random feasible requests at every decision; every green and every change is timed."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    sc = env.scenario
    greens: list[list[float]] = [[] for _ in range(env.n_junctions)]
    changes: list[list[float]] = [[] for _ in range(env.n_junctions)]
    change_started = np.full(env.n_junctions, np.nan)
    for _ in range(env.n_decisions):
        action = int(rng.choice(np.flatnonzero(env.action_masks())))
        before, t0 = env.sim.sig[0].copy(), float(env.sim.t[0])
        for j, phase in enumerate(env.phases(action)):
            # a masked action never asks a junction in transition or before its minimum green to change
            if before[j, SIG_TRANS] > 0 or before[j, SIG_TIME] < sc.min_green - 1e-9:
                assert phase == (before[j, 1] if before[j, SIG_TRANS] > 0 else before[j, SIG_PHASE]), (j, before[j])
        env.step(action)
        now, t1 = env.sim.sig[0], float(env.sim.t[0])
        for j in range(env.n_junctions):
            if before[j, SIG_TRANS] <= 0 < now[j, SIG_TRANS] or (
                    before[j, SIG_TRANS] <= 0 and now[j, SIG_PHASE] != before[j, SIG_PHASE]):
                greens[j].append(before[j, SIG_TIME])  # the change starts at the decision: the green ends
                change_started[j] = t0
            if now[j, SIG_PHASE] != before[j, SIG_PHASE]:  # the change ended now[j, SIG_TIME] s ago
                changes[j].append(t1 - now[j, SIG_TIME] - change_started[j])
    for j in range(env.n_junctions):
        assert len(greens[j]) >= 3, "the random requests hardly switched"
        assert min(greens[j]) >= sc.min_green - 1e-9
        np.testing.assert_allclose(changes[j], sc.yellow + sc.all_red, atol=1e-6)


@pytest.mark.parametrize("interval", [1.0, 5.0])
def test_masking_never_cuts_a_minimum_green_or_a_yellow_short(interval):
    _play_masked(SignalCorridorEnv(episode_length=600.0, decision_interval=interval), seed=3)


def test_masks_follow_the_signal_state():
    env = SignalCorridorEnv(scenario="corridor", n_junctions=2, actions="phases")
    env.reset(seed=0)
    sig, times = env.sim.sig, env.sim.net.junc_times
    sig[0, 0] = [0, 0, 0.0, 30.0]  # green for 30 s: either phase
    sig[0, 1] = [1, 1, 0.0, 4.0]  # green for 4 s: keep it
    assert feasible_phases(sig, times)[0].tolist() == [[True, True], [False, True]]
    sig[0, 0] = [0, 1, 2.0, 12.0]  # yellow towards phase 1: only phase 1
    assert feasible_phases(sig, times)[0, 0].tolist() == [False, True]
    assert env.action_masks().tolist() == [False, True, False, True]
    joint = SignalCorridorEnv(scenario="corridor", n_junctions=2)
    joint.reset(seed=0)
    joint.sim.sig[:] = sig
    assert joint.action_masks().tolist() == [False, False, False, True]  # only (1, 1)


def test_shared_rewards_add_up_to_the_corridor_reward():
    kwargs = {"episode_length": 60.0, "scenario_overrides": {"demand_scale": 1.25}}
    shared, flat = SharedJunctionVecEnv(2, **kwargs), BatchedCorridorVecEnv(2, **kwargs)
    for env in (shared, flat):
        env.seed(5)
        env.reset()
    rng = np.random.default_rng(0)
    for _ in range(5):
        phases = rng.integers(0, 2, size=(2, 3))
        _, r_shared, _, _ = shared.step(phases.reshape(-1))
        _, r_flat, _, _ = flat.step((phases << np.arange(3)).sum(1))
        np.testing.assert_allclose(r_shared.reshape(2, 3).sum(1), r_flat, rtol=1e-5)
    assert shared.observation_space.shape == (45 + 10,)
    assert shared.action_masks().shape == (6, 2)


def _shared_model(n_junctions: int, seed: int = 0):
    from sb3_contrib import MaskablePPO

    vec = SharedJunctionVecEnv(2, n_junctions=n_junctions, episode_length=100.0)
    vec.seed(seed)
    return MaskablePPO("MlpPolicy", vec, n_steps=20, batch_size=60, n_epochs=2, seed=seed, device="cpu"), vec


def test_one_shared_policy_runs_on_3_and_on_8_junctions(tmp_path):
    from sb3_contrib import MaskablePPO

    model, _ = _shared_model(3)
    model.learn(240)
    for n in (3, 8):  # the same network, unchanged, acts at every junction of either corridor
        env = SignalCorridorEnv(n_junctions=n, episode_length=100.0)
        metrics, _ = run_episode(env, AgentController("ppo", model, shared=True), demand_seed=1)
        assert metrics["avg_delay_s"] > 0 and np.isfinite(metrics["avg_delay_s"])
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.save(tmp_path / "corridor3.zip")  # and goes on learning on the longer one, from where it was
    longer = MaskablePPO.load(tmp_path / "corridor3.zip", env=SharedJunctionVecEnv(2, n_junctions=8,
                                                                                   episode_length=100.0))
    for p, q in zip(longer.policy.parameters(), before, strict=True):
        assert (p.detach() == q).all()
    longer.learn(320, reset_num_timesteps=False)
    assert any((p.detach() != q).any() for p, q in zip(longer.policy.parameters(), before, strict=True))


def _teacher(interval: float = 10.0) -> dict:
    return {"name": "max_pressure", "params": {"interval": interval, "min_green": 10.0, "threshold": 20.0},
            "validation": 0.0, "interval": interval}


def test_the_teacher_is_the_best_setting_the_agent_can_imitate_exactly():
    from arz_rl.warm_start import choose_teacher

    def setting(params, value):
        return {"params": params, "validation": {"avg_delay_s": value}}

    tuned = {"max_pressure": {"sweep": [setting({"interval": 5.0, "min_green": 10.0, "threshold": 0.0}, 50.0),
                                        setting({"interval": 20.0, "min_green": 10.0, "threshold": 30.0}, 70.0),
                                        setting({"interval": 15.0, "min_green": 10.0, "threshold": 30.0}, 60.0)]},
             "actuated": {"sweep": [setting({"min_green": 10.0, "max_green": 90.0, "gap": 2.5, "step": 2.5}, 40.0)]},
             "fixed_time": {"sweep": [setting({"cycle": 90.0, "green_wave": True}, 30.0)]}}
    # 10 s decisions divide 20 s, not 5, 15 or 2.5 s; a fixed plan switches on its own clock
    assert choose_teacher(tuned, 10.0)["params"]["interval"] == 20.0
    assert choose_teacher(tuned, 5.0)["params"]["interval"] == 5.0
    assert choose_teacher(tuned, 2.5)["name"] == "actuated"
    assert choose_teacher(tuned, 2.5, "max_pressure")["params"]["interval"] == 5.0
    assert choose_teacher({"fixed_time": tuned["fixed_time"]}, 10.0) is None


def test_cloning_at_the_teachers_own_interval_agrees_and_the_critic_learns_its_returns():
    from arz_rl.warm_start import clone, demonstrations, pretrain_critic

    model, _ = _shared_model(3)
    env = SignalCorridorEnv(episode_length=600.0, scenario_overrides={"demand_scale": 1.25})
    demos = demonstrations(env, _teacher(20.0), episodes=3, seed=0, shared=True)
    n = 3 * env.n_decisions * 3
    assert demos["observations"].shape == (n, 55) and set(np.unique(demos["actions"])) == {0, 1}
    assert demos["returns"].shape == (n,) and (demos["returns"] < 0).all()  # minus delay, discounted
    before = [p.detach().clone() for p in model.policy.value_net.parameters()]
    fit = clone(model, demos)
    assert fit["agreement_after"] >= 0.95 > fit["agreement_before"]
    assert all((p.detach() == q).all() for p, q in zip(model.policy.value_net.parameters(), before, strict=True))
    critic = pretrain_critic(model, demos)
    assert critic["value_loss_after"] < 0.5 * critic["value_loss_before"] and critic["held_out"] > 0
    with pytest.raises(ValueError, match="cannot be imitated at 10.0 s"):
        demonstrations(env, _teacher(15.0), episodes=1, seed=0, shared=True)


def test_the_cloning_penalty_fades_to_zero_on_schedule(tmp_path):
    from arz_rl.warm_start import penalty_weight

    assert penalty_weight(0, 2.0, 1000) == 2.0 and penalty_weight(500, 2.0, 1000) == 1.0
    assert penalty_weight(1000, 2.0, 1000) == penalty_weight(5000, 2.0, 1000) == 0.0
    assert penalty_weight(10, 2.0, 0) == 0.0
    cfg = build_config("quick", {"algorithms": ["ppo"], "seeds": 1, "levels": ["near"], "headline_level": "near",
                                 "episode_length": 100.0, "timesteps": {"ppo": 400}, "eval_freq": 200,
                                 "checkpoint_freq": 400, "n_envs": 2, "validation_episodes": 1,
                                 "ppo": {"n_steps": 20, "batch_size": 60, "n_epochs": 1},
                                 "warm_start_episodes": 1, "bc_weight": 1.0, "bc_decay_decisions": 200,
                                 "decision_interval": 10.0, "tune_mp_intervals": [10.0]})
    from arz_rl.protocol import seed_sets, tune_baselines
    from arz_rl.train import train_agent

    tuned = {k: {"sweep": t["sweep"]} for k, t in
             tune_baselines(cfg, "near", seed_sets(cfg).validation, log=lambda *_: None).items()}
    record = train_agent(cfg, "ppo", 0, "near", tmp_path, "cpu", tuned)
    history = record["cloning_penalty"]
    assert history[0][1] > 0.0 and history[-1] == [history[-1][0], 0.0]
    assert all(w == pytest.approx(max(0.0, 1.0 - d / 200)) for d, w in history)
    assert record["warm_start"]["teacher"]["name"] == "max_pressure" and record["warm_start"]["critic"]


def test_a_study_trial_is_never_scored_by_its_cloned_checkpoint(tmp_path):
    from arz_rl.tune import run_study

    cfg = _study_config(seed=0, warm_start_episodes=1, tune_mp_intervals=[5.0, 10.0, 15.0])
    result = run_study(cfg, tmp_path, log=lambda *_: None)
    trial = result["trials"][0]
    attrs = trial["user_attrs"]
    assert attrs["scored_at_decisions"] > 0  # a checkpoint PPO trained, whatever the clone scored
    assert trial["value"] == attrs["trained_best"] and "cloned_validation" in attrs
    assert "never the cloned one" in result["scored_on"]


def test_training_records_the_controller_it_built(tmp_path):
    from arz_rl.train import train_agent

    cfg = build_config("quick", {"algorithms": ["ppo"], "seeds": 1, "levels": ["over"], "headline_level": "over",
                                 "episode_length": 100.0, "timesteps": {"ppo": 40}, "eval_freq": 20,
                                 "checkpoint_freq": 40, "validation_episodes": 1, "warm_start_episodes": 1,
                                 "reward": "pressure", "switch_penalty": 0.1, "train_clearance_s": 20.0,
                                 "ppo": {"n_steps": 10, "batch_size": 30, "n_epochs": 1}})
    tuned = {"max_pressure": {"sweep": [{"params": {"interval": 10.0, "min_green": 10.0, "threshold": 0.0},
                                         "validation": {"avg_delay_s": 50.0}}]}}
    record = train_agent(cfg, "ppo", 0, "over", tmp_path, "cpu", tuned)
    assert record["policy"] == "shared" and record["masked"]
    assert record["environment"] == {"decision_interval": 10.0, "reward": "pressure", "switch_penalty": 0.1,
                                     "neighbour_weight": 0.0, "observation": "junction", "clearance_s": 20.0,
                                     "max_green": 0.0}
    assert record["timesteps"] == 40 and record["sb3_timesteps"] == 120  # 3 junction decisions each
    # one teacher episode: 10 decisions of demand and 2 of clearance, 3 junctions each
    assert record["warm_start"]["teacher"]["name"] == "max_pressure" and record["warm_start"]["samples"] == 36
    assert record["learning_curve"]["timesteps"] == [12, 24, 36]  # corridor episodes of 12 decisions


def _study_config(**extra):
    return build_config("quick", {"tune_trials": 1, "tune_timesteps": 20, "tune_startup_trials": 1,
                                  "episode_length": 100.0, "validation_episodes": 1, "eval_freq": 10,
                                  "checkpoint_freq": 20, "ppo": {"n_steps": 10, "batch_size": 30, "n_epochs": 1},
                                  **extra})


def _worker(seed: int, out: str, journal: str) -> None:
    from arz_rl.tune import run_study

    run_study(_study_config(seed=seed), Path(out), Path(journal), log=lambda *_: None)


def test_an_optuna_study_runs_end_to_end_and_two_workers_share_it(tmp_path):
    from thesis_figures.study import best_of, write_best

    journal = tmp_path / "study.journal"
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_worker, args=(k, str(tmp_path / f"w{k}" / "output"), str(journal)))
               for k in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
        assert w.exitcode == 0
    records = [json.loads((tmp_path / f"w{k}" / "output" / "tuning.json").read_text()) for k in range(2)]
    # one study: each worker ran one trial and the one finishing last saw both
    assert max(len(r["trials"]) for r in records) == 2
    assert {t["number"] for r in records for t in r["trials"]} == {0, 1}
    best = best_of([tmp_path / f"w{k}" / "output" / "tuning.json" for k in range(2)])
    values = {t["number"]: t["value"] for r in records for t in r["trials"] if t["state"] == "COMPLETE"}
    assert set(values) == {0, 1}
    assert best["value"] == min(values.values()) and best["completed_trials"] == 2
    assert set(best["parameters"]) == {"ppo", "decision_interval", "reward", "switch_penalty"}
    cfg = build_config("full", best["parameters"])  # a run takes the parameters as they are
    assert cfg.decision_interval == best["parameters"]["decision_interval"]
    written = write_best([str(tmp_path / f"w{k}" / "output") for k in range(2)], tmp_path / "best.yaml")
    assert written == best
    with pytest.raises(FileNotFoundError, match="tuning.json"):
        write_best([str(tmp_path)], tmp_path / "other.yaml")
    assert not (tmp_path / "other.yaml").exists()


def test_the_fused_adam_learns_what_sb3s_adam_learns():
    """The learner's speed-up (fused Adam) leaves what PPO learns unchanged: the same seed and
    rollout give the same update to round-off with SB3's default Adam (later rollouts would
    diverge anyway: a last-digit difference flips a sampled action)."""
    import torch as th
    from sb3_contrib import MaskablePPO

    from arz_rl.config import build_config
    from arz_rl.protocol import env_kwargs
    from arz_rl.train import hyperparameters

    cfg = build_config("quick", {"ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 3}, "episode_length": 100.0})
    params = []
    for fused in (True, False):
        vec = SharedJunctionVecEnv(2, **env_kwargs(cfg, "near"))
        vec.seed(0)
        hp = hyperparameters(cfg, "ppo")
        if not fused:
            hp["policy_kwargs"].pop("optimizer_kwargs")
        model = MaskablePPO("MlpPolicy", vec, seed=0, device="cpu", verbose=0, **hp)
        assert model.policy.optimizer.defaults.get("fused") is (True if fused else None)
        start = th.cat([p.detach().reshape(-1) for p in model.policy.parameters()])
        model.learn(32 * vec.num_envs)  # one rollout, one update of 3 epochs
        params.append(th.cat([p.detach().reshape(-1) for p in model.policy.parameters()]) - start)
    # Adam's normalised step turns a last-digit difference of a near-zero gradient into +-lr on
    # that parameter, so the updates agree as vectors, not digit for digit
    fused_step, sb3_step = params
    assert float((fused_step - sb3_step).norm() / sb3_step.norm()) < 0.05
    assert float(th.nn.functional.cosine_similarity(fused_step, sb3_step, dim=0)) > 0.999


def test_bench_gpu_runs_where_a_gpu_is(tmp_path):
    import subprocess
    import sys

    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine: bench/bench_gpu.py measures nothing here")
    out = subprocess.run([sys.executable, "bench/bench_gpu.py", "--batches", "256,1024", "--seconds", "1"],
                         cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0 and "GPU:" in out.stdout, out.stdout + out.stderr


def test_a_linear_learning_rate_falls_to_zero_over_the_budget_across_a_resume(tmp_path):
    """``learning_rate_schedule: linear``: each update's rate is the configured one times the
    fraction of the budget left, and an agent stopped at a deadline and resumed from its checkpoint
    goes on along the same line instead of starting it again."""
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback

    from arz_rl.protocol import env_kwargs
    from arz_rl.train import hyperparameters

    with pytest.raises(ValueError, match=r"ppo\.learning_rate_schedule='cosine': must be one of"):
        build_config("quick", {"ppo": {"learning_rate_schedule": "cosine"}})
    cfg = build_config("quick", {"ppo": {"n_steps": 8, "batch_size": 24, "n_epochs": 1,
                                         "learning_rate": 1e-3, "learning_rate_schedule": "linear"},
                                 "episode_length": 100.0})
    rates: dict[int, float] = {}  # update number: the rate it was made at

    class Rates(BaseCallback):
        def __init__(self, stop_at: int | None = None):
            super().__init__()
            self.stop_at = stop_at

        def _record(self) -> None:
            if self.model._n_updates:
                rates.setdefault(self.model._n_updates, self.model.policy.optimizer.param_groups[0]["lr"])

        def _on_rollout_start(self) -> None:
            self._record()

        def _on_training_end(self) -> None:
            self._record()

        def _on_step(self) -> bool:  # a deadline in the middle of a rollout: back to its start
            if self.stop_at is not None and self.model.num_timesteps > self.stop_at:
                self.model.num_timesteps = self.stop_at
                return False
            return True

    vec = SharedJunctionVecEnv(1, **env_kwargs(cfg, "near"))
    rollout = 8 * vec.num_envs

    def agent() -> MaskablePPO:
        vec.seed(0)
        return MaskablePPO("MlpPolicy", vec, seed=0, device="cpu", verbose=0, **hyperparameters(cfg, "ppo"))

    agent().learn(4 * rollout, callback=Rates())
    assert list(rates.values()) == pytest.approx([7.5e-4, 5e-4, 2.5e-4, 0.0])
    rates.clear()
    model = agent()
    model.learn(4 * rollout, callback=Rates(stop_at=rollout))  # stopped after one update
    model.save(tmp_path / "agent.zip")
    model = MaskablePPO.load(tmp_path / "agent.zip", env=vec, device="cpu")
    model.learn(3 * rollout, callback=Rates(), reset_num_timesteps=False)  # as train_agent resumes
    assert list(rates.values()) == pytest.approx([7.5e-4, 5e-4, 2.5e-4, 0.0])


def test_the_global_gradient_clip_is_set_by_the_critic_on_unscaled_delays():
    """Why ``max_grad_norm`` matters here: on the delay reward the critic's gradient dwarfs the
    actor's, so SB3's default clip (0.5) shrinks the actor's gradient by the critic's norm."""
    from sb3_contrib import MaskablePPO

    from arz_rl.diagnose import gradient_split
    from arz_rl.protocol import env_kwargs
    from arz_rl.train import hyperparameters

    cfg = build_config("quick", {"ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 1}, "episode_length": 300.0})
    vec = SharedJunctionVecEnv(2, **env_kwargs(cfg, "over"))
    splits = {}
    for limit in (0.5, 1e4):
        vec.seed(0)
        model = MaskablePPO("MlpPolicy", vec, seed=0, device="cpu", **hyperparameters(cfg, "ppo"))
        model.max_grad_norm = limit
        splits[limit] = gradient_split(model, max_minibatches=4)
        assert splits[limit]["minibatches"] == 4
    clipped, free = splits[0.5], splits[1e4]
    assert clipped["critic_norm"] > 20 * clipped["actor_norm"] and clipped["clip_scale"] < 0.1
    assert free["clip_scale"] == 1.0 and free["actor_norm"] == pytest.approx(clipped["actor_norm"])


def test_bench_gradients_prints_the_clip_scale_of_a_fresh_full_mode_agent():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "bench/bench_gradients.py", "--max-grad-norm", "0.5", "10000"],
                         cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("fresh full-mode agent")]
    scales = {float(row[3]): float(row[6]) for row in rows}  # max_grad_norm: clip scale
    assert scales[10000.0] == 1.0 and scales[0.5] < 0.01, out.stdout
