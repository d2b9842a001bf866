"""The suite leaves the machine as it found it: what a fixture starts is stopped at the end of the
session, also after Ctrl-C, and a process left behind fails the run (tests/conftest.py)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

CONFTEST = Path(__file__).parent / "conftest.py"

LEAKY = '''
import subprocess

def test_starts_a_detached_process_and_forgets_it(tmp_path_factory):
    proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
    open({pidfile!r}, "w").write(str(proc.pid))
'''

TIDY_BUT_INTERRUPTED = '''
import subprocess, time
import pytest

@pytest.fixture(scope="session")
def service():
    proc = subprocess.Popen(["sleep", "600"], start_new_session=True)
    open({pidfile!r}, "w").write(str(proc.pid))
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()

def test_waits(service):
    open({ready!r}, "w").write("ready")
    time.sleep(120)
'''


def _inner_suite(tmp_path: Path, source: str) -> Path:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "conftest.py").write_text(CONFTEST.read_text())
    (suite / "test_inner.py").write_text(source)
    return suite


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_process_left_behind_fails_the_session_and_is_named(tmp_path):
    pidfile = tmp_path / "pid"
    suite = _inner_suite(tmp_path, LEAKY.format(pidfile=str(pidfile)))
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
                         capture_output=True, text=True, timeout=120, cwd=suite,
                         env={**os.environ, "ARZ_LEAK_GRACE_S": "1"})
    pid = int(pidfile.read_text())
    try:
        assert out.returncode == 1, out.stdout + out.stderr
        assert "1 passed" in out.stdout
        assert f"LEAK: process left behind by the test suite: pid {pid}: sleep 600" in out.stdout
    finally:
        os.kill(pid, signal.SIGKILL)


def test_ctrl_c_still_stops_what_a_session_fixture_started(tmp_path):
    pidfile, ready = tmp_path / "pid", tmp_path / "ready"
    suite = _inner_suite(tmp_path, TIDY_BUT_INTERRUPTED.format(pidfile=str(pidfile), ready=str(ready)))
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=suite,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while not ready.exists() and time.time() < deadline:
        time.sleep(0.1)
    assert ready.exists(), "the inner test never started"
    pid = int(pidfile.read_text())
    assert _alive(pid)
    proc.send_signal(signal.SIGINT)
    text = proc.communicate(timeout=60)[0]
    assert proc.returncode == 2, text  # pytest's "interrupted"
    assert "KeyboardInterrupt" in text
    assert not _alive(pid), f"the fixture's process {pid} survived Ctrl-C"
    assert "LEAK" not in text


def _fake_sinfo(folder: Path, body: str) -> dict:
    """An environment whose PATH finds a ``sinfo`` running ``body`` (a shell script) first."""
    folder.mkdir()
    sinfo = folder / "sinfo"
    sinfo.write_text(f"#!/bin/sh\n{body}\n")
    sinfo.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}


def test_the_slurm_probe_never_hangs_on_a_missing_configuration(tmp_path):
    from conftest import _slurm_answers

    # sinfo retries for a minute on a configuration that does not exist: the probe does not ask it
    env = {**_fake_sinfo(tmp_path / "bin", "exec sleep 60"), "SLURM_CONF": str(tmp_path / "missing" / "slurm.conf")}
    t0 = time.perf_counter()
    assert _slurm_answers(env) is False
    assert time.perf_counter() - t0 < 1.0


def test_the_slurm_probe_gives_up_on_a_controller_that_does_not_answer(tmp_path):
    from conftest import _slurm_answers

    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=none\n")
    env = {**_fake_sinfo(tmp_path / "bin", "exec sleep 60"), "SLURM_CONF": str(conf)}
    t0 = time.perf_counter()
    assert _slurm_answers(env, timeout_s=1.0) is False  # a TimeoutExpired never escapes
    assert time.perf_counter() - t0 < 5.0
    up = {**_fake_sinfo(tmp_path / "bin2", "echo up"), "SLURM_CONF": str(conf)}
    assert _slurm_answers(up) is True
