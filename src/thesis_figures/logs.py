"""A rule's log: what a figure, table or merge step prints, and its error, also go to its log file."""

from __future__ import annotations

import contextlib
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import IO


class _Tee:
    def __init__(self, *streams: IO[str]) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


@contextlib.contextmanager
def logged(path: str | Path | None, what: str) -> Iterator[None]:
    """Copy stdout and stderr into ``path`` (appended) while the block runs, with a first line
    saying ``what`` and a last one saying how it ended (the traceback on failure)."""
    if path is None:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as log:
        log.write(f"[{time.strftime('%H:%M:%S')}] {what}\n")
        log.flush()
        out, err = _Tee(sys.stdout, log), _Tee(sys.stderr, log)
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                yield
        except BaseException as exc:
            log.write(f"[{time.strftime('%H:%M:%S')}] FAILED: {type(exc).__name__}: {exc}\n")
            log.write("".join(traceback.format_exception(exc)))
            raise
        log.write(f"[{time.strftime('%H:%M:%S')}] done in {time.perf_counter() - t0:.1f} s\n")
