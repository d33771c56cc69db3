"""Where files live: local folders, SFTP and FTP/FTPS servers. Nothing here knows what a
file means."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.transport.base import Entry, TargetExists, Transport, UnsafeName, matches, safe_name

if TYPE_CHECKING:
    from bridge.config import Config

__all__ = ["Entry", "TargetExists", "Transport", "UnsafeName", "connect", "matches", "safe_name"]


def connect(cfg: Config, name: str) -> Transport:
    """An open transport for the named connection ("local" is the config's folder)."""
    from bridge.config import FtpConnection, LocalConnection, SftpConnection

    conn = cfg.connection(name)
    if isinstance(conn, LocalConnection):
        from bridge.transport.local import LocalTransport

        return LocalTransport(cfg.path(conn.root))
    if isinstance(conn, SftpConnection):
        from bridge.transport.sftp import SftpTransport

        return SftpTransport(name, conn, cfg.path)
    if isinstance(conn, FtpConnection):
        from bridge.transport.ftp import FtpTransport

        return FtpTransport(name, conn, cfg.path)
    raise AssertionError(conn)
