"""The SLURM backend: the rendered kernel is submitted with ``sbatch`` and runs as a cluster job.

The job's working directory is a folder of the run on the shared filesystem
(``<run_dir>/slurm/<nonce>/work``), so its outputs are read in place; its
stdout and stderr go to ``slurm-<jobid>.out`` beside it, streamed as the log.

Where a job's state comes from, in order:

1. ``scontrol show job`` (the controller; finished jobs stay there ``MinJobAge`` seconds);
2. ``sacct`` (accounting database), then ``sacct -c`` (job completion log) -- many
   small clusters have neither and ``sacct`` fails with "accounting storage is disabled";
3. the kernel's own ``session_summary.json`` in the job's working directory.

A job known to none of them vanished (purged, or lost by the controller) and
is reported as failed rather than waited on.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .. import KernelRunnerError
from .base import (
    CANCELLED,
    COMPLETE,
    FAILED,
    QUEUED,
    RUNNING,
    BackendBase,
    Status,
    copy_work_folder,
    kernel_environment,
    provisions_gpu,
)

_QUEUED_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD",
                  "SUSPENDED", "STOPPED", "RESIZING"}
_RUNNING_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
#: what a terminal SLURM state means for the user, and what to change
_FAILURE_HINTS = {
    "FAILED": "the kernel failed",
    "TIMEOUT": "the job ran past its time limit and was killed: raise slurm.time_limit",
    "OUT_OF_MEMORY": "the job ran out of memory and was killed: raise slurm.mem",
    "NODE_FAIL": "the node running the job failed",
    "BOOT_FAIL": "the node could not boot for the job",
    "DEADLINE": "the job missed its deadline",
    "PREEMPTED": "the job was preempted by a higher-priority job",
}
_CONTROLLER_DOWN = ("Unable to contact slurm controller", "Socket timed out", "Connection refused")


def parse_time_limit(value: str | int) -> int:
    """Minutes of a SLURM time limit (``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH[:MM[:SS]]``); seconds round up."""
    text = str(value).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise KernelRunnerError(f"slurm.time_limit={value!r}: use minutes or D-HH:MM:SS, e.g. '02:00:00'")
    days, a, b, c = (int(g) if g else None for g in m.groups())
    if days is not None:  # D-HH[:MM[:SS]]
        seconds = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    elif c is not None:  # HH:MM:SS
        seconds = a * 3600 + b * 60 + c
    elif b is not None:  # MM:SS
        seconds = a * 60 + b
    else:  # MM
        seconds = a * 60
    return -(-seconds // 60)


class SlurmBackend(BackendBase):
    """Runs kernels as SLURM batch jobs (``backend: slurm``; settings are the ``slurm:`` config section)."""

    name = "slurm"
    settings_schema = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "partition": {"type": ["string", "null"]}, "account": {"type": ["string", "null"]},
            "time_limit": {"type": ["string", "integer"], "pattern": "^([0-9]+-)?[0-9]+(:[0-9]+){0,2}$"},
            "cpus": {"type": "integer", "minimum": 1}, "mem": {"type": "string", "pattern": "^[0-9]+[KMGT]?$"},
            "gpu_gres": {"type": "string"}, "python": {"type": ["string", "null"]},
            "job_name_prefix": {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$"},
            "extra_args": {"type": "array", "items": {"type": "string"}},
            "controller_retries": {"type": "integer", "minimum": 0},
            "retry_wait_s": {"type": "number", "minimum": 0},
        },
    }
    #: cluster jobs this workflow keeps submitted at once (a fan-out's kernels)
    session_resource, session_cap = "slurm_jobs", 8
    shared_filesystem = True  # the job works in the run's folder, on the cluster's shared filesystem
    asks_for_gpu = True  # --gres

    @staticmethod
    def session_limit_s(settings: dict[str, Any]) -> float | None:
        return 60.0 * parse_time_limit(settings.get("time_limit", "04:00:00"))

    @staticmethod
    def check_settings(settings: dict[str, Any], git: dict[str, Any]) -> None:
        """The time limit must parse; the job fetches the pinned commit over the shared filesystem."""
        parse_time_limit(settings.get("time_limit", "04:00:00"))

    def __init__(self, partition: str | None = None, account: str | None = None, time_limit: str | int = "04:00:00",
                 cpus: int = 2, mem: str = "8G", gpu_gres: str = "gpu:1", python: str | None = None,
                 job_name_prefix: str = "arz-rl", extra_args: list[str] | None = None,
                 controller_retries: int = 3, retry_wait_s: float = 5.0) -> None:
        parse_time_limit(time_limit)
        self.partition = partition
        self.account = account
        self.time_limit = str(time_limit)
        self.cpus = int(cpus)
        self.mem = str(mem)
        self.gpu_gres = gpu_gres
        self.python = python or sys.executable
        self.job_name_prefix = job_name_prefix
        self.extra_args = list(extra_args or [])
        self.controller_retries = controller_retries
        self.retry_wait_s = retry_wait_s

    # -- submission -----------------------------------------------------------------------------

    def sbatch_args(self, device: str) -> list[str]:
        """The resource options of every job (the kernel's device decides about the GPU)."""
        args = [f"--time={self.time_limit}", f"--cpus-per-task={self.cpus}", f"--mem={self.mem}"]
        if self.partition:
            args.append(f"--partition={self.partition}")
        if self.account:
            args.append(f"--account={self.account}")
        if provisions_gpu(device):
            args.append(f"--gres={self.gpu_gres}")
        return args + self.extra_args

    def launch(self, kernel_dir: Path, run_dir: Path, part: int = 1) -> dict[str, Any]:
        run = json.loads((kernel_dir / "run.json").read_text())
        # one folder per run (per nonce): an earlier job of this run may still be writing into its own;
        # the parts of one run share it, part k going on from part k - 1's output
        base = (run_dir / "slurm" / run["nonce"][:16]).resolve()
        work = base / "work"
        work.mkdir(parents=True, exist_ok=True)
        name = f"{self.job_name_prefix}-{run['run_id']}" + (f"-part{part}" if part > 1 else "")
        cmd = ["sbatch", "--parsable", f"--job-name={name}", f"--chdir={work}",
               f"--output={base}/slurm-%j.out", "--export=ALL", *self.sbatch_args(run.get("device", "auto")),
               str((kernel_dir / "kernel.py").resolve())]
        # the kernel's `#!/usr/bin/env python3` finds the configured interpreter first
        env = kernel_environment(os.environ, PYTHONUNBUFFERED="1", KERNEL_PART=str(part))
        env["PATH"] = str(Path(self.python).parent) + os.pathsep + env.get("PATH", "")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=base, timeout=120)
        except FileNotFoundError as exc:
            raise KernelRunnerError("backend=slurm but `sbatch` is not on PATH: run snakemake on a machine "
                                    "that can submit jobs (a login node)") from exc
        if proc.returncode != 0:
            msg = (proc.stderr or proc.stdout).strip().replace("\n", " ")
            raise KernelRunnerError(f"sbatch refused the job: {msg} (check slurm.partition, slurm.account, "
                                    "slurm.time_limit, slurm.cpus and slurm.mem in the config)")
        job_id = proc.stdout.strip().split(";")[0]
        if not job_id.isdigit():
            raise KernelRunnerError(f"sbatch printed {proc.stdout.strip()!r} instead of a job id")
        return {"backend": self.name, "id": f"job-{job_id}", "job_id": job_id, "base": str(base), "work": str(work),
                "output": str(base / f"slurm-{job_id}.out"), "sbatch": cmd[1:-1], "launched": time.time(),
                "part": part}

    # -- state ----------------------------------------------------------------------------------

    def _run(self, cmd: list[str]) -> subprocess.CompletedProcess:
        """Run a SLURM query, retrying while the controller is unreachable."""
        for attempt in range(self.controller_retries + 1):
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            except FileNotFoundError as exc:
                raise KernelRunnerError(f"`{cmd[0]}` is not on PATH: poll from a machine of the cluster") from exc
            if not any(s in proc.stderr for s in _CONTROLLER_DOWN):
                return proc
            if attempt < self.controller_retries:
                time.sleep(self.retry_wait_s * (attempt + 1))
        raise KernelRunnerError(f"the SLURM controller does not answer ({proc.stderr.strip()}); the job keeps "
                                "its launch record: run the same snakemake command again to resume")

    def job_record(self, job_id: str) -> dict[str, str] | None:
        """``{state, exit_code, reason, time_limit, source}`` of a job, or None when SLURM has no trace of it."""
        proc = self._run(["scontrol", "show", "job", "-o", job_id])
        if proc.returncode == 0 and proc.stdout.strip():
            fields = dict(re.findall(r"(\w+)=(\S*)", proc.stdout))
            return {"state": fields.get("JobState", ""), "exit_code": fields.get("ExitCode", ""),
                    "reason": fields.get("Reason", ""), "time_limit": fields.get("TimeLimit", ""),
                    "source": "scontrol"}
        return self.accounting_record(job_id)

    def accounting_record(self, job_id: str) -> dict[str, str] | None:
        """The job's record in the accounting database (``sacct``) or the completion log (``sacct -c``)."""
        for cmd in (["sacct", "-X"], ["sacct", "-c"]):
            proc = self._run([*cmd, "-j", job_id, "-n", "-P", "-o", "JobID,State,ExitCode,Timelimit"])
            if proc.returncode != 0:
                continue  # e.g. "Slurm accounting storage is disabled"
            for line in proc.stdout.splitlines():
                parts = line.split("|")
                if len(parts) >= 3 and parts[0] == job_id:
                    return {"state": parts[1], "exit_code": parts[2], "reason": "",
                            "time_limit": parts[3] if len(parts) > 3 else "", "source": " ".join(cmd)}
        return None

    def status(self, record: dict[str, Any]) -> Status:
        job_id = record["job_id"]
        job = self.job_record(job_id)
        if job is None:
            return self._status_without_slurm(record)
        state = job["state"].split()[0].rstrip("+")  # "CANCELLED by 0", "CANCELLED+"
        code, _, signal = job["exit_code"].partition(":")
        if state in _QUEUED_STATES:
            reason = job["reason"] if job["reason"] not in ("", "None") else ""
            return Status(QUEUED, f"{state}" + (f" ({reason})" if reason else ""))
        if state in _RUNNING_STATES:
            return Status(RUNNING, state)
        if state == "COMPLETED":
            return Status(COMPLETE, f"COMPLETED, exit code {code or 0}")
        if state == "CANCELLED":
            return Status(CANCELLED, f"SLURM job {job_id} CANCELLED (scancel or an administrator)")
        exit_info = f"exit code {code}" + (f", signal {signal}" if signal not in ("", "0") else "")
        limit = f", time limit {job['time_limit']}" if state == "TIMEOUT" and job["time_limit"] else ""
        hint = _FAILURE_HINTS.get(state, "the job did not complete")
        return Status(FAILED, f"SLURM job {job_id} {state} ({exit_info}{limit}): {hint}")

    def _status_without_slurm(self, record: dict[str, Any]) -> Status:
        """The controller purged the job and there is no accounting: the kernel's own record decides."""
        summary_path = Path(record["work"]) / "session_summary.json"
        try:
            summary = json.loads(summary_path.read_text())
        except (OSError, json.JSONDecodeError):
            summary = None
        if summary and summary.get("nonce") == record.get("nonce"):
            if summary.get("status") in ("complete", "continue") and summary.get("part", 1) == record.get("part", 1):
                return Status(COMPLETE, f"job {record['job_id']} left the queue; its session_summary.json says "
                                        f"{summary['status']}")
            return Status(FAILED, f"job {record['job_id']} left the queue; the kernel recorded: "
                                  f"{summary.get('error')}")
        return Status(FAILED, f"SLURM job {record['job_id']} vanished from the queue without a completion record "
                              "(purged after MinJobAge with no accounting, or lost by the controller) and the "
                              "kernel wrote no session_summary.json")

    # -- log and outputs ------------------------------------------------------------------------

    def log(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        path = Path(record["output"])
        if not path.exists():
            return []
        text = path.read_text(errors="replace")
        # only whole lines: the poller counts entries, so a line must not grow after it was seen
        return [{"stream_name": "stdout", "data": line} for line in text.splitlines(keepends=True)
                if line.endswith("\n")]

    def fetch(self, record: dict[str, Any], staging: Path, state: bool = False) -> None:
        copy_work_folder(Path(record["work"]), staging, self.log(record), state)


BACKEND = SlurmBackend
