import sys
from pathlib import Path

ROOT = Path(workflow.basedir)
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from kernel_runner.gitsync import content_hash

MODES = ["quick", "full"]


wildcard_constraints:
    mode="|".join(MODES),
    run=r"[a-z]+-[a-z]+-[0-9a-f]{12}",


if config["backend"] != "local" and not config["git"]["remote"]:
    raise ValueError(
        f"backend={config['backend']} needs git.remote: a remote name (e.g. origin) or URL the "
        "kernel can clone from, with git.push: true to send the pinned commit there"
    )


def backend_settings():
    """The configured backend's own section (credentials never live here)."""
    return dict(config.get(config["backend"]) or {})


def run_parameters(mode):
    """What the kernel passes to `python -m arz_rl.run --config`."""
    return {
        "mode": mode,
        "device": config["device"],
        **(config["experiment"].get(mode) or {}),
    }


def kernel_metadata(mode):
    """Backend metadata rendered into kernel-metadata.json."""
    if config["backend"] != "kaggle":
        return {}
    from kernel_runner.backends.kaggle import kernel_metadata as kaggle_metadata

    return kaggle_metadata(backend_settings(), mode, config["device"])


def hash_extra(mode):
    """Everything besides the experiment files that changes what a kernel does."""
    return {
        "parameters": run_parameters(mode),
        "backend": config["backend"],
        "install": config["kernel"]["install"],
        "metadata": kernel_metadata(mode),
        "remote": config["git"]["remote"],
    }


_RUNS = {}


def run_key(mode):
    """(run id, content hash): a run is named by backend, device and the experiment's hash, so
    results of another configuration are never overwritten and switching back reuses them.
    """
    if mode not in _RUNS:
        git = config["git"]
        digest = content_hash(
            ROOT, git["experiment_paths"], git["exclude"], hash_extra(mode)
        )
        _RUNS[mode] = (f"{config['backend']}-{config['device']}-{digest[:12]}", digest)
    return _RUNS[mode]


def run_dir(mode):
    return f"results/{mode}/runs/{run_key(mode)[0]}"


def downloaded(wildcards):
    """The verified outputs of the run the current configuration names."""
    return f"{run_dir(wildcards.mode)}/output"
