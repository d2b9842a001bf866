"""The batched corridor core: one step body under every view, one definition of a switch, the
reward registry (a new reward is one entry, and PPO trains on it), local rewards against the
corridor's."""

import numpy as np
import pytest

from arz_rl.core import REWARDS, CorridorCore, Reward, register_reward, switches_started
from arz_rl.env import SignalCorridorEnv, heading_phase
from arz_rl.sim.layout import ACC_SWITCHES
from arz_rl.vec_env import BatchedCorridorVecEnv, SharedJunctionVecEnv

KW = {"scenario": "corridor", "episode_length": 60.0, "scenario_overrides": {"demand_scale": 1.25},
      "switch_penalty": 0.05}


def _singles_like(vec, kwargs):
    """Single envs in the very state of each corridor of ``vec``."""
    singles = []
    for b in range(vec.n_corridors):
        env = SignalCorridorEnv(**kwargs)
        env.reset(seed=0)
        for name in ("U", "queue", "sig", "demand_rates", "t", "acc", "jq"):
            getattr(env.sim, name)[0] = getattr(vec.sim, name)[b]
        env.core.refresh()
        singles.append(env)
    return singles


@pytest.mark.parametrize("reward", sorted(REWARDS))
def test_the_shared_view_equals_single_envs_step_for_step(reward):
    kwargs = {**KW, "reward": reward}
    vec = SharedJunctionVecEnv(4, **kwargs)
    vec.seed(3)
    obs = vec.reset()
    singles = _singles_like(vec, kwargs)
    np.testing.assert_array_equal(obs.reshape(4, 3, -1), np.stack([e.shared_observation() for e in singles]))
    rng = np.random.default_rng(2)
    for _ in range(vec.core.n_decisions):
        phases = rng.integers(0, 2, size=(4, 3))
        obs, rewards, dones, infos = vec.step(phases.reshape(-1))
        for b, env in enumerate(singles):
            _, r, _, truncated, _ = env.step(env.action_of(phases[b]))
            # the corridor's reward is the sum of its junctions' rewards, the same step body computing both
            assert rewards.reshape(4, 3)[b].sum() == pytest.approx(r, rel=1e-5, abs=1e-6)
            final = np.stack([infos[b * 3 + j]["terminal_observation"] for j in range(3)]) if dones[b * 3] \
                else obs.reshape(4, 3, -1)[b]
            np.testing.assert_allclose(final, env.shared_observation(), atol=1e-6)
            assert dones[b * 3] == truncated
    assert dones.all()


def test_the_flat_view_equals_single_envs_with_per_junction_actions():
    kwargs = {**KW, "reward": "local_delay"}
    vec = BatchedCorridorVecEnv(3, actions="phases", **kwargs)
    vec.seed(1)
    vec.reset()
    singles = _singles_like(vec, {**kwargs, "actions": "phases"})
    rng = np.random.default_rng(0)
    for _ in range(4):
        phases = rng.integers(0, 2, size=(3, 3))
        obs, rewards, _, _ = vec.step(phases)
        for b, env in enumerate(singles):
            o, r, *_ = env.step(phases[b])
            assert rewards[b] == pytest.approx(r, rel=1e-6)
            np.testing.assert_allclose(obs[b], o, atol=1e-6)


def test_a_switch_is_counted_once_the_same_way_everywhere():
    core = CorridorCore(batch_size=6, decision_interval=5.0, episode_length=600.0)
    core.reset(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    started = np.zeros(6)
    for _ in range(core.n_decisions):
        before = heading_phase(core.sim.sig)
        core.step(rng.integers(0, 2, size=(6, 3)))
        started += switches_started(before, heading_phase(core.sim.sig)).sum(1)
    assert started.min() > 10
    np.testing.assert_array_equal(started, core.sim.acc[:, ACC_SWITCHES])


def test_local_delay_credits_each_junction_and_adds_up_to_at_most_the_corridors():
    local = CorridorCore(batch_size=4, reward="local_delay", scenario_overrides={"demand_scale": 1.25})
    shared = CorridorCore(batch_size=4, reward="delay", scenario_overrides={"demand_scale": 1.25})
    for core in (local, shared):
        core.reset(np.random.default_rng(7))
    rng = np.random.default_rng(3)
    gaps = []
    for _ in range(30):
        phases = rng.integers(0, 2, size=(4, 3))
        c_local, c_shared = local.step(phases), shared.step(phases)
        assert np.allclose(c_shared, c_shared[:, :1])  # shared: equal thirds
        assert (c_local >= 0).all()
        gap = c_shared.sum(1) - c_local.sum(1)  # the delay on links no junction is approached by
        assert (gap >= -1e-9).all()
        gaps.append(gap / c_shared.sum(1))
        assert not np.allclose(c_local, c_local[:, :1])  # each junction its own
    assert np.mean(gaps) < 0.5  # most of the corridor's delay is at its junctions


def test_the_neighbour_term_adds_the_main_road_neighbours_costs():
    plain = CorridorCore(batch_size=2, reward="local_delay")
    both = CorridorCore(batch_size=2, reward="local_delay", neighbour_weight=0.5)
    for core in (plain, both):
        core.reset(np.random.default_rng(0))
    phases = np.array([[0, 1, 0], [1, 1, 0]])
    c, cn = plain.step(phases), both.step(phases)
    np.testing.assert_allclose(cn[:, 0], c[:, 0] + 0.5 * c[:, 1])
    np.testing.assert_allclose(cn[:, 1], c[:, 1] + 0.5 * (c[:, 0] + c[:, 2]))
    np.testing.assert_allclose(cn[:, 2], c[:, 2] + 0.5 * c[:, 1])


def test_a_new_reward_is_one_registry_entry_and_ppo_trains_on_it(tmp_path):
    from sb3_contrib import MaskablePPO

    from arz_rl.config import build_config
    from arz_rl.sim.layout import JQ_NOW
    from arz_rl.train import train_agent

    name = "queue_now_test"
    reward = REWARDS.get(name) or register_reward(Reward(
        name, "the junction's queue at the interval's end, in hundreds of stopped vehicles",
        record=lambda core: None, cost=lambda core, _: core.sim.jq[:, :, JQ_NOW] / 100.0))
    try:
        core = CorridorCore(batch_size=2, reward=name, scenario_overrides={"demand_scale": 1.25})
        core.reset(np.random.default_rng(0))
        cost = core.step(np.zeros((2, 3), dtype=np.int64))
        np.testing.assert_allclose(cost, core.sim.jq[:, :, JQ_NOW] / 100.0)
        vec = SharedJunctionVecEnv(2, reward=name, episode_length=100.0)
        vec.seed(0)
        model = MaskablePPO("MlpPolicy", vec, n_steps=20, batch_size=60, n_epochs=1, seed=0, device="cpu")
        before = [p.detach().clone() for p in model.policy.parameters()]
        model.learn(240)
        assert any((p.detach() != q).any() for p, q in zip(model.policy.parameters(), before, strict=True))
        # and the experiment's settings accept it by name, its training records it
        cfg = build_config("quick", {"algorithms": ["ppo"], "seeds": 1, "levels": ["over"], "reward": name,
                                     "episode_length": 100.0, "timesteps": {"ppo": 20}, "eval_freq": 20,
                                     "checkpoint_freq": 20, "validation_episodes": 1,
                                     "ppo": {"n_steps": 10, "batch_size": 30, "n_epochs": 1}})
        assert train_agent(cfg, "ppo", 0, "over", tmp_path, "cpu")["environment"]["reward"] == name
    finally:
        if REWARDS.get(name) is reward:
            del REWARDS[name]
