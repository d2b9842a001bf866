"""Backends: every place a kernel can run offers the same four operations (see :mod:`.base`).

- ``launch(kernel_dir, run_dir) -> dict``: start the rendered kernel; the JSON-able launch record.
- ``status(record) -> Status``: queued | running | complete | failed | cancelled, with a message.
- ``log(record) -> list[dict]``: the log so far, Kaggle's format ({stream_name, time, data}).
- ``fetch(record, staging) -> None``: copy the outputs and the raw log into ``staging``.

Each also declares what the rules need of it (:class:`.base.BackendBase`: its settings' schema, its
session resource and cap, whether its kernels share this filesystem, whether it asks for GPUs).
:data:`REGISTRY` is the one place that knows their names: a new backend is a module with a
:class:`~.base.BackendBase` subclass named ``BACKEND`` and one line here.  Each module is imported
only when used (the Kaggle client authenticates at import, and is imported only in its calls).
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from .. import KernelRunnerError
from .base import (
    CANCELLED,
    COMPLETE,
    FAILED,
    FINISHED,
    QUEUED,
    RAW_LOG,
    RUNNING,
    Backend,
    BackendBase,
    Status,
    copy_work_folder,
    kernel_environment,
    provisions_gpu,
)

__all__ = ["CANCELLED", "COMPLETE", "FAILED", "FINISHED", "QUEUED", "RAW_LOG", "REGISTRY", "RUNNING", "Backend",
           "BackendBase", "Status", "backend_class", "copy_work_folder", "get_backend", "kernel_environment",
           "provisions_gpu", "run_id_pattern"]

#: every backend: its name and the module holding its ``BACKEND`` class
REGISTRY: dict[str, str] = {
    "local": "kernel_runner.backends.local",
    "kaggle": "kernel_runner.backends.kaggle",
    "slurm": "kernel_runner.backends.slurm",
}
NAME_PATTERN = r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*"


def backend_class(name: str) -> type[BackendBase]:
    """The class of the backend called ``name``, its module imported only now."""
    if name not in REGISTRY:
        raise KernelRunnerError(f"backend={name!r}: allowed {', '.join(REGISTRY)}")
    cls = importlib.import_module(REGISTRY[name]).BACKEND
    if cls.name != name or not re.fullmatch(NAME_PATTERN, name):
        raise KernelRunnerError(f"{REGISTRY[name]}.BACKEND is named {cls.name!r}, registered as {name!r}: "
                                f"a backend's name is its registry key ({NAME_PATTERN})")
    return cls


def get_backend(name: str, settings: dict[str, Any] | None = None) -> Backend:
    """The backend called ``name`` configured with ``settings`` (its config section)."""
    return backend_class(name)(**(settings or {}))


def run_id_pattern(devices: tuple[str, ...]) -> str:
    """The regular expression of a run id: ``<backend>-<device>-<12 hex digits>``."""
    names = "|".join(re.escape(n) for n in sorted(REGISTRY, key=len, reverse=True))
    return rf"(?:{names})-(?:{'|'.join(devices)})-[0-9a-f]{{12}}"
