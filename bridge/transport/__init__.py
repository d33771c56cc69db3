"""Where files live: local folders, SFTP servers. Nothing here knows what a file means."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.transport.base import Entry, TargetExists, Transport, UnsafeName, matches, safe_name

if TYPE_CHECKING:
    from bridge.config import Config

__all__ = ["Entry", "TargetExists", "Transport", "UnsafeName", "connect", "matches", "safe_name"]


def connect(cfg: Config, name: str) -> Transport:
    """An open transport for the named connection ("local" is the config's folder)."""
    from bridge.config import LocalConnection
    from bridge.errors import ConfigError
    from bridge.transport.local import LocalTransport

    conn = cfg.connection(name)
    if isinstance(conn, LocalConnection):
        return LocalTransport(cfg.path(conn.root))
    raise ConfigError(f"connection {name!r}: transport {conn.type!r} is not available yet")
