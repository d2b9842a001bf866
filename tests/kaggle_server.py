"""A local server speaking the kernels part of Kaggle's API, as the official client calls it.

    python tests/kaggle_server.py --port 8765 --root /tmp/kaggle-server

Every call is ``POST /v1/{service}/{Method}`` with a camelCase JSON body and
HTTP Basic (username:key) or Bearer auth.  A pushed script runs as on Kaggle:
in a fresh working folder (its output), in a subprocess, QUEUED -> RUNNING ->
COMPLETE/ERROR.  Output files are served without auth from ``/files/...``.

As on Kaggle, the latest version of each kernel named in the push's ``kernelDataSources`` is
mounted read-only at ``../input/<slug>`` beside the working folder, and a session running past the
push's ``sessionTimeoutSeconds`` is ended with Kaggle's status (ERROR) and message; what it wrote is
lost (Kaggle keeps no output of a session it stopped).
Faults are injected through :attr:`KaggleTestServer.faults` (or ``POST /_faults``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote, unquote

SERVICE = "kernels.KernelsApiService"
#: Kaggle's message for a session stopped at its limit
TIMEOUT_MESSAGE = "Your notebook was stopped because it exceeded the max allowed execution duration."


class Version:
    def __init__(self, slug: str, number: int, workdir: Path, script: str, meta: dict) -> None:
        self.slug, self.number, self.workdir, self.script, self.meta = slug, number, workdir, script, meta
        self.state = "QUEUED"
        self.failure = ""
        self.log: list[dict] = []
        self.proc: subprocess.Popen | None = None
        self.cancelled = False
        self.started: float | None = None
        self.ended: float | None = None
        self.timed_out = False
        self.mounted: list[str] = []  #: the kernel sources mounted in ../input


class KaggleTestServer:
    """The server; ``faults`` is a dict read at every call (see the module docstring)."""

    def __init__(self, root: Path, users: dict[str, str] | None = None, token: str = "test-token",
                 port: int = 0) -> None:
        self.root = Path(root)
        self.users = users or {"tester": "0" * 32}
        self.token = token
        self.faults: dict = {}
        self.kernels: dict[str, list[Version]] = {}
        self.calls: dict[str, int] = {}
        self.pushes = 0
        self.served: list[str] = []  #: output files downloaded, by name relative to the working folder
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> KaggleTestServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        for versions in self.kernels.values():
            for v in versions:
                if v.proc and v.proc.poll() is None:
                    v.proc.kill()

    # -- kernel execution --------------------------------------------------------------
    def _run(self, v: Version) -> None:
        time.sleep(float(self.faults.get("queue_s", 0.0)))
        if v.cancelled:
            return
        script = v.workdir.parent / "script.py"
        script.write_text(v.script)
        self._mount_sources(v)
        # like Kaggle, the platform puts files of its own into the working directory, which end up
        # among the outputs but in no manifest of the kernel's
        (v.workdir / "__notebook_source__.ipynb").write_text(json.dumps({"cells": [], "source": v.script[:100]}))
        v.state = "RUNNING"
        started = v.started = time.time()
        env = {k: val for k, val in os.environ.items() if not k.startswith("KAGGLE_")}
        v.proc = subprocess.Popen([sys.executable, str(script)], cwd=v.workdir, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, start_new_session=True)
        limit = v.meta.get("sessionTimeoutSeconds")
        timer = threading.Timer(float(limit), self._time_out, args=(v,)) if limit else None
        if timer:
            timer.start()
        for line in v.proc.stdout:
            v.log.append({"stream_name": "stdout", "time": round(time.time() - started, 3), "data": line})
        rc = v.proc.wait()
        if timer:
            timer.cancel()
        v.ended = time.time()
        if v.timed_out:
            import shutil

            shutil.rmtree(v.workdir, ignore_errors=True)  # a stopped session keeps no output
            v.workdir.mkdir()
            v.state, v.failure = "ERROR", TIMEOUT_MESSAGE
        elif v.cancelled:
            v.state = "CANCEL_ACKNOWLEDGED"
        elif self.faults.get("fail_run"):
            v.state, v.failure = "ERROR", self.faults["fail_run"]
        elif rc != 0:
            v.state, v.failure = "ERROR", f"Your notebook hit an error: exit status {rc}"
        else:
            v.state = "COMPLETE"

    def _mount_sources(self, v: Version) -> None:
        """The latest version of each kernel source, read-only at ``../input/<slug>``."""
        import shutil
        import stat

        for source in v.meta.get("kernelDataSources") or []:
            versions = self.kernels.get(source) or []
            if not versions:
                continue
            target = v.workdir.parent / "input" / source.split("/", 1)[1]
            shutil.copytree(versions[-1].workdir, target)
            for path in [target, *target.rglob("*")]:
                mode = path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
                path.chmod(mode)
            v.mounted.append(source)

    def _time_out(self, v: Version) -> None:
        if v.proc and v.proc.poll() is None:
            v.timed_out = True
            import signal

            os.killpg(v.proc.pid, signal.SIGKILL)

    def cancel(self, slug: str) -> None:
        v = self.kernels[slug][-1]
        v.cancelled = True
        v.state = "CANCEL_REQUESTED"
        if v.proc and v.proc.poll() is None:
            v.proc.terminate()

    # -- API methods ---------------------------------------------------------------------
    def save_kernel(self, body: dict, user: str) -> dict:
        slug = body.get("slug") or ""
        if self.faults.get("push_error"):
            return {"error": self.faults["push_error"]}
        if "/" not in slug or len(slug.split("/", 1)[1]) < 5:
            return {"error": f"Invalid kernel slug {slug!r}"}
        with self.lock:
            self.pushes += 1
            versions = self.kernels.setdefault(slug, [])
            number = len(versions) + 1
            workdir = self.root / slug.replace("/", "__") / f"v{number}" / "working"
            workdir.mkdir(parents=True)
            v = Version(slug, number, workdir, body.get("text", ""), body)
            versions.append(v)
            self.faults["_stale_left"] = int(self.faults.get("stale_complete", 0))
        threading.Thread(target=self._run, args=(v,), daemon=True).start()
        return {"ref": f"/code/{slug}", "url": f"{self.url}/code/{slug}", "versionNumber": number,
                "kernelId": 1000 + number}

    def _current(self, body: dict) -> Version | None:
        versions = self.kernels.get(f"{body.get('userName')}/{body.get('kernelSlug')}")
        return versions[-1] if versions else None

    def session_status(self, body: dict, user: str) -> dict:
        v = self._current(body)
        if v is None:
            raise LookupError("Notebook not found")
        if self.faults.get("_stale_left", 0) > 0:
            self.faults["_stale_left"] -= 1
            return {"status": "COMPLETE"}  # the previous version's status, as Kaggle shows right after a push
        if self.faults.get("cancel_when_running") and v.state == "RUNNING":
            self.cancel(v.slug)
        out = {"status": v.state}
        if v.failure:
            out["failureMessage"] = v.failure
        return out

    def session_output(self, body: dict, user: str) -> dict:
        v = self._current(body)
        if v is None:
            raise LookupError("Notebook not found")
        versions = self.kernels[v.slug]
        if self.faults.get("_stale_left", 0) > 0 and len(versions) > 1:
            v = versions[-2]
        files = sorted(p.relative_to(v.workdir).as_posix() for p in v.workdir.rglob("*") if p.is_file()) \
            if v.state in ("COMPLETE", "ERROR") else []
        size = int(body.get("pageSize") or 20)
        start = int(body.get("pageToken") or 0)
        page = files[start:start + size]
        out = {"files": [{"fileName": f, "url": f"{self.url}/files/{quote(v.slug, safe='')}/{v.number}/{quote(f)}"}
                         for f in page], "log": json.dumps(v.log)}
        if start + size < len(files):
            out["nextPageToken"] = str(start + size)
        return out

    def quota(self, body: dict, user: str) -> dict:
        used = float(self.faults.get("gpu_used_s", 3600.0))
        return {"quotaRefreshTime": "2026-12-01T00:00:00.000Z",
                "gpuQuota": {"timeUsed": f"{used:.0f}s", "timeReserved": "0s", "totalTimeAllowed": "108000s"}}

    def file_bytes(self, path: str) -> bytes | None:
        slug, number, name = path.split("/", 2)
        slug, name = unquote(slug), unquote(name)
        versions = self.kernels.get(slug) or []
        if not versions or int(number) > len(versions):
            return None
        f = versions[int(number) - 1].workdir / name
        if not f.is_file():
            return None
        data = f.read_bytes()
        self.served.append(name)
        if self.faults.get("corrupt_file") in (name, Path(name).name, name.split("/", 1)[-1]):
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        if self.faults.get("truncate_file") in (name, Path(name).name, name.split("/", 1)[-1]):
            data = data[: len(data) // 2]
        return data

    # -- HTTP ------------------------------------------------------------------------------
    def _auth_user(self, header: str | None) -> str | None:
        if not header:
            return None
        kind, _, value = header.partition(" ")
        if kind == "Basic":
            user, _, key = base64.b64decode(value).decode().partition(":")
            return user if self.users.get(user) == key else None
        if kind == "Bearer" and value == self.token:
            return next(iter(self.users))
        return None

    def _handler(self):
        server = self
        methods = {"SaveKernel": server.save_kernel, "GetKernelSessionStatus": server.session_status,
                   "ListKernelSessionOutput": server.session_output, "GetAcceleratorQuotaStatistics": server.quota}

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, code: int, obj: dict) -> None:
                self._send(code, json.dumps(obj).encode())

            def do_GET(self):
                if not self.path.startswith("/files/"):
                    return self._json(404, {"code": 404, "message": "not found"})
                data = server.file_bytes(self.path[len("/files/"):])
                if data is None:
                    return self._json(404, {"code": 404, "message": "no such file"})
                self._send(200, data, "application/octet-stream")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path == "/_faults":
                    server.faults.update(body)
                    return self._json(200, server.faults)
                parts = self.path.strip("/").split("/")
                if parts[:1] == ["api"]:
                    parts = parts[1:]
                if len(parts) != 3 or parts[0] != "v1":
                    return self._json(404, {"code": 404, "message": f"no route {self.path}"})
                service, method = parts[1], parts[2]
                with server.lock:
                    server.calls[method] = server.calls.get(method, 0) + 1
                if service == "security.OAuthService" and method == "IntrospectToken":
                    ok = body.get("token") == server.token
                    return self._json(200, {"active": ok, "username": next(iter(server.users)) if ok else ""})
                user = server._auth_user(self.headers.get("Authorization"))
                if user is None:
                    return self._json(401, {"code": 401, "message": "Unauthenticated"})
                for code in (429, 500, 503):
                    left = server.faults.get(f"http_{code}", {})
                    if left.get(method, 0) > 0:
                        left[method] -= 1
                        return self._json(code, {"code": code, "message": f"injected {code}"})
                if service != SERVICE or method not in methods:
                    return self._json(404, {"code": 404, "message": f"no method {service}/{method}"})
                try:
                    return self._json(200, methods[method](body, user))
                except LookupError as exc:
                    return self._json(404, {"code": 404, "message": str(exc)})

        return Handler


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--root", type=Path, default=Path("/tmp/kaggle-test-server"))
    args = ap.parse_args()
    server = KaggleTestServer(args.root, port=args.port)
    print(f"serving Kaggle's kernels API on {server.url} (user tester, key {'0' * 32}); Ctrl-C stops")
    print(f"  export KAGGLE_TEST_ENDPOINT={server.url} PYTHONPATH=tests/kaggle_site KAGGLE_USERNAME=tester "
          f"KAGGLE_KEY={'0' * 32}")
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
