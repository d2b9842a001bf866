"""Environment API, reproducibility and the baselines' behaviour."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from arz_rl import ENV_ID
from arz_rl.baselines import FixedTime, MaxPressure, RandomController, webster_main_green
from arz_rl.env import SignalCorridorEnv
from arz_rl.evaluate import run_episode


@pytest.mark.parametrize("scenario", ["single", "corridor"])
def test_env_checkers_pass_without_warnings(scenario):
    env = gym.make(ENV_ID, scenario=scenario, episode_length=120.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)
        sb3_check_env(env.unwrapped, warn=True)


def test_spaces():
    single = SignalCorridorEnv(scenario="single")
    corridor = SignalCorridorEnv(scenario="corridor", n_junctions=3)
    phases = SignalCorridorEnv(scenario="corridor", n_junctions=3, actions="phases")
    assert single.action_space == gym.spaces.Discrete(2)
    assert corridor.action_space == gym.spaces.Discrete(8)  # joint: bit j is junction j's phase
    assert list(phases.action_space.nvec) == [2, 2, 2]
    assert corridor.observation_space.shape == (3 * single.observation_space.shape[0],) == (3 * 45,)
    assert corridor.n_decisions == 360  # 10 s decisions over an hour
    for a in range(8):
        np.testing.assert_array_equal(corridor.phases(a), [(a >> j) & 1 for j in range(3)])
        assert corridor.action_of(corridor.phases(a)) == a


def _rollout(seed):
    env = SignalCorridorEnv(scenario="corridor", episode_length=600.0)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(0)
    out = [obs]
    rewards = []
    done = False
    while not done:
        obs, r, term, trunc, info = env.step(rng.integers(0, 8))
        out.append(obs)
        rewards.append(r)
        done = term or trunc
    return np.array(out), np.array(rewards), info


def test_reset_with_seed_is_reproducible():
    a, ra, _ = _rollout(11)
    b, rb, _ = _rollout(11)
    c, rc, _ = _rollout(12)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ra, rb)
    assert not np.array_equal(ra, rc)  # the demand noise is seeded, not absent


def test_reward_is_minus_delay_and_info_balances():
    env = SignalCorridorEnv(scenario="single", episode_length=300.0)
    env.reset(seed=1)
    total_delay = 0.0
    returns = 0.0
    for _ in range(env.n_decisions):
        _, r, _, _, info = env.step(0)
        total_delay += info["delay"]
        returns += r
        assert info["total_time"] >= info["delay"] >= 0
    assert returns == pytest.approx(-total_delay / (10.0 * 100.0))
    assert total_delay > 0


def test_bad_action_is_refused():
    env = SignalCorridorEnv(scenario="corridor", actions="phases")
    env.reset(seed=0)
    with pytest.raises(ValueError, match="phase 0 or 1"):
        env.step(np.array([0, 2, 1]))
    joint = SignalCorridorEnv(scenario="corridor")
    joint.reset(seed=0)
    with pytest.raises(ValueError, match=r"action must lie in \[0, 8\)"):
        joint.step(8)


def test_controllers_differ_and_fixed_time_follows_its_plan():
    env = SignalCorridorEnv(scenario="corridor", episode_length=900.0)
    results = {}
    for ctrl in (FixedTime(60), FixedTime(120), MaxPressure(), RandomController(0)):
        m, trace = run_episode(env, ctrl, demand_seed=3, record=isinstance(ctrl, FixedTime) and ctrl.cycle == 60)
        results[ctrl.name] = m
        if trace is not None:
            # phase 0 holds for Webster's main green + yellow; 10 s decisions sample it
            assert set(np.unique(trace["phase"])) <= {-1, 0, 1}
            assert trace["rho_c"].shape[0] == env.n_decisions + 1
    assert results["fixed_60"]["phase_switches"] == pytest.approx(2 * 3 * 900 / 60, abs=3)
    assert len({round(m["avg_travel_time_s"], 6) for m in results.values()}) == 4
    # max-pressure is a strong baseline: better than random on delay
    assert results["max_pressure"]["avg_delay_s"] < results["random"]["avg_delay_s"]


def test_webster_split_favours_the_main_road():
    env = SignalCorridorEnv(scenario="corridor")
    g = webster_main_green(env, 90.0)
    cross = 90.0 - g - 2 * 5.0
    assert g > cross >= env.scenario.min_green


def test_batched_vec_env_matches_single_envs():
    from arz_rl.vec_env import BatchedCorridorVecEnv

    kwargs = {"scenario": "corridor", "episode_length": 40.0}
    vec = BatchedCorridorVecEnv(4, **kwargs)
    assert vec.sim.lanes  # a batch of 4 steps in SIMD lanes
    vec.seed(7)
    obs = vec.reset()
    singles = []
    for b in range(4):  # the same initial state and demand as env b of the batch
        env = SignalCorridorEnv(**kwargs)
        env.reset(seed=0)
        for name in ("U", "queue", "sig", "demand_rates", "t", "acc", "jq"):
            getattr(env.sim, name)[0] = getattr(vec.sim, name)[b]
        env.core.refresh()
        singles.append(env)
    np.testing.assert_allclose(obs, np.stack([e._observation() for e in singles]), atol=1e-6)
    actions = np.random.default_rng(1).integers(0, 8, size=(4, 4))
    for k in range(4):
        obs, rewards, dones, infos = vec.step(actions[k])
        for b, env in enumerate(singles):
            o, r, _, truncated, _ = env.step(actions[k, b])
            assert rewards[b] == pytest.approx(r, rel=1e-9, abs=1e-12)
            assert dones[b] == truncated
            final = infos[b]["terminal_observation"] if dones[b] else obs[b]
            np.testing.assert_allclose(final, o, atol=1e-6)
    assert dones.all() and infos[0]["TimeLimit.truncated"] and "episode" in infos[0]


def test_ppo_trains_on_the_batched_vec_env():
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecMonitor

    from arz_rl.vec_env import BatchedCorridorVecEnv

    vec = VecMonitor(BatchedCorridorVecEnv(4, scenario="single", episode_length=150.0))
    model = PPO("MlpPolicy", vec, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(256)
    assert model.num_timesteps >= 256
    assert any((p.detach() != q).any() for p, q in zip(model.policy.parameters(), before, strict=True))


def test_simulator_engine_choice_says_what_it_picked():
    import torch

    from arz_rl.vec_env import pick_engine

    device, engine, why = pick_engine(4, "cpu", scenario="single")
    assert (device, engine) == ("cpu", "numba") and why["why"] == "the run is on the cpu"
    if torch.cuda.is_available():
        device, engine, why = pick_engine(4, "gpu", steps=1, scenario="single")
        assert (device, engine) in (("cpu", "numba"), ("gpu", "torch"))
        assert set(why["env_steps_per_s"]) == {"cpu/numba", "gpu/torch"}


def test_device_vocabulary_is_resolved_once():
    import torch

    from arz_rl.device import resolve, torch_name

    info = resolve("auto")
    assert info["device"] == ("gpu" if torch.cuda.is_available() else "cpu") and info["requested"] == "auto"
    assert resolve("cpu")["device"] == "cpu"
    assert torch_name("gpu") == "cuda" and torch_name("cpu") == "cpu"
    with pytest.raises(ValueError, match="resolved device"):
        torch_name("auto")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve("gpu")
