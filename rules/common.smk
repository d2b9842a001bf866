import hashlib
import sys
from pathlib import Path

ROOT = Path(workflow.basedir)
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from kernel_runner.gitsync import content_hash, run_digest

MODES = ["quick", "full"]


wildcard_constraints:
    mode="|".join(MODES),
    run=r"[a-z]+-[a-z]+-[0-9a-f]{12}",
    merged=r"[0-9a-f]{12}",


# local and SLURM kernels can fetch the pinned commit from this repository (a shared
# filesystem on a cluster); Kaggle needs a remote it can reach
if config["backend"] == "kaggle" and not config["git"]["remote"]:
    raise ValueError(
        "backend=kaggle needs git.remote: a remote name (e.g. origin) or URL the "
        "kernel can clone from, with git.push: true to send the pinned commit there"
    )


def backend_settings():
    """The configured backend's own section (credentials never live here)."""
    return dict(config.get(config["backend"]) or {})


def run_parameters(mode):
    """What the kernel passes to `python -m arz_rl.run --config` (before any fan-out)."""
    return {
        "mode": mode,
        "device": config["device"],
        **(config["experiment"].get(mode) or {}),
    }


def fan_out_parts(mode):
    """(part name, parameters) of every kernel of ``mode``: one kernel, or one per algorithm
    or per seed when `fan_out` says so."""
    params = run_parameters(mode)
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


def kernel_metadata(mode, part=None):
    """Backend metadata rendered into kernel-metadata.json."""
    if config["backend"] != "kaggle":
        return {}
    from kernel_runner.backends.kaggle import kernel_metadata as kaggle_metadata

    return kaggle_metadata(backend_settings(), mode, config["device"], part)


_FILES_DIGEST = []
_RUNS = {}


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
                "backend": config["backend"],
                "install": config["kernel"]["install"],
                "metadata": kernel_metadata(mode, part),
                "remote": git["remote"],
            }
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


def merged_id(mode):
    return hashlib.sha256(" ".join(sorted(runs_of(mode))).encode()).hexdigest()[:12]


def downloaded(wildcards):
    """The verified outputs the figures read: the run's, or the merge of the fanned-out runs."""
    parts = downloaded_parts(wildcards.mode)
    if len(parts) == 1:
        return parts[0]
    return f"results/{wildcards.mode}/merged/{merged_id(wildcards.mode)}"


def merge_inputs(wildcards):
    if merged_id(wildcards.mode) != wildcards.merged:
        raise ValueError(
            f"results/{wildcards.mode}/merged/{wildcards.merged} is not the current configuration's merge"
        )
    return downloaded_parts(wildcards.mode)


# a launched Kaggle run occupies one of the account's concurrent GPU sessions; a SLURM
# run one of the cluster jobs this workflow may have at once (fan-out cap)
KAGGLE_SLOTS = 1 if config["backend"] == "kaggle" else 0
SLURM_SLOTS = 1 if config["backend"] == "slurm" else 0
