"""How much SB3's global gradient clip shrinks PPO's actor, for trained checkpoints or a fresh agent.

    python bench/bench_gradients.py [CHECKPOINT.zip ...] [--level over] [--max-grad-norm 0.5 ...]

For each checkpoint (MaskablePPO with the shared policy; none given: a fresh full-mode agent) and
each ``--max-grad-norm``, one rollout of 4 corridors at ``--level`` under the full-mode training
env, then PPO's loss and gradient on 64 of its minibatches, nothing updated
(:func:`arz_rl.diagnose.gradient_split`).  Prints the medians: the actor's and the critic's gradient
norms, the clip's scale (median and 10th percentile), the actor's gradient after it, and the value
loss.
"""

from __future__ import annotations

import argparse

from arz_rl.config import mode_defaults
from arz_rl.diagnose import gradient_split
from arz_rl.protocol import train_env_kwargs
from arz_rl.threads import configure_process


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="*", help="MaskablePPO .zip files (none: a fresh full-mode agent)")
    ap.add_argument("--level", default="over")
    ap.add_argument("--max-grad-norm", type=float, nargs="+", default=[0.5, 1e4])
    args = ap.parse_args()
    configure_process()
    from sb3_contrib import MaskablePPO

    from arz_rl.train import hyperparameters
    from arz_rl.vec_env import SharedJunctionVecEnv

    cfg = mode_defaults("full")
    vec = SharedJunctionVecEnv(4, **train_env_kwargs(cfg, args.level))
    print(f"{'agent':<48} {'max_grad_norm':>13} {'|g| actor':>10} {'|g| critic':>10} {'clip scale':>10} "
          f"{'p10':>9} {'actor after':>11} {'value loss':>10}")
    for path in args.checkpoints or [None]:
        for limit in args.max_grad_norm:
            vec.seed(123)
            if path is None:
                model = MaskablePPO("MlpPolicy", vec, seed=0, device="cpu", **hyperparameters(cfg, "ppo"))
            else:
                model = MaskablePPO.load(path, env=vec, device="cpu")
            model.max_grad_norm = limit
            g = gradient_split(model)
            name = "fresh full-mode agent" if path is None else path[-48:]
            print(f"{name:<48} {limit:>13g} {g['actor_norm']:>10.3g} {g['critic_norm']:>10.3g} "
                  f"{g['clip_scale']:>10.3g} {g['clip_scale_p10']:>9.3g} {g['actor_norm'] * g['clip_scale']:>11.3g} "
                  f"{g['value_loss']:>10.3g}", flush=True)


if __name__ == "__main__":
    main()
