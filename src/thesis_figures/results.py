"""Loading and checking a run's results files.

Every file is checked against the sha256 manifest of its results folder before it is read (the
kernel's ``session_summary.json``, or the ``manifest.json`` a merge writes): a file changed after
its download stops the figure with the file named and the fix, so that no edited number is ever
published.  A missing key, a NaN or an empty curve stops it too, naming the file and the field.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from arz_rl import results as contract

from . import ResultsError

MANIFESTS = ("session_summary.json", contract.MERGE_MANIFEST)  #: a kernel's download, a merge of several


def _manifest_of(folder: Path) -> tuple[Path, dict[str, Any]] | None:
    for name in MANIFESTS:
        path = folder / name
        if path.is_file():
            try:
                files = json.loads(path.read_text()).get("files")
            except json.JSONDecodeError as exc:
                raise ResultsError(f"{path}: not valid JSON ({exc}): download the run again") from exc
            if not isinstance(files, dict) or not files:
                raise ResultsError(f"{path}: no manifest of files: not a verified download (run the workflow's "
                                   "download step, not a copy)")
            return path, files
    return None


def verified(path: str | Path) -> Path:
    """``path``, once its bytes are checked against its results folder's manifest."""
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: file missing; was the run downloaded?")
    for root in path.parents:
        found = _manifest_of(root)
        if found is None:
            if root == root.parent or (root / ".git").exists():
                break
            continue
        manifest, files = found
        rel = path.relative_to(root).as_posix()
        entry = files.get(rel)
        if entry is None:
            raise ResultsError(f"{path}: not listed in {manifest}: not a file the run wrote")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if path.stat().st_size != entry["bytes"] or digest != entry["sha256"]:
            raise ResultsError(f"{path} does not match the sha256 in {manifest.name} (changed after the download): "
                               f"delete {root} and run the same command again to download it afresh")
        return path
    raise ResultsError(f"{path}: no {' or '.join(MANIFESTS)} above it: not a verified download")


def load_json(path: str | Path, verify: bool = True) -> dict[str, Any]:
    """A JSON file of a run, checked against its manifest (``verify=False``: the manifest's own
    file); a results file of the contract (:mod:`arz_rl.results`) must carry its schema version."""
    path = verified(path) if verify else Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: file missing; was the run downloaded?")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from exc
    if path.name in (contract.TRAINING, contract.EVALUATION, contract.TUNING):
        try:
            contract.check_version(data, path)
        except contract.SchemaError as exc:
            raise ResultsError(str(exc)) from None
    return data


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


def learning_curves(path: str | Path) -> dict[str, dict[str, dict[str, dict[str, Any]]]]:
    """{level: {agent: {seed: {timesteps, episode_return, validation}}}} from
    training_metrics.json, checked (``validation``: the checkpoint scores, possibly empty).  An
    agent that trained for no decisions (an ablation's cloning-only variant) has no curve."""
    data = load_json(path)
    runs = field(data, "runs", path)
    if not runs:
        raise ResultsError(f"{path}: field 'runs' is empty")
    out: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}
    for level, algos in runs.items():
        for algo, seeds in algos.items():
            for seed in seeds:
                if seeds[seed].get("timesteps", 1) == 0:
                    continue
                base = f"runs.{level}.{algo}.{seed}.learning_curve"
                curve = field(data, base, path)
                ts = finite_list(curve.get("timesteps"), base + ".timesteps", path, 2)
                ret = finite_list(curve.get("episode_return"), base + ".episode_return", path, 2)
                if len(ts) != len(ret):
                    raise ResultsError(f"{path}: {base} has {len(ts)} timesteps but {len(ret)} returns")
                validation = seeds[seed].get("validation_curve") or []
                out.setdefault(level, {}).setdefault(algo, {})[seed] = {
                    "timesteps": ts, "episode_return": ret, "validation": validation,
                    "chosen": seeds[seed].get("chosen_checkpoint")}
    return out


def evaluation(path: str | Path) -> dict[str, Any]:
    """evaluation_results.json, with every controller summary of every level checked finite."""
    data = load_json(path)
    levels = field(data, "levels", path)
    if not levels:
        raise ResultsError(f"{path}: field 'levels' is empty")
    for level, lv in levels.items():
        controllers = field(lv, "controllers", f"{path} (levels.{level})")
        if not controllers:
            raise ResultsError(f"{path}: field 'levels.{level}.controllers' is empty")
        for name, c in controllers.items():
            for metric, s in field(c, "summary", f"{path} (levels.{level}.controllers.{name})").items():
                for key in ("mean", "std", "ci95_low", "ci95_high"):
                    v = s.get(key)
                    if v is None or not math.isfinite(float(v)):
                        raise ResultsError(f"{path}: field 'levels.{level}.controllers.{name}.summary.{metric}.{key}'"
                                           f" is {v}")
        field(lv, "comparisons", f"{path} (levels.{level})")
    field(data, "headline_level", path)
    return data


def kinds(level: dict[str, Any]) -> dict[str, str]:
    """{controller: rl | tuned | reference} of one level's results."""
    return {name: c["kind"] for name, c in level["controllers"].items()}


def per_seed_values(controller: dict[str, Any], metric: str) -> list[float]:
    """An agent's per-seed means, or a baseline's per-draw values, of ``metric``."""
    if controller["kind"] == "rl":
        return [s["mean"][metric] for s in controller["per_seed"].values()]
    return [ep[metric] for ep in controller["episodes"]]


def spacetime(path: str | Path) -> dict[str, Any]:
    """A space-time trace (npz) with its arrays checked: t (T,), x (X,), rho_*/v_* (T, X), phase/queue (T, J)."""
    import numpy as np

    path = verified(path)
    with np.load(path) as data:
        out = {k: data[k] for k in data.files}
    for key in ("t", "x", "rho_m", "v_m", "rho_c", "v_c", "junction_x", "phase", "queue"):
        if key not in out:
            raise ResultsError(f"{path}: array {key!r} missing")
    t, x = out["t"], out["x"]
    for key in ("rho_m", "v_m", "rho_c", "v_c"):
        if out[key].shape != (t.size, x.size):
            raise ResultsError(f"{path}: array {key!r} has shape {out[key].shape}, expected {(t.size, x.size)}")
        if not np.isfinite(out[key]).all():
            raise ResultsError(f"{path}: array {key!r} holds non-finite values")
    if t.size < 2:
        raise ResultsError(f"{path}: array 't' has {t.size} samples, need at least 2")
    return out


def riemann_table(path: str | Path):
    """riemann_table.csv of the validation, checked."""
    import pandas as pd

    if not Path(path).exists():
        raise ResultsError(f"{path}: file missing; the kernel runs python -m arz_rl.validate into validation/")
    df = pd.read_csv(verified(path))
    for col in ("case", "scheme", "n_cells", "l1_error", "order"):
        if col not in df:
            raise ResultsError(f"{path}: column {col!r} missing")
    if df.empty or not df["l1_error"].map(math.isfinite).all():
        raise ResultsError(f"{path}: column 'l1_error' is empty or not finite")
    return df


def provenance(run_dir: str | Path) -> str:
    """'run … · commit … · device … · date' of the kernel(s) behind a results folder."""
    import datetime as dt

    run_dir = Path(run_dir)
    summaries = []
    if (run_dir / "session_summary.json").exists():
        summaries = [load_json(run_dir / "session_summary.json", verify=False)]
    elif (run_dir / contract.PROVENANCE).exists():
        summaries = load_json(run_dir / contract.PROVENANCE)["runs"]
    if not summaries:
        raise ResultsError(f"{run_dir}: no session_summary.json or provenance.json: not a downloaded run")
    parts = []
    for s in summaries:
        device = s.get("device") or {}
        used = device.get("gpu_name") or device.get("device") or s.get("device_requested")
        when = dt.datetime.fromtimestamp(s.get("ended", 0), dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        parts.append(f"run {s.get('run_id')} · commit {str(s.get('commit'))[:10]} · device {used} · {when}")
    return "; ".join(parts)


def produced_at(run_dir: str | Path) -> int:
    """When the run(s) behind a results folder ended, in s since 1970 (0 before the download)."""
    run_dir = Path(run_dir)
    if (run_dir / "session_summary.json").exists():
        summaries = [load_json(run_dir / "session_summary.json", verify=False)]
    elif (run_dir / contract.PROVENANCE).exists():
        summaries = load_json(run_dir / contract.PROVENANCE)["runs"]
    else:
        return 0
    return int(max(float(s.get("ended", 0)) for s in summaries))


def caption_facts(run_dir: str | Path) -> dict[str, Any]:
    """What every figure's caption states about the run behind it: ``run`` (provenance: run id,
    commit, device, date), ``seeds`` (training seeds per agent), ``draws`` (test demand draws),
    ``level`` (the headline demand level), ``levels`` and ``test`` (the significance test).  Before
    the run is downloaded (snakemake may ask while it plans) every value says so."""
    run_dir = Path(run_dir)
    path = run_dir / contract.EVALUATION
    if not path.exists():
        pending = "(not downloaded yet)"
        return {"run": pending, "seeds": pending, "draws": pending, "level": pending, "levels": pending,
                "test": pending}
    data = load_json(path, verify=False)
    level = data.get("headline_level", "?")
    controllers = data.get("levels", {}).get(level, {}).get("controllers", {})
    seeds = max((len(c.get("per_seed", {})) for c in controllers.values() if c.get("kind") == "rl"), default=0)
    protocol = data.get("protocol", {})
    return {
        "run": provenance(run_dir),
        "seeds": seeds,
        "draws": len(protocol.get("seed_sets", {}).get("test", [])),
        "level": level,
        "levels": ", ".join(sorted(data.get("levels", {}), key=lambda lv: data["levels"][lv].get("demand_scale", 0))),
        "test": protocol.get("test", "paired t-test over the training seeds, Holm-adjusted"),
    }


def pick_controllers(evaluation: dict[str, Any], level: str) -> list[str]:
    """The thesis's comparison set at ``level``: the best tuned baseline (lowest mean delay),
    max-pressure, and every learned controller."""
    ctrls = evaluation["levels"][level]["controllers"]
    tuned = [n for n, c in ctrls.items() if c["kind"] == "tuned"]
    chosen = [min(tuned, key=lambda n: ctrls[n]["summary"]["avg_delay_s"]["mean"])] if tuned else []
    if "max_pressure" in ctrls and "max_pressure" not in chosen:
        chosen.append("max_pressure")
    chosen += [n for n, c in ctrls.items() if c["kind"] == "rl"]
    return chosen
