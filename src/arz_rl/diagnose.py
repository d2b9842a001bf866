"""What one PPO update does with a rollout: how large the actor's and the critic's gradients are, and
how much the global gradient clip (``max_grad_norm``) shrinks them.

SB3's PPO clips the norm of the actor's and the critic's gradients *together*.  With this project's
unscaled delay rewards the critic's gradient is hundreds of times the actor's, so at SB3's default
``max_grad_norm`` (0.5) every minibatch's gradient is scaled by about 0.5 / the critic's gradient
norm: the actor's step is set by its critic's error, not by its own gradient, and its gradient
reaches Adam near the size of Adam's epsilon (``bench/bench_gradients.py`` prints the figures for
any checkpoint; README, *The RL controller*).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _is_critic(name: str) -> bool:
    return name.startswith(("value_net", "mlp_extractor.value_net"))


def gradient_split(model: Any, max_minibatches: int = 64) -> dict[str, float]:
    """Collect one rollout with ``model`` (an SB3 PPO or sb3-contrib MaskablePPO with its env set)
    and compute, for up to ``max_minibatches`` of its minibatches, PPO's loss at the current
    parameters and its gradient, without updating anything.

    Returns medians over the minibatches: ``actor_norm`` and ``critic_norm`` (L2 norms of the
    gradient of the actor's and the critic's parameters), ``clip_scale`` (the factor the global
    clip multiplies the gradient by: ``min(1, max_grad_norm / total norm)``), ``clip_scale_p10`` (its
    10th percentile), ``value_loss`` (mean squared error of the critic, reward units squared) and
    ``minibatches``.
    """
    import torch as th
    from stable_baselines3.common.callbacks import CallbackList

    masked = type(model).__name__.startswith("Maskable")
    model._setup_learn(model.n_steps * model.n_envs, CallbackList([]), reset_num_timesteps=True)
    callback = CallbackList([])
    callback.init_callback(model)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    clip = float(model.clip_range(1.0))
    named = list(model.policy.named_parameters())
    actor = [p for n, p in named if not _is_critic(n)]
    critic = [p for n, p in named if _is_critic(n)]
    rows = []
    model.policy.set_training_mode(True)
    for data in model.rollout_buffer.get(model.batch_size):
        actions = data.actions.long().flatten()
        extra = {"action_masks": data.action_masks} if masked else {}
        values, log_prob, entropy = model.policy.evaluate_actions(data.observations, actions, **extra)
        advantages = data.advantages
        if model.normalize_advantage and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        ratio = th.exp(log_prob - data.old_log_prob)
        policy_loss = -th.min(advantages * ratio, advantages * th.clamp(ratio, 1 - clip, 1 + clip)).mean()
        value_loss = th.nn.functional.mse_loss(data.returns, values.flatten())
        entropy_loss = -th.mean(entropy) if entropy is not None else -th.mean(-log_prob)
        loss = policy_loss + model.ent_coef * entropy_loss + model.vf_coef * value_loss
        model.policy.optimizer.zero_grad()
        loss.backward()
        norms = [float(th.linalg.vector_norm(th.stack([p.grad.norm() for p in group if p.grad is not None])))
                 for group in (actor, critic)]
        total = float(np.hypot(*norms))
        rows.append((*norms, min(1.0, model.max_grad_norm / total) if total > 0 else 1.0, value_loss.item()))
        if len(rows) >= max_minibatches:
            break
    model.policy.optimizer.zero_grad()
    model.policy.set_training_mode(False)
    table = np.asarray(rows)
    return {"actor_norm": float(np.median(table[:, 0])), "critic_norm": float(np.median(table[:, 1])),
            "clip_scale": float(np.median(table[:, 2])), "clip_scale_p10": float(np.percentile(table[:, 2], 10)),
            "value_loss": float(np.median(table[:, 3])), "minibatches": len(rows)}
