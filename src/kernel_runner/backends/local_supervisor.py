"""Supervisor of one local kernel: run it, timestamp its output, record how it ended.

    python -m kernel_runner.backends.local_supervisor KERNEL_SCRIPT WORK_DIR BASE_DIR

Writes ``BASE_DIR/log.jsonl`` (one {stream_name, time, data} object per line,
Kaggle's log entries) and ``BASE_DIR/status.json``.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path


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
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _write_status(base, state="running", pid=proc.pid, started=started)
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
    sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
    with (base / "log.jsonl").open("a") as log:
        open_streams = 2
        while open_streams:
            for key, _ in sel.select():
                line = key.fileobj.readline()
                if not line:
                    sel.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                entry = {"stream_name": key.data, "time": round(time.time() - started, 3),
                         "data": line.decode("utf-8", "replace")}
                log.write(json.dumps(entry) + "\n")
                log.flush()
    rc = proc.wait()
    _write_status(base, state="exited", returncode=rc, started=started, ended=time.time())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
