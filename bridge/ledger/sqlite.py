"""The embedded ledger: one SQLite file in WAL mode, schema migrations numbered in order.

Every change is one transaction (``BEGIN IMMEDIATE``), so a process killed at any moment
leaves the ledger at the last committed state, never half-way. A commit is durable (synced
to the disk, ``synchronous=FULL``) unless it says otherwise: what bridge does after it (a
file renamed at the source, an output published, a file archived) must find its record
after a power cut. The few commits whose loss only costs work done again (a file fetched,
a file done, a folder's listing, the issues and facts of a transform before its plan) are
not synced on their own; WAL keeps the order, so the next durable commit carries them to
the disk too. SQLite errors after opening (a full disk, a locked or damaged file) are
transient failures, never tracebacks.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bridge.errors import ConfigError, TransientError
from bridge.issues import Issue
from bridge.ledger.base import (
    CLAIM_PREFIX,
    Event,
    Figures,
    FileRow,
    IllegalTransition,
    OutputRow,
    PlanMaker,
    PrintPairs,
    Written,
)
from bridge.ledger.migrations import MIGRATIONS
from bridge.ledger.sqlite_facts import FactsStore
from bridge.ledger.sqlite_figures import FiguresStore
from bridge.ledger.sqlite_metrics import MetricsStore
from bridge.ledger.sqlite_ready import ReadinessStore
from bridge.ledger.sqlite_rows import RowsStore
from bridge.states import ALL, CLAIMED, DONE, allowed

_FILE_COLS = ("id, flow, path, size, sha256, state, attempts, issues, reason, replay_of, run_id, "
              "created, updated, mtime, held_as, approved, next_try, kept_at, refs, unsent_only")
_FILE_FIELDS = [f.strip() for f in _FILE_COLS.split(",")]
_OUT_COLS = "id, file_id, target, folder, name, sha256, rows, state"
#: What retention prunes of a finished file, and the column that says when it did.
_PRUNED = {"work": "pruned_work", "kept": "pruned_kept", "values": "pruned_values"}


def _file(r: tuple[object, ...]) -> FileRow:
    values: dict[str, Any] = dict(zip(_FILE_FIELDS, r, strict=True))
    values["approved"] = bool(values["approved"])
    values["unsent_only"] = bool(values["unsent_only"])
    return FileRow(**values)


class SqliteLedger(ReadinessStore, MetricsStore, FactsStore, RowsStore, FiguresStore):
    #: How the files of a flow in a few states are looked up (see :meth:`files`).
    STATE_INDEX = " INDEXED BY files_updated"

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self._durable = True
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate(path)
        except (sqlite3.Error, OSError) as exc:
            raise TransientError(f"ledger {path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        try:
            self._begin(durable)
        except sqlite3.Error as exc:
            raise TransientError(f"ledger: {exc}") from None
        try:
            yield self.db
        except sqlite3.Error as exc:
            self._rollback()
            raise TransientError(f"ledger: {exc}") from None
        except BaseException:
            self._rollback()
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise TransientError(f"ledger: {exc}") from None

    def _begin(self, durable: bool = True) -> None:
        """A writing transaction, writers taking turns (SQLite: its write lock at once);
        synced to the disk at its commit if ``durable``."""
        if durable != self._durable:
            self.db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
            self._durable = durable
        self.db.execute("BEGIN IMMEDIATE")

    def _rollback(self) -> None:
        # SQLite rolls a transaction back by itself on some errors (a full disk,
        # a file too large): then there is nothing left to roll back.
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")

    def _read(self, sql: str, args: tuple[object, ...] | list[object] = ()
              ) -> list[tuple[object, ...]]:
        try:
            return self.db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise TransientError(f"ledger: {exc}") from None

    def _migrate(self, path: Path) -> None:
        # Read first: a ledger at this schema needs no write lock, so reading commands
        # (`status --check`) do not wait for, nor fail on, a long write of another process.
        if self.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
            return
        with self._tx() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise ConfigError(f"ledger {path} has schema {version}, newer than this bridge "
                                  f"knows ({len(MIGRATIONS)}): upgrade bridge")
            for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, sql.split(";")):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {number}")

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    # -- runs ---------------------------------------------------------------------------

    def start_run(self, now: float, command: str) -> int:
        with self._tx() as db:
            cur = db.execute("INSERT INTO runs (command, started) VALUES (?, ?)", (command, now))
            return int(cur.lastrowid or 0)

    def end_run(self, run_id: int, now: float, status: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET ended = ?, status = ? WHERE id = ?", (now, status, run_id))

    # -- files --------------------------------------------------------------------------

    def claim(self, flow: str, path: str, size: int, mtime: float, run_id: int | None,
              now: float) -> FileRow:
        return self.claim_many(flow, [(path, size, mtime)], run_id, now)[0]

    def claim_many(self, flow: str, files: Iterable[tuple[str, int, float]],
                   run_id: int | None, now: float) -> list[FileRow]:
        ids: list[int] = []
        with self._tx() as db:
            for path, size, mtime in files:
                cur = db.execute(
                    "INSERT INTO files (flow, path, size, sha256, state, run_id, created, "
                    "updated, mtime) VALUES (?, ?, ?, '', 'claimed', ?, ?, ?, ?)",
                    (flow, path, size, run_id, now, now, mtime))
                file_id = int(cur.lastrowid or 0)
                db.execute("UPDATE files SET held_as = ? WHERE id = ?",
                           (f"{CLAIM_PREFIX}{file_id}", file_id))
                db.execute("INSERT INTO events (file_id, state, at, detail) VALUES (?, ?, ?, ?)",
                           (file_id, CLAIMED, now, f"{size} bytes"))
                ids.append(file_id)
        return [self.get(file_id) for file_id in ids]

    def refuse(self, flow: str, path: str, size: int, mtime: float, issue: Issue,
               run_id: int | None, now: float) -> FileRow:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO files (flow, path, size, sha256, state, run_id, created, updated, "
                "mtime, issues, reason) VALUES (?, ?, ?, '', 'rejected', ?, ?, ?, ?, 1, ?)",
                (flow, path, size, run_id, now, now, mtime, issue.code))
            file_id = int(cur.lastrowid or 0)
            db.execute("INSERT INTO events (file_id, state, at, detail) VALUES (?, ?, ?, ?)",
                       (file_id, "rejected", now, f"{issue.code}: {issue.message}"))
            db.execute("INSERT INTO issues (file_id, line, record, field, code, value, message) "
                       "VALUES (?, NULL, NULL, NULL, ?, ?, ?)",
                       (file_id, issue.code, issue.value, issue.message))
        return self.get(file_id)

    def drop_claim(self, file_id: int) -> None:
        with self._tx() as db:
            row = db.execute("SELECT state, sha256 FROM files WHERE id = ?",
                             (file_id,)).fetchone()
            if row is None or row != (CLAIMED, ""):
                raise IllegalTransition(f"file {file_id} is not an empty claim: {row}")
            db.execute("DELETE FROM events WHERE file_id = ?", (file_id,))
            db.execute("DELETE FROM files WHERE id = ?", (file_id,))

    def fetched(self, file_id: int, size: int, sha256: str, now: float,
                detail: str | None = None) -> None:
        # Lost, the file is fetched again from where it is held.
        with self._tx(durable=False) as db:
            db.execute("UPDATE files SET size = ?, sha256 = ? WHERE id = ?",
                       (size, sha256, file_id))
            self._move(db, file_id, "fetched", now, detail)

    def find(self, flow: str, path: str, size: int, sha256: str, *, besides: int = 0,
             latest: bool = False, refs: str | None = None) -> FileRow | None:
        if latest:
            row = self._read(
                f"SELECT {_FILE_COLS} FROM files WHERE flow = ? AND path = ? AND "
                "replay_of IS NULL AND id != ? ORDER BY id DESC LIMIT 1", (flow, path, besides))
            last = _file(row[0]) if row else None
            same = last is not None and (last.size, last.sha256, last.refs) == (size, sha256,
                                                                                 refs)
            return last if same else None
        # Not one bridge refused (it wrote nothing: the same bytes sent again, once the ERP's
        # master or the tracciato was fixed, are read again), nor a duplicate (its original
        # decides); one an operator refused, still.
        row = self._read(
            f"SELECT {_FILE_COLS} FROM files WHERE flow = ? AND path = ? AND size = ? AND "
            "sha256 = ? AND replay_of IS NULL AND id != ? AND (state NOT IN ('rejected', "
            "'duplicate') OR EXISTS (SELECT 1 FROM issues WHERE issues.file_id = files.id "
            "AND issues.code = 'operator-rejected')) ORDER BY id LIMIT 1",
            (flow, path, size, sha256, besides))
        return _file(row[0]) if row else None

    def create(self, flow: str, path: str, size: int, sha256: str, run_id: int | None,
               now: float, replay_of: int | None = None, mtime: float | None = None,
               refs: str | None = None, unsent_only: bool = False) -> FileRow:
        detail = (f"replay of {replay_of}" + (", only the keys no file holds" if unsent_only
                                              else "")) if replay_of else None
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO files (flow, path, size, sha256, state, run_id, created, updated, "
                "replay_of, mtime, refs, unsent_only) VALUES (?, ?, ?, ?, 'claimed', ?, ?, ?, "
                "?, ?, ?, ?)",
                (flow, path, size, sha256, run_id, now, now, replay_of, mtime, refs,
                 int(unsent_only)))
            file_id = int(cur.lastrowid or 0)
            db.execute("INSERT INTO events (file_id, state, at, detail) VALUES (?, ?, ?, ?)",
                       (file_id, CLAIMED, now, detail))
        return self.get(file_id)

    def set_state(self, file_id: int, state: str, now: float, detail: str | None = None,
                  *, issues: int | None = None, reason: str | None = None,
                  attempt: bool = False, next_try: float | None = None,
                  approved: bool | None = None, reset_attempts: bool = False,
                  kept_at: str | None = None, written: Iterable[Written] = ()) -> None:
        # Done, and lost: the file is finished again (its archive is found already made).
        with self._tx(durable=state != DONE) as db:
            db.execute(
                "UPDATE files SET issues = COALESCE(?, issues), reason = COALESCE(?, reason), "
                "attempts = CASE WHEN ? THEN 0 ELSE attempts END + ?, next_try = ?, "
                "approved = COALESCE(?, approved), kept_at = COALESCE(?, kept_at) WHERE id = ?",
                (issues, reason, reset_attempts, int(attempt), next_try,
                 None if approved is None else int(approved), kept_at, file_id))
            for w in written:
                self._output_written(db, w)
            self._move(db, file_id, state, now, detail)

    @staticmethod
    def _move(db: sqlite3.Connection, file_id: int, state: str, now: float,
              detail: str | None) -> None:
        if state not in ALL:
            raise IllegalTransition(f"unknown state {state!r}")
        old = db.execute("SELECT state FROM files WHERE id = ?", (file_id,)).fetchone()
        if old is None:
            raise KeyError(file_id)
        if old[0] != state and not allowed(old[0], state):
            raise IllegalTransition(f"file {file_id}: {old[0]} -> {state} is not allowed")
        db.execute("UPDATE files SET state = ?, updated = ? WHERE id = ?", (state, now, file_id))
        db.execute("INSERT INTO events (file_id, state, at, detail) VALUES (?, ?, ?, ?)",
                   (file_id, state, now, detail))

    def get(self, file_id: int) -> FileRow:
        row = self._read(f"SELECT {_FILE_COLS} FROM files WHERE id = ?", (file_id,))
        if not row:
            raise KeyError(file_id)
        return _file(row[0])

    def set_kept(self, file_id: int, where: str | None) -> None:
        with self._tx() as db:
            db.execute("UPDATE files SET kept_at = ? WHERE id = ?", (where, file_id))

    def prunable(self, flow: str, what: str, before: float, states: frozenset[str],
                 limit: int) -> list[FileRow]:
        column = _PRUNED[what]
        # Values to forget are in issues: a file without any has none, and is never marked.
        quoted = (" AND EXISTS (SELECT 1 FROM issues WHERE issues.file_id = files.id)"
                  if what == "values" else "")
        rows = self._read(
            f"SELECT {_FILE_COLS} FROM files WHERE flow = ? AND {column} IS NULL AND "
            f"updated < ? AND state IN ({', '.join('?' * len(states))}){quoted} "
            "ORDER BY updated LIMIT ?", (flow, before, *sorted(states), limit))
        return [_file(r) for r in rows]

    def mark_pruned(self, file_id: int, what: str, now: float) -> None:
        column = _PRUNED[what]
        with self._tx() as db:
            db.execute(f"UPDATE files SET {column} = ? WHERE id = ?", (now, file_id))

    def files(self, *, flow: str | None = None, states: frozenset[str] | None = None,
              since: float | None = None, last: int | None = None) -> list[FileRow]:
        where: list[str] = ["1 = 1"]
        args: list[object] = []
        if flow is not None:
            where.append("flow = ?")
            args.append(flow)
        if states is not None:
            where.append(f"state IN ({', '.join('?' * len(states))})")
            args += sorted(states)
        if since is not None:
            where.append("created >= ?")
            args.append(since)
        order = "ORDER BY id DESC LIMIT ?" if last else "ORDER BY id"
        if last:
            args.append(last)
        # A flow's files in a few states (what a pass resumes) are few among many done
        # ones, which statistics that hold averages cannot tell (after an ANALYZE SQLite
        # read all 100,000 files of a large ledger in id order): the index, always.
        use = self.STATE_INDEX if flow is not None and states and not last else ""
        rows = self._read(f"SELECT {_FILE_COLS} FROM files{use} WHERE {' AND '.join(where)} "
                          f"{order}", args)
        return sorted((_file(r) for r in rows), key=lambda f: f.id)

    def events(self, file_id: int) -> list[Event]:
        rows = self._read("SELECT file_id, state, at, detail FROM events WHERE file_id = ? "
                          "ORDER BY id", (file_id,))
        return [Event(*r) for r in rows]  # type: ignore[arg-type]

    def find_by_path(self, path: str) -> list[FileRow]:
        rows = self._read(f"SELECT {_FILE_COLS} FROM files WHERE path = ? ORDER BY id", (path,))
        return [_file(r) for r in rows]

    # -- outputs ------------------------------------------------------------------------

    def plan(self, file_id: int, make: PlanMaker, *, keys: Iterable[str],
             fingerprints: PrintPairs, now: float, detail: str | None = None,
             figures: Figures | None = None, unsent: Iterable[str] = ()
             ) -> list[OutputRow]:
        with self._tx() as db:
            if figures is not None:
                self._figures(db, file_id, figures)
            row = db.execute("SELECT flow FROM files WHERE id = ?", (file_id,)).fetchone()
            if not db.execute("SELECT 1 FROM outputs WHERE file_id = ?", (file_id,)).fetchone():
                for target, folder, name in make(self._seq_in(db), self._taken_in(db)):
                    db.execute("INSERT INTO outputs (file_id, target, folder, name, state) "
                               "VALUES (?, ?, ?, ?, 'planned')", (file_id, target, folder, name))
                self._record_keys(db, row[0], file_id, keys, fingerprints, unsent)
            # Held for an operator until now: its keys are sent keys from here on.
            db.execute("DELETE FROM held_keys WHERE file_id = ?", (file_id,))
            self._move(db, file_id, "checked", now, detail)
        return self.outputs(file_id)

    def outputs(self, file_id: int) -> list[OutputRow]:
        rows = self._read(f"SELECT {_OUT_COLS} FROM outputs WHERE file_id = ? ORDER BY id",
                          (file_id,))
        return [OutputRow(*r) for r in rows]  # type: ignore[arg-type]

    def set_output(self, output_id: int, state: str, *, sha256: str | None = None,
                   rows: int | None = None, size: int | None = None) -> None:
        with self._tx() as db:
            self._output_written(db, Written(output_id, sha256, rows, size, state))

    @staticmethod
    def _output_written(db: sqlite3.Connection, w: Written) -> None:
        db.execute("UPDATE outputs SET state = ?, sha256 = COALESCE(?, sha256), "
                   "rows = COALESCE(?, rows), bytes = COALESCE(?, bytes) WHERE id = ?",
                   (w.state, w.sha256, w.rows, w.size, w.output_id))

    def rename_output(self, output_id: int, make: Callable[[Callable[[str], int]], str]
                      ) -> OutputRow:
        with self._tx() as db:
            db.execute("UPDATE outputs SET name = ? WHERE id = ?",
                       (make(self._seq_in(db)), output_id))
            row = db.execute(f"SELECT {_OUT_COLS} FROM outputs WHERE id = ?",
                             (output_id,)).fetchone()
        return OutputRow(*row)

    @staticmethod
    def _seq_in(db: sqlite3.Connection) -> Callable[[str], int]:
        def draw(name: str) -> int:
            db.execute("INSERT INTO sequences VALUES (?, 0) ON CONFLICT(name) DO NOTHING",
                       (name,))
            db.execute("UPDATE sequences SET value = value + 1 WHERE name = ?", (name,))
            return int(db.execute("SELECT value FROM sequences WHERE name = ?",
                                  (name,)).fetchone()[0])

        return draw

    @staticmethod
    def _taken_in(db: sqlite3.Connection) -> Callable[[str, str], bool]:
        def taken(folder: str, name: str) -> bool:
            return db.execute("SELECT 1 FROM outputs WHERE folder = ? AND name = ?",
                              (folder, name)).fetchone() is not None

        return taken
