"""The SQLite ledger's figures and issues of a file: what it held, what it wrote, what was
wrong with it.

Figures (rows and money in and out) are set with the plan, or alone when a file is refused
or waits; the issues of a file replace those it had (a file redone after a crash reports
what this reading found), the first :data:`MAX_ISSUES` of them: the full list is in the
file's report. Retention forgets the sender's values an issue quotes (``forget_values``).
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from decimal import Decimal

from bridge.issues import CODES, Issue
from bridge.ledger.base import Figures

#: Issues kept per file in the ledger; the full list is in the file's report.
MAX_ISSUES = 1000


class FiguresStore:
    def _tx(self, durable: bool = True) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _read(self, sql: str, args: tuple[object, ...] | list[object] = ()
              ) -> list[tuple[object, ...]]:
        raise NotImplementedError

    # -- figures ----------------------------------------------------------------------------

    def set_figures(self, file_id: int, figures: Figures) -> None:
        with self._tx() as db:
            self._figures(db, file_id, figures)

    @staticmethod
    def _figures(db: sqlite3.Connection, file_id: int, figures: Figures) -> None:
        db.execute("UPDATE files SET rows_in = ?, rows_out = ?, money_in = ?, money_out = ? "
                   "WHERE id = ?", (figures.rows_in, figures.rows_out,
                                    _text(figures.money_in), _text(figures.money_out), file_id))

    def figures(self, file_id: int) -> Figures:
        row = self._read("SELECT rows_in, rows_out, money_in, money_out FROM files "
                         "WHERE id = ?", (file_id,))
        if not row:
            raise KeyError(file_id)
        r = row[0]
        return Figures(r[0], r[1], _decimal(r[2]), _decimal(r[3]))  # type: ignore[arg-type]

    # -- issues ---------------------------------------------------------------------------

    def record_issues(self, file_id: int, issues: list[Issue], *, durable: bool = True
                      ) -> None:
        with self._tx(durable) as db:
            # Values quoted anew: retention forgets them in their turn.
            db.execute("UPDATE files SET issues = ?, pruned_values = NULL WHERE id = ?",
                       (len(issues), file_id))
            db.execute("DELETE FROM issues WHERE file_id = ?", (file_id,))
            db.executemany(
                "INSERT INTO issues (file_id, line, record, field, code, value, message) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(file_id, i.line, i.record, i.field, i.code, i.value, i.message)
                 for i in issues[:MAX_ISSUES]])

    def issues(self, file_id: int) -> list[Issue]:
        rows = self._read("SELECT code, message, line, record, field, value FROM issues "
                          "WHERE file_id = ? ORDER BY id", (file_id,))
        return [Issue(*r) for r in rows]  # type: ignore[arg-type]

    def forget_values(self, file_id: int) -> None:
        # Messages quote values too: each becomes its code's plain meaning.
        with self._tx() as db:
            rows = db.execute("SELECT id, code FROM issues WHERE file_id = ?",
                              (file_id,)).fetchall()
            db.executemany("UPDATE issues SET value = NULL, message = ? WHERE id = ?",
                           [(CODES.get(code, code), i) for i, code in rows])


def _text(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def _decimal(s: object) -> Decimal | None:
    return None if s is None else Decimal(str(s))
