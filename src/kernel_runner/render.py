"""Render the kernel script and its metadata from ``kernel/*.j2`` (StrictUndefined: a missing
variable is an error, never an empty string)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

import jinja2

from . import KernelRunnerError

SCRIPT_TEMPLATE = "kernel.py.j2"
METADATA_TEMPLATE = "kernel-metadata.json.j2"
SCRIPT_NAME = "kernel.py"
METADATA_NAME = "kernel-metadata.json"
RUN_NAME = "run.json"
OUT_DIR = "arz_rl_run"  #: the folder of the kernel's working directory its outputs go into
#: inside OUT_DIR: what only a continued run needs (checkpoints, replay buffers), listed in the
#: manifest like every output but downloaded only with ``download.state: true``
STATE_DIR = "state"
#: the largest kernel script rendered: the embedded code bundle makes it grow with the experiment
#: (src/arz_rl today: ~100 KB); a bound well under what Kaggle accepts for a script kernel
MAX_SCRIPT_BYTES = 1 << 20


def new_nonce() -> str:
    """A per-run secret-free random token the kernel must echo on success."""
    return secrets.token_hex(16)


def render_kernel(template_dir: Path, out_dir: Path, sync: dict[str, Any], run: dict[str, Any],
                  metadata: dict[str, Any] | None = None, nonce: str | None = None) -> dict[str, Any]:
    """Write ``kernel.py``, ``kernel-metadata.json`` and ``run.json`` into ``out_dir``.

    ``sync`` is the sentinel (sha, ref, head, bundle); ``run`` holds ``run_id``, ``mode``,
    ``device``, ``backend`` and the experiment ``parameters``, and optionally ``time_limit_s`` (the
    backend's limit on one session, None: none) and ``stop_margin_s`` (the experiment saves and
    stops that long before it).  The code bundle is embedded in the
    script (base64), so the kernel needs no repository.  Returns the record written to run.json
    (including the nonce).
    """
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    record = {
        "run_id": run["run_id"], "mode": run["mode"], "device": run["device"], "backend": run["backend"],
        "commit": sync["sha"], "ref": sync["ref"], "head": sync.get("head"), "nonce": nonce or new_nonce(),
        "parameters": run["parameters"], "install": run.get("install", {}),
        "validate": bool(run.get("validate", True)),
        # the backend's limit on one session and how long before it the experiment stops (s)
        "time_limit_s": run.get("time_limit_s"), "stop_margin_s": run.get("stop_margin_s", 0),
    }
    bundle = sync.get("bundle") or {}
    if not bundle.get("path") or not Path(bundle["path"]).is_file():
        raise KernelRunnerError(f"the pinned code bundle {bundle.get('path')!r} is missing: run the sync step again "
                                "(delete the run's sync.json)")
    data = Path(bundle["path"]).read_bytes()
    if hashlib.sha256(data).hexdigest() != bundle["sha256"]:
        raise KernelRunnerError(f"{bundle['path']} does not match the sha256 sync recorded: delete the run's sync.json "
                                "and run the same command again")
    encoded = base64.b64encode(data).decode()
    context = {**record, "parameters_json": json.dumps(run["parameters"], sort_keys=True),
               "install_json": json.dumps(record["install"], sort_keys=True), "metadata": metadata or {},
               "bundle_lines": [encoded[i:i + 100] for i in range(0, len(encoded), 100)],
               "bundle_bytes": len(data), "bundle_sha256": bundle["sha256"], "out_dir": OUT_DIR,
               "state_dir": STATE_DIR}
    try:
        script = env.get_template(SCRIPT_TEMPLATE).render(**context)
        meta = env.get_template(METADATA_TEMPLATE).render(**context)
    except jinja2.UndefinedError as exc:
        raise KernelRunnerError(f"kernel template needs a value it was not given: {exc.message}") from exc
    except jinja2.TemplateNotFound as exc:
        raise KernelRunnerError(f"kernel template {exc.name} missing under {template_dir}") from exc
    try:
        json.loads(meta)
    except json.JSONDecodeError as exc:
        raise KernelRunnerError(f"{METADATA_TEMPLATE} rendered invalid JSON: {exc}") from exc
    compile(script, SCRIPT_NAME, "exec")  # a syntax error fails here, not on the remote machine
    if len(script.encode()) > MAX_SCRIPT_BYTES:
        size = len(script.encode()) >> 10
        raise KernelRunnerError(f"the rendered kernel is {size} KiB (the experiment's code is embedded), over "
                                f"{MAX_SCRIPT_BYTES >> 10} KiB: keep large files out of git.experiment_paths "
                                "(git.exclude)")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SCRIPT_NAME).write_text(script)
    (out_dir / METADATA_NAME).write_text(meta)
    (out_dir / RUN_NAME).write_text(json.dumps(record, indent=1, sort_keys=True))
    return record


def check_experiment(sync: dict[str, Any], run: dict[str, Any], command: list[str]) -> str:
    """Let the pinned experiment validate this run's settings before anything is launched.

    The code is checked out of the run's own bundle (the commit the kernel will run) into a
    temporary folder, and ``python <command> --config <parameters> --device <device>`` runs there
    with its ``src/`` on the path: the experiment's own rules decide, the workflow imports none
    of its code.  Returns what the check printed; a refusal raises with the experiment's message.
    """
    import os
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kernel-check-") as tmp:
        code = Path(tmp) / "code"
        code.mkdir()
        for args in (["init", "-q", "."], ["fetch", "-q", sync["bundle"]["path"], sync["ref"]],
                     ["checkout", "-q", "FETCH_HEAD"]):
            proc = subprocess.run(["git", *args], cwd=code, capture_output=True, text=True)
            if proc.returncode != 0:
                raise KernelRunnerError(f"git {args[0]} of the pinned code bundle failed: {proc.stderr.strip()}")
        params = Path(tmp) / "parameters.json"
        params.write_text(json.dumps(run["parameters"]))
        env = dict(os.environ, PYTHONPATH=str(code / "src"))
        proc = subprocess.run([sys.executable, *command, "--config", str(params), "--device", run["device"]],
                              cwd=code, env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit status {proc.returncode}"
        raise KernelRunnerError(f"the experiment refuses these settings, nothing was launched: {reason} "
                                "(fix experiment.<mode> in config/config.yaml or the --config overrides)")
    return proc.stdout.strip()
