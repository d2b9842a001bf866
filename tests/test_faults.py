"""The fault matrix, each fault done for real on the local backend: processes killed by pid, snakemake
interrupted or killed, outputs edited or deleted, bad settings, read-only folders.  Each asserts no
hang (a bounded time), exactly one launch where a launch is kept, nothing lost, and the message.
The README's "Resume" section describes what these tests show."""

import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from workflow_helpers import TINY, launches, make_repo, runs, snakemake, start_snakemake, wait_until_polling

pytestmark = pytest.mark.slow
PLOTS = "results/quick/plots"
INTERVAL = 0.5  # poll.interval_s of these runs
REPORT_WITHIN = 2 * INTERVAL + 5  # the bound on reporting a dead process, in seconds


@pytest.fixture(scope="module")
def faults_config(tmp_path_factory) -> Path:
    """The tiny test sizes with training long enough to kill its processes in the middle."""
    config = yaml.safe_load(TINY.read_text())
    config["experiment"]["quick"].update(timesteps={"ppo": 20000, "dqn": 20000}, seeds=1, algorithms=["ppo", "dqn"])
    config["poll"]["interval_s"] = INTERVAL
    path = tmp_path_factory.mktemp("faults") / "faults.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _session(sid: int) -> dict[int, str]:
    """pid -> command line of the live processes of session ``sid``."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                found[int(entry.name)] = cmd
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kernel_pid(run: Path) -> int:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            return json.loads((run / "local" / "status.json").read_text())["pid"]
        except (OSError, KeyError, json.JSONDecodeError):
            time.sleep(0.1)
    raise AssertionError("the local kernel never started")


def _wait_for(run: Path, what: str, timeout: float = 120) -> int:
    """The pid of ``what`` (experiment, worker, kernel, supervisor) of the run's kernel, once it runs."""
    if what == "supervisor":
        return json.loads((run / "launch.json").read_text())["pid"]
    kernel = _kernel_pid(run)
    if what == "kernel":
        return kernel
    needle = {"experiment": "-m arz_rl.run", "worker": "multiprocessing.spawn"}[what]
    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = [pid for pid, cmd in _session(kernel).items() if needle in cmd]
        if pids and (what != "worker" or (run / "local" / "work").exists()):
            return pids[0]
        time.sleep(0.2)
    raise AssertionError(f"no {what} process appeared in the kernel's session: {_session(kernel)}")


def _poll_error_time(run: Path, timeout: float = 60) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        log = run / "logs" / "poll.log"
        if log.exists() and "ERROR (poll)" in log.read_text():
            return time.time()
        time.sleep(0.05)
    raise AssertionError("poll reported nothing")


def _change(repo: Path, tag: str) -> None:
    with (repo / "src" / "arz_rl" / "run.py").open("a") as fh:
        fh.write(f"# {tag}\n")


@pytest.mark.parametrize("target,message", [
    ("experiment", "experiment was killed by signal 9 (SIGKILL)"),
    ("worker", "a training worker process died"),
    ("kernel", "kernel killed by signal 9 (SIGKILL)"),
    ("supervisor", "supervisor (pid"),
])
def test_kill_9_of_any_process_of_the_kernel_is_reported_at_once(tmp_path, faults_config, target, message):
    repo = make_repo(tmp_path)
    proc = start_snakemake(repo, PLOTS, config=faults_config)
    try:
        run = wait_until_polling(repo)
        pid = _wait_for(run, target)
        kernel = _kernel_pid(run)
        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        assert _poll_error_time(run) - killed <= REPORT_WITHIN
        text = proc.communicate(timeout=120)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    assert message in text, text[-3000:]
    assert "--forcerun render" in text  # how to launch it again
    assert len(launches(run)) == 1
    assert _session(kernel) == {}  # nothing of the kernel's tree is left running
    assert not (run / "output").exists()
    if target in ("experiment", "worker"):  # the kernel itself survived: it wrote its failure down
        summary = json.loads((run / "local" / "work" / "arz_rl_run" / "session_summary.json").read_text())
        assert summary["status"] == "error"
        expected = "killed by signal 9" if target == "experiment" else "experiment exited with status 1"
        assert expected in summary["error"]


def test_an_orphaned_poll_stops_and_unlock_then_the_same_command_resumes(tmp_path):
    repo = make_repo(tmp_path)
    proc = start_snakemake(repo, PLOTS)
    run = wait_until_polling(repo)
    poller = next(pid for pid, cmd in _session(os.getsid(proc.pid)).items() if ".poll.py" in cmd)
    os.kill(proc.pid, signal.SIGKILL)  # snakemake itself dies, as a closed terminal or an OOM kill does
    proc.wait(timeout=30)
    deadline = time.time() + REPORT_WITHIN
    while _alive(poller) and time.time() < deadline:
        time.sleep(0.1)
    assert not _alive(poller), "the orphaned poll step kept waiting"
    locked = snakemake(repo, PLOTS)
    assert locked.returncode != 0 and "--unlock" in locked.stdout + locked.stderr  # snakemake says what to do
    assert snakemake(repo, "--unlock", PLOTS).returncode == 0
    out = snakemake(repo, PLOTS)  # incomplete jobs rerun by themselves (rerun-incomplete in the default profile)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(launches(run)) == 1 and (repo / PLOTS / "learning_curves.pdf").exists()


def test_sigint_at_snakemakes_own_pid_stops_the_wait_within_seconds_and_resumes(tmp_path):
    repo = make_repo(tmp_path)
    proc = start_snakemake(repo, PLOTS)
    run = wait_until_polling(repo)
    sent = time.time()
    os.kill(proc.pid, signal.SIGINT)  # the pid only, not its process group
    text = proc.communicate(timeout=60)[0].decode()
    assert time.time() - sent < 15, "snakemake kept waiting on the kernel"
    assert proc.returncode != 0 and "run the same snakemake command again to resume" in text, text[-2000:]
    out = snakemake(repo, PLOTS)  # the same command, no flag
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(launches(run)) == 1


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("finished"))
    out = snakemake(repo, PLOTS)
    assert out.returncode == 0, out.stderr[-3000:]
    return repo


def test_an_edited_download_is_never_published(finished):
    (run,) = runs(finished)
    path = run / "output" / "evaluation_results.json"
    before = {p.name: p.read_bytes() for p in (finished / "results" / "quick" / "tables").glob("*")}
    path.chmod(0o644)
    path.write_text(path.read_text().replace('"mean": ', '"mean": 9', 1))  # one number, edited by hand
    out = snakemake(finished, PLOTS, "--forcerun", "tables")
    assert out.returncode != 0
    assert f"{path.relative_to(finished)} does not match the sha256 in session_summary.json" in out.stderr
    assert "delete results/quick/runs/" in out.stderr
    assert {p.name: p.read_bytes() for p in (finished / "results" / "quick" / "tables").glob("*")} == before


def test_a_deleted_download_is_downloaded_again_not_relaunched(finished):
    import shutil

    (run,) = runs(finished)
    shutil.rmtree(run / "output")
    out = snakemake(finished, PLOTS)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "rule download:" in out.stderr and "rule push:" not in out.stderr
    assert len(launches(run)) == 1 and (run / "output" / "evaluation_results.json").exists()


@pytest.mark.parametrize("override,message", [
    ({"timesteps": {"dqn": 100}, "dqn": {"learning_starts": 500}}, "timesteps.dqn=100 must exceed dqn.learning_starts"),
    ({"ppo": {"learning_rate": "fast"}}, "ppo.learning_rate='fast': must be a number > 0"),
])
def test_settings_the_experiment_refuses_never_cost_a_launch(finished, tmp_path, override, message):
    config = yaml.safe_load(TINY.read_text())
    config["experiment"]["quick"].update(override)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(config))
    before = set(runs(finished))
    out = snakemake(finished, PLOTS, config=cfg)
    assert out.returncode != 0 and message in out.stderr and "nothing was launched" in out.stderr, out.stderr[-2000:]
    (new,) = set(runs(finished)) - before
    assert not (new / "launch.json").exists() and launches(new) == []


def test_a_read_only_results_folder_is_one_line(finished):
    (run,) = [r for r in runs(finished) if (r / "output").exists()]
    logs = run / "logs"
    for name in ("poll.log", "kernel.log"):
        (logs / name).unlink(missing_ok=True)
    # chattr +i: nothing can be created in the folder, not even by root (chmod does not stop root)
    if subprocess.run(["chattr", "+i", str(logs)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this filesystem")
    try:
        out = snakemake(finished, PLOTS, "--forcerun", "poll")
    finally:
        subprocess.run(["chattr", "-i", str(logs)], check=False)
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if line.startswith("ERROR (poll)")]
    assert errors and "Operation not permitted" in errors[0] and "make it writable" in errors[0], out.stderr[-2000:]
    # the step's own failure is that one line (snakemake then reports, in its own words, that it
    # cannot create the step's log files either)
    assert "kernel_runner" not in out.stderr.split("ERROR (poll)")[1]
    assert snakemake(finished, PLOTS).returncode == 0  # once writable again, the same command goes on


def test_run_out_on_an_unwritable_path_is_one_line(tmp_path):
    import sys

    out = subprocess.run([sys.executable, "-m", "arz_rl.run", "--mode", "quick", "--out", "/dev/null/results"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "--out /dev/null/results: cannot write there (Not a directory): choose a writable folder" in out.stderr


def test_a_killed_part_goes_on_from_its_last_save_only_when_the_config_allows(tmp_path, faults_config):
    """continuation.after_kill: true: the kernel killed mid-training (as a preemption would) without
    reporting a failure; the same snakemake command launches part 2, which resumes the agents
    from their newest checkpoints and ends with the plots."""
    config = yaml.safe_load(faults_config.read_text())
    config["continuation"] = {"max_parts": 3, "margin_s": 0, "after_kill": True}
    cfg = tmp_path / "after-kill.yaml"
    cfg.write_text(yaml.safe_dump(config))
    repo = make_repo(tmp_path / "repo")
    proc = start_snakemake(repo, PLOTS, config=cfg)
    try:
        run = wait_until_polling(repo)
        checkpoints = run / "local" / "work" / "arz_rl_run" / "state" / "checkpoints"
        deadline = time.time() + 180
        while time.time() < deadline and len(list(checkpoints.glob("*/session.pkl"))) < 2:
            time.sleep(0.2)
        os.kill(_kernel_pid(run), signal.SIGKILL)
        text = proc.communicate(timeout=400)[0].decode()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, text[-3000:]
    assert "was killed without reporting a failure" in text and "launched part 2" in text
    assert [p["part"] for p in launches(run)] == [1, 2]
    summary = json.loads((run / "output" / "session_summary.json").read_text())
    assert [p["status"] for p in summary["parts"]] == ["killed", "complete"]
    training = json.loads((run / "output" / "training_metrics.json").read_text())["runs"]
    for level in training.values():
        for agent in ("ppo", "dqn"):
            chain = level[agent]["0"]["sessions"]
            assert chain[0]["from"] == 0 and chain[-1]["to"] == level[agent]["0"]["timesteps"]
            assert all(a["to"] <= b["from"] < b["to"] for a, b in itertools.pairwise(chain))
    assert any(len(level[a]["0"]["sessions"]) == 2 and level[a]["0"]["sessions"][1]["from"] > 0
               for level in training.values() for a in ("ppo", "dqn"))
    assert (repo / PLOTS).exists()
