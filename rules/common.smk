import atexit
import functools
import hashlib
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(workflow.basedir)
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from kernel_runner import KernelRunnerError
from kernel_runner.archive import restore
from kernel_runner.backends import backend_class, run_id_pattern
from kernel_runner.backends.base import DEVICE_REQUESTS
from kernel_runner.download import (
    RESUME_STATE,
    VERIFIED,
    check_download,
    request_download_again,
)
from kernel_runner.gitsync import content_hash, run_digest
from kernel_runner.interrupts import forward_interrupts_to_jobs
from thesis_figures.catalog import FIGURES

MODES = ["quick", "full", "tune"]
# the study of the RL controller's settings (mode tune) and its verdict
TUNED = ROOT / "results" / "tune" / "best.yaml"
# what the configured backend declares for the rules (kernel_runner.backends.base.BackendBase)
BACKEND = backend_class(config["backend"])


wildcard_constraints:
    mode="|".join(MODES),
    run=run_id_pattern(DEVICE_REQUESTS),
    merged=r"[0-9a-f]{12}",


# `kill -INT <snakemake's pid>` stops a waiting poll step at once, as Ctrl-C does
forward_interrupts_to_jobs()


def refuse(exc):
    """A setting the workflow cannot run with: one line, no traceback, nothing run."""
    sys.exit(f"error: {exc}")


# what the configured backend needs of the rest of the configuration, said before anything runs
try:
    BACKEND.check_settings(config.get(config["backend"]) or {}, config["git"])
except KernelRunnerError as exc:
    refuse(exc)
# what a real run still needs that planning it (a dry run) does not: said when snakemake ends
for _need in BACKEND.launch_requirements(config.get(config["backend"]) or {}):
    atexit.register(print, f"note: {_need}", file=sys.stderr)


def backend_settings():
    """The configured backend's own section (credentials never live here)."""
    return dict(config.get(config["backend"]) or {})


def run_parameters(mode):
    """What the kernel passes to `python -m arz_rl.run --config` (before any fan-out); the device
    travels on its own (run.json, `--device`), so that it is said once.  A mode listed in
    tune.apply_to takes the study's best settings (results/tune/best.yaml) when they exist, and
    records where they came from (tuned_from); what the mode's own config sets still wins (key by
    key within ppo/dqn/timesteps).
    """
    params = {"mode": mode}
    if mode in config["tune"]["apply_to"] and TUNED.exists():
        best = yaml.safe_load(TUNED.read_text())
        params.update(best["parameters"])
        params["tuned_from"] = {
            "file": str(TUNED.relative_to(ROOT)),
            "sha256": hashlib.sha256(TUNED.read_bytes()).hexdigest(),
            **{k: best[k] for k in ("study", "trial", "value", "metric", "runs")},
        }
    for key, value in (config["experiment"].get(mode) or {}).items():
        # hyper-parameter sections merge key by key: a mode setting n_epochs keeps the tuned rest
        if isinstance(value, dict) and isinstance(params.get(key), dict):
            value = {**params[key], **value}
        params[key] = value
    return params


def fan_out_parts(mode):
    """(part name, parameters) of every kernel of ``mode``: one kernel, or one per algorithm
    or per seed when `fan_out` says so."""
    params = run_parameters(mode)
    if mode == "tune":
        return study_workers(params)
    how = config.get("fan_out", "none")
    if how == "none":
        return [(None, params)]
    key = {"algorithm": "algorithms", "seed": "seeds"}[how]
    if key not in params:
        raise ValueError(f"fan_out={how} needs experiment.{mode}.{key} in the config")
    if how == "algorithm":
        return [(a, {**params, "algorithms": [a]}) for a in params["algorithms"]]
    base = params.get("seed", 0)
    return [
        (f"seed{base + k}", {**params, "seeds": 1, "seed": base + k})
        for k in range(params["seeds"])
    ]


def study_workers(params):
    """The kernels of the study: one, keeping its Optuna journal in its own output, or
    tune.workers of them sharing one journal on this machine's filesystem (named by the study's
    settings, so that another study never appends to it), each with its own sampler seed.
    """
    workers = config["tune"]["workers"]
    if workers == 1:
        return [(None, params)]
    if not BACKEND.shared_filesystem:
        refuse(
            f"tune.workers={workers} needs kernels that share this machine's filesystem, which "
            f"backend={config['backend']}'s do not: set tune.workers: 1"
        )
    study = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    journal = ROOT / "results" / "tune" / "studies" / f"{study}.journal"
    base = params.get("seed", 0)
    return [
        (f"worker{k}", {**params, "seed": base + k, "tune_storage": str(journal)})
        for k in range(workers)
    ]


def session_budget():
    """The backend's limit on one kernel session and how long before it the experiment saves its
    state and stops (s; half the limit at most), {} when the backend sets no limit."""
    limit = BACKEND.session_limit_s(backend_settings())
    if limit is None:
        return {}
    margin = float(config.get("continuation", {}).get("margin_s", 900))
    return {"time_limit_s": limit, "stop_margin_s": min(margin, limit / 2)}


def run_metadata(mode, part=None):
    """The backend's metadata rendered into kernel-metadata.json."""
    try:
        return BACKEND.kernel_metadata(backend_settings(), mode, config["device"], part)
    except KernelRunnerError as exc:
        refuse(exc)


_FILES_DIGEST = []
_RUNS = {}
# examiner mode: `--config restore=<archive>` puts the archived runs in place (verified) and the
# workflow works on them instead of computing its own runs for that mode: no kernel is launched
try:
    RESTORED = restore(config["restore"], ROOT) if config.get("restore") else None
except KernelRunnerError as exc:
    refuse(exc)
if RESTORED:
    _RUNS[RESTORED["mode"]] = {
        run: {k: info[k] for k in ("part", "parameters", "extra", "digest")}
        for run, info in RESTORED["runs"].items()
    }
    print(
        f"restored {len(RESTORED['runs'])} run(s) of mode {RESTORED['mode']} from {config['restore']}",
        file=sys.stderr,
    )


def runs_of(mode):
    """Every kernel run of ``mode``: {run id: info}.  A run is named by backend, device and a
    hash of the experiment's files and the run's parameters, so results of another
    configuration are never overwritten and switching back reuses them."""
    if mode not in _RUNS:
        git = config["git"]
        if not _FILES_DIGEST:
            _FILES_DIGEST.append(
                content_hash(ROOT, git["experiment_paths"], git["exclude"])
            )
        _RUNS[mode] = {}
        for part, params in fan_out_parts(mode):
            extra = {
                "parameters": params,
                "device": config["device"],
                "backend": config["backend"],
                "install": config["kernel"]["install"],
                "metadata": run_metadata(mode, part),
                "remote": git["remote"],
            }
            # where runs are cut into parts, the cut is part of the run (no limit: digest as before)
            budget = session_budget()
            if budget:
                extra["session"] = budget
            digest = run_digest(_FILES_DIGEST[0], extra)
            run = f"{config['backend']}-{config['device']}-{digest[:12]}"
            _RUNS[mode][run] = {
                "part": part,
                "parameters": params,
                "extra": extra,
                "digest": digest,
            }
    return _RUNS[mode]


def run_info(wildcards):
    return runs_of(wildcards.mode)[wildcards.run]


def downloaded_parts(mode):
    return [f"results/{mode}/runs/{run}/output" for run in runs_of(mode)]


# the learners' own files, which nothing downstream of a download reads (and large ones); the
# resume state is downloaded only with download.state: true
UNREAD_OUTPUTS = (RESUME_STATE, "models/", "monitor/")


def check_downloads():
    """Before any job runs: a downloaded output changed by hand stops the workflow with the file
    named (nothing is redrawn from it); a deleted one is downloaded again: its run is complete, and
    complete.json records that a download is due, so that the rules reading the download rerun, and
    the download with them (never the kernel).
    """
    for mode in MODES:
        for part in downloaded_parts(mode):
            output, complete = Path(part), Path(part).parent / "complete.json"
            if output.is_dir():
                # hashes only the files whose size or time changed since they last matched
                check_download(
                    output, skip=UNREAD_OUTPUTS, cache=output.parent / VERIFIED
                )
            elif complete.exists():
                request_download_again(complete)


def merged_id(mode):
    return hashlib.sha256(" ".join(sorted(runs_of(mode))).encode()).hexdigest()[:12]


def downloaded(wildcards):
    """The verified outputs the figures read: the run's, or the merge of the fanned-out runs."""
    parts = downloaded_parts(wildcards.mode)
    if len(parts) == 1:
        return parts[0]
    return f"results/{wildcards.mode}/merged/{merged_id(wildcards.mode)}"


@functools.lru_cache(maxsize=16)
def _caption_facts(run_dir, mtime_ns):
    from thesis_figures.results import caption_facts

    return caption_facts(run_dir)


def caption_fact(name):
    """One fact a report caption states about the run it shows (run: its id, commit, device and
    date; seeds, draws, level, levels, test), as a param of its own, so that the report's job
    parameters read as plain values."""

    def fact(wildcards, input):
        path = Path(input.run)
        mtime = path.stat().st_mtime_ns if path.exists() else 0
        return _caption_facts(str(path), mtime)[name]

    return fact


def completions(wildcards):
    """The completion records of the mode's runs: read by every rule that reads downloads, so that
    touching one (check_downloads) reruns them, and the download of a deleted output with them.
    """
    return [
        f"results/{wildcards.mode}/runs/{run}/complete.json"
        for run in runs_of(wildcards.mode)
    ]


def merge_inputs(wildcards):
    if merged_id(wildcards.mode) != wildcards.merged:
        raise ValueError(
            f"results/{wildcards.mode}/merged/{wildcards.merged} is not the current configuration's merge"
        )
    return downloaded_parts(wildcards.mode)


# a launched kernel occupies one of the backend's sessions (Kaggle's concurrent GPU sessions, the
# cluster jobs this workflow may have at once): the fan-out cap the backend declares, unless
# `--resources <its resource>=N` (or a profile) says otherwise
SESSION = {BACKEND.session_resource: 1} if BACKEND.session_resource else {}
if (
    SESSION
    and BACKEND.session_cap
    and BACKEND.session_resource not in workflow.global_resources
):
    from snakemake.resources import Resource

    workflow.global_resources[BACKEND.session_resource] = Resource(
        BACKEND.session_resource, BACKEND.session_cap
    )
# the code each figure reads besides the results: the shared plotting modules and its own module,
# so that editing one figure reruns that figure only; the tables read the shared modules and theirs
SHARED_FIGURE_CODE = [
    str(ROOT / "src" / "thesis_figures" / f"{m}.py")
    for m in ("__init__", "catalog", "logs", "results", "style")
]
TABLE_CODE = SHARED_FIGURE_CODE + [str(ROOT / "src" / "thesis_figures" / "tables.py")]
# the chapter: its sources (yours, in thesis/), the numbers' code and the build's code
THESIS_SOURCES = sorted(str(p) for p in (ROOT / "thesis").iterdir() if p.is_file())
NUMBERS_CODE = [
    str(ROOT / "src" / "thesis_figures" / f"{m}.py")
    for m in ("__init__", "logs", "results", "numbers")
]
CHAPTER_CODE = [
    str(ROOT / "src" / "thesis_figures" / f"{m}.py")
    for m in ("__init__", "logs", "chapter")
]


def results_epoch(wildcards, input):
    """When the results were produced (s since 1970): the chapter's PDF dates."""
    from thesis_figures.results import produced_at

    return produced_at(downloaded(wildcards))


def figure_code(figure):
    drawing = figure.draws.split(":")[0]
    return SHARED_FIGURE_CODE + [str(ROOT / "src" / "thesis_figures" / f"{drawing}.py")]


try:
    check_downloads()
except KernelRunnerError as exc:
    refuse(exc)


def tracking(wildcards):
    """The MLflow record of the mode's runs, when MLflow tracking is on (config mlflow.enabled)."""
    return (
        [f"results/{wildcards.mode}/mlflow.json"] if config["mlflow"]["enabled"] else []
    )
