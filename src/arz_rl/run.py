"""Entry point of one experiment: train the agents, evaluate every controller, write the results.

    python -m arz_rl.run --mode quick --device cpu --algorithms ppo,dqn --seeds 2 --out DIR
    python -m arz_rl.run --config params.yaml --out DIR      # any RunConfig field
    python -m arz_rl.run --mode tune --out DIR               # the RL study instead (arz_rl.tune)
    python -m arz_rl.run --config params.yaml --out DIR --deadline 1796300000
        # stops at that unix time with its state saved (exit status 75); the same command goes on

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
from .resume import EXIT_CONTINUE, Deadline, OutOfTime, Units, write_continue


def evaluate_level(cfg: RunConfig, level: str, agents: dict[str, dict[str, Any]], tuned: dict[str, Any],
                   out: Path, device: str, units: Units | None = None, deadline: Deadline | None = None
                   ) -> dict[str, Any]:
    """Every controller of one level on the test draws; the space-time trace of the first draw
    (first agent seed) goes to ``spacetime_<level>_<controller>.npz``.  Each controller is a unit
    (:mod:`arz_rl.resume`): kept in ``units`` when played, not started once ``deadline`` has passed."""
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
    deadline = deadline or Deadline()

    def unit(name: str, play, *args: Any) -> None:
        key = f"evaluated_{level}_{name}"
        found = units.get(key) if units is not None else None
        if found is None:
            deadline.check(f"evaluating {name} at {level}")
            found = play(*args)
            if units is not None:
                units.put(key, found)
        controllers[name] = found

    def save(name: str, trace: dict[str, np.ndarray] | None) -> None:
        if trace is not None:
            np.savez_compressed(out / contract.spacetime_name(level, name), **trace)

    def play_agent(name: str, seeds: dict[str, Any]) -> dict[str, Any]:
        per_seed = {}
        for k, (seed, record) in enumerate(seeds.items()):
            progress.update(played, controller=name, seed=int(seed))
            agent = AgentController(name, load_policy(out, record, device), shared=record.get("policy") == "shared",
                                    decision_interval=record["environment"]["decision_interval"],
                                    max_green=record["environment"].get("max_green", 0.0))
            episodes, trace = player.play(agent, test, record_first=k == 0)
            save(name, trace)
            per_seed[seed] = {"episodes": episodes, "mean": mean_metrics(episodes)}
        return {"kind": "rl", "algorithm": next(iter(seeds.values()))["algorithm"], "per_seed": per_seed}

    def play_baseline(ctrl: Any, kind: str) -> dict[str, Any]:
        progress.update(played, controller=ctrl.name)
        episodes, trace = player.play(ctrl, test, record_first=True)
        save(ctrl.name, trace)
        return {"kind": kind, "params": ctrl.params(), "episodes": episodes, "mean": mean_metrics(episodes)}

    for name, seeds in agents.items():
        unit(name, play_agent, name, seeds)
        played += len(seeds) * len(test)
    for ctrl, kind in baselines:
        unit(ctrl.name, play_baseline, ctrl, kind)
        played += len(test)
    progress.update(played, force=True)
    return {"demand_scale": DEMAND_LEVELS[level], "controllers": controllers,
            "tuned": {name: {k: t[k] for k in ("params", "validation", "sweep", "edges", "grid", "effort")}
                      for name, t in tuned.items()}}


def run(cfg: RunConfig, out: Path, log=print, state: Path | None = None, deadline: Deadline | None = None
        ) -> dict[str, Any]:
    """Tune the baselines, train the agents, test every controller and write every output of
    ``cfg`` into ``out`` (see :mod:`arz_rl.protocol`), the resume state (checkpoints, replay
    buffers, finished units) into ``state`` (default ``out/state``); returns the evaluation results.

    Once ``deadline`` has passed, no new unit starts and the unfinished agents save their state:
    :class:`~arz_rl.resume.OutOfTime` is raised after ``<state>/continue.json`` is written, and the
    same call with the same ``out`` and ``state`` goes on from there (:mod:`arz_rl.resume`)."""
    from .protocol import seed_sets

    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    device_info = resolve_device(cfg.device)  # the one place "auto" becomes cpu or gpu
    sets = seed_sets(cfg)
    log(f"[arz_rl] mode={cfg.mode} device={device_info['device']} ({device_info['gpu_name'] or 'CPU'}) "
        f"algorithms={','.join(cfg.algorithms)} seeds={cfg.seeds} levels={','.join(cfg.levels)}")
    params = cfg.to_dict()
    state = state or out / contract.STATE_DIR
    units = Units(state, params)
    deadline = deadline or Deadline()
    if units.done():
        log(f"[arz_rl] going on from an earlier part of this run: {len(units.done())} unit(s) done")
    try:
        return _run(cfg, out, log, state, deadline, units, sets, params, device_info, started)
    except OutOfTime as exc:
        pending = [f"tuned_{lv}" for lv in cfg.levels if units.get(f"tuned_{lv}") is None]
        record = write_continue(state, str(exc), units, pending)
        log(f"[arz_rl] stopped at the deadline ({exc}); {len(record['done'])} unit(s) done, the state is saved: "
            "the next part goes on from here")
        raise


def _run(cfg: RunConfig, out: Path, log, state: Path, deadline: Deadline, units: Units, sets: Any,
         params: dict[str, Any], device_info: dict[str, Any], started: float) -> dict[str, Any]:
    from .protocol import tune_baselines
    from .stats import analyse, primary_comparison
    from .train import train_all

    device = device_info["device"]
    tuned = {}
    for level in cfg.levels:
        tuned[level] = units.get(f"tuned_{level}")
        if tuned[level] is None:
            deadline.check(f"tuning the baselines at {level}")
            tuned[level] = units.put(f"tuned_{level}", tune_baselines(cfg, level, sets.validation, log))
    teachers_from = {lv: {name: {"sweep": t["sweep"]} for name, t in by_name.items()} for lv, by_name in tuned.items()}
    training: dict[str, Any] = {"parameters": params, "device": device_info,
                                "runs": train_all(cfg, out, device, log, teachers_from, state, deadline, units)}
    (out / contract.TRAINING).write_text(json.dumps(contract.stamp(training), indent=1))
    levels = {level: evaluate_level(cfg, level, training["runs"][level], tuned[level], out, device, units, deadline)
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
    ap.add_argument("--deadline", type=float, help="unix time after which no new unit starts: the run saves its "
                                                     "state, writes STATE/continue.json and exits with status "
                                                     f"{EXIT_CONTINUE}; the same command goes on from there")
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

        # a study is not cut into parts: its trials are kept in its journal as they finish
        run_study(cfg, args.out, Path(cfg.tune_storage) if cfg.tune_storage else None, state=args.state)
        return 0
    try:
        run(cfg, args.out, state=args.state, deadline=Deadline(args.deadline))
    except OutOfTime:
        return EXIT_CONTINUE
    return 0


if __name__ == "__main__":
    sys.exit(main())
