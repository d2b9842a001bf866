"""kernel_runner units: git snapshot, rendering, polling rules, verified download."""

import json
import subprocess
from pathlib import Path

import pytest
from workflow_helpers import REPO, git

from kernel_runner import KernelRunnerError
from kernel_runner.backends import COMPLETE, FAILED, RUNNING, Status, kernel_environment
from kernel_runner.download import download, sha256_file
from kernel_runner.gitsync import content_hash, find_secrets, looks_like_credential, snapshot
from kernel_runner.poll import wait
from kernel_runner.render import render_kernel

PATHS = ["src", "kernel"]


@pytest.fixture
def repo(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "model.py").write_text("x = 1\n")
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "k.j2").write_text("{{ a }}\n")
    (tmp_path / "README.md").write_text("hello\n")
    (tmp_path / ".gitignore").write_text("ignored.txt\n")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "init")
    return tmp_path


def test_hash_follows_content_not_head_or_other_files(repo):
    h0 = content_hash(repo, PATHS)
    (repo / "README.md").write_text("changed\n")
    (repo / "src" / "ignored.txt").write_text("ignored\n")
    assert content_hash(repo, PATHS) == h0
    git(repo, "commit", "-qam", "docs")
    assert content_hash(repo, PATHS) == h0
    (repo / "src" / "model.py").write_text("x = 2\n")
    h1 = content_hash(repo, PATHS)
    assert h1 != h0
    (repo / "src" / "model.py").write_text("x = 1\n")
    assert content_hash(repo, PATHS) == h0
    assert content_hash(repo, PATHS, extra={"seeds": 2}) != h0
    (repo / "src" / "new.py").write_text("untracked but not ignored\n")
    assert content_hash(repo, PATHS) != h0


def test_snapshot_is_a_parentless_commit_of_the_experiment_files_and_a_bundle(repo, tmp_path):
    h = content_hash(repo, PATHS)
    snap = snapshot(repo, PATHS, [], h, bundle=tmp_path / "code.bundle")
    assert snap.head == git(repo, "rev-parse", "HEAD").strip() and snap.snapshotted_changes == []
    assert git(repo, "rev-parse", snap.ref).strip() == snap.sha != snap.head
    assert git(repo, "rev-list", "--count", snap.sha).strip() == "1"  # no history travels with it
    assert git(repo, "ls-tree", "-r", "--name-only", snap.sha).split() == ["kernel/k.j2", "src/model.py"]
    # the same content gives the same commit, whatever HEAD and the clock say
    git(repo, "commit", "-q", "--allow-empty", "-m", "later")
    assert snapshot(repo, PATHS, [], h).sha == snap.sha
    # the bundle holds that commit alone and clones without the repository
    clone = tmp_path / "clone"
    clone.mkdir()
    git(clone, "init", "-q")
    git(clone, "fetch", "-q", str(tmp_path / "code.bundle"), snap.ref)
    git(clone, "checkout", "-q", "FETCH_HEAD")
    assert git(clone, "rev-parse", "HEAD").strip() == snap.sha
    assert (clone / "src" / "model.py").read_text() == "x = 1\n" and not (clone / "README.md").exists()
    assert snap.bundle["bytes"] == (tmp_path / "code.bundle").stat().st_size


def test_dirty_tree_snapshot_does_not_move_the_branch(repo):
    head = git(repo, "rev-parse", "HEAD").strip()
    (repo / "src" / "model.py").write_text("x = 3\n")
    (repo / "src" / "extra.py").write_text("y = 1\n")
    (repo / "kernel" / "k.j2").unlink()
    (repo / "README.md").write_text("not part of the experiment\n")
    snap = snapshot(repo, PATHS, [], content_hash(repo, PATHS))
    assert git(repo, "rev-parse", "HEAD").strip() == head
    assert git(repo, "rev-list", "--count", "main").strip() == "1"
    assert git(repo, "show", f"{snap.sha}:src/model.py") == "x = 3\n"
    assert git(repo, "show", f"{snap.sha}:src/extra.py") == "y = 1\n"
    for gone in ("README.md", "kernel/k.j2"):  # only the experiment files, as they are now
        with pytest.raises(subprocess.CalledProcessError):
            git(repo, "show", f"{snap.sha}:{gone}")
    assert sorted(snap.snapshotted_changes) == ["src/extra.py", "src/model.py"]
    status = git(repo, "status", "--porcelain")
    assert "src/model.py" in status  # the user's index and working tree are untouched


@pytest.mark.parametrize("where", ["untracked", "committed"])
def test_credentials_are_never_snapshotted(repo, where):
    secret = repo / "src" / "kaggle.json"
    secret.write_text(json.dumps({"username": "me", "key": "0123456789abcdef" * 2}))
    if where == "committed":
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "oops")
    with pytest.raises(KernelRunnerError, match="'src/kaggle.json'.*credential.*rule credential-file-name"):
        snapshot(repo, PATHS, [], content_hash(repo, PATHS))
    assert git(repo, "for-each-ref", "refs/kernel-runs").strip() == ""  # nothing pinned


KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"  # pragma: allowlist secret


@pytest.mark.parametrize("name,text,rule", [
    ("notes_token.txt", f'{{"username": "me", "key":"{KEY}"}}\n', "Hex High Entropy String"),
    ("local_settings.py", f'KAGGLE_KEY = "{KEY}"\n', "kaggle-key-assignment"),
    ("settings.yaml", f"kaggle:\n  key: {KEY}\n", "key-field-32-hex"),
    ("deploy.txt", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==\n", "Private Key"),
    ("aws.cfg", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", "AWS Access Key"),
])
def test_secrets_in_any_shape_are_refused_naming_file_line_and_rule(repo, name, text, rule):
    (repo / "src" / name).write_text("# settings\n" + text)
    with pytest.raises(KernelRunnerError, match=rf"'src/{name}' line \d+: .*rule [^;]*") as err:
        snapshot(repo, PATHS, [], content_hash(repo, PATHS))
    assert rule in str(err.value) or rule in repr(find_secrets(repo, [f"src/{name}"]))
    assert KEY not in str(err.value)  # the message never repeats the secret
    assert looks_like_credential(name, text.encode())
    assert not looks_like_credential("src/model.py", b"x = 1")
    # a false alarm marked as such is let through
    (repo / "src" / name).write_text("x = 1\n")
    snapshot(repo, PATHS, [], content_hash(repo, PATHS))


def test_a_credential_committed_then_removed_never_reaches_the_remote(repo, tmp_path):
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    (repo / "src" / "kaggle.json").write_text(json.dumps({"username": "me", "key": KEY}))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "oops, committed the key")
    with pytest.raises(KernelRunnerError, match="kaggle.json"):
        snapshot(repo, PATHS, [], content_hash(repo, PATHS), remote=str(remote), push=True)
    git(repo, "rm", "-q", "--cached", "src/kaggle.json")  # what the refusal advised
    (repo / ".gitignore").write_text("ignored.txt\nkaggle.json\n")
    git(repo, "commit", "-qam", "untrack the key")
    snap = snapshot(repo, PATHS, [], content_hash(repo, PATHS), remote=str(remote), push=True)
    assert snap.pushed
    objects = subprocess.run(["git", "rev-list", "--all", "--objects"], cwd=remote, capture_output=True, text=True,
                             check=True).stdout
    assert "kaggle.json" not in objects  # the file never went, nor any commit that had it
    blobs = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=remote, capture_output=True,
                           check=True).stdout
    assert KEY.encode() not in blobs
    assert git(remote, "rev-list", "--count", "--all").strip() == "1"


def test_a_repository_without_a_commit_can_still_pin_its_experiment(tmp_path):
    git(tmp_path, "init", "-q")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("a = 1\n")
    snap = snapshot(tmp_path, ["src"], [], "0" * 64, bundle=tmp_path / "b.bundle")
    assert snap.head is None and snap.snapshotted_changes == ["src/a.py"]
    assert git(tmp_path, "show", f"{snap.sha}:src/a.py") == "a = 1\n"


@pytest.fixture
def sync(repo, tmp_path):
    snap = snapshot(repo, PATHS, [], content_hash(repo, PATHS), bundle=tmp_path / "code.bundle")
    return snap.to_dict()

RUN = {"run_id": "local-cpu-0123456789ab", "mode": "quick", "device": "cpu", "backend": "local",
       "parameters": {"mode": "quick", "seeds": 2, "algorithms": ["ppo"]}, "install": {"numba==0.68.1": "numba"}}


def test_kernel_environment_drops_the_zero_thread_counts_of_a_waiting_rule():
    env = {"OMP_NUM_THREADS": "0", "MKL_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "", "PATH": "/bin"}
    out = kernel_environment(env, PYTHONUNBUFFERED="1")
    assert out == {"MKL_NUM_THREADS": "4", "PATH": "/bin", "PYTHONUNBUFFERED": "1"}
    assert env["OMP_NUM_THREADS"] == "0"  # the caller's copy is left alone


def test_render_embeds_every_parameter_the_code_and_a_nonce(sync, repo, tmp_path):
    rec = render_kernel(REPO / "kernel", tmp_path / "k", sync, RUN)
    script = (tmp_path / "k" / "kernel.py").read_text()
    assert rec["nonce"] in script and sync["sha"] in script and '\\"seeds\\": 2' in script
    assert str(repo) not in script and str(tmp_path) not in script  # no local path: the code travels inside
    assert sync["bundle"]["sha256"] in script
    meta = json.loads((tmp_path / "k" / "kernel-metadata.json").read_text())
    assert meta["enable_gpu"] is False and meta["kernel_type"] == "script"
    other = render_kernel(REPO / "kernel", tmp_path / "k2", sync, RUN)
    assert other["nonce"] != rec["nonce"]


def test_a_damaged_bundle_is_refused(sync, tmp_path):
    Path(sync["bundle"]["path"]).write_bytes(b"not a bundle")
    with pytest.raises(KernelRunnerError, match="does not match the sha256 sync recorded"):
        render_kernel(REPO / "kernel", tmp_path / "k", sync, RUN)


def test_render_refuses_missing_variables(sync, tmp_path):
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "kernel.py.j2").write_text("{{ not_given }}\n")
    (tmp_path / "t" / "kernel-metadata.json.j2").write_text("{}\n")
    with pytest.raises(KernelRunnerError, match="not_given"):
        render_kernel(tmp_path / "t", tmp_path / "out", sync, RUN)


class FakeBackend:
    """A scripted run: a list of (status, log lines so far)."""

    name = "fake"

    def __init__(self, script):
        self.script = script
        self.calls = 0

    def status(self, record):
        self.current = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return self.current[0]

    def log(self, record):
        return [{"stream_name": "stdout", "time": i, "data": d + "\n"} for i, d in enumerate(self.current[1])]


def _wait(backend, tmp_path, nonce="n1", deadline=None):
    sleeps = []
    clock = iter(range(0, 10_000, 10))
    messages = []
    result = wait(backend, {"backend": "fake", "id": "r1", "launched": 0}, nonce, interval=10, deadline=deadline,
                  log_file=tmp_path / "kernel.log", echo=messages.append, sleep=sleeps.append,
                  clock=lambda: next(clock))
    return result, sleeps, messages


def test_poll_needs_this_runs_nonce(tmp_path):
    ok = FakeBackend([(Status(RUNNING), ["start"]), (Status(RUNNING), ["start", "work"]),
                      (Status(COMPLETE), ["start", "work", "SESSION_COMPLETE n1"])])
    result, sleeps, messages = _wait(ok, tmp_path)
    assert result["state"] == COMPLETE
    assert ok.calls == 3 and sleeps == [10, 10]  # one status call per interval, sleeping in between
    assert [m.split("] ", 1)[1] for m in messages] == ["fake run r1: running", "fake run r1: complete"]
    assert "work" in (tmp_path / "kernel.log").read_text()
    stale = FakeBackend([(Status(COMPLETE), ["SESSION_COMPLETE old-nonce"])])
    with pytest.raises(KernelRunnerError, match="without 'SESSION_COMPLETE n1'"):
        _wait(stale, tmp_path)


def test_poll_reports_failures_with_the_log_tail(tmp_path):
    failed = FakeBackend([(Status(FAILED, "exit 1"), ["line a", "Traceback", "ValueError: boom"])])
    with pytest.raises(KernelRunnerError, match="(?s)failed: exit 1.*ValueError: boom"):
        _wait(failed, tmp_path)


def test_poll_deadline_keeps_the_launch(tmp_path):
    slow = FakeBackend([(Status(RUNNING), ["still going"])])
    with pytest.raises(KernelRunnerError, match="deadline_s=25.*run the same snakemake command again"):
        _wait(slow, tmp_path, deadline=25)


class DirBackend:
    name = "dir"

    def __init__(self, source: Path):
        self.source = source

    def fetch(self, record, staging, state=False):  # brings everything: the download drops the state
        import shutil

        shutil.copytree(self.source, staging, dirs_exist_ok=True)


def _outputs(tmp_path, nonce="n1", commit="c1"):
    src = tmp_path / "remote"
    src.mkdir()
    (src / "training_metrics.json").write_text("{}")
    (src / "sub").mkdir()
    (src / "sub" / "model.zip").write_bytes(b"\x00" * 100)
    files = {p.relative_to(src).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
             for p in src.rglob("*") if p.is_file()}
    (src / "session_summary.json").write_text(json.dumps({"status": "complete", "nonce": nonce, "commit": commit,
                                                          "files": files}))
    return src


def test_download_verifies_and_moves_atomically(tmp_path):
    src = _outputs(tmp_path)
    dest = tmp_path / "run" / "output"
    summary = download(DirBackend(src), {}, "c1", "n1", dest)
    assert (dest / "sub" / "model.zip").exists() and len(summary["files"]) == 2
    assert [p.name for p in dest.parent.iterdir()] == ["output"]  # no staging left behind


@pytest.mark.parametrize("state", [False, True])
def test_the_resume_state_is_downloaded_only_when_asked_for(tmp_path, state):
    from kernel_runner.download import VERIFIED, check_download
    from kernel_runner.render import STATE_DIR

    src = tmp_path / "remote"
    (src / STATE_DIR / "checkpoints").mkdir(parents=True)
    (src / STATE_DIR / "checkpoints" / "replay_buffer.pkl").write_bytes(b"\x07" * 5000)
    (src / "metrics.json").write_text("{}")
    files = {p.relative_to(src).as_posix(): {"sha256": sha256_file(p), "bytes": p.stat().st_size}
             for p in src.rglob("*") if p.is_file()}
    (src / "session_summary.json").write_text(json.dumps({"status": "complete", "nonce": "n1", "commit": "c1",
                                                          "files": files}))
    dest = tmp_path / "run" / "output"
    summary = download(DirBackend(src), {}, "c1", "n1", dest, cache=dest.parent / VERIFIED, state=state)
    assert set(summary["files"]) == {"metrics.json", f"{STATE_DIR}/checkpoints/replay_buffer.pkl"}  # listed
    assert (dest / STATE_DIR / "checkpoints" / "replay_buffer.pkl").exists() == state
    assert (f"{STATE_DIR}/checkpoints/replay_buffer.pkl" in json.loads((dest.parent / VERIFIED).read_text())) == state
    check_download(dest, skip=(f"{STATE_DIR}/",))  # what the workflow checks before every job
    if not state:
        with pytest.raises(KernelRunnerError, match="replay_buffer.pkl is gone"):
            check_download(dest)  # nothing skipped: the state is listed and absent


@pytest.mark.parametrize("fault,match", [
    ("corrupt", "does not match its sha256"), ("truncated", "does not match its sha256"),
    ("missing", "was not downloaded"), ("nonce", "another run"), ("commit", "expected c1"),
])
def test_download_rejects_bad_outputs_and_keeps_dest_untouched(tmp_path, fault, match):
    src = _outputs(tmp_path, nonce="other" if fault == "nonce" else "n1",
                   commit="c2" if fault == "commit" else "c1")
    if fault == "corrupt":
        (src / "sub" / "model.zip").write_bytes(b"\x01" * 100)
    elif fault == "truncated":
        (src / "sub" / "model.zip").write_bytes(b"\x00" * 50)
    elif fault == "missing":
        (src / "training_metrics.json").unlink()
    dest = tmp_path / "run" / "output"
    with pytest.raises(KernelRunnerError, match=match):
        download(DirBackend(src), {}, "c1", "n1", dest)
    assert not dest.exists() and list(dest.parent.iterdir()) == []


def test_only_the_kernels_own_folder_is_downloaded_and_made_read_only(tmp_path):
    from kernel_runner.render import OUT_DIR

    work = tmp_path / "work"  # a kernel's working directory: its own folder beside the platform's files
    work.mkdir()
    _outputs(work).rename(work / OUT_DIR)
    (work / "__notebook__.ipynb").write_text("the platform's own file, in no manifest")
    (work / "kernel.log.json").write_text("[]")
    dest = tmp_path / "run" / "output"
    download(DirBackend(work), {}, "c1", "n1", dest)
    assert sorted(p.name for p in dest.iterdir()) == ["kernel.log.json", "session_summary.json", "sub",
                                                       "training_metrics.json"]
    assert not (dest / "sub" / "model.zip").stat().st_mode & 0o222  # the run's record: read-only


def test_a_full_disk_during_the_download_is_one_line_and_leaves_nothing(tmp_path):
    import os

    small = tmp_path / "small"
    small.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root to mount a 64 KiB tmpfs (a real full disk)")
    try:
        src = _outputs(tmp_path)
        (src / "sub" / "model.zip").write_bytes(os.urandom(200_000))  # more than the disk holds
        dest = small / "run" / "output"
        with pytest.raises(KernelRunnerError) as err:
            download(DirBackend(src), {}, "c1", "n1", dest)
        msg = str(err.value)
        assert "\n" not in msg and "No space left on device" in msg and "free space there" in msg, msg
        assert len(msg) < 400
        assert not dest.exists() and list((small / "run").iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


def _progress(task, done, total, **facts):
    return "PROGRESS " + json.dumps({"task": task, "phase": "train", "done": done, "total": total, "unit": "steps",
                                     "rate": 100.0, "eta_s": (total - done) / 100, **facts})


def test_poll_shows_the_kernels_progress_as_it_streams(tmp_path):
    lines = ["start", _progress("ppo seed 0", 100, 1000, episodes=2, eval_reward=None),
             _progress("dqn seed 0", 50, 1000), _progress("ppo seed 0", 600, 1000, eval_reward=-68.25),
             _progress("ppo seed 0", 1000, 1000), "SESSION_COMPLETE n1"]
    backend = FakeBackend([(Status(RUNNING), lines[:2]), (Status(RUNNING), lines[:4]), (Status(COMPLETE), lines)])
    shown = []
    clock = iter(range(0, 10_000, 10))
    wait(backend, {"backend": "fake", "id": "r1", "launched": 0}, "n1", interval=10, deadline=None,
         log_file=tmp_path / "kernel.log", echo=lambda m: None, sleep=lambda s: None, clock=lambda: next(clock),
         progress=shown.append)
    assert shown[0] == "[train] ppo seed 0 100/1,000 steps (10%), 100/s, ETA 00:00:09, episodes 2"
    assert shown[1] == ("[train] dqn seed 0 50/1,000 steps (5%), 100/s, ETA 00:00:09 | "
                        "[train] ppo seed 0 600/1,000 steps (60%), 100/s, ETA 00:00:04, eval_reward -68.25")
    assert shown[-1].startswith("[train] dqn seed 0 50/1,000") and "ppo seed 0 1,000/1,000 steps (100%)" in shown[-1]


def test_the_live_line_rewrites_itself_on_a_terminal_and_logs_at_its_own_pace():
    import io

    from kernel_runner.poll import LiveLine

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term, logged, now = Terminal(), [], [0.0]
    live = LiveLine(to_log=logged.append, stream=term, log_every_s=30.0, clock=lambda: now[0])
    for t, text in enumerate(["[train] a 1/10", "[train] a 2/10", "[train] a 3/10"]):
        now[0] = 20.0 * t
        live.show(text)
    live.echo("status: running", lambda m: term.write(m + "\n"))
    live.close()
    screen = term.getvalue()
    assert "\r" in screen and "[train] a 3/10" in screen and "status: running\n" in screen
    assert screen.count("\n") == 1  # one line rewritten in place, not a scroll; the status above it
    assert logged == ["progress: [train] a 1/10", "progress: [train] a 3/10"]  # t=0 and t=40; the rest waits


@pytest.mark.parametrize("budget", [{}, {"time_limit_s": 120, "stop_margin_s": 30}])
def test_the_kernel_carries_its_session_limit_as_python(tmp_path, budget):
    """The rendered constants are Python (no limit: None), and the part line is where backends write it."""
    import ast
    import hashlib

    bundle = tmp_path / "code.bundle"
    bundle.write_bytes(b"bundle")
    sync = {"sha": "0" * 40, "ref": "refs/x", "head": None,
            "bundle": {"path": str(bundle), "sha256": hashlib.sha256(b"bundle").hexdigest()}}
    run = {"run_id": "local-cpu-0", "mode": "quick", "device": "cpu", "backend": "local", "parameters": {},
           **budget}
    render_kernel(Path(__file__).resolve().parents[1] / "kernel", tmp_path / "k", sync, run)
    tree = ast.parse((tmp_path / "k" / "kernel.py").read_text())
    values = {node.targets[0].id: node.value for node in tree.body
              if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    assert ast.literal_eval(values["TIME_LIMIT_S"]) == budget.get("time_limit_s")
    assert ast.literal_eval(values["STOP_MARGIN_S"]) == budget.get("stop_margin_s", 0)
    assert "\nPART = 1  #" in (tmp_path / "k" / "kernel.py").read_text()


def test_the_end_markers_say_whose_end_it_was():
    """A part's continuation is its own (part number), a stop from outside is no reported failure."""
    from kernel_runner.poll import belongs_to_run, continue_seen, failure_reported

    log = "SESSION_START n1 part 2\nSESSION_CONTINUE n1 part 2\n"
    assert continue_seen(log, "n1", 2) and not continue_seen(log, "n1", 3) and not continue_seen(log, "n2", 2)
    assert belongs_to_run(log, "n1", 2) and not belongs_to_run(log, "n1", 3)  # part 3 sees part 2's as stale
    stopped = "SESSION_STOPPED n1: kernel received SIGTERM\n"
    assert belongs_to_run(stopped, "n1") and not failure_reported(stopped, "n1")
    assert failure_reported("SESSION_FAILED n1: RuntimeError: boom\n", "n1")
    assert not failure_reported("SESSION_FAILED n2: RuntimeError: boom\n", "n1")
