"""The ledger for monitoring: tallies for metrics (counts and sums by flow, read in one go)
and a person's acknowledgements of refused files."""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager

from bridge.errors import TransientError
from bridge.ledger.base import Tallies


class MetricsStore:
    db: sqlite3.Connection

    def _tx(self, durable: bool = True) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def acknowledge(self, flows: list[str], now: float) -> None:
        """A person has seen the refused files of ``flows`` up to ``now``; during a pass,
        up to its start: a pass stamps what it records with the time it started, and a
        file it refuses after the ack was not seen (``status --check`` counted it as
        acknowledged, and said nothing)."""
        with self._tx() as db:
            last = db.execute("SELECT started, ended FROM runs ORDER BY id DESC LIMIT 1"
                              ).fetchone()
            if last is not None and last[1] is None and last[0] is not None:
                now = min(now, float(last[0]) - 0.001)
            db.executemany("INSERT INTO acks (flow, at) VALUES (?, ?) ON CONFLICT(flow) "
                           "DO UPDATE SET at = excluded.at", [(f, now) for f in flows])

    def shared_key(self, name: str, make: str) -> str:
        """The value kept under ``name`` for every worker of the ledger: ``make`` if none
        was kept yet (the first worker's wins)."""
        with self._tx() as db:
            db.execute("INSERT OR IGNORE INTO keys (name, value) VALUES (?, ?)", (name, make))
            row = db.execute("SELECT value FROM keys WHERE name = ?", (name,)).fetchone()
        return str(row[0])

    def acknowledged(self, flow: str) -> float:
        """When a person last acknowledged the flow's refused files (0: never)."""
        try:
            row = self.db.execute("SELECT at FROM acks WHERE flow = ?", (flow,)).fetchone()
        except sqlite3.Error as exc:
            raise TransientError(f"ledger: {exc}") from None
        return 0.0 if row is None else float(row[0])

    def tallies(self) -> Tallies:
        """Files by flow and state, rows, issues by code, bytes read, the last success per
        flow and the last finished pass: what `bridge metrics` exposes."""
        try:
            q = self.db.execute
            files = {(f, s): int(n) for f, s, n in q(
                "SELECT flow, state, COUNT(*) FROM files GROUP BY flow, state")}
            rows = {f: (int(i or 0), int(o or 0)) for f, i, o in q(
                "SELECT flow, SUM(rows_in), SUM(rows_out) FROM files GROUP BY flow")}
            issues = {(f, c): int(n) for f, c, n in q(
                "SELECT f.flow, i.code, COUNT(*) FROM issues i JOIN files f "
                "ON f.id = i.file_id GROUP BY f.flow, i.code")}
            read = {f: int(b or 0) for f, b in q(
                "SELECT flow, SUM(size) FROM files WHERE sha256 != '' GROUP BY flow")}
            written = {(f, t): int(b or 0) for f, t, b in q(
                "SELECT f.flow, o.target, SUM(o.bytes) FROM outputs o JOIN files f "
                "ON f.id = o.file_id WHERE o.state = 'written' GROUP BY f.flow, o.target")}
            done = {f: float(t) for f, t in q(
                "SELECT flow, MAX(updated) FROM files WHERE state = 'done' GROUP BY flow")}
            last = q("SELECT started, ended FROM runs WHERE ended IS NOT NULL "
                     "ORDER BY id DESC LIMIT 1").fetchone()
        except sqlite3.Error as exc:
            raise TransientError(f"ledger: {exc}") from None
        return Tallies(files, rows, issues, read, written, done,
                       None if last is None else (float(last[0]), float(last[1])))
