"""Logging: one logger tree (``bridge.*``), a private log file beside the ledger, and lines on
stderr with a time and a level for long-running commands.

Tracebacks go to the log file, never to the terminal; a command prints one line that says
where the traceback is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

LOG = logging.getLogger("bridge")
_state: dict[str, Path | None] = {"file": None}


class _PrivateFileHandler(logging.handlers.WatchedFileHandler):
    """A log file only its owner reads: it names customers' files and their problems.
    Watched: when logrotate moves it away, the next line opens a new one (0600 too), so a
    long ``bridge watch`` never writes into the rotated file."""

    #: Why the last line could not be written (None: it was): a log that cannot be written
    #: must not stop the work it describes. Said once on stderr; tried again at each line.
    failed: str | None = None

    def _open(self):  # type: ignore[no-untyped-def]
        # Never through a link planted under its name: lines would go to another file.
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT
                     | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        return os.fdopen(fd, "a", encoding=self.encoding or "utf-8")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            super().emit(record)  # the file is opened here, outside logging's own guard
        except OSError as exc:
            self._cannot(exc)
            return
        if self.failed is not None and self.stream is not None:
            self.failed = None  # written again (the folder made, space freed)

    def handleError(self, record: logging.LogRecord) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, OSError):
            super().handleError(record)
            return
        self._cannot(exc)

    def _cannot(self, exc: OSError) -> None:
        said = f"cannot write the log {self.baseFilename}: {exc.strerror or exc}"
        if said != self.failed:
            sys.stderr.write(f"warning: {said}; bridge goes on without it\n")
        self.failed = said
        stream, self.stream = self.stream, None  # opened again at the next line
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
                "level": record.levelname.lower(), "message": record.getMessage()}
        data.update(getattr(record, "fields", {}))
        return json.dumps(data, ensure_ascii=False)


HUMAN = logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%Y-%m-%d %H:%M:%S")


def use_log_file(path: Path) -> None:
    """Log to ``path`` (created 0600) from now on; once per path per process."""
    if _state["file"] == path:
        return
    for h in [h for h in LOG.handlers if isinstance(h, _PrivateFileHandler)]:
        LOG.removeHandler(h)
        h.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        handler = _PrivateFileHandler(path, delay=True)
    except OSError:
        return  # a log that cannot be written must not stop the work it describes
    handler.setFormatter(HUMAN)
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    _state["file"] = path


def to_stderr(*, as_json: bool = False) -> None:
    """Lines with a time and a level on stderr (``bridge watch``)."""
    for h in [h for h in LOG.handlers if getattr(h, "_bridge_console", False)]:
        LOG.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else HUMAN)
    handler._bridge_console = True  # type: ignore[attr-defined]
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)


def log_file() -> Path | None:
    return _state["file"]


def log_internal_error(exc: BaseException, context: str) -> str:
    """Write the traceback of a bug where a person will find it; say where."""
    text = "".join(traceback.format_exception(exc))
    path = _state["file"]
    if path is not None:
        LOG.error("internal error in %s:\n%s", context, text.rstrip())
        for h in LOG.handlers:
            h.flush()
        if not any(isinstance(h, _PrivateFileHandler) and h.failed for h in LOG.handlers):
            return str(path)
    fd, name = tempfile.mkstemp(prefix="bridge-internal-error-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(f"internal error in {context}:\n{text}")
    return name
