"""The workflow's configuration: its schema (the workflow's own keys, each backend's section from
the backend itself) and the one check every Snakemake call makes before anything runs.

The experiment's settings (``experiment.<mode>``) are not the workflow's: the schema only asks for
a mapping per mode, and the pinned experiment validates them itself at render (``kernel.check``),
naming the field it refuses.  So a new reward, policy or grid is added in the experiment alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import KernelRunnerError
from .backends import REGISTRY, backend_class
from .backends.base import DEVICE_REQUESTS
from .overrides import coerce


def workflow_schema(path: str | Path) -> dict[str, Any]:
    """The JSON schema in ``path`` with ``backend`` limited to the registered backends, each
    backend's config section given by the backend's own ``settings_schema``, and ``device`` one of
    :data:`~kernel_runner.backends.base.DEVICE_REQUESTS`."""
    import yaml

    schema = yaml.safe_load(Path(path).read_text())
    props = schema.setdefault("properties", {})
    props["backend"] = {"type": "string", "enum": list(REGISTRY)}
    props["device"] = {"type": "string", "enum": list(DEVICE_REQUESTS)}
    for name in REGISTRY:
        props[name] = backend_class(name).settings_schema
    return schema


def _where(error: Any) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def check_config(config: dict[str, Any], schema_path: str | Path,
                 files: list[str | Path] | None = None) -> dict[str, Any]:
    """``config`` with nested ``--config`` strings typed by the schema, checked against it; a
    refusal raises one line naming the key, the value and what is allowed (``files``: the config
    files it was read from, named in the message)."""
    import jsonschema

    schema = workflow_schema(schema_path)
    typed = coerce(config, schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(typed), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        origin = ", ".join(str(f) for f in files or ["config/config.yaml"]) + " or --config"
        raise KernelRunnerError(f"config key {_where(error)}: {error.message} (set in {origin}; "
                                f"{schema_path} says what is allowed)")
    return typed
