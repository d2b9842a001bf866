"""Warm start: behaviour cloning of max-pressure's decisions into a policy, before PPO fine-tunes it.

Max-pressure (:class:`arz_rl.baselines.MaxPressure`) with the settings tuned for the level on the
validation draws (its decision interval and minimum green; the run's tuning, :mod:`arz_rl.protocol`)
plays ``episodes`` training-draw episodes at the policy's decision interval: it decides every
``round(interval / decision interval)`` decisions and its request stands in between.  At every
decision each junction's observation, its action mask and the expert's request are recorded (where
the mask leaves one phase, that phase: what the signal will show).  The policy's actor is
then fitted by cross-entropy on the (masked) action distribution; the critic is left to PPO.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .baselines import MaxPressure
from .env import SignalCorridorEnv, feasible_phases


def max_pressure_demonstrations(env: SignalCorridorEnv, episodes: int, seed: int, shared: bool,
                                expert: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(observations, masks, actions)`` of max-pressure over ``episodes`` episodes of ``env``
    drawn from the training stream ``seed``: per junction for a ``shared`` policy ((N J, D),
    (N J, 2), (N J,)), per corridor otherwise, in ``env``'s action space ((N, D), its masks (N, M),
    its actions (N,) for joint actions or (N, J) for per-junction phases).  ``expert``: max-pressure's
    ``interval`` and ``min_green`` (s; default: the env's decision interval and minimum green)."""
    settings = expert or {}
    interval = float(settings.get("interval") or env.decision_interval)
    every = max(1, round(interval / env.decision_interval))
    expert = MaxPressure(interval=None, min_green=float(settings.get("min_green") or env.scenario.min_green),
                         threshold=float(settings.get("threshold") or 0.0))
    observations, masks, actions = [], [], []
    obs, _ = env.reset(seed=seed)
    for episode in range(episodes):
        if episode:
            obs, _ = env.reset()
        expert.reset(env.core, [seed])
        for k in range(env.n_decisions):
            feasible = feasible_phases(env.sim.sig, env.sim.net.junc_times)[0]
            if k % every == 0:
                request = expert.decide(env.core)[0]
            label = np.where(feasible.all(axis=1), request, feasible.argmax(axis=1))
            observations.append(env.shared_observation() if shared else obs[None])
            masks.append(feasible if shared else env.action_masks()[None])
            actions.append(label if shared else np.atleast_1d(env.action_of(label)))
            obs, *_ = env.step(env.action_of(label))
    return np.concatenate(observations), np.concatenate(masks), np.concatenate(actions)


def clone(model: Any, observations: np.ndarray, masks: np.ndarray, actions: np.ndarray, epochs: int = 20,
          batch_size: int = 64, seed: int = 0) -> dict[str, float]:
    """Fit ``model``'s actor (an sb3-contrib MaskablePPO) to the demonstrations by cross-entropy;
    returns the agreement with the expert (share of decisions, greedy, masked) before and after."""
    import torch as th

    policy = model.policy
    obs_t = th.as_tensor(observations, dtype=th.float32, device=policy.device)
    act_t = th.as_tensor(actions, dtype=th.long, device=policy.device)
    masks = np.asarray(masks, dtype=bool)

    def agreement() -> float:
        with th.no_grad():
            dist = policy.get_distribution(obs_t, action_masks=masks)
            chosen = dist.get_actions(deterministic=True).reshape(act_t.shape)
        return float((chosen == act_t).float().mean())

    before = agreement()
    rng = np.random.default_rng(seed)
    policy.set_training_mode(True)
    for _ in range(epochs):
        order = rng.permutation(len(obs_t))
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            dist = policy.get_distribution(obs_t[idx], action_masks=masks[idx])
            loss = -dist.log_prob(act_t[idx]).mean()
            policy.optimizer.zero_grad()
            loss.backward()
            policy.optimizer.step()
    policy.set_training_mode(False)
    return {"samples": len(obs_t), "agreement_before": before, "agreement_after": agreement()}
