"""Entry point of one experiment: train the agents, evaluate every controller, write the results.

    python -m arz_rl.run --mode quick --device cpu --algorithms ppo,dqn --seeds 2 --out DIR
    python -m arz_rl.run --config params.yaml --out DIR      # any RunConfig field

Writes into DIR: ``training_metrics.json``, ``evaluation_results.json``,
``spacetime_<controller>.npz``, ``monitor/``, ``models/``, ``checkpoints/``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import RunConfig, build_config, load_file
from .device import REQUESTS
from .device import resolve as resolve_device
from .progress import Progress

if TYPE_CHECKING:  # the simulator and the learners load only when a run starts (``--check`` needs neither)
    from .baselines import Controller
    from .env import SignalCorridorEnv


class AgentController:
    """A trained stable-baselines3 policy, acting deterministically."""

    def __init__(self, name: str, model: Any) -> None:
        self.name = name
        self.model = model

    def reset(self, env: SignalCorridorEnv) -> None:
        env.set_fixed_plan(0.0, 0.0)

    def act(self, obs: np.ndarray, env: SignalCorridorEnv) -> np.ndarray | int:
        from .train import phases_from_flat

        action, _ = self.model.predict(obs, deterministic=True)
        if env.n_junctions > 1 and np.ndim(action) == 0:  # flat DQN action: bit j is junction j
            return phases_from_flat(action, env.n_junctions)
        return action


def evaluation_seeds(cfg: RunConfig, k: int) -> list[int]:
    """Demand seeds of the evaluation episodes paired with training seed index ``k``."""
    return [10_000 + 100 * (cfg.seed + k) + e for e in range(cfg.eval_episodes)]


def evaluate_all(cfg: RunConfig, controllers_per_seed: list[list[Controller]], out: Path) -> dict[str, Any]:
    """Every controller on the same demand draws; space-time traces of the first episode."""
    from .env import SignalCorridorEnv
    from .evaluate import METRICS, run_episode
    from .stats import aggregate

    env = SignalCorridorEnv(scenario=cfg.scenario, n_junctions=cfg.n_junctions,
                            decision_interval=cfg.decision_interval, episode_length=cfg.episode_length,
                            reward=cfg.reward, order=cfg.order)
    per: dict[str, dict[str, Any]] = {}
    kinds: dict[str, str] = {}
    total = sum(len(c) for c in controllers_per_seed) * cfg.eval_episodes
    progress = Progress("controllers", "evaluate", total, "episodes", cfg.progress_s)
    played = 0
    for k, controllers in enumerate(controllers_per_seed):
        for ctrl in controllers:
            kinds[ctrl.name] = "rl" if isinstance(ctrl, AgentController) else "baseline"
            episodes = []
            for e, demand_seed in enumerate(evaluation_seeds(cfg, k)):
                record = k == 0 and e == 0
                progress.update(played, controller=ctrl.name, seed=cfg.seed + k)
                metrics, trace = run_episode(env, ctrl, demand_seed, record=record)
                played += 1
                metrics["demand_seed"] = demand_seed
                episodes.append(metrics)
                if trace is not None:
                    np.savez_compressed(out / f"spacetime_{ctrl.name}.npz", **trace)
            mean = {m: float(np.mean([ep[m] for ep in episodes])) for m in METRICS}
            per.setdefault(ctrl.name, {})[str(cfg.seed + k)] = {"episodes": episodes, "mean": mean}
    progress.update(played, force=True)
    return aggregate(per, kinds)


def run(cfg: RunConfig, out: Path, log=print) -> dict[str, Any]:
    """Train, evaluate and write every output of ``cfg`` into ``out``; returns the summary."""
    from .baselines import baseline_controllers
    from .train import load_policy, train_all

    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    device_info = resolve_device(cfg.device)  # the one place "auto" becomes cpu or gpu
    device = device_info["device"]
    log(f"[arz_rl] mode={cfg.mode} device={device} ({device_info['gpu_name'] or 'CPU'}) "
        f"algorithms={','.join(cfg.algorithms)} seeds={cfg.seeds}")
    params = cfg.to_dict()
    training: dict[str, Any] = {"parameters": params, "device": device_info, "runs": {}}
    training["runs"] = train_all(cfg, out, device, log)
    controllers_per_seed: list[list[Controller]] = []
    for k in range(cfg.seeds):
        seed = cfg.seed + k
        controllers: list[Controller] = [AgentController(algo, load_policy(out, training["runs"][algo][str(seed)],
                                                                             device)) for algo in cfg.algorithms]
        controllers.extend(baseline_controllers(cfg.fixed_cycles, seed))
        controllers_per_seed.append(controllers)
    (out / "training_metrics.json").write_text(json.dumps(training, indent=1))
    results = evaluate_all(cfg, controllers_per_seed, out)
    results["parameters"] = params
    results["device"] = device_info
    results["metric_definitions"] = sys.modules["arz_rl.evaluate"].__doc__
    results["evaluation_seeds"] = {str(cfg.seed + k): evaluation_seeds(cfg, k) for k in range(cfg.seeds)}
    (out / "evaluation_results.json").write_text(json.dumps(results, indent=1))
    summary = {name: c["summary"]["avg_travel_time_s"]["mean"] for name, c in results["controllers"].items()}
    log("[arz_rl] average travel time (s): " + ", ".join(f"{k}={v:.1f}" for k, v in summary.items()))
    log(f"[arz_rl] done in {time.time() - started:.1f} s on {platform.node()}")
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m arz_rl.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="YAML/JSON file of run parameters (mode included)")
    ap.add_argument("--mode", choices=("quick", "full"))
    ap.add_argument("--device", choices=REQUESTS)
    ap.add_argument("--algorithms", help="comma-separated: ppo,dqn")
    ap.add_argument("--seeds", type=int)
    ap.add_argument("--out", type=Path, help="folder of the outputs (required unless --check)")
    ap.add_argument("--check", action="store_true",
                    help="only validate the settings (no simulator, no learner loaded) and exit")
    args = ap.parse_args(argv)
    params = load_file(args.config) if args.config else {}
    for key in ("device", "algorithms", "seeds"):
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    mode = args.mode or params.pop("mode", "quick")
    params.pop("mode", None)
    try:
        cfg = build_config(mode, params)
    except ValueError as exc:
        ap.error(str(exc))
    if args.check:
        print(f"settings valid: mode={cfg.mode} device={cfg.device} algorithms={','.join(cfg.algorithms)} "
              f"seeds={cfg.seeds}")
        return 0
    if args.out is None:
        ap.error("--out is required")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / ".writable").touch()
        (args.out / ".writable").unlink()
    except OSError as exc:
        ap.error(f"--out {args.out}: cannot write there ({exc.strerror or exc}): choose a writable folder")
    run(cfg, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
