"""The ledger's business facts: what each file sent, as the flow declares it (``facts:``),
for the commission and sales reports.

A fact is one row of a table the steps made (an order's header, a cancellation): the fields
the flow names, under a kind (``order``, ``cancel``...). They are kept by blocks, a chunk's
rows of one kind as JSON columns in one row of the table, and read back row by row.
A file's facts are written just before its outputs are planned, replacing any it had (a
file redone after a crash has its facts once), and dropped with its keys when an operator
refuses it before anything was written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager

from bridge.errors import TransientError
from bridge.ledger.base import Fact

#: Blocks of facts written per statement (a block is a chunk's rows: a few MB at most).
BATCH = 4


class FactsStore:
    db: sqlite3.Connection

    def _tx(self, durable: bool = True) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def record_facts(self, file_id: int, flow: str, facts: Iterable[tuple[str, str]],
                     at: float, *, durable: bool = True) -> None:
        """The file's facts, replacing those it had: blocks of rows of one kind, as
        columns of text in JSON, ``{field: [text, ...]}`` (one statement per block, not
        per row)."""
        with self._tx(durable) as db:
            db.execute("DELETE FROM facts WHERE file_id = ?", (file_id,))
            batch: list[tuple[int, str, str, float, str]] = []
            for kind, columns in facts:
                batch.append((file_id, flow, kind, at, columns))
                if len(batch) >= BATCH:
                    db.executemany("INSERT INTO facts VALUES (?, ?, ?, ?, ?)", batch)
                    batch.clear()
            if batch:
                db.executemany("INSERT INTO facts VALUES (?, ?, ?, ?, ?)", batch)

    def forget_facts(self, file_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM facts WHERE file_id = ?", (file_id,))

    def facts(self, kinds: Iterable[str], *, since: float | None = None,
              until: float | None = None) -> Iterator[Fact]:
        """The facts of these kinds recorded in [since, until), oldest first, of files
        whose outputs were planned or written (a file refused later has none)."""
        kinds = list(kinds)
        sql = (f"SELECT f.file_id, f.flow, f.kind, f.at, f.data FROM facts f "
               f"WHERE f.kind IN ({', '.join('?' * len(kinds))})")
        args: list[object] = list(kinds)
        if since is not None:
            sql += " AND f.at >= ?"
            args.append(since)
        if until is not None:
            sql += " AND f.at < ?"
            args.append(until)
        try:
            rows = self.db.execute(sql + " ORDER BY f.at, f.file_id, f.rowid", args).fetchall()
        except sqlite3.Error as exc:
            raise TransientError(f"ledger: {exc}") from None
        for file_id, flow, kind, at, data in rows:
            columns: dict[str, list[str | None]] = json.loads(data)
            names = list(columns)
            for values in zip(*columns.values(), strict=True):
                yield Fact(file_id, flow, kind, at,
                           {n: v for n, v in zip(names, values, strict=True) if v is not None})
