"""The ledger: every file seen, every state change, every output."""

from __future__ import annotations

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
    "open_ledger",
]


def open_ledger(path: Path) -> Ledger:
    return SqliteLedger(path)
