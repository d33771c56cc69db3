"""The SSH session under :class:`bridge.transport.sftp.SftpTransport`: its state, and opening,
checking and closing the connection. One connection per pass, opened on first use; the host
key is checked before any secret is sent, keepalives keep it open, and every request has the
connection's timeout. :meth:`SftpSession._run` carries an operation out on the open session,
opening it again after a drop with exponential backoff and jitter; once the tries run out the
session stays down for the rest of the pass, so a dead server costs one wait, not one per file.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import paramiko

from bridge import hostkeys
from bridge.errors import ConfigError, TransientError
from bridge.files import TempNames
from bridge.transport.sftp_connect import (
    DROPPED,
    Client,
    Unreachable,
    authenticate,
    load_key,
    open_transport,
    plain,
)
from bridge.transport.sftp_pipe import Pipe

if TYPE_CHECKING:
    from bridge.config import SftpConnection

log = logging.getLogger("bridge.transport.sftp")  # the transport's messages, wherever said
T = TypeVar("T")

KEEPALIVE = 15


class SftpSession:
    """The connection of one :class:`~bridge.transport.sftp.SftpTransport`; no file
    operations here."""

    #: Seconds before each new try after a failure (jittered down to half); about 10 s in all.
    backoff: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)

    def __init__(self, name: str, conn: SftpConnection, resolve: Callable[[Path], Path], *,
                 names: TempNames | None = None) -> None:
        self.name = name
        self.names = names or TempNames()
        self.conn = conn
        self.resolve = resolve
        self.where = f"connection {name!r} (sftp {conn.user}@{conn.host}:{conn.port})"
        self._ssh: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._pipe: Pipe | None = None
        self._key: paramiko.PKey | None = None
        self._posix_rename = True
        #: Whether uploads link and remove (see :mod:`bridge.transport.sftp`); per connection.
        self._hardlink = False
        self._down: str | None = None
        self._mode_refused = False  # said once per transport

    # -- connections --------------------------------------------------------------------

    def _run(self, what: str, op: Callable[[paramiko.SFTPClient, int], T]) -> T:
        """``op`` on the open session, opening it again after a drop; ``attempt`` tells a
        retried op that its first try may have been carried out unanswered."""
        if self._down is not None:
            raise TransientError(self._down)
        last = ""
        for attempt, delay in enumerate((0.0, *self.backoff)):
            if delay:
                time.sleep(random.uniform(delay / 2, delay))
            try:
                sftp = self._sftp if self._sftp is not None else self._connect()
                return op(sftp, attempt)
            except Unreachable as exc:
                last = str(exc)
            except (OSError, *DROPPED) as exc:
                if not self._dropped(exc):
                    raise TransientError(f"{self.where}: cannot {what}: {plain(exc)}") from None
                last = f"connection lost: {plain(exc)}"
            self._disconnect()
            log.info("%s: %s; try %d of %d", self.where, last, attempt + 1,
                     len(self.backoff) + 1)
        self._down = f"{self.where}: cannot {what}: {last} (gave up after " \
                     f"{len(self.backoff) + 1} tries)"
        raise TransientError(self._down)

    def _dropped(self, exc: BaseException) -> bool:
        # A channel found closed ("Socket is closed") is a lost connection, even before
        # paramiko's transport thread has noticed that the server went away.
        channel = self._sftp.get_channel() if self._sftp is not None else None
        return (isinstance(exc, DROPPED) or self._ssh is None or not self._ssh.is_active()
                or channel is None or channel.closed)

    def _connect(self) -> paramiko.SFTPClient:
        conn = self.conn
        t = open_transport(conn, self.resolve)
        try:
            hostkeys.check(self.name, conn, self.resolve, t.get_remote_server_key().asbytes())
            if conn.key_file is not None and self._key is None:
                self._key = load_key(conn, self.resolve, self.where)
            authenticate(t, conn, self._key, self.where)
            t.set_keepalive(KEEPALIVE)
            sftp = Client.from_transport(t)
            if sftp is None:
                raise Unreachable("the server refused the sftp subsystem")
            channel = sftp.get_channel()
            if channel is None:
                raise Unreachable("the server refused the sftp subsystem")
            channel.settimeout(conn.timeout)
            pipe = Pipe(channel)
            pipe.ask_limits()
        except (OSError, *DROPPED) as exc:
            t.close()
            if isinstance(exc, paramiko.AuthenticationException):
                raise ConfigError(f"{self.where}: authentication failed: {plain(exc)}") from None
            raise Unreachable(f"handshake failed: {plain(exc)}") from None
        except BaseException:
            t.close()
            raise
        self._ssh, self._sftp, self._pipe = t, sftp, pipe
        offered = sftp.extensions or {}
        self._hardlink = offered.get(b"hardlink@openssh.com") == b"1"
        pipe.sync = offered.get(b"fsync@openssh.com") == b"1"
        return sftp

    def _disconnect(self) -> None:
        sftp, t = self._sftp, self._ssh
        self._sftp = self._ssh = None
        self._pipe = None
        if sftp is not None:
            with contextlib.suppress(Exception):
                sftp.close()
        if t is not None:
            t.close()
