"""What every backend shares: the four operations, the states, the kernel's environment.

- ``launch(kernel_dir, run_dir, part=1) -> dict``: start the rendered kernel; the JSON-able launch
  record.  ``part`` > 1 launches the next part of a run whose part ``part - 1`` ended with
  ``SESSION_CONTINUE``: the kernel must find that part's output (its working folder, or its
  output attached as an input).
- ``status(record) -> Status``: queued | running | complete | failed | cancelled, with a message.
- ``log(record) -> list[dict]``: the log so far, Kaggle's format ({stream_name, time, data}).
- ``fetch(record, staging, state=False) -> None``: copy the outputs and the raw log into
  ``staging``; the resume state (``<OUT_DIR>/<STATE_DIR>/``) only with ``state`` (a backend that
  brings it anyway costs only the transfer: the download drops it).

Polling, deadlines, nonce checks, manifest verification and atomic moves live
above them (:mod:`kernel_runner.poll`, :mod:`kernel_runner.download`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .. import KernelRunnerError

QUEUED, RUNNING, COMPLETE, FAILED, CANCELLED = "queued", "running", "complete", "failed", "cancelled"
DEVICE_REQUESTS = ("auto", "cpu", "gpu")  #: the config's ``device``


def provisions_gpu(device: str) -> bool:
    """Whether a backend asks for a GPU for a run that requests ``device`` (auto | cpu | gpu):
    only for ``gpu``.  ``auto`` uses a GPU when the machine it lands on has one (decided in the
    kernel, :func:`arz_rl.device.resolve`), but never asks for one: a GPU costs quota (Kaggle) or
    queue time (SLURM) and is asked for by name."""
    if device not in DEVICE_REQUESTS:
        raise KernelRunnerError(f"device={device!r}: allowed {DEVICE_REQUESTS}")
    return device == "gpu"
FINISHED = (COMPLETE, FAILED, CANCELLED)
RAW_LOG = "kernel.log.json"


@dataclass(frozen=True)
class Status:
    state: str
    message: str = ""


class Backend(Protocol):
    name: str

    def launch(self, kernel_dir: Path, run_dir: Path, part: int = 1) -> dict[str, Any]: ...

    def status(self, record: dict[str, Any]) -> Status: ...

    def log(self, record: dict[str, Any]) -> list[dict[str, Any]]: ...

    def fetch(self, record: dict[str, Any], staging: Path, state: bool = False) -> None: ...


class BackendBase:
    """What every backend declares for the rules (read through :mod:`kernel_runner.backends`, so that
    no rule or profile names a backend), with the defaults of a backend that declares nothing.

    A backend is a subclass in a module of its own that sets :attr:`name` and the four operations,
    and one line of :data:`kernel_runner.backends.REGISTRY`.
    """

    #: the ``backend:`` value in the config, the config section of its settings and the first part
    #: of every run id of it (letters, digits, and hyphens inside)
    name: str = ""
    #: JSON schema of its config section (the workflow's schema validates it as the section)
    settings_schema: dict[str, Any] = {"type": "object"}
    #: the Snakemake resource each launched kernel of it holds (its sessions, its jobs), and how many
    #: it may hold at once unless ``--resources <name>=N`` says otherwise; None: no cap
    session_resource: str | None = None
    session_cap: int | None = None
    #: whether its kernels write where this machine reads them (kernels can share a study's journal)
    shared_filesystem: bool = False
    #: whether ``device: gpu`` makes it ask for a GPU (else a kernel uses whatever the machine has)
    asks_for_gpu: bool = False

    @staticmethod
    def kernel_metadata(settings: dict[str, Any], mode: str, device: str, part: str | None = None) -> dict[str, Any]:
        """What kernel-metadata.json carries for a run of ``mode`` asking for ``device`` (part: a fan-out's)."""
        return {}

    @staticmethod
    def session_limit_s(settings: dict[str, Any]) -> float | None:
        """The longest one kernel session may run on it (s), None when it sets no limit: the
        kernel's experiment saves and stops before it, and the run goes on in a next part."""
        return None

    @staticmethod
    def check_settings(settings: dict[str, Any], git: dict[str, Any]) -> None:
        """Raise a KernelRunnerError saying what to change when it cannot run with these settings."""

    @staticmethod
    def launch_requirements(settings: dict[str, Any]) -> list[str]:
        """What a real run still needs that planning one (a dry run) does not, in a sentence each."""
        return []


# what Snakemake sets to a job's thread count; the kernel chain's rules have 0 threads (they only
# wait), and OMP_NUM_THREADS=0 is invalid (libgomp complains and torch ignores it)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "GOTO_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


def kernel_environment(env: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The environment a kernel starts with: ``env`` plus ``extra``, without thread-count
    variables that are not a positive integer (a kernel is its own machine: it sizes its threads
    to its own cores)."""
    out = dict(env, **extra)
    for name in THREAD_VARIABLES:
        if name in out and not (out[name].isdigit() and int(out[name]) > 0):
            del out[name]
    return out


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` is alive (a zombie has ended: it only waits to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited: it only waits for its parent to reap it
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def copy_work_folder(work: Path, staging: Path, log: list[dict[str, Any]], state: bool = False) -> None:
    """``fetch`` of backends whose kernel works in a folder this machine can read (the resume
    state only with ``state``)."""
    import json
    import shutil

    from ..render import OUT_DIR, STATE_DIR

    if not work.is_dir():
        raise KernelRunnerError(f"the run's working folder {work} is gone: to launch the run again, run the same "
                                "snakemake command with --forcerun render")
    resume_state = (work / OUT_DIR / STATE_DIR).resolve()

    def leave_state(folder: str, names: list[str]) -> list[str]:
        return [STATE_DIR] if not state and Path(folder).resolve() == resume_state.parent else []

    shutil.copytree(work, staging, dirs_exist_ok=True, ignore=leave_state)
    (staging / RAW_LOG).write_text(json.dumps(log))
