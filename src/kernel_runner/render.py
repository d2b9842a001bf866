"""Render the kernel script and its metadata from ``kernel/*.j2`` (StrictUndefined: a missing
variable is an error, never an empty string)."""

from __future__ import annotations

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


def new_nonce() -> str:
    """A per-run secret-free random token the kernel must echo on success."""
    return secrets.token_hex(16)


def render_kernel(template_dir: Path, out_dir: Path, sync: dict[str, Any], run: dict[str, Any],
                  metadata: dict[str, Any] | None = None, nonce: str | None = None) -> dict[str, Any]:
    """Write ``kernel.py``, ``kernel-metadata.json`` and ``run.json`` into ``out_dir``.

    ``sync`` is the sentinel (sha, ref, remote); ``run`` holds ``run_id``,
    ``mode``, ``device``, ``backend`` and the experiment ``parameters``.
    Returns the record written to run.json (including the nonce).
    """
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template_dir)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    record = {
        "run_id": run["run_id"], "mode": run["mode"], "device": run["device"], "backend": run["backend"],
        "commit": sync["sha"], "ref": sync["ref"], "repo_url": sync["remote"], "nonce": nonce or new_nonce(),
        "parameters": run["parameters"], "install": run.get("install", {}),
        "validate": bool(run.get("validate", True)),
    }
    context = {**record, "parameters_json": json.dumps(run["parameters"], sort_keys=True),
               "install_json": json.dumps(record["install"], sort_keys=True), "metadata": metadata or {}}
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
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SCRIPT_NAME).write_text(script)
    (out_dir / METADATA_NAME).write_text(meta)
    (out_dir / RUN_NAME).write_text(json.dumps(record, indent=1, sort_keys=True))
    return record
