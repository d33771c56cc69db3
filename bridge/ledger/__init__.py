"""The ledger: every file seen, every state change, every output."""

from __future__ import annotations

from pathlib import Path

from bridge.ledger.base import (
    FINAL_STATES,
    WAITING_STATES,
    Event,
    Figures,
    FileRow,
    Ledger,
    OutputRow,
)
from bridge.ledger.sqlite import SqliteLedger

__all__ = [
    "FINAL_STATES",
    "WAITING_STATES",
    "Event",
    "Figures",
    "FileRow",
    "Ledger",
    "OutputRow",
    "SqliteLedger",
    "open_ledger",
]


def open_ledger(path: Path) -> Ledger:
    return SqliteLedger(path)
