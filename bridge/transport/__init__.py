"""Where files live: local folders, SFTP and FTP/FTPS servers. Nothing here knows what a
file means."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.transport.base import (
    FOLDER,
    Entry,
    Refused,
    TargetExists,
    Transport,
    UnsafeName,
    matches,
    observed_size,
    safe_name,
)

if TYPE_CHECKING:
    from bridge.config import Config

__all__ = ["FOLDER", "Entry", "Refused", "TargetExists", "Transport", "UnsafeName", "connect",
           "matches", "observed_size", "safe_name"]


def connect(cfg: Config, name: str) -> Transport:
    """An open transport for the named connection ("local" is the config's folder)."""
    from bridge.config import FtpConnection, LocalConnection, SftpConnection
    from bridge.files import KEY_FILE, TempNames

    conn = cfg.connection(name)
    # The key of temporary names lives in the private work area, so that a run finds what
    # a killed run left, and nobody else can tell the names in advance; on a PostgreSQL
    # ledger in the ledger, which every worker, in every work area, shares.
    where = cfg.ledger_location()
    names = (TempNames(shared=lambda: _ledger_key(where)) if isinstance(where, str)
             else TempNames(cfg.path(cfg.work_dir) / KEY_FILE))
    if isinstance(conn, LocalConnection):
        from bridge.transport.local import LocalTransport

        return LocalTransport(cfg.path(conn.root), names=names)
    if isinstance(conn, SftpConnection):
        from bridge.transport.sftp import SftpTransport

        return SftpTransport(name, conn, cfg.path, names=names)
    if isinstance(conn, FtpConnection):
        from bridge.transport.ftp import FtpTransport

        return FtpTransport(name, conn, cfg.path, names=names)
    raise AssertionError(conn)


#: The keys of temporary names asked of each ledger, once per process.
_KEYS: dict[str, bytes] = {}


def _ledger_key(url: str) -> bytes:
    """The key of temporary names the workers of the ledger at ``url`` share."""
    import secrets

    from bridge.files import KEY_BYTES
    from bridge.ledger import open_ledger

    if url not in _KEYS:
        ledger = open_ledger(url)
        try:
            _KEYS[url] = bytes.fromhex(ledger.shared_key("temporary-names",
                                                         secrets.token_hex(KEY_BYTES)))
        finally:
            ledger.close()
    return _KEYS[url]
