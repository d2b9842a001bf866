"""Entry point of one experiment: train the agents, evaluate every controller, write the results.

    python -m arz_rl.run --mode quick --device cpu --algorithms ppo,dqn --seeds 2 --out DIR
    python -m arz_rl.run --config params.yaml --out DIR      # any RunConfig field
    python -m arz_rl.run --mode tune --out DIR               # the RL study instead (arz_rl.tune)

Writes into DIR what :mod:`arz_rl.results` (the results contract) names: ``training_metrics.json``,
``evaluation_results.json`` (both with the contract's ``schema_version``),
``spacetime_<level>_<controller>.npz``, ``monitor/``, ``models/``, ``state/`` (checkpoints and
replay buffers, or wherever ``--state`` says).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import results as contract
from .config import MODES, RunConfig, build_config, load_file
from .device import REQUESTS
from .device import resolve as resolve_device
from .progress import Progress


def evaluate_level(cfg: RunConfig, level: str, agents: dict[str, dict[str, Any]], tuned: dict[str, Any],
                   out: Path, device: str) -> dict[str, Any]:
    """Every controller of one level on the test draws; the space-time trace of the first draw
    (first agent seed) goes to ``spacetime_<level>_<controller>.npz``."""
    from .evaluate import AgentController
    from .protocol import Player, baselines_for_test, mean_metrics, seed_sets
    from .sim.network import DEMAND_LEVELS
    from .train import load_policy

    test = seed_sets(cfg).test
    player = Player(cfg, level)
    baselines = baselines_for_test(cfg, tuned)
    total = (sum(len(seeds) for seeds in agents.values()) + len(baselines)) * len(test)
    progress = Progress(f"controllers at {level}", "evaluate", total, "episodes", cfg.progress_s)
    controllers: dict[str, Any] = {}
    played = 0

    def save(name: str, trace: dict[str, np.ndarray] | None) -> None:
        if trace is not None:
            np.savez_compressed(out / contract.spacetime_name(level, name), **trace)

    for name, seeds in agents.items():
        per_seed = {}
        for k, (seed, record) in enumerate(seeds.items()):
            progress.update(played, controller=name, seed=int(seed))
            agent = AgentController(name, load_policy(out, record, device), shared=record.get("policy") == "shared",
                                    decision_interval=record["environment"]["decision_interval"])
            episodes, trace = player.play(agent, test, record_first=k == 0)
            save(name, trace)
            per_seed[seed] = {"episodes": episodes, "mean": mean_metrics(episodes)}
            played += len(test)
        controllers[name] = {"kind": "rl", "algorithm": next(iter(seeds.values()))["algorithm"], "per_seed": per_seed}
    for ctrl, kind in baselines:
        progress.update(played, controller=ctrl.name)
        episodes, trace = player.play(ctrl, test, record_first=True)
        save(ctrl.name, trace)
        controllers[ctrl.name] = {"kind": kind, "params": ctrl.params(), "episodes": episodes,
                                  "mean": mean_metrics(episodes)}
        played += len(test)
    progress.update(played, force=True)
    return {"demand_scale": DEMAND_LEVELS[level], "controllers": controllers,
            "tuned": {name: {k: t[k] for k in ("params", "validation", "sweep", "edges", "grid", "effort")}
                      for name, t in tuned.items()}}


def run(cfg: RunConfig, out: Path, log=print, state: Path | None = None) -> dict[str, Any]:
    """Tune the baselines, train the agents, test every controller and write every output of
    ``cfg`` into ``out`` (see :mod:`arz_rl.protocol`), the resume state (checkpoints, replay
    buffers) into ``state`` (default ``out/state``); returns the evaluation results."""
    from .protocol import seed_sets, tune_baselines
    from .stats import analyse, primary_comparison
    from .train import train_all

    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    device_info = resolve_device(cfg.device)  # the one place "auto" becomes cpu or gpu
    device = device_info["device"]
    sets = seed_sets(cfg)
    log(f"[arz_rl] mode={cfg.mode} device={device} ({device_info['gpu_name'] or 'CPU'}) "
        f"algorithms={','.join(cfg.algorithms)} seeds={cfg.seeds} levels={','.join(cfg.levels)}")
    params = cfg.to_dict()
    tuned = {level: tune_baselines(cfg, level, sets.validation, log) for level in cfg.levels}
    teachers_from = {lv: {name: {"sweep": t["sweep"]} for name, t in by_name.items()} for lv, by_name in tuned.items()}
    training: dict[str, Any] = {"parameters": params, "device": device_info,
                                "runs": train_all(cfg, out, device, log, teachers_from, state)}
    (out / contract.TRAINING).write_text(json.dumps(contract.stamp(training), indent=1))
    levels = {level: evaluate_level(cfg, level, training["runs"][level], tuned[level], out, device)
              for level in cfg.levels}
    protocol = analyse(levels)
    primary = primary_comparison(levels, cfg.headline_level, cfg.primary)
    log(f"[arz_rl] primary: {primary['agent']} vs {primary['baseline']} at {primary['level']}: "
        f"{primary['diff_mean']:+.2f} s/veh [{primary['diff_ci95_low']:+.2f}, {primary['diff_ci95_high']:+.2f}], "
        f"p={primary['p']}, {primary['n_seeds']} seeds x {primary['n_draws']} draws")
    results = {"primary": primary, "protocol": {**protocol, "seed_sets": sets.to_dict()}, "levels": levels,
               "headline_level": cfg.headline_level, "parameters": params, "device": device_info,
               "metric_definitions": sys.modules["arz_rl.evaluate"].__doc__}
    (out / contract.EVALUATION).write_text(json.dumps(contract.stamp(results), indent=1))
    for level, data in levels.items():
        delays = {n: c["summary"]["avg_delay_s"]["mean"] for n, c in data["controllers"].items()}
        log(f"[arz_rl] {level}: mean delay (s/veh): " + ", ".join(f"{k}={v:.1f}" for k, v in delays.items()))
    log(f"[arz_rl] done in {time.time() - started:.1f} s on {platform.node()}")
    return results


def main(argv: list[str] | None = None) -> int:
    from .threads import configure_process

    configure_process()  # before numba or torch start their thread pools (arz_rl.threads)
    ap = argparse.ArgumentParser(prog="python -m arz_rl.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="YAML/JSON file of run parameters (mode included)")
    ap.add_argument("--mode", choices=MODES)
    ap.add_argument("--device", choices=REQUESTS)
    ap.add_argument("--algorithms", help="comma-separated: ppo,dqn")
    ap.add_argument("--seeds", type=int)
    ap.add_argument("--out", type=Path, help="folder of the outputs (required unless --check)")
    ap.add_argument("--state", type=Path, help="folder of the resume state: checkpoints, replay buffers "
                                                "(default OUT/state)")
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
    if cfg.mode == "tune":
        from .tune import run_study

        run_study(cfg, args.out, Path(cfg.tune_storage) if cfg.tune_storage else None, state=args.state)
    else:
        run(cfg, args.out, state=args.state)
    return 0


if __name__ == "__main__":
    sys.exit(main())
