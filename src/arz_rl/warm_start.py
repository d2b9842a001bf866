"""Warm start: a tuned baseline's decisions cloned into PPO's policy, its returns into the critic,
and a cloning penalty that fades while PPO fine-tunes.

1. **The teacher** (:func:`choose_teacher`): the tuned baseline setting with the lowest validation
   delay at the level among those the agent can imitate exactly: a decision interval that the
   agent's divides (it decides every k agent decisions and its request stands in between, as it
   would).  ``warm_start_teacher`` may name one family (``max_pressure``, ...); ``best`` takes any.
2. **Demonstrations** (:func:`demonstrations`): the teacher plays ``episodes`` training-draw
   episodes; at every agent decision each junction's observation, its action mask, the teacher's
   request (where the mask leaves one phase, that phase: what the signal will show) and the
   junction's reward are recorded.
3. **Cloning** (:func:`clone`): the actor is fitted by cross-entropy on the masked distribution,
   with an optimiser of its own (PPO's Adam keeps no state from it); the agreement with the
   teacher before and after is recorded.
4. **The critic** (:func:`pretrain_critic`): fitted to the demonstrations' discounted returns
   (gamma of PPO), so that PPO's first advantages are not noise that tears the clone apart; its
   value loss on held-out demonstrations before and after is recorded.
5. **The fading penalty** (:class:`CloningPenalty`): after every rollout, before PPO's update, a
   few cross-entropy steps towards the teacher weighted by ``bc_weight x (1 - decisions /
   bc_decay_decisions)``, zero from then on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .baselines import Controller
from .env import SignalCorridorEnv


def _clonable(interval: float | None, agent_interval: float) -> bool:
    if interval is None:  # a fixed plan switches on its own clock, not at decisions
        return False
    k = interval / agent_interval
    return k >= 1 - 1e-9 and abs(k - round(k)) < 1e-9


def choose_teacher(tuned: dict[str, Any], agent_interval: float, family: str = "best") -> dict[str, Any] | None:
    """The teacher among the tuned baselines' swept settings (``tuned``: :func:`arz_rl.protocol.
    tune_baselines`' result): ``{"name", "params", "validation"}`` of the lowest validation delay
    among the settings the agent's ``agent_interval`` can imitate exactly, of ``family`` (or any:
    ``best``); None when none qualifies."""
    from .stats import PRIMARY_METRIC

    best = None
    for name, t in tuned.items():
        if family not in ("best", name):
            continue
        for setting in t["sweep"]:
            params = setting["params"]
            interval = params.get("interval", params.get("step"))  # max-pressure's, actuated's
            if not _clonable(interval, agent_interval):
                continue
            value = setting["validation"][PRIMARY_METRIC]
            if best is None or value < best["validation"]:
                best = {"name": name, "params": dict(params), "validation": value, "interval": float(interval)}
    return best


def teacher_controller(teacher: dict[str, Any]) -> Controller:
    """The controller of a chosen ``teacher`` (its decision interval set aside: the demonstrations
    hold its request between its decisions)."""
    from .baselines import Actuated, MaxPressure

    p = teacher["params"]
    if teacher["name"] == "max_pressure":
        return MaxPressure(None, p["min_green"], p.get("threshold", 0.0))
    if teacher["name"] == "actuated":
        return Actuated(p["min_green"], p["max_green"], p["gap"])
    raise ValueError(f"warm start: cannot imitate {teacher['name']!r} at decisions")


def demonstrations(env: SignalCorridorEnv, teacher: dict[str, Any], episodes: int, seed: int, shared: bool,
                   gamma: float = 0.99) -> dict[str, np.ndarray]:
    """What the teacher does over ``episodes`` episodes of ``env`` drawn from the training stream
    ``seed``, at ``env``'s decisions: ``observations``, ``masks``, ``actions`` and the discounted
    ``returns`` of the rewards that follow (per junction for a ``shared`` policy: (N J, D), (N J,
    2), (N J,), (N J,); per corridor otherwise, in ``env``'s action space).  The teacher decides
    every ``teacher["interval"] / env.decision_interval`` decisions (an integer,
    :func:`choose_teacher`) and its request stands in between."""
    every = int(round(teacher["interval"] / env.decision_interval))
    if not _clonable(teacher["interval"], env.decision_interval):
        raise ValueError(f"warm start: a teacher deciding every {teacher['interval']} s cannot be imitated at "
                         f"{env.decision_interval} s decisions")
    controller = teacher_controller(teacher)
    core = env.core
    observations, masks, actions, returns = [], [], [], []
    env.reset(seed=seed)
    for episode in range(episodes):
        if episode:
            env.reset()
        controller.reset(core, [seed])
        rewards = []
        for k in range(core.n_decisions):
            feasible = core.feasible()[0]
            if k % every == 0:
                request = controller.decide(core)[0]
            label = np.where(feasible.all(axis=1), request, feasible.argmax(axis=1))
            observations.append(core.shared_observation()[0] if shared else core.corridor_observation())
            masks.append(feasible if shared else env.action_masks()[None])
            actions.append(label if shared else np.atleast_1d(env.action_of(label)))
            costs = core.step(label[None])[0]
            rewards.append(-costs if shared else np.array([-costs.sum()]))
        g = np.zeros_like(rewards[0])
        episode_returns = []
        for r in reversed(rewards):  # the episode ends by truncation: nothing is bootstrapped past it
            g = r + gamma * g
            episode_returns.append(g)
        returns.extend(reversed(episode_returns))
    return {"observations": np.concatenate(observations), "masks": np.concatenate(masks),
            "actions": np.concatenate(actions), "returns": np.concatenate(returns).astype(np.float32)}


def _actor_parameters(policy: Any) -> list:
    return [*policy.mlp_extractor.policy_net.parameters(), *policy.action_net.parameters()]


def _critic_parameters(policy: Any) -> list:
    return [*policy.mlp_extractor.value_net.parameters(), *policy.value_net.parameters()]


def _cross_entropy(policy: Any, obs, actions, masks):
    dist = policy.get_distribution(obs, action_masks=masks)
    return -dist.log_prob(actions).mean()


def clone(model: Any, demos: dict[str, np.ndarray], epochs: int = 200, batch_size: int = 64, lr: float = 3e-3,
          seed: int = 0, enough: float = 0.98) -> dict[str, float]:
    """Fit ``model``'s actor (an sb3-contrib MaskablePPO) to the demonstrations by cross-entropy,
    with its own Adam, for at most ``epochs`` passes, stopping once the agreement reaches
    ``enough`` (checked every 10); returns the agreement with the teacher (share of decisions,
    greedy, masked) before and after, and the passes made."""
    import torch as th

    policy = model.policy
    obs_t = th.as_tensor(demos["observations"], dtype=th.float32, device=policy.device)
    act_t = th.as_tensor(demos["actions"], dtype=th.long, device=policy.device)
    masks = np.asarray(demos["masks"], dtype=bool)

    def agreement() -> float:
        with th.no_grad():
            dist = policy.get_distribution(obs_t, action_masks=masks)
            chosen = dist.get_actions(deterministic=True).reshape(act_t.shape)
        return float((chosen == act_t).float().mean())

    before = agreement()
    optimiser = th.optim.Adam(_actor_parameters(policy), lr=lr)
    rng = np.random.default_rng(seed)
    passes = 0
    while passes < epochs:
        policy.set_training_mode(True)
        for _ in range(10):
            order = rng.permutation(len(obs_t))
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                loss = _cross_entropy(policy, obs_t[idx], act_t[idx], masks[idx])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        passes += 10
        policy.set_training_mode(False)
        if agreement() >= enough:
            break
    return {"samples": len(obs_t), "agreement_before": before, "agreement_after": agreement(), "passes": passes}


def pretrain_critic(model: Any, demos: dict[str, np.ndarray], epochs: int = 50, batch_size: int = 64,
                    lr: float = 1e-3, holdout: float = 0.2, seed: int = 0) -> dict[str, float]:
    """Fit ``model``'s critic to the demonstrations' discounted returns (mean squared error), with
    its own Adam, on all but a held-out random ``holdout`` share of the decisions; returns the
    held-out value loss before and after."""
    import torch as th

    policy = model.policy
    obs_t = th.as_tensor(demos["observations"], dtype=th.float32, device=policy.device)
    ret_t = th.as_tensor(demos["returns"], dtype=th.float32, device=policy.device).reshape(-1)
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(len(obs_t))
    cut = int(len(obs_t) * (1.0 - holdout))
    train, held = shuffled[:cut], shuffled[cut:]

    def held_out_loss() -> float:
        with th.no_grad():
            return float(((policy.predict_values(obs_t[held]).reshape(-1) - ret_t[held]) ** 2).mean())

    before = held_out_loss()
    optimiser = th.optim.Adam(_critic_parameters(policy), lr=lr)
    policy.set_training_mode(True)
    for _ in range(epochs):
        order = train[rng.permutation(cut)]
        for start in range(0, cut, batch_size):
            idx = order[start:start + batch_size]
            loss = ((policy.predict_values(obs_t[idx]).reshape(-1) - ret_t[idx]) ** 2).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    policy.set_training_mode(False)
    return {"value_loss_before": before, "value_loss_after": held_out_loss(), "held_out": len(held)}


def penalty_weight(decisions: int, weight: float, decay_decisions: int) -> float:
    """The cloning penalty's weight after ``decisions`` corridor decisions: ``weight`` falling
    linearly to zero at ``decay_decisions`` (0: no penalty)."""
    if decay_decisions <= 0 or weight <= 0:
        return 0.0
    return float(weight * max(0.0, 1.0 - decisions / decay_decisions))


def cloning_penalty(demos: dict[str, np.ndarray], weight: float, decay_decisions: int, per_step: int,
                    steps: int = 8, batch_size: int = 256, lr: float = 1e-3, seed: int = 0):
    """An SB3 callback that, after every rollout and before PPO's update, takes ``steps`` minibatch
    steps of the cloning loss times :func:`penalty_weight` (its own Adam); ``per_step``: SB3
    timesteps per corridor decision.  ``history`` records (decisions, weight) of every rollout."""
    import torch as th
    from stable_baselines3.common.callbacks import BaseCallback

    class CloningPenalty(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.history: list[tuple[int, float]] = []
            self._rng = np.random.default_rng(seed)
            self._optimiser = None

        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            decisions = self.num_timesteps // per_step
            w = penalty_weight(decisions, weight, decay_decisions)
            self.history.append((decisions, w))
            if w <= 0.0:
                return
            policy = self.model.policy
            if self._optimiser is None:
                self._optimiser = th.optim.Adam(_actor_parameters(policy), lr=lr)
                self._obs = th.as_tensor(demos["observations"], dtype=th.float32, device=policy.device)
                self._act = th.as_tensor(demos["actions"], dtype=th.long, device=policy.device)
                self._masks = np.asarray(demos["masks"], dtype=bool)
            policy.set_training_mode(True)
            for _ in range(steps):
                idx = self._rng.integers(0, len(self._obs), batch_size)
                loss = w * _cross_entropy(policy, self._obs[idx], self._act[idx], self._masks[idx])
                self._optimiser.zero_grad()
                loss.backward()
                self._optimiser.step()
            policy.set_training_mode(False)

    return CloningPenalty()
