"""The ledger: every file seen, every state change, every output."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

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
    return SqliteLedger(Path(where))
