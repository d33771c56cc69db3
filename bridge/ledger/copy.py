"""Copying a whole ledger from one database to another: SQLite to PostgreSQL, and back.

A company that outgrows one machine keeps its history: every file, state change, output
name, sequence, business key, fingerprint, fact and decision is copied row for row, with
its id, in one transaction on the destination. Both ledgers are first brought to this
bridge's schema. The destination must be empty (a ledger already in use is never merged
into); its id counters then start past the rows copied.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bridge.errors import ConfigError
from bridge.ledger.migrations import MIGRATIONS
from bridge.ledger.sqlite import SqliteLedger

#: Rows sent to the destination at a time.
BATCH = 5000
#: What PostgreSQL adds to a table with no id of its own (SQLite's implicit rowid).
IMPLICIT = "rowid"


def tables() -> list[str]:
    """The ledger's tables, in the order the migrations made them (parents first)."""
    names: list[str] = []
    for sql in MIGRATIONS:
        for name in re.findall(r"CREATE TABLE (\w+)", sql):
            if name not in names:
                names.append(name)
    return names


@dataclass
class Copied:
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def columns(ledger: SqliteLedger, table: str) -> list[str]:
    """A table's columns as the ledger's database has them (no implicit row id)."""
    from bridge.ledger.postgres import PostgresLedger

    if isinstance(ledger, PostgresLedger):
        rows = ledger.db.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND "
            "table_schema = current_schema() ORDER BY ordinal_position", (table,)).fetchall()
    else:
        rows = [(r[1],) for r in ledger.db.execute(f"PRAGMA table_info({table})").fetchall()]
    return [str(r[0]) for r in rows if r[0] != IMPLICIT]


def copy(src: SqliteLedger, dst: SqliteLedger) -> Copied:
    """Every row of ``src`` into the empty ``dst``."""
    from bridge.ledger.postgres import PostgresLedger

    if src.schema_version != dst.schema_version:
        raise ConfigError(f"the ledgers have schemas {src.schema_version} and "
                          f"{dst.schema_version}: open both with this bridge first")
    used = [t for t in ("files", "runs", "observations")
            if dst.db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() is not None]
    if used:
        raise ConfigError(f"the destination ledger is not empty (it has {used[0]}): copy "
                          "only into a new ledger")
    done = Copied()
    with dst._tx() as db:
        for table in tables():
            names = columns(src, table)
            theirs = set(columns(dst, table))
            missing = [n for n in names if n not in theirs]
            if missing:
                raise ConfigError(f"the destination's {table} has no column {missing[0]!r}")
            listed = ", ".join(names)
            insert = (f"INSERT INTO {table} ({listed}) "
                      f"VALUES ({', '.join('?' * len(names))})")
            order = " ORDER BY id" if "id" in names else ""
            rows = src.db.execute(f"SELECT {listed} FROM {table}{order}").fetchall()
            for start in range(0, len(rows), BATCH):
                db.executemany(insert, rows[start:start + BATCH])
            done.rows[table] = len(rows)
            if isinstance(dst, PostgresLedger) and "id" in names:
                db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
    return done
