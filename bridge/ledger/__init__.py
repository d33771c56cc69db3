"""The ledger: every file seen, every state change, every output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bridge.errors import ConfigError
from bridge.ledger.base import (
    CLAIM_PREFIX,
    Event,
    Fact,
    Figures,
    FileRow,
    IllegalTransition,
    Ledger,
    Now,
    Observation,
    OutputRow,
    Tallies,
    Written,
)
from bridge.ledger.sqlite import SqliteLedger

__all__ = [
    "CLAIM_PREFIX",
    "Event",
    "Fact",
    "Figures",
    "FileRow",
    "IllegalTransition",
    "Ledger",
    "Now",
    "Observation",
    "OutputRow",
    "SqliteLedger",
    "Tallies",
    "Written",
    "located",
    "open_ledger",
]


#: Where tests send every ledger they open (None: where it is asked for).
ROUTE: Callable[[Path | str], Path | str] | None = None


def is_url(where: Path | str) -> bool:
    return isinstance(where, str) and where.startswith(("postgresql://", "postgres://"))


def located(where: Path | str) -> Path | str:
    """Where the ledger asked for at ``where`` is: its SQLite file, or its URL."""
    return ROUTE(where) if ROUTE is not None else where


def open_ledger(where: Path | str) -> Ledger:
    """The ledger at a path (SQLite) or a ``postgresql://`` URL (PostgreSQL)."""
    where = located(where)
    if is_url(where):
        from bridge.ledger.postgres import PostgresLedger

        return PostgresLedger(str(where))
    no_link(Path(where))
    return SqliteLedger(Path(where))


#: The files SQLite keeps beside a database, each opened by its name.
_BESIDE = ("", "-wal", "-shm", "-journal")


def no_link(path: Path) -> None:
    """Refuse a ledger whose file (or one SQLite keeps beside it) is a symbolic link: SQLite
    opens them by name and would create and write whatever file the link names. A link to
    the ledger's folder (the state on another disk) is the installer's, and is followed."""
    for suffix in _BESIDE:
        name = path.with_name(path.name + suffix)
        try:
            linked = name.is_symlink()
        except OSError:
            continue
        if linked:
            raise ConfigError(f"{name} is a symbolic link: bridge does not open its ledger "
                              "through one (someone may have planted it); remove it, or link "
                              "the ledger's folder instead, or give ledger a folder only "
                              "bridge's user can write")
