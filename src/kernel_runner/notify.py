"""A notification when a run ends (complete, failed, or the wait's deadline reached), through apprise.

One apprise URL reaches e-mail, ntfy, Slack, Telegram, a JSON webhook and the rest
(https://github.com/caronc/apprise/wiki).  The URL often carries a token, so it never lives in
the configuration: it is read from the environment variable ``notify.url_env`` names, or from the
file ``notify.url_file`` names (outside the repository; a file inside it is refused), and it is
never logged or written anywhere (only its scheme is).  No URL: no notification (the default).
A notification that fails is one line in the step's log; it never fails the workflow.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from . import KernelRunnerError


def notification_url(settings: dict[str, Any], root: Path | None = None) -> str | None:
    """The apprise URL of ``settings`` (the config's ``notify`` section), or None when off."""
    env = settings.get("url_env")
    if env and os.environ.get(env, "").strip():
        return os.environ[env].strip()
    file = settings.get("url_file")
    if file:
        path = Path(os.path.expanduser(file)).resolve()
        if root is not None and path.is_relative_to(Path(root).resolve()):
            raise KernelRunnerError(f"notify.url_file={file!r} is inside the repository: a notification URL may carry "
                                    "a token, keep it in a file outside (e.g. ~/.config/arz-rl/notify.url)")
        if path.is_file():
            text = path.read_text().strip()
            return text or None
    return None


def notify(settings: dict[str, Any], title: str, body: str, log: Any = print, root: Path | None = None) -> bool:
    """Send ``title``/``body`` to the configured URL; True when it was delivered.  ``log`` gets one
    line saying how it went, with the URL's scheme only."""
    url = notification_url(settings, root)
    if url is None:
        return False
    scheme = url.split("://", 1)[0] + "://"
    try:
        import logging

        import apprise

        logging.getLogger("apprise").setLevel(logging.CRITICAL + 1)  # its messages may quote the URL
        box = apprise.Apprise()
        if not box.add(url):
            log(f"notification not sent: apprise does not understand the {scheme} URL")
            return False
        delivered = bool(box.notify(title=title, body=body))
    except Exception as exc:  # a notification never fails the workflow
        log(f"notification via {scheme} failed: {type(exc).__name__}")
        return False
    log(f"notification via {scheme} {'sent' if delivered else 'NOT delivered'}: {title}")
    return delivered
