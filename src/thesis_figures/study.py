"""The verdict of an RL study (``results/tune/best.yaml``) from its kernels' downloaded records.

Each kernel of the study (:mod:`arz_rl.tune`) writes ``tuning.json``: every trial of the shared
Optuna study it saw, with its validation score and the run parameters it stands for.  The verdict
is the completed trial with the lowest score over every worker's record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arz_rl import results as contract


def best_of(tuning_files: list[Path]) -> dict[str, Any]:
    """The verdict of a study from its workers' ``tuning.json`` files (each lists every trial its
    worker saw of the shared study): the completed trial with the lowest validation delay, the
    run settings it stands for, and the study's size.  Raises ValueError when no trial completed."""
    trials: dict[int, dict[str, Any]] = {}
    head: dict[str, Any] = {}
    for path in tuning_files:
        data = json.loads(Path(path).read_text())
        head = head or data
        for t in data["trials"]:
            if t["state"] == "COMPLETE" or t["number"] not in trials:
                trials[t["number"]] = t
    done = [t for t in trials.values() if t["state"] == "COMPLETE"]
    if not done:
        raise ValueError(f"no trial of the study completed (files: {[str(p) for p in tuning_files]})")
    best = min(done, key=lambda t: (t["value"], t["number"]))
    return {
        "study": head["study"], "metric": head["metric"], "scored_on": head["scored_on"], "level": head["level"],
        "trial": best["number"], "value": best["value"], "completed_trials": len(done), "trials": len(trials),
        "parameters": best["parameters"],
        "runs": sorted(Path(p).parent.parent.name for p in tuning_files),
    }


def write_best(parts: list[str], output: str | Path, log: str | Path | None = None) -> dict[str, Any]:
    """``best.yaml`` from the downloaded outputs ``parts`` of the study's kernels (written whole or
    not at all); ``log`` receives what was chosen."""
    import os

    import yaml

    files = [Path(p) / contract.TUNING for p in parts]
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise FileNotFoundError(f"{missing[0]}: a study kernel's output has no tuning.json (was it a tune run?)")
    best = best_of(files)
    text = ("# The RL study's verdict (arz_rl.tune): the completed trial with the lowest mean delay over\n"
            "# the validation draws.  Generated; the modes in tune.apply_to take `parameters`.\n"
            + yaml.safe_dump(best, sort_keys=False))
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, output)
    if log is not None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        Path(log).write_text(f"trial {best['trial']} of {best['completed_trials']} completed: "
                             f"{best['metric']} {best['value']:.3f} on the {best['scored_on']}\n{text}")
    return best
