"""Supervisor of one local kernel: run it, timestamp its output, record how it ended.

    python -m kernel_runner.backends.local_supervisor KERNEL_SCRIPT WORK_DIR BASE_DIR

Writes ``BASE_DIR/log.jsonl`` (one {stream_name, time, data} object per line, Kaggle's log
entries) and ``BASE_DIR/status.json`` (``running`` with the kernel's pid, then ``exited`` with its
return code).  The kernel runs in a session of its own, which every process it starts joins; when
the kernel ends, however it ends, whatever is left of that session is ended too, and the exit
status is recorded even if a leftover still held the output pipes.  Told to stop (SIGTERM,
SIGINT, SIGHUP), the supervisor ends the whole session and records that.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

GRACE_S = 5.0  #: seconds the kernel's leftovers get after SIGTERM, before SIGKILL
DRAIN_S = 2.0  #: seconds to read what is left in the pipes once the kernel has ended


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``, from /proc (empty where there is none)."""
    found = []
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def end_session(sid: int, grace_s: float = GRACE_S) -> int:
    """SIGTERM, then SIGKILL after ``grace_s``, to every process of session ``sid``; waits until
    none is left (10 s at most after SIGKILL).  Returns how many processes there were."""
    first = session_members(sid)
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        members = session_members(sid)
        if not members:
            break
        for pid in members:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + wait_s
        while session_members(sid) and time.time() < deadline:
            time.sleep(0.05)
    return len(first)


def _write_status(base: Path, **state: object) -> None:
    tmp = base / "status.json.tmp"
    tmp.write_text(json.dumps(state))
    os.replace(tmp, base / "status.json")


def main(argv: list[str]) -> int:
    script, work, base = Path(argv[0]), Path(argv[1]), Path(argv[2])
    started = time.time()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    # the kernel sees the user's environment, not the path added to start this supervisor
    env["PYTHONPATH"] = env.pop("KERNEL_RUNNER_USER_PYTHONPATH", "")
    proc = subprocess.Popen([sys.executable, str(script)], cwd=work, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    _write_status(base, state="running", pid=proc.pid, started=started)
    stop = []

    def on_signal(signum: int, frame: object) -> None:
        stop.append(signal.Signals(signum).name)
        end_session(proc.pid)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    lock = threading.Lock()
    log = (base / "log.jsonl").open("a")

    def pump(stream, name: str) -> None:
        for line in iter(stream.readline, b""):
            entry = {"stream_name": name, "time": round(time.time() - started, 3),
                     "data": line.decode("utf-8", "replace")}
            with lock:
                if log.closed:  # the kernel has ended and its output was drained: drop the rest
                    return
                log.write(json.dumps(entry) + "\n")
                log.flush()

    readers = [threading.Thread(target=pump, args=(s, n), daemon=True)
               for s, n in ((proc.stdout, "stdout"), (proc.stderr, "stderr"))]
    for r in readers:
        r.start()
    rc = proc.wait()
    # a leftover of the kernel's session (an orphaned worker) would hold the pipes open forever
    leftovers = end_session(proc.pid)
    for r in readers:
        r.join(DRAIN_S)
    with lock:
        log.close()
    _write_status(base, state="exited", returncode=rc, started=started, ended=time.time(),
                  leftovers_ended=leftovers, stopped_by=stop[0] if stop else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
