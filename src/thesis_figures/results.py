"""Loading and checking a run's results files: a missing key, a NaN or an empty curve stops the
figure with a message that names the file and the field."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from . import ResultsError


def load_json(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: file missing; was the run downloaded?")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from exc


def field(data: dict[str, Any], dotted: str, source: str | Path) -> Any:
    """``data[a][b]...`` for ``dotted='a.b...'``, or a ResultsError naming ``source`` and the field."""
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ResultsError(f"{source}: field {dotted!r} missing")
        node = node[part]
    return node


def finite_list(values: Any, dotted: str, source: str | Path, min_len: int = 1) -> list[float]:
    if not isinstance(values, list) or len(values) < min_len:
        n = len(values) if isinstance(values, list) else "no"
        raise ResultsError(f"{source}: field {dotted!r} has {n} values, need at least {min_len}")
    out = []
    for v in values:
        if v is None or not math.isfinite(float(v)):
            raise ResultsError(f"{source}: field {dotted!r} holds a non-finite value ({v})")
        out.append(float(v))
    return out


def learning_curves(path: str | Path) -> dict[str, dict[str, dict[str, list[float]]]]:
    """{algorithm: {seed: {timesteps, episode_return}}} from training_metrics.json, checked."""
    data = load_json(path)
    runs = field(data, "runs", path)
    if not runs:
        raise ResultsError(f"{path}: field 'runs' is empty")
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for algo, seeds in runs.items():
        for seed in seeds:
            base = f"runs.{algo}.{seed}.learning_curve"
            curve = field(data, base, path)
            ts = finite_list(curve.get("timesteps"), base + ".timesteps", path, 2)
            ret = finite_list(curve.get("episode_return"), base + ".episode_return", path, 2)
            if len(ts) != len(ret):
                raise ResultsError(f"{path}: {base} has {len(ts)} timesteps but {len(ret)} returns")
            out.setdefault(algo, {})[seed] = {"timesteps": ts, "episode_return": ret}
    return out


def evaluation(path: str | Path) -> dict[str, Any]:
    """evaluation_results.json, with every controller summary checked finite."""
    data = load_json(path)
    controllers = field(data, "controllers", path)
    if not controllers:
        raise ResultsError(f"{path}: field 'controllers' is empty")
    for name, c in controllers.items():
        for metric, s in field(c, "summary", f"{path} (controllers.{name})").items():
            for key in ("mean", "std", "ci95_low", "ci95_high"):
                v = s.get(key)
                if v is None or not math.isfinite(float(v)):
                    raise ResultsError(f"{path}: field 'controllers.{name}.summary.{metric}.{key}' is {v}")
    field(data, "comparisons", path)
    return data
