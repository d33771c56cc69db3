"""The SQLite ledger's record of an operator's approvals, whole or row by row.

An approval is one transaction: the rows left out (by their row id, the line of the source
file they start on), each with the operator's reason, the file's ``approved`` flag and its
move to ``approved``. It is committed before any output of the file is planned, so a run
killed at any moment after it leaves out the same rows when it starts again, and a run
killed before it finds the file still ``held``, with nothing decided.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from contextlib import AbstractContextManager

from bridge.errors import TransientError
from bridge.ledger.base import IllegalTransition
from bridge.states import APPROVED, HELD


class RowsStore:
    db: sqlite3.Connection

    def _tx(self, durable: bool = True) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    @staticmethod
    def _move(db: sqlite3.Connection, file_id: int, state: str, now: float,
              detail: str | None) -> None:
        raise NotImplementedError

    def approve(self, file_id: int, now: float, detail: str, *, left_out: Iterable[int] = (),
                reason: str | None = None) -> None:
        """A held file approved, but for the rows ``left_out`` (refused for ``reason``)."""
        lines = sorted(set(left_out))
        if lines and not reason:
            raise ValueError("rows left out need a reason")
        with self._tx() as db:
            row = db.execute("SELECT state FROM files WHERE id = ?", (file_id,)).fetchone()
            if row is None:
                raise KeyError(file_id)
            if row[0] != HELD:
                raise IllegalTransition(f"file {file_id} is {row[0]}, not held")
            db.execute("DELETE FROM row_decisions WHERE file_id = ?", (file_id,))
            db.executemany("INSERT INTO row_decisions (file_id, line, reason, at) "
                           "VALUES (?, ?, ?, ?)", [(file_id, n, reason, now) for n in lines])
            db.execute("UPDATE files SET approved = 1, next_try = NULL WHERE id = ?",
                       (file_id,))
            self._move(db, file_id, APPROVED, now, detail)

    def left_out(self, file_id: int) -> dict[int, str]:
        """The rows an operator left out of a file (row id: reason); empty for most files."""
        try:
            rows = self.db.execute("SELECT line, reason FROM row_decisions WHERE file_id = ? "
                                   "ORDER BY line", (file_id,)).fetchall()
        except sqlite3.Error as exc:
            raise TransientError(f"ledger: {exc}") from None
        return {int(line): str(reason) for line, reason in rows}
