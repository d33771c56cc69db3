"""The run lock, and how a run and an operator's command take turns at it.

A lock file stops two runs of one work area from overlapping (on a PostgreSQL ledger, the
ledger's run lock too, :mod:`bridge.ledger.postgres`). An operator's command (approve,
retry, reject, replay) first locks its mark beside the run lock: a run that sees it lets the
command in (:class:`OperatorWaits`); as the command ends it touches the mark, and a sleeping
``bridge watch`` starts its next pass at once (:class:`OperatorDone`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.errors import BridgeError, ConfigError, TransientError

if TYPE_CHECKING:
    from bridge.ledger.postgres import Turns

log = logging.getLogger("bridge.runner")


class LockBusy(BridgeError):
    exit_code = 0


class LockTaken(TransientError):
    """An operator's command that found a run holding the lock for longer than it waits:
    it did nothing, and says so with exit 3 (a script must not take it for done)."""


class OperatorBusy(LockTaken):
    """An operator's command that found another operator's command at work (its mark
    beside the run lock held) for longer than it waits: it did nothing."""


@contextmanager
def run_lock(path: Path, *, wait: float = 0.0, ledger: Path | str | None = None,
             alone: bool = False, marked: Path | None = None) -> Iterator[Turns | None]:
    """The run lock of this work area; ``wait`` seconds for it (operators' commands), else
    LockBusy (a run: exit 0, the other run does the work) or, ``alone``, LockTaken (an
    operator's command: exit 3, it did nothing). On a PostgreSQL ``ledger``, the ledger's
    run lock too, shared with the runs of other work areas and machines, which take turns
    flow by flow (the Turns given);
    ``alone``: an operator's command, that waits until no run is on. ``marked``: the lock
    beside which operators' commands mark their wait (a worker's is not ``path``)."""
    busy = LockTaken if alone else LockBusy
    if isinstance(ledger, str):
        from bridge.ledger.postgres import run_lock as shared_lock

        with run_lock(path, wait=wait, alone=alone, marked=marked), shared_lock(ledger, wait, busy,
                                                                 alone=alone) as turns:
            yield turns
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    deadline = time.monotonic() + wait
    with contextlib.ExitStack() as held:
        if alone:  # said first, so that runs let this command in (OperatorWaits)
            ours: list[Path] = []
            held.callback(_touch, ours)  # once all is let go: a sleeping watch wakes
            try:
                _flock(held, operator_mark(path), deadline, OperatorBusy,
                       f"another operator's command holds {path}; this one stops here: "
                       "nothing was done, run it again once it is over")
                ours.append(operator_mark(path))
            except OSError as exc:
                # Another user's mark (a command run with sudo): this one waits for the
                # run lock unsaid, as before there were marks.
                log.warning("cannot open %s (%s): the runs are not asked to let this "
                            "command in", operator_mark(path), exc.strerror or exc)
        elif OperatorWaits(marked or path)():
            raise LockBusy(f"an operator's command waits for {marked or path}: this run lets "
                           "it in, and stops here")
        try:
            _flock(held, path, deadline, busy,
                   f"another bridge run holds {path}; this one stops here"
                   + (": nothing was done, run it again once the run is over" if alone
                      else ""))
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            raise ConfigError(f"{path} is a symbolic link: bridge does not follow it to "
                              "lock (someone may have planted it); remove it, or give "
                              "lock_file a folder only bridge's user can write") from None
        yield None


def _flock(held: contextlib.ExitStack, path: Path, deadline: float,
           busy: type[BridgeError], said: str) -> None:
    """``path`` locked exclusively (and closed with ``held``), by ``deadline``."""
    # Never through a link planted under its name: the lock would make its target.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    held.callback(os.close, fd)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise busy(said) from None
            time.sleep(0.1)


def _touch(marked: list[Path]) -> None:
    """The operator's mark touched as its command ends: what it decided (an approval, a
    retry) is for the next pass, which ``bridge watch`` starts as it sees the mark change
    (:class:`OperatorDone`), not at the end of its interval."""
    for mark in marked:
        with contextlib.suppress(OSError):
            os.utime(mark, follow_symlinks=False)


def operator_mark(path: Path) -> Path:
    """Beside the run lock: locked by an operator's command from the moment it waits for
    the lock until it is done."""
    return path.with_name(path.name + ".operator")


class OperatorWaits:
    """Asked by a run: True while an operator's command waits for the lock (or works), so
    that a pass under way stops at its next file, and no pass starts meanwhile."""

    def __init__(self, path: Path) -> None:
        self._path = operator_mark(path)

    def __call__(self) -> bool:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return False  # no operator's command ever waited here
        except OSError:
            # Another user's mark (left by a command run with sudo), this user may not
            # open: cannot tell, and a run must not die of it. Its command (or the next
            # one, by that user) waits for the run lock as before there were marks.
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)


class OperatorDone:
    """Asked by a sleeping ``bridge watch``: True once an operator's command has ended
    since it was last asked (its mark touched, :func:`_touch`). One stat, no lock."""

    def __init__(self, path: Path) -> None:
        self._path = operator_mark(path)
        self._last = self._read()

    def _read(self) -> tuple[int, int] | None:
        try:  # never through a link planted as the mark: its target may change at will
            s = os.stat(self._path, follow_symlinks=False)
        except OSError:
            return None
        return (s.st_ino, s.st_mtime_ns) if stat.S_ISREG(s.st_mode) else None

    def __call__(self) -> bool:
        now = self._read()
        ended = now is not None and now != self._last
        self._last = now
        return ended
