"""One run's results from the kernels of a fan-out (one per algorithm or seed): the training records
side by side, every agent's per-seed results together and the statistics analysed again over all
of them, in the results contract of :mod:`arz_rl.results`.

Run by the workflow's merge rule on the verified downloads (checked against their manifests before
any job runs); it writes ``manifest.json`` (sha256 of every file it wrote) for the readers'
checks.  Needs numpy and scipy only (:mod:`arz_rl.stats`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from . import results as contract

MANIFEST = contract.MERGE_MANIFEST
SUMMARY = "session_summary.json"


def _load(path: Path) -> dict[str, Any]:
    return contract.check_version(json.loads(path.read_text()), path)


def combine(parts: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(training, evaluation)`` of the whole run from each part's ``(name, training,
    evaluation)``: agents' seeds put together (a seed twice is an error), baselines taken once
    (every part played the same test draws with the same tuning: checked), statistics again."""
    from .stats import analyse, primary_comparison

    training: dict[str, Any] = {"runs": {}, "parts": []}
    levels: dict[str, Any] = {}
    first: dict[str, Any] | None = None
    for name, t, e in parts:
        training["parts"].append({"source": name, "parameters": t["parameters"], "device": t.get("device")})
        for level, algos in t["runs"].items():
            for algo, seeds in algos.items():
                for seed, rec in seeds.items():
                    mine = training["runs"].setdefault(level, {}).setdefault(algo, {})
                    if seed in mine:
                        raise ValueError(f"{name}: runs.{level}.{algo}.{seed} also comes from another kernel")
                    mine[seed] = rec
        if first is None:
            first = e
        elif e["protocol"]["seed_sets"]["test"] != first["protocol"]["seed_sets"]["test"]:
            raise ValueError(f"{name}: its test draws differ from {parts[0][0]}'s: the kernels ran different protocols")
        for level, lv in e["levels"].items():
            merged = levels.setdefault(level, {k: v for k, v in lv.items() if k not in ("controllers", "comparisons")}
                                       | {"controllers": {}})
            for ctrl, c in lv["controllers"].items():
                if c["kind"] == "rl":
                    mine = merged["controllers"].setdefault(ctrl, {k: v for k, v in c.items()
                                                                   if k not in ("per_seed", "summary")}
                                                            | {"per_seed": {}})
                    mine["per_seed"].update(c["per_seed"])
                else:  # a baseline is the same in every kernel (same draws, same tuning)
                    merged["controllers"].setdefault(ctrl, {k: v for k, v in c.items() if k != "summary"})
    assert first is not None, "no parts to merge"
    training["parameters"] = training["parts"][0]["parameters"]
    training["device"] = training["parts"][0]["device"]
    protocol = analyse(levels)
    headline = first["headline_level"]
    agents = [n for n, c in levels[headline]["controllers"].items() if c["kind"] == "rl"]
    # the declared agent (primary_agent), else the first part's: the parts come in the config's order
    declared = [(first.get("parameters") or {}).get("primary_agent")]
    declared += [(e.get("primary") or {}).get("agent") for _, _, e in parts]
    agent = next((a for a in declared if a in agents), agents[0] if agents else None)
    primary = primary_comparison(levels, headline, agent) if agent else None
    sets = dict(first["protocol"]["seed_sets"])
    sets["training"] = sorted({int(s) for lv in levels.values() for c in lv["controllers"].values()
                               if c["kind"] == "rl" for s in c["per_seed"]})
    evaluation = {k: v for k, v in first.items() if k not in ("protocol", "levels", "primary")}
    evaluation.update(primary=primary, protocol={**protocol, "seed_sets": sets}, levels=levels,
                      parts=[n for n, _, _ in parts])
    return contract.stamp(training), contract.stamp(evaluation)


def write_manifest(folder: Path) -> dict[str, Any]:
    """``folder/manifest.json``: sha256 and size of every file under ``folder``."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in (MANIFEST, SUMMARY):
            files[path.relative_to(folder).as_posix()] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
                                                          "bytes": path.stat().st_size}
    (folder / MANIFEST).write_text(json.dumps({"files": files}, indent=1, sort_keys=True))
    return files


def merge_runs(parts: list[str | Path], out: str | Path) -> None:
    """The merged results of the downloaded ``parts`` into ``out`` (replaced whole, never half-written):
    the two results JSON, each part's session summary (``provenance.json``), the first part's
    solver validation and each controller's first space-time trace."""
    out = Path(out)
    staging = out.with_name(out.name + ".merging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    loaded, summaries = [], []
    for part in map(Path, parts):
        loaded.append((str(part), _load(part / contract.TRAINING), _load(part / contract.EVALUATION)))
        if (part / SUMMARY).exists():
            summaries.append(json.loads((part / SUMMARY).read_text()))
        validation = part / contract.VALIDATION_DIR
        if validation.is_dir() and not (staging / contract.VALIDATION_DIR).exists():
            shutil.copytree(validation, staging / contract.VALIDATION_DIR)
        for npz in sorted(part.glob(contract.spacetime_name("*", "*"))):
            if not (staging / npz.name).exists():
                shutil.copy2(npz, staging / npz.name)
    training, evaluation = combine(loaded)
    (staging / contract.TRAINING).write_text(json.dumps(training, indent=1))
    (staging / contract.PROVENANCE).write_text(json.dumps({"runs": summaries}, indent=1))
    (staging / contract.EVALUATION).write_text(json.dumps(evaluation, indent=1))
    write_manifest(staging)
    if out.exists():
        shutil.rmtree(out)
    staging.rename(out)
