"""The helper process of :mod:`bridge.engine.ahead`: files in, their transforms out.

Started by :meth:`bridge.engine.ahead.Helper.start` as ``python -m
bridge.engine.ahead_serve IN OUT PARENT`` (the two ends of its pipes, and the main
process, with which it dies). It opens the ledger (PostgreSQL's at its first question:
:class:`Later`) to read it only (through
:class:`~bridge.engine.ahead_here.Recording`, which keeps what it asked), writes nothing but
the files of the folder it is given for each file, and ends when the main process closes its
end (SIGINT and SIGTERM, sent to every process of a group or a service, are left to the main
process: it ends the helper once its file is finished). :func:`room_in` is the main process's:
how much it may hand over before the helper reads.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from multiprocessing.connection import Connection
from typing import Any


def _die_with_parent(parent: int) -> None:
    """Killed with the main process (SIGKILL included), not left writing."""
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(0)


#: Bytes kept free in the pipe to the helper beside its configuration, for the files handed
#: over (a few hundred bytes each, two at most waiting).
ROOM = 1 << 14


def room_in(fd: int) -> int:
    """The bytes the main process may write at once into its pipe to the helper (``fd``)
    and never wait for the helper to read them, the pipe made as large as it may be (1 MiB
    on Linux): so a helper hung at its start never holds the main process up."""
    try:
        import fcntl

        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
        size: int = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    except (ImportError, AttributeError, OSError):  # not on Linux: what a pipe holds there
        size = 1 << 16
    return max(0, size - ROOM)


class Later:
    """A PostgreSQL ledger opened at the first question a transform asks it, not at the
    start: the main process opens its own connections first (a role limited to the ones it
    needs alone loses none to the helper), and a helper whose flows ask nothing holds none.
    A connection refused fails that transform only: the file is transformed there."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.inner: Any = None

    def __getattr__(self, name: str) -> Any:
        if self.inner is None:
            from bridge.ledger import open_ledger

            self.inner = open_ledger(self.where)
        return getattr(self.inner, name)

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


def serve(inbox: Connection, outbox: Connection) -> None:
    """The helper's loop: a file in, its transform (or why not) out, until the main process
    closes its end."""
    from bridge.engine.ahead_here import Recording, answer_of
    from bridge.engine.pipeline import Pipeline
    from bridge.ledger import is_url, open_ledger

    cfg, where, full, now = pickle.loads(inbox.recv_bytes())
    recording = Recording(open_ledger(where) if not is_url(where) else Later(where))
    pipe = Pipeline(cfg, recording, {}, None, now, full=full)
    import pandas  # noqa: F401  (imported before it says it is ready)
    import pyarrow.compute  # noqa: F401

    outbox.send_bytes(pickle.dumps(("ready",)))
    while True:
        try:
            row, source, folder = pickle.loads(inbox.recv_bytes())
        except EOFError:
            break
        answer = answer_of(pipe, recording, row, cfg.flows[row.flow], folder, source)
        try:
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # any failure: the file is transformed there
            data = pickle.dumps(("failed", row.id, f"{type(exc).__name__}: {exc}"))
        outbox.send_bytes(data)
    recording.inner.close()


def main(argv: list[str]) -> None:
    import signal

    _die_with_parent(int(argv[3]))
    # Ctrl-C reaches the whole process group, and a service's stop (systemd's SIGTERM) every
    # process of the service: the main process finishes its file, closes its ends, and that
    # ends the helper, after the answers it was working on, without a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # The main process closes its ends when it is done (or dies): that is the end of it.
    with contextlib.suppress(EOFError, OSError):
        serve(Connection(int(argv[1]), writable=False),
              Connection(int(argv[2]), readable=False))
    # The loop is over: the main process closed its end (every answer sent, the ledger
    # closed) or is gone. Nothing is left to flush or remove. The interpreter's own end
    # (pandas, Arrow and their modules undone) took about 0.2 s, that the main process
    # waited for at the end of every pass with a helper.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv)
