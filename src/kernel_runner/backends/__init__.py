"""Backends: every place a kernel can run offers the same four operations (see :mod:`.base`).

- ``launch(kernel_dir, run_dir) -> dict``: start the rendered kernel; the JSON-able launch record.
- ``status(record) -> Status``: queued | running | complete | failed | cancelled, with a message.
- ``log(record) -> list[dict]``: the log so far, Kaggle's format ({stream_name, time, data}).
- ``fetch(record, staging) -> None``: copy the outputs and the raw log into ``staging``.

:func:`get_backend` is the one place that knows their names; each is imported only when used
(the Kaggle client authenticates at import).
"""

from __future__ import annotations

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
    Status,
    copy_work_folder,
    kernel_environment,
    provisions_gpu,
)

__all__ = ["CANCELLED", "COMPLETE", "FAILED", "FINISHED", "QUEUED", "RAW_LOG", "RUNNING", "Backend", "Status",
           "check_settings", "copy_work_folder", "get_backend", "kernel_environment", "kernel_metadata",
           "provisions_gpu", "session_resource"]


NAMES = ("local", "kaggle", "slurm")


def _module(name: str) -> Any:
    """The backend's module, imported only now (the Kaggle client authenticates at import)."""
    if name == "local":
        from . import local as module
    elif name == "kaggle":
        from . import kaggle as module
    elif name == "slurm":
        from . import slurm as module
    else:
        raise KernelRunnerError(f"backend={name!r}: allowed {', '.join(NAMES)}")
    return module


def get_backend(name: str, settings: dict[str, Any] | None = None) -> Backend:
    """The backend called ``name`` configured with ``settings`` (its config section)."""
    return _module(name).BACKEND(**(settings or {}))


def kernel_metadata(name: str, settings: dict[str, Any], mode: str, device: str, part: str | None = None) -> dict:
    """What backend ``name`` needs rendered into kernel-metadata.json for a run of ``mode`` asking
    for ``device`` (one kernel per fan-out ``part``)."""
    return _module(name).kernel_metadata(settings, mode, device, part)


def check_settings(name: str, settings: dict[str, Any], git: dict[str, Any]) -> None:
    """Raise a KernelRunnerError saying what to change when backend ``name`` cannot run with
    these settings and this ``git`` section; nothing is launched before this passes."""
    _module(name).check_settings(settings, git)


def session_resource(name: str) -> str | None:
    """The Snakemake resource that caps how many kernels of backend ``name`` run at once
    (Kaggle's concurrent GPU sessions, a cluster's jobs), or None."""
    return _module(name).BACKEND.session_resource
