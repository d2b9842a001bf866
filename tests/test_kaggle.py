"""The Kaggle backend with the real client against the local Kaggle-protocol server."""

import json
import time
from pathlib import Path

import pytest
from kaggle_server import KaggleTestServer
from kagglesdk import kaggle_env

from kernel_runner import KernelRunnerError
from kernel_runner.backends.kaggle import KaggleBackend
from kernel_runner.download import download
from kernel_runner.poll import wait

KEY = "0" * 32
CONTRACT = '''
import hashlib, json, pathlib, sys, time
NONCE = {nonce!r}
print("SESSION_START " + NONCE, flush=True)
out = pathlib.Path.cwd() / "arz_rl_run"  # the kernel's own folder, beside the platform's files
out.mkdir()
time.sleep({work_s})
(out / "metrics.json").write_text(json.dumps({{"value": 42}}))
(out / "models").mkdir()
(out / "models" / "agent.zip").write_bytes(bytes(range(256)) * 40)
(out / "state" / "checkpoints").mkdir(parents=True)  # resume state: listed, not downloaded by default
(out / "state" / "checkpoints" / "replay_buffer.pkl").write_bytes(bytes(5000))
files = {{p.relative_to(out).as_posix(): {{"sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
          "bytes": p.stat().st_size}} for p in out.rglob("*") if p.is_file()}}
(out / "session_summary.json").write_text(json.dumps({{"status": "complete", "nonce": NONCE,
    "commit": "c0ffee", "files": files}}))
if {fail}:
    print("SESSION_FAILED " + NONCE + ": boom", flush=True)
    sys.exit(3)
print("SESSION_COMPLETE " + NONCE, flush=True)
'''


@pytest.fixture
def server(tmp_path, monkeypatch):
    srv = KaggleTestServer(tmp_path / "server", users={"tester": KEY}).start()
    monkeypatch.setitem(kaggle_env._env_to_endpoint, kaggle_env.KaggleEnv.PROD, srv.url)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-config"))
    monkeypatch.setenv("KAGGLE_USERNAME", "tester")
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    monkeypatch.delenv("KAGGLE_API_ENVIRONMENT", raising=False)
    yield srv
    srv.stop()


def kernel(tmp_path: Path, nonce: str, work_s: float = 0.3, fail: bool = False, device: str = "gpu") -> Path:
    d = tmp_path / f"kernel-{nonce}"
    d.mkdir()
    (d / "kernel.py").write_text(CONTRACT.format(nonce=nonce, work_s=work_s, fail=fail))
    meta = KaggleBackend.kernel_metadata({"owner": "tester", "session_timeout_s": 3600}, "quick", device)
    meta.update(code_file="kernel.py", language="python", kernel_type="script", is_private=True,
                enable_gpu=device != "cpu", enable_internet=True)
    (d / "kernel-metadata.json").write_text(json.dumps(meta))
    return d


def backend(**kw) -> KaggleBackend:
    return KaggleBackend(**{"backoff_s": 0.01, "stale_grace_s": 20.0, **kw})


def run(be, tmp_path, nonce, **kw):
    record = be.launch(kernel(tmp_path, nonce, **kw), tmp_path)
    messages = []
    done = wait(be, record, nonce, interval=0.1, deadline=60, log_file=tmp_path / f"{nonce}.log",
                echo=messages.append)
    return record, done, messages


def test_push_poll_download(server, tmp_path):
    be = backend()
    record, done, messages = run(be, tmp_path, "n1")
    assert server.pushes == 1 and record["version"] == 1 and record["kernel"] == "tester/arz-rl-quick"
    assert record["url"] and record["ref"]
    assert done["state"] == "complete"
    assert any("running" in m for m in messages)
    summary = download(be, record, "c0ffee", "n1", tmp_path / "out")
    assert (tmp_path / "out" / "models" / "agent.zip").stat().st_size == 256 * 40
    assert not (tmp_path / "out" / "__notebook_source__.ipynb").exists()  # the platform's file stays behind
    log = json.loads((tmp_path / "out" / "kernel.log.json").read_text())  # Kaggle's log, parsed, beside them
    assert any("SESSION_COMPLETE n1" in e["data"] for e in log)
    assert set(summary["files"]) == {"metrics.json", "models/agent.zip", "state/checkpoints/replay_buffer.pkl"}
    assert not (tmp_path / "out" / "state").exists()  # the resume state stayed on Kaggle: never transferred
    assert "arz_rl_run/models/agent.zip" in server.served
    assert not [name for name in server.served if "/state/" in name]
    download(be, record, "c0ffee", "n1", tmp_path / "with-state", state=True)
    assert (tmp_path / "with-state" / "state" / "checkpoints" / "replay_buffer.pkl").stat().st_size == 5000
    meta = server.kernels["tester/arz-rl-quick"][0].meta
    # the client sends the session limit only from kernels_push's timeout, never from the metadata file
    assert meta["sessionTimeoutSeconds"] == 3600
    assert meta["enableGpu"] is True and meta["machineShape"] == "NvidiaTeslaT4"
    assert meta["isPrivate"] is True and meta["enableInternet"] is True and meta["newTitle"] == "arz-rl-quick"
    assert KEY not in json.dumps(meta)  # credentials are never sent in the kernel


def test_429_and_5xx_are_retried(server, tmp_path):
    server.faults.update(http_429={"SaveKernel": 2, "GetKernelSessionStatus": 2},
                         http_500={"GetKernelSessionStatus": 1, "ListKernelSessionOutput": 2},
                         http_503={"SaveKernel": 1})
    record, done, _ = run(backend(), tmp_path, "n2")
    assert done["state"] == "complete" and server.pushes == 1
    assert server.calls["SaveKernel"] == 4


def test_retries_give_up_with_a_message(server, tmp_path):
    server.faults.update(http_500={"SaveKernel": 10})
    with pytest.raises(KernelRunnerError, match="push still failing after 2 retries"):
        backend(retries=2).launch(kernel(tmp_path, "n3"), tmp_path)
    assert server.pushes == 0


def test_push_error_in_a_200_body_is_a_failure(server, tmp_path):
    server.faults["push_error"] = "Maximum batch GPU session count of 2 reached"
    with pytest.raises(KernelRunnerError, match="refused the push.*Maximum batch GPU session count"):
        backend().launch(kernel(tmp_path, "n4"), tmp_path)


def test_error_status_fails_with_its_message(server, tmp_path):
    with pytest.raises(KernelRunnerError, match="(?s)failed: Your notebook hit an error: exit status 3.*FAILED n5"):
        run(backend(), tmp_path, "n5", fail=True)
    server.faults["fail_run"] = "Kernel ran out of memory"
    with pytest.raises(KernelRunnerError, match="out of memory"):
        run(backend(), tmp_path, "n5b")


def test_long_queue_is_waited_out(server, tmp_path):
    server.faults["queue_s"] = 1.5
    _, done, messages = run(backend(), tmp_path, "n6")
    assert done["state"] == "complete" and "queued" in messages[0]


def test_stale_complete_after_push_is_not_a_false_completion(server, tmp_path):
    be = backend()
    run(be, tmp_path, "old")
    server.faults["stale_complete"] = 5
    record, done, messages = run(be, tmp_path, "new", work_s=1.0)
    assert done["nonce"] == "new" and record["version"] == 2
    assert any("not this run's" in m for m in messages)


def test_cancelled_run_fails(server, tmp_path):
    server.faults["cancel_when_running"] = True
    with pytest.raises(KernelRunnerError, match="was cancelled"):
        run(backend(), tmp_path, "n7", work_s=5.0)


@pytest.mark.parametrize("fault", ["corrupt_file", "truncate_file"])
def test_damaged_output_is_rejected_and_nothing_is_moved(server, tmp_path, fault):
    be = backend()
    record, _, _ = run(be, tmp_path, "n8")
    server.faults[fault] = "models/agent.zip"
    with pytest.raises(KernelRunnerError, match="models/agent.zip does not match its sha256"):
        download(be, record, "c0ffee", "n8", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_credentials_fail_before_any_call(server, tmp_path, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    with pytest.raises(KernelRunnerError, match=r"kaggle.json.*~/.kaggle"):
        backend().launch(kernel(tmp_path, "n9"), tmp_path)
    assert server.calls == {}


def test_wrong_key_fails_at_once(server, tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_KEY", "f" * 32)
    with pytest.raises(KernelRunnerError, match="rejected the credentials.*HTTP 401"):
        backend(check_quota=False).launch(kernel(tmp_path, "n10"), tmp_path)
    assert server.calls["SaveKernel"] == 1


def test_bearer_token(server, tmp_path, monkeypatch):
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("KAGGLE_API_TOKEN", server.token)
    _, done, _ = run(backend(owner="tester"), tmp_path, "n11")
    assert done["state"] == "complete"


def test_quota_is_checked_before_pushing(server, tmp_path):
    server.faults["gpu_used_s"] = 108000 - 1800  # half an hour left, the kernel may take an hour
    with pytest.raises(KernelRunnerError, match="0.5 h of this week's Kaggle GPU quota.*check_quota=false"):
        backend().launch(kernel(tmp_path, "n12"), tmp_path)
    assert server.pushes == 0
    backend(check_quota=False).launch(kernel(tmp_path, "n13"), tmp_path)
    assert server.pushes == 1
    backend().launch(kernel(tmp_path, "n14", device="cpu"), tmp_path)  # no GPU, no quota needed
    assert server.pushes == 2
    time.sleep(0.5)


def test_a_session_past_its_pushed_timeout_is_ended_as_kaggle_does(server, tmp_path):
    """The push carries kaggle.session_timeout_s; the server ends a session running past it with
    Kaggle's status and message, and keeps none of its output."""
    from kaggle_server import TIMEOUT_MESSAGE

    be = backend()
    d = kernel(tmp_path, "slow", work_s=30)
    meta = json.loads((d / "kernel-metadata.json").read_text())
    (d / "kernel-metadata.json").write_text(json.dumps({**meta, "session_timeout_seconds": 2}))
    record = be.launch(d, tmp_path)
    assert server.kernels["tester/arz-rl-quick"][0].meta["sessionTimeoutSeconds"] == 2
    with pytest.raises(KernelRunnerError, match="exceeded the max allowed execution duration"):
        wait(be, record, "slow", interval=0.1, deadline=60, log_file=tmp_path / "slow.log", echo=lambda m: None)
    version = server.kernels["tester/arz-rl-quick"][0]
    assert version.timed_out and version.failure == TIMEOUT_MESSAGE and not list(version.workdir.iterdir())


MOUNTED = '''
import json, pathlib
NONCE = {nonce!r}
PART = 1  # the backend writes the part here
found = sorted(p.relative_to(pathlib.Path.cwd().parent).as_posix()
               for p in (pathlib.Path.cwd().parent / "input").rglob("*") if p.is_file())
print("PART", PART, "INPUT", json.dumps(found), flush=True)
print("SESSION_COMPLETE " + NONCE, flush=True)
'''


def test_part_two_mounts_part_ones_output_beside_its_working_folder(server, tmp_path):
    """Part k runs on the other kernel of a pair (<id>-cont for even parts) with part k - 1's kernel
    as its source: the server mounts that output at ../input/<slug>, as Kaggle does."""
    be = backend()
    record, done, _ = run(be, tmp_path, "p1")
    assert done["state"] == "complete"
    d = kernel(tmp_path, "p2")
    (d / "kernel.py").write_text(MOUNTED.format(nonce="p2"))
    second = be.launch(d, tmp_path, part=2)
    assert second["kernel"] == "tester/arz-rl-quick-cont" and second["part"] == 2
    assert server.kernels["tester/arz-rl-quick-cont"][0].meta["kernelDataSources"] == ["tester/arz-rl-quick"]
    wait(be, second, "p2", interval=0.1, deadline=60, log_file=tmp_path / "p2.log", echo=lambda m: None)
    text = "".join(e["data"] for e in be.log(second))
    assert "PART 2 INPUT" in text and "input/arz-rl-quick/arz_rl_run/metrics.json" in text
    assert "input/arz-rl-quick/arz_rl_run/state/checkpoints/replay_buffer.pkl" in text
