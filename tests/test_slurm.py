"""The SLURM backend against the real single-node cluster (tests/slurm_cluster.sh), with small scripts
standing in for the kernel; the full kernel runs in tests/test_workflow_slurm.py."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel_runner import KernelRunnerError
from kernel_runner.backends import CANCELLED, COMPLETE, FAILED, QUEUED, RUNNING
from kernel_runner.backends.slurm import SlurmBackend, parse_time_limit
from kernel_runner.poll import wait

NONCE = "0123456789abcdef0123456789abcdef"


def kernel(tmp_path: Path, body: str, device: str = "cpu") -> Path:
    """A rendered-looking kernel folder whose kernel.py runs ``body`` (Python)."""
    kdir = tmp_path / "kernel"
    kdir.mkdir()
    (kdir / "kernel.py").write_text("#!/usr/bin/env python3\nimport sys, time\n" + body)
    (kdir / "run.json").write_text(json.dumps({"nonce": NONCE, "run_id": "slurm-cpu-0123456789ab",
                                               "device": device}))
    return kdir


def backend(**settings) -> SlurmBackend:
    return SlurmBackend(**{"cpus": 1, "mem": "200M", "time_limit": "5", "retry_wait_s": 0.1, **settings})


def wait_for(be: SlurmBackend, record: dict, states: tuple, timeout: float = 60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = be.status(record)
        if status.state in states:
            return status
        time.sleep(0.2)
    raise AssertionError(f"job {record['job_id']} never reached {states}: {be.status(record)}")


def test_time_limits_parse_like_sbatch():
    assert parse_time_limit("90") == 90
    assert parse_time_limit("01:30") == 2  # MM:SS, seconds round up
    assert parse_time_limit("02:00:00") == 120
    assert parse_time_limit("1-00") == 1440
    with pytest.raises(KernelRunnerError, match="slurm.time_limit"):
        SlurmBackend(time_limit="two hours")


def test_gpu_runs_ask_for_a_gres():
    be = SlurmBackend(partition="gpu", account="lab", gpu_gres="gpu:a100:1", extra_args=["--qos=normal"])
    assert "--gres=gpu:a100:1" in be.sbatch_args("gpu")
    assert not any(a.startswith("--gres") for a in be.sbatch_args("cpu"))
    assert {"--partition=gpu", "--account=lab", "--qos=normal"} <= set(be.sbatch_args("auto"))


def test_job_runs_streams_its_log_and_completes(slurm_cluster, tmp_path):
    body = (f"print('SESSION_START {NONCE}', flush=True)\nprint('hello from', sys.executable, flush=True)\n"
            f"open('result.txt', 'w').write('42')\ntime.sleep(1)\nprint('SESSION_COMPLETE {NONCE}')\n")
    be = backend()
    record = be.launch(kernel(tmp_path, body), tmp_path / "run")
    record["nonce"] = NONCE
    assert record["job_id"].isdigit() and record["id"] == f"job-{record['job_id']}"
    echoed = []
    done = wait(be, record, NONCE, interval=0.3, deadline=60, log_file=tmp_path / "kernel.log", echo=echoed.append)
    assert done["state"] == COMPLETE
    text = (tmp_path / "kernel.log").read_text()
    assert f"hello from {sys.executable}" in text  # the configured interpreter runs the kernel
    assert any("running" in m for m in echoed) and "COMPLETED" in echoed[-1]
    staging = tmp_path / "staging"
    be.fetch(record, staging)
    assert (staging / "result.txt").read_text() == "42"
    assert f"SESSION_COMPLETE {NONCE}" in json.dumps(json.loads((staging / "kernel.log.json").read_text()))


def test_failing_kernel_reports_slurm_state_and_exit_code(slurm_cluster, tmp_path):
    be = backend()
    record = be.launch(kernel(tmp_path, "print('about to fail', flush=True)\nsys.exit(3)\n"), tmp_path / "run")
    with pytest.raises(KernelRunnerError) as err:
        wait(be, record, NONCE, interval=0.3, deadline=60, log_file=tmp_path / "kernel.log", echo=lambda m: None)
    assert "FAILED (exit code 3)" in str(err.value) and "about to fail" in str(err.value)


def test_cancelled_job_is_reported_as_cancelled(slurm_cluster, tmp_path):
    be = backend()
    record = be.launch(kernel(tmp_path, "time.sleep(300)\n"), tmp_path / "run")
    assert wait_for(be, record, (QUEUED, RUNNING)).state in (QUEUED, RUNNING)
    subprocess.run(["scancel", record["job_id"]], check=True)
    status = wait_for(be, record, (CANCELLED, FAILED))
    assert status.state == CANCELLED and "CANCELLED" in status.message


def test_rejected_submission_fails_with_sbatchs_message(slurm_cluster, tmp_path):
    with pytest.raises(KernelRunnerError, match=r"sbatch refused the job: .*invalid partition.*slurm\.partition"):
        backend(partition="nosuchpartition").launch(kernel(tmp_path, "pass\n"), tmp_path / "run")


def test_gpu_run_on_a_cluster_without_gpus_is_refused(slurm_cluster, tmp_path):
    with pytest.raises(KernelRunnerError, match="sbatch refused the job: .*gres"):
        backend().launch(kernel(tmp_path, "pass\n", device="gpu"), tmp_path / "run")


def test_completion_log_answers_when_accounting_is_disabled(slurm_cluster, tmp_path):
    be = backend()
    record = be.launch(kernel(tmp_path, "sys.exit(0)\n"), tmp_path / "run")
    wait_for(be, record, (COMPLETE,))
    accounting = subprocess.run(["sacct", "-j", record["job_id"]], capture_output=True, text=True)
    if accounting.returncode == 0:
        pytest.skip("this cluster has accounting; the completion-log fallback is not exercised")
    assert "accounting storage is disabled" in accounting.stderr
    deadline = time.time() + 30  # jobcomp/filetxt is written when the job record is finalised
    while (job := be.accounting_record(record["job_id"])) is None and time.time() < deadline:
        time.sleep(0.5)
    assert job is not None and job["state"] == "COMPLETED" and job["source"] == "sacct -c"


def test_vanished_job_is_detected_not_waited_on(slurm_cluster, tmp_path):
    be = backend()
    work = tmp_path / "work"
    work.mkdir()
    record = {"backend": "slurm", "id": "job-99999999", "job_id": "99999999", "work": str(work), "nonce": NONCE,
              "output": str(tmp_path / "slurm-99999999.out"), "launched": time.time()}
    with pytest.raises(KernelRunnerError, match="vanished from the queue without a completion record"):
        wait(be, record, NONCE, interval=0.1, deadline=30, log_file=tmp_path / "k.log", echo=lambda m: None)
    # a job purged after it finished is still judged by the kernel's own record
    (work / "session_summary.json").write_text(json.dumps({"nonce": NONCE, "status": "complete"}))
    assert be.status(record).state == COMPLETE
    (work / "session_summary.json").write_text(json.dumps({"nonce": "other", "status": "complete"}))
    assert be.status(record).state == FAILED
