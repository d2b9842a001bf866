"""The Kaggle backend: the official ``kaggle`` client, imported lazily, with credentials checked
before anything is sent.

Kaggle answers some failures with HTTP 200 and an ``error`` field (push), and
does not retry kernel calls itself: 429 and 5xx are retried here with
exponential backoff and jitter, 401/403 fail at once with a credentials
message.  Right after a push the status may still be the previous version's;
the poller accepts completion only with this run's nonce in the log.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import KernelRunnerError
from ..render import OUT_DIR, STATE_DIR
from .base import CANCELLED, COMPLETE, FAILED, QUEUED, RAW_LOG, RUNNING, BackendBase, Status, provisions_gpu

CREDENTIALS_HELP = (
    "Kaggle credentials not found: put kaggle.json (from kaggle.com > Settings > API) in ~/.kaggle/ "
    "(or in $KAGGLE_CONFIG_DIR), chmod 600, or set KAGGLE_USERNAME and KAGGLE_KEY, or KAGGLE_API_TOKEN"
)
_STATES = {"QUEUED": QUEUED, "NEW_SCRIPT": QUEUED, "RUNNING": RUNNING, "COMPLETE": COMPLETE, "ERROR": FAILED,
           "CANCEL_REQUESTED": CANCELLED, "CANCEL_ACKNOWLEDGED": CANCELLED}


def _config_dir() -> Path:
    return Path(os.environ.get("KAGGLE_CONFIG_DIR") or Path.home() / ".kaggle")


def credentials_source() -> str | None:
    """Where the Kaggle credentials come from (never their value), or None."""
    if os.environ.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    if os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    path = _config_dir() / "kaggle.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise KernelRunnerError(f"{path} is not valid JSON ({exc}): download a fresh kaggle.json") from exc
        if data.get("username") and data.get("key"):
            return str(path)
        raise KernelRunnerError(f"{path} lacks 'username' or 'key': download a fresh kaggle.json")
    if (_config_dir() / "access_token").is_file():
        return str(_config_dir() / "access_token")
    return None


def username() -> str | None:
    """The Kaggle user name from the environment or kaggle.json (not a secret)."""
    if os.environ.get("KAGGLE_USERNAME"):
        return os.environ["KAGGLE_USERNAME"]
    path = _config_dir() / "kaggle.json"
    if path.is_file():
        try:
            return json.loads(path.read_text()).get("username")
        except (OSError, json.JSONDecodeError):
            return None
    return None


class KaggleBackend(BackendBase):
    """Kernels on Kaggle through the official client."""

    name = "kaggle"
    settings_schema = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "owner": {"type": ["string", "null"]},
            "slug_prefix": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
            "machine_shape": {"type": "string"},
            "session_timeout_s": {"type": "integer", "minimum": 60, "maximum": 43200},
            "check_quota": {"type": "boolean"}, "retries": {"type": "integer", "minimum": 0},
            "backoff_s": {"type": "number", "minimum": 0}, "stale_grace_s": {"type": "number", "minimum": 0},
        },
    }
    #: Kaggle runs at most 2 GPU sessions of a user at once: fanned-out kernels queue behind this cap
    session_resource, session_cap = "kaggle_gpu", 2
    asks_for_gpu = True  # enable_gpu and machine_shape

    @staticmethod
    def kernel_metadata(settings: dict[str, Any], mode: str, device: str, part: str | None = None) -> dict[str, Any]:
        """id/title/machine/timeout for kernel-metadata.json: one kernel per mode (and fan-out part),
        a new version per run.  Without ``kaggle.owner`` the id is the slug alone, and the push makes it
        ``<the credentials' user>/<slug>``: planning a run (a dry run) needs no credentials."""
        owner = settings.get("owner")
        slug = f"{settings.get('slug_prefix', 'arz-rl')}-{mode}" + (f"-{part}" if part else "")
        slug = slug.lower()
        slug = re.sub(r"[^a-z0-9-]+", "-", slug).strip("-")
        if len(slug) < 5:
            raise KernelRunnerError(f"kaggle.slug_prefix gives the slug {slug!r}: it needs at least 5 characters")
        gpu = provisions_gpu(device)
        return {
            "id": f"{owner}/{slug}" if owner else slug,
            "title": slug,  # Kaggle derives the slug from the title: keep them identical
            "enable_gpu": gpu,
            "machine_shape": settings.get("machine_shape", "NvidiaTeslaT4") if gpu else "",
            "session_timeout_seconds": int(settings.get("session_timeout_s", 43200)),
        }

    @staticmethod
    def launch_requirements(settings: dict[str, Any]) -> list[str]:
        """What a real run still needs that planning it did not: the credentials."""
        try:
            found = credentials_source()
        except KernelRunnerError as exc:
            return [str(exc)]
        return [] if found else [CREDENTIALS_HELP.replace("Kaggle credentials not found", "a real run on Kaggle needs "
                                                          "your Kaggle credentials, which were not found")]

    def __init__(self, owner: str | None = None, slug_prefix: str = "arz-rl", machine_shape: str = "NvidiaTeslaT4",
                 session_timeout_s: int = 43200, check_quota: bool = True, retries: int = 6,
                 backoff_s: float = 2.0, stale_grace_s: float = 300.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.stale_grace_s = stale_grace_s
        self.owner = owner
        self.slug_prefix = slug_prefix
        self.machine_shape = machine_shape
        self.session_timeout_s = session_timeout_s
        self.check_quota = check_quota
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._api_obj = None

    # -- client ---------------------------------------------------------------------
    def _api(self):
        if self._api_obj is None:
            if credentials_source() is None:
                raise KernelRunnerError(CREDENTIALS_HELP)
            from kaggle.api.kaggle_api_extended import KaggleApi  # authenticates at import: only now

            api = KaggleApi()
            try:
                api.authenticate()
            except SystemExit as exc:
                raise KernelRunnerError(CREDENTIALS_HELP) from exc
            self._api_obj = api
        return self._api_obj

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run one API call, retrying 429/5xx/connection errors with backoff and jitter."""
        import requests

        for attempt in range(self.retries + 1):
            try:
                return fn()
            except requests.HTTPError as exc:
                code = exc.response.status_code if exc.response is not None else None
                if code in (401, 403):
                    raise KernelRunnerError(f"Kaggle rejected the credentials on {what} (HTTP {code}): "
                                            + CREDENTIALS_HELP) from exc
                if code != 429 and (code is None or code < 500):
                    raise KernelRunnerError(f"Kaggle {what} failed: HTTP {code}: {exc}") from exc
                reason = f"HTTP {code}"
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = type(exc).__name__
            except ValueError as exc:  # the client turns 401/403 on kernel calls into ValueError
                raise KernelRunnerError(f"Kaggle {what} failed: {exc}. " + CREDENTIALS_HELP) from exc
            if attempt == self.retries:
                raise KernelRunnerError(f"Kaggle {what} still failing after {self.retries} retries ({reason})")
            self._sleep(self.backoff_s * 2**attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")

    # -- backend operations -----------------------------------------------------------
    def quota_left_s(self) -> float | None:
        """GPU seconds left this week, or None when Kaggle does not say."""
        resp = self._call("quota", lambda: self._api().quota_view())
        gpu = getattr(resp, "gpu_quota", None)
        if gpu is None or gpu.total_time_allowed is None:
            return None

        def secs(v: dt.timedelta | None) -> float:
            return v.total_seconds() if v else 0.0

        return secs(gpu.total_time_allowed) - secs(gpu.time_used) - secs(gpu.time_reserved)

    def _owner(self) -> str:
        """The user kernels are pushed as: ``kaggle.owner``, else the credentials' user."""
        owner = self.owner or username()
        if not owner:
            try:
                owner = self._api().get_config_value("username")
            except Exception:  # noqa: BLE001  (the client's config lookups raise several kinds)
                owner = None
        if not owner:
            raise KernelRunnerError("no Kaggle user name: set kaggle.owner in config/config.yaml, or KAGGLE_USERNAME")
        return owner

    @staticmethod
    def session_limit_s(settings: dict[str, Any]) -> float | None:
        return float(settings.get("session_timeout_s", 43200))

    def launch(self, kernel_dir: Path, run_dir: Path, part: int = 1) -> dict[str, Any]:
        import shutil

        meta = json.loads((kernel_dir / "kernel-metadata.json").read_text())
        api = self._api()
        if "/" not in meta["id"]:  # the slug alone: the owner comes from the credentials, now
            meta["id"] = f"{self._owner()}/{meta['id']}"
        if part > 1:  # the state of part k - 1 is its kernel's output, attached as this part's input
            meta["kernel_sources"] = [part_kernel(meta["id"], part - 1)]
            meta["id"] = part_kernel(meta["id"], part)
            meta["title"] = meta["id"].split("/", 1)[1]
        # what is pushed: the rendered kernel with its metadata resolved (the render's own files stay
        # as they are: they are Snakemake's outputs), and the part it is
        pushed = run_dir / "kaggle" / "push"
        shutil.rmtree(pushed, ignore_errors=True)
        pushed.mkdir(parents=True)
        code = meta.get("code_file", "kernel.py")
        script = (kernel_dir / code).read_text()
        if part > 1:  # the kernel reads its part from this line (Kaggle passes no environment)
            script, found = re.subn(r"^PART = 1  #", f"PART = {part}  #", script, count=1, flags=re.M)
            if not found:
                raise KernelRunnerError(f"{kernel_dir / code} has no 'PART = 1' line: render it again")
        (pushed / code).write_text(script)
        (pushed / "kernel-metadata.json").write_text(json.dumps(meta, indent=1))
        if self.check_quota and meta.get("enable_gpu"):
            left = self.quota_left_s()
            need = float(meta.get("session_timeout_seconds") or self.session_timeout_s)
            if left is not None and need > left:
                raise KernelRunnerError(
                    f"the run may take up to {need / 3600:.1f} GPU hours (kaggle.session_timeout_s) but only "
                    f"{left / 3600:.1f} h of this week's Kaggle GPU quota are left: lower session_timeout_s, wait for "
                    "the weekly reset, or skip this check with --config kaggle.check_quota=false")
        # the client sets the session's timeout only from this argument, never from the metadata
        timeout = meta.get("session_timeout_seconds") or self.session_timeout_s
        resp = self._call("push", lambda: api.kernels_push(str(pushed), timeout=str(int(timeout))))
        if resp is None or getattr(resp, "error", None):
            raise KernelRunnerError(f"Kaggle refused the push of {meta['id']}: {getattr(resp, 'error', 'no reply')}")
        version = resp.version_number
        return {"backend": self.name, "id": f"{meta['id']} v{version}", "kernel": meta["id"], "version": version,
                "ref": resp.ref, "url": resp.url, "launched": time.time(), "part": part}

    def status(self, record: dict[str, Any]) -> Status:
        resp = self._call("status", lambda: self._api().kernels_status(record["kernel"]))
        name = getattr(resp.status, "name", str(resp.status)).upper().replace("KERNEL_WORKER_STATUS_", "")
        state = _STATES.get(name)
        if state is None:
            raise KernelRunnerError(f"Kaggle reported an unknown kernel status {name!r}")
        return Status(state, resp.failure_message or "")

    def log(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        from kagglesdk.kernels.types.kernels_api_service import ApiListKernelSessionOutputRequest

        owner, slug = record["kernel"].split("/", 1)

        def fetch():
            with self._api().build_kaggle_client() as client:
                request = ApiListKernelSessionOutputRequest()
                request.user_name = owner
                request.kernel_slug = slug
                request.page_size = 1  # only the log is wanted here, not the file list
                return client.kernels.kernels_api_client.list_kernel_session_output(request)

        resp = self._call("log", fetch)
        return parse_log(resp.log)

    def fetch(self, record: dict[str, Any], staging: Path, state: bool = False) -> None:
        # the client pages through the output listing itself and downloads what the pattern matches
        # (re.search on each file's name relative to the working directory): the resume state stays
        pattern = None if state else f"^(?!{re.escape(OUT_DIR)}/{re.escape(STATE_DIR)}/)"
        files, _ = self._call("output download", lambda: self._api().kernels_output(
            record["kernel"], str(staging), file_pattern=pattern, force=True))
        slug = record["kernel"].split("/", 1)[1]
        raw = staging / f"{slug}.log"
        entries = parse_log(raw.read_text()) if raw.exists() else []
        (staging / RAW_LOG).write_text(json.dumps(entries))


def part_kernel(kernel_id: str, part: int) -> str:
    """The kernel that runs ``part`` of a run of ``kernel_id``: odd parts the kernel itself, even parts
    ``<kernel_id>-cont``.  Part k mounts part k - 1's output (``kernel_sources``, latest version):
    two kernels taking turns never ask Kaggle to mount a kernel's own output as its input."""
    return kernel_id if part % 2 else f"{kernel_id}-cont"


def parse_log(text: str | None) -> list[dict[str, Any]]:
    """Kaggle's log (a JSON array of {stream_name, time, data}) as a list; tolerant of a torn tail."""
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        # a log still being written can end mid-array: keep the complete entries
        cut = text.rfind("},")
        try:
            data = json.loads(text[: cut + 1] + "]") if cut > 0 else []
        except json.JSONDecodeError:
            return [{"stream_name": "stdout", "time": 0, "data": text}]
    return [e for e in data if isinstance(e, dict)]


BACKEND = KaggleBackend
