"""The embedded ledger: one SQLite file in WAL mode, schema migrations numbered in order.

Every change is one transaction (``BEGIN IMMEDIATE``), so a process killed at any moment
leaves the ledger at the last committed state, never half-way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from bridge.errors import TransientError
from bridge.issues import Issue
from bridge.ledger.base import (
    ALL_STATES,
    Event,
    Figures,
    FileRow,
    Observation,
    OutputRow,
    PlanMaker,
)

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE runs (id INTEGER PRIMARY KEY, command TEXT, started REAL, ended REAL,
                       status TEXT);
    CREATE TABLE files (id INTEGER PRIMARY KEY, flow TEXT NOT NULL, path TEXT NOT NULL,
                        size INTEGER NOT NULL, sha256 TEXT NOT NULL, state TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0, issues INTEGER NOT NULL DEFAULT 0,
                        reason TEXT, replay_of INTEGER REFERENCES files(id),
                        run_id INTEGER REFERENCES runs(id), created REAL, updated REAL);
    CREATE INDEX files_identity ON files(flow, path, size, sha256);
    CREATE INDEX files_state ON files(flow, state);
    CREATE TABLE events (id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id),
                         state TEXT NOT NULL, at REAL NOT NULL, detail TEXT);
    CREATE INDEX events_file ON events(file_id);
    CREATE TABLE outputs (id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id),
                          target TEXT NOT NULL, folder TEXT NOT NULL, name TEXT NOT NULL,
                          sha256 TEXT, rows INTEGER, state TEXT NOT NULL);
    CREATE UNIQUE INDEX outputs_name ON outputs(folder, name);
    CREATE INDEX outputs_file ON outputs(file_id);
    CREATE TABLE observations (flow TEXT, path TEXT, size INTEGER, mtime REAL,
                               first_seen REAL, stable_since REAL, PRIMARY KEY (flow, path));
    CREATE TABLE sequences (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE sent_keys (flow TEXT, key TEXT, file_id INTEGER, PRIMARY KEY (flow, key));
    """,
    # 2: the issues of each file, so `bridge show` can tell them (the first ones only)
    """
    CREATE TABLE issues (id INTEGER PRIMARY KEY, file_id INTEGER NOT NULL REFERENCES files(id),
                         line INTEGER, record TEXT, field TEXT, code TEXT NOT NULL, value TEXT,
                         message TEXT);
    CREATE INDEX issues_file ON issues(file_id);
    """,
    # 3: the figures of each file, for reconciliation reports
    """
    ALTER TABLE files ADD COLUMN rows_in INTEGER;
    ALTER TABLE files ADD COLUMN rows_out INTEGER;
    ALTER TABLE files ADD COLUMN money_in TEXT;
    ALTER TABLE files ADD COLUMN money_out TEXT;
    """,
    # 4: files left in place once done are remembered, not read again each pass
    """
    ALTER TABLE observations ADD COLUMN done_id INTEGER;
    """,
    # 5: delta sync: the fingerprint of what was sent for each business key, with history
    """
    CREATE TABLE fingerprints (flow TEXT NOT NULL, key TEXT NOT NULL,
                               fingerprint TEXT NOT NULL, file_id INTEGER NOT NULL);
    CREATE INDEX fingerprints_key ON fingerprints(flow, key);
    """,
]
#: Issues kept per file in the ledger; the full list is in the file's report.
MAX_ISSUES = 1000

_FILE_COLS = ("id, flow, path, size, sha256, state, attempts, issues, reason, replay_of, run_id, "
              "created, updated")
_OUT_COLS = "id, file_id, target, folder, name, sha256, rows, state"


class SqliteLedger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            raise TransientError(f"ledger {path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._tx() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
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

    # -- readiness ----------------------------------------------------------------------

    def observe(self, flow: str, listing: list[tuple[str, int, float]], now: float
                ) -> dict[str, Observation]:
        """Record what a folder looks like now (one transaction for the whole listing)."""
        with self._tx() as db:
            known = {r[0]: r[1:] for r in db.execute(
                "SELECT path, size, mtime, first_seen, stable_since, done_id FROM observations "
                "WHERE flow = ?", (flow,))}
            out: dict[str, Observation] = {}
            new, changed = [], []
            for path, size, mtime in listing:
                row = known.get(path)
                if row is None:
                    out[path] = Observation(size, mtime, now, now)
                    new.append((flow, path, size, mtime, now, now))
                elif (row[0], row[1]) != (size, mtime):
                    out[path] = Observation(size, mtime, row[2], now)
                    changed.append((size, mtime, now, flow, path))
                else:
                    out[path] = Observation(size, mtime, row[2], row[3], row[4])
            db.executemany("INSERT INTO observations (flow, path, size, mtime, first_seen, "
                           "stable_since) VALUES (?, ?, ?, ?, ?, ?)", new)
            db.executemany("UPDATE observations SET size = ?, mtime = ?, stable_since = ?, "
                           "done_id = NULL WHERE flow = ? AND path = ?", changed)
        return out

    def forget(self, flow: str, path: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM observations WHERE flow = ? AND path = ?", (flow, path))

    def remember_done(self, flow: str, path: str, size: int, mtime: float, file_id: int
                      ) -> None:
        """A file left in its folder once done: while its size and mtime stay the same,
        later passes skip it without reading it again."""
        with self._tx() as db:
            db.execute("INSERT INTO observations (flow, path, size, mtime, first_seen, "
                       "stable_since, done_id) VALUES (?, ?, ?, ?, 0, 0, ?) "
                       "ON CONFLICT(flow, path) DO UPDATE SET size = excluded.size, "
                       "mtime = excluded.mtime, done_id = excluded.done_id",
                       (flow, path, size, mtime, file_id))

    # -- files --------------------------------------------------------------------------

    def find(self, flow: str, path: str, size: int, sha256: str) -> FileRow | None:
        row = self.db.execute(
            f"SELECT {_FILE_COLS} FROM files WHERE flow = ? AND path = ? AND size = ? AND "
            "sha256 = ? AND replay_of IS NULL ORDER BY id LIMIT 1", (flow, path, size, sha256)
        ).fetchone()
        return FileRow(*row) if row else None

    def create(self, flow: str, path: str, size: int, sha256: str, run_id: int | None,
               now: float, replay_of: int | None = None) -> FileRow:
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO files (flow, path, size, sha256, state, run_id, created, updated, "
                "replay_of) VALUES (?, ?, ?, ?, 'claimed', ?, ?, ?, ?)",
                (flow, path, size, sha256, run_id, now, now, replay_of))
            file_id = int(cur.lastrowid or 0)
            db.execute("INSERT INTO events (file_id, state, at, detail) VALUES (?, ?, ?, ?)",
                       (file_id, "claimed", now, f"replay of {replay_of}" if replay_of else None))
        return self.get(file_id)

    def set_state(self, file_id: int, state: str, now: float, detail: str | None = None,
                  *, issues: int | None = None, reason: str | None = None,
                  attempt: bool = False) -> None:
        if state not in ALL_STATES:
            raise ValueError(f"unknown state {state!r}")
        with self._tx() as db:
            db.execute(
                "UPDATE files SET state = ?, updated = ?, issues = COALESCE(?, issues), "
                "reason = COALESCE(?, reason), attempts = attempts + ? WHERE id = ?",
                (state, now, issues, reason, int(attempt), file_id))
            db.execute("INSERT INTO events (file_id, state, at, detail) VALUES (?, ?, ?, ?)",
                       (file_id, state, now, detail))

    def get(self, file_id: int) -> FileRow:
        row = self.db.execute(f"SELECT {_FILE_COLS} FROM files WHERE id = ?",
                              (file_id,)).fetchone()
        if row is None:
            raise KeyError(file_id)
        return FileRow(*row)

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
        rows = self.db.execute(f"SELECT {_FILE_COLS} FROM files WHERE {' AND '.join(where)} "
                               f"{order}", args).fetchall()
        found = [FileRow(*r) for r in rows]
        return sorted(found, key=lambda f: f.id)

    def events(self, file_id: int) -> list[Event]:
        rows = self.db.execute("SELECT file_id, state, at, detail FROM events WHERE file_id = ? "
                               "ORDER BY id", (file_id,)).fetchall()
        return [Event(*r) for r in rows]

    def find_by_path(self, path: str) -> list[FileRow]:
        rows = self.db.execute(f"SELECT {_FILE_COLS} FROM files WHERE path = ? OR path LIKE ? "
                               "ORDER BY id", (path, f"%/{path}")).fetchall()
        return [FileRow(*r) for r in rows]

    # -- outputs ------------------------------------------------------------------------

    def plan(self, file_id: int, make: PlanMaker) -> list[OutputRow]:
        with self._tx() as db:
            if not db.execute("SELECT 1 FROM outputs WHERE file_id = ?", (file_id,)).fetchone():
                for target, folder, name in make(self._seq_in(db)):
                    db.execute("INSERT INTO outputs (file_id, target, folder, name, state) "
                               "VALUES (?, ?, ?, ?, 'planned')", (file_id, target, folder, name))
        return self.outputs(file_id)

    def outputs(self, file_id: int) -> list[OutputRow]:
        rows = self.db.execute(f"SELECT {_OUT_COLS} FROM outputs WHERE file_id = ? ORDER BY id",
                               (file_id,)).fetchall()
        return [OutputRow(*r) for r in rows]

    def set_output(self, output_id: int, state: str, *, sha256: str | None = None,
                   rows: int | None = None) -> None:
        with self._tx() as db:
            db.execute("UPDATE outputs SET state = ?, sha256 = COALESCE(?, sha256), "
                       "rows = COALESCE(?, rows) WHERE id = ?", (state, sha256, rows, output_id))

    def names_in_use(self, folder: str) -> set[str]:
        rows = self.db.execute("SELECT name FROM outputs WHERE folder = ?", (folder,)).fetchall()
        return {r[0] for r in rows}

    @staticmethod
    def _seq_in(db: sqlite3.Connection) -> Callable[[str], int]:
        def draw(name: str) -> int:
            db.execute("INSERT INTO sequences VALUES (?, 0) ON CONFLICT(name) DO NOTHING",
                       (name,))
            db.execute("UPDATE sequences SET value = value + 1 WHERE name = ?", (name,))
            return int(db.execute("SELECT value FROM sequences WHERE name = ?",
                                  (name,)).fetchone()[0])

        return draw

    # -- figures ----------------------------------------------------------------------------

    def set_figures(self, file_id: int, figures: Figures) -> None:
        with self._tx() as db:
            db.execute("UPDATE files SET rows_in = ?, rows_out = ?, money_in = ?, money_out = ? "
                       "WHERE id = ?", (figures.rows_in, figures.rows_out,
                                        _text(figures.money_in), _text(figures.money_out),
                                        file_id))

    def figures(self, file_id: int) -> Figures:
        row = self.db.execute("SELECT rows_in, rows_out, money_in, money_out FROM files "
                              "WHERE id = ?", (file_id,)).fetchone()
        if row is None:
            raise KeyError(file_id)
        return Figures(row[0], row[1], _decimal(row[2]), _decimal(row[3]))

    # -- issues ---------------------------------------------------------------------------

    def record_issues(self, file_id: int, issues: list[Issue]) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM issues WHERE file_id = ?", (file_id,))
            db.executemany(
                "INSERT INTO issues (file_id, line, record, field, code, value, message) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(file_id, i.line, i.record, i.field, i.code, i.value, i.message)
                 for i in issues[:MAX_ISSUES]])

    def issues(self, file_id: int) -> list[Issue]:
        rows = self.db.execute("SELECT code, message, line, record, field, value FROM issues "
                               "WHERE file_id = ? ORDER BY id", (file_id,)).fetchall()
        return [Issue(*r) for r in rows]

    # -- business keys ------------------------------------------------------------------

    def sent_keys(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                  ) -> set[str]:
        found: set[str] = set()
        skip = ", ".join(str(int(b)) for b in besides) or "-1"
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            rows = self.db.execute(
                f"SELECT key FROM sent_keys WHERE flow = ? AND file_id NOT IN ({skip}) AND key "
                f"IN ({', '.join('?' * len(part))})", (flow, *part)).fetchall()
            found.update(r[0] for r in rows)
        return found

    def fingerprints(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                     ) -> dict[str, str]:
        found: dict[str, str] = {}
        skip = ", ".join(str(int(b)) for b in besides) or "-1"
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            rows = self.db.execute(
                f"SELECT key, fingerprint FROM fingerprints WHERE flow = ? AND file_id NOT IN "
                f"({skip}) AND key IN ({', '.join('?' * len(part))}) ORDER BY file_id",
                (flow, *part)).fetchall()
            found.update(rows)  # the latest file wins
        return found

    def remember_fingerprints(self, flow: str, fingerprints: dict[str, str], file_id: int
                              ) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM fingerprints WHERE flow = ? AND file_id = ?",
                       (flow, file_id))
            db.executemany("INSERT INTO fingerprints VALUES (?, ?, ?, ?)",
                           [(flow, k, v, file_id) for k, v in fingerprints.items()])

    def record_keys(self, flow: str, keys: list[str], file_id: int) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO sent_keys VALUES (?, ?, ?)",
                           [(flow, k, file_id) for k in keys])


def _text(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def _decimal(s: str | None) -> Decimal | None:
    return None if s is None else Decimal(s)
