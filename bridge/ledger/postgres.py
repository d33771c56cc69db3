"""The shared ledger: PostgreSQL, for several workers and machines on one history.

The SQL of the ledger is written once, for both databases (:mod:`bridge.ledger.sqlite` and
its stores). Here a small connection speaks to PostgreSQL with psycopg 3 the way the
stores speak to SQLite: ``?`` placeholders (bound on the client), ``INSERT OR IGNORE``,
the id of a row just inserted, and the SQLite types of the numbered migrations
(``INTEGER`` is ``BIGINT``, ``REAL`` is ``DOUBLE PRECISION``). The schema's version is kept
in a table of its own instead of SQLite's ``user_version``.

Every write is one transaction that first takes a transaction-level advisory lock on the
ledger, so writers take turns exactly as SQLite's ``BEGIN IMMEDIATE`` makes them: what one
worker planned (an output name, a sequence number) another sees before it plans its own.
Reads run outside transactions. A database that cannot be reached, or an error of the
server, is a transient failure: the file waits and is tried again.

The URL's password is never printed: messages name the ledger by its URL without it.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from bridge.errors import ConfigError, LostTurn, TransientError
from bridge.ledger.migrations import MIGRATIONS
from bridge.ledger.sqlite import SqliteLedger

#: The advisory lock every write transaction takes (one ledger per database or schema).
WRITE_LOCK = 0x6272696467650001
#: The advisory lock every run holds shared for its whole pass, and an operator's command
#: alone (the local lock file only sees the runs of its own work area).
RUN_LOCK = 0x6272696467650002
#: Held shared by an operator's command from the moment it waits for the run lock until it
#: is done: the runs of every machine see it (:meth:`Turns.operator_waits`) and let it in.
OPERATOR_LOCK = 0x6272696467650003
#: The first key of each flow's advisory lock (the second is made from its name).
FLOW_LOCKS = 0x62726964
#: The high half of each file's advisory lock (the low half is its id), for the flows whose
#: files several workers carry on at once (``order: any``).
FILE_LOCKS = 0x62726966
#: Tables whose rows have an ``id`` the stores ask for right after inserting them.
_WITH_ID = ("runs", "files", "events", "outputs", "issues")
_INSERT_ID = re.compile(r"^\s*INSERT INTO (" + "|".join(_WITH_ID) + r")\b", re.IGNORECASE)


class LedgerDbError(sqlite3.DatabaseError):
    """An error of the PostgreSQL server, as the stores catch SQLite's."""


#: How soon a worker's connections notice a peer that went silent (a machine switched off,
#: a network cut): TCP keepalive probes after 10 s without traffic, every 5 s, 3 unanswered
#: and the connection is dropped; data left unacknowledged for 30 s drops it too. Set on the
#: server's side as well, so that PostgreSQL ends a vanished worker's session, and lets go of
#: its flow's lock, in about half a minute rather than after the system's two hours.
KEEPALIVE = {"keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "5",
             "keepalives_count": "3", "tcp_user_timeout": "30000"}
_SERVER_KEEPALIVE = ("-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 "
                     "-c tcp_keepalives_count=3 -c tcp_user_timeout=30000")
#: Milliseconds a session may sit idle inside a transaction before the server ends it. A
#: write transaction holds the ledger's write lock, which every worker's writes wait for:
#: a worker stopped (SIGSTOP, a frozen machine whose TCP still answers) or hung in one
#: would stop every worker on every flow until someone killed it. A transaction of bridge's
#: is a few statements sent one after the other, never idle for a second.
HUNG_TRANSACTION_MS = 30000


def connect(url: str, **kwargs: Any) -> Any:
    """A psycopg connection to ``url`` with :data:`KEEPALIVE` on both sides; what the URL
    itself says of them wins."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    params: dict[str, Any] = {**KEEPALIVE, **conninfo_to_dict(url)}
    server = f"{_SERVER_KEEPALIVE} -c idle_in_transaction_session_timeout={HUNG_TRANSACTION_MS}"
    params["options"] = f"{server} {params.get('options') or ''}".strip()
    return psycopg.connect(**params, **kwargs)


def redacted(url: str) -> str:
    """The URL without its password (``postgresql://user:***@host/db``)."""
    return re.sub(r"(://[^/@:]*):[^/@]*@", r"\1:***@", url)


def translate(sql: str) -> str:
    """A statement of the stores (SQLite's dialect) in PostgreSQL's."""
    out = sql.replace("%", "%%").replace("?", "%s")
    if re.match(r"^\s*INSERT OR IGNORE INTO", out, re.IGNORECASE):
        out = re.sub(r"INSERT OR IGNORE INTO", "INSERT INTO", out, count=1,
                     flags=re.IGNORECASE) + " ON CONFLICT DO NOTHING"
    return out


def schema(sql: str) -> str:
    """A migration's DDL in PostgreSQL's types; a table without an ``id`` gets a ``rowid``
    (SQLite has one on every table: the facts are read in its order)."""
    out = re.sub(r"\bINTEGER PRIMARY KEY\b", "BIGINT GENERATED BY DEFAULT AS IDENTITY "
                 "PRIMARY KEY", sql)
    out = re.sub(r"\bINTEGER\b", "BIGINT", out)
    out = re.sub(r"\bREAL\b", "DOUBLE PRECISION", out)

    def rowid(m: re.Match[str]) -> str:
        body = m.group(2)
        if re.search(r"\bid BIGINT GENERATED", body):
            return m.group(0)
        return f"{m.group(1)}{body}, rowid BIGINT GENERATED ALWAYS AS IDENTITY)"

    return re.sub(r"(CREATE TABLE \w+ \()(.*?)\)(?=\s*;|\s*$)", rowid, out, flags=re.DOTALL)


#: PostgreSQL's text cannot hold a NUL (delta fingerprints mark a missing value with
#: one, and a hostile file may carry one in a key): NUL is stored as this private-use
#: character and a "0", and the character itself as itself and an "e", so every text
#: comes back exactly as it went in.
_MARK = "\ue000"
_UNMARK = re.compile(_MARK + "(.)", re.DOTALL)


def _store(value: object) -> object:
    if isinstance(value, str) and ("\x00" in value or _MARK in value):
        return value.replace(_MARK, _MARK + "e").replace("\x00", _MARK + "0")
    return value


def _load(value: object) -> object:
    if isinstance(value, str) and _MARK in value:
        return _UNMARK.sub(lambda m: "\x00" if m.group(1) == "0" else _MARK, value)
    return value


class _Cursor:
    def __init__(self, rows: list[tuple[Any, ...]], lastrowid: int | None) -> None:
        self._rows, self.lastrowid = rows, lastrowid

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._rows

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._rows)


class PgConnection:
    """The part of ``sqlite3.Connection`` the stores use, over one psycopg connection in
    autocommit mode (transactions are begun and ended by statements, as with SQLite)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._errors: tuple[type[BaseException], ...] = (psycopg.Error,)
        try:
            self._conn = connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor)
        except psycopg.Error as exc:
            raise TransientError(f"ledger {redacted(url)}: cannot connect: "
                                 f"{str(exc).strip().splitlines()[0]}") from None

    def execute(self, sql: str, args: Sequence[object] = ()) -> _Cursor:
        text = translate(sql)
        returning = bool(_INSERT_ID.match(sql)) and "RETURNING" not in text.upper()
        if returning:
            text += " RETURNING id"
        try:
            with self._conn.cursor() as cur:
                cur.execute(text, tuple(_store(a) for a in args) if args else None)
                rows = cur.fetchall() if cur.description is not None else []
        except self._errors as exc:
            raise LedgerDbError(str(exc).strip()) from None
        last = int(rows[0][0]) if returning and rows else None
        return _Cursor([tuple(_load(v) for v in r) for r in rows] if not returning else [],
                       last)

    def executemany(self, sql: str, seq: Iterable[Sequence[object]]) -> None:
        rows = [tuple(_store(v) for v in r) for r in seq]
        if not rows:
            return
        try:
            with self._conn.cursor() as cur:
                cur.executemany(translate(sql), rows)
        except self._errors as exc:
            raise LedgerDbError(str(exc).strip()) from None

    def close(self) -> None:
        self._conn.close()

    def __del__(self) -> None:
        # A ledger dropped unclosed (as SQLite's may be) closes its connection quietly.
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()


class PostgresLedger(SqliteLedger):
    """The ledger's stores on PostgreSQL (see the module's text)."""

    #: PostgreSQL's statistics know which states are rare: no hint (SQLite's is no SQL).
    STATE_INDEX = ""
    KEYS_INDEX = PRINTS_INDEX = ""
    KEYS_AS_JSON = False

    def keys_mark(self) -> None:
        """No count of the other sessions' commits here: every answer on keys is asked
        again (:meth:`keys_unchanged` is never sure)."""
        return None

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = PgConnection(url)  # type: ignore[assignment]
        try:
            self._migrate_pg()
        except sqlite3.Error as exc:
            self.db.close()
            raise TransientError(f"ledger {redacted(url)}: {exc}") from None

    def _begin(self, durable: bool = True) -> None:
        """Writers take turns on the ledger's advisory lock, as SQLite's BEGIN IMMEDIATE.
        Every commit is durable (``synchronous_commit`` as the server has it)."""
        try:
            self.db.execute("BEGIN")
            self.db.execute(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
        except sqlite3.Error:
            self._rollback()
            raise

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # a connection gone committed nothing
            self.db.execute("ROLLBACK")

    def _migrate_pg(self) -> None:
        with self._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS bridge_schema (version BIGINT NOT NULL)")
            row = db.execute("SELECT version FROM bridge_schema").fetchone()
            version = int(row[0]) if row else 0
            if row is None:
                db.execute("INSERT INTO bridge_schema VALUES (0)")
            if version > len(MIGRATIONS):
                raise ConfigError(f"ledger {redacted(self.url)} has schema {version}, newer "
                                  f"than this bridge knows ({len(MIGRATIONS)}): upgrade bridge")
            for number, sql in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in filter(str.strip, schema(sql).split(";")):
                    db.execute(statement)
                db.execute("UPDATE bridge_schema SET version = ?", (number,))

    @property
    def schema_version(self) -> int:
        row = self.db.execute("SELECT version FROM bridge_schema").fetchone()
        return int(row[0]) if row else 0


class Turns:
    """A run's hold on the ledger, on a connection of its own (session advisory locks: a
    run that dies, or whose connection is cut, lets go of them at once). Runs hold the
    ledger's run lock shared, and each flow exclusively while they handle it: several runs,
    on one machine or several, handle different flows at once and take turns on each
    one. An operator's command holds the run lock alone."""

    def __init__(self, conn: Any, url: str) -> None:
        self._conn, self._url = conn, url

    def _try(self, sql: str, *args: object) -> bool:
        import psycopg

        try:
            row = self._conn.execute(sql, args).fetchone()
        except psycopg.Error as exc:
            raise TransientError(f"ledger {redacted(self._url)}: {exc}") from None
        return bool(row is not None and row[0])

    def operator_waits(self) -> bool:
        """Whether an operator's command, on any machine, waits for the run lock (or works):
        its mark held, as the server's lock table shows it. Looked at, never taken even
        for an instant: two runs asking at once would each see the other's as a command's."""
        return self._try("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
                         "AND granted AND database = (SELECT oid FROM pg_database WHERE "
                         "datname = current_database()) AND objsubid = 1 AND "
                         "classid::bigint = %s AND objid::bigint = %s)",
                         OPERATOR_LOCK >> 32, OPERATOR_LOCK & 0xFFFFFFFF)

    def take(self, flow: str) -> bool:
        """Whether this run may handle ``flow`` now (no other run is on it)."""
        return self._try("SELECT pg_try_advisory_lock(%s, %s)", FLOW_LOCKS, _flow_key(flow))

    def give(self, flow: str) -> None:
        """Let go of ``flow``; on a connection already gone, the lock went with it."""
        with contextlib.suppress(TransientError):
            self._try("SELECT pg_advisory_unlock(%s, %s)", FLOW_LOCKS, _flow_key(flow))

    def take_file(self, file_id: int) -> bool:
        """Whether this run may carry on file ``file_id`` now (no other run is on it)."""
        return self._try("SELECT pg_try_advisory_lock(%s)", _file_key(file_id))

    def give_file(self, file_id: int) -> None:
        with contextlib.suppress(TransientError):
            self._try("SELECT pg_advisory_unlock(%s)", _file_key(file_id))

    def confirm_file(self, flow: str, file_id: int) -> None:
        """As :meth:`confirm`, for the lock of one file of an ``order: any`` flow."""
        self._confirm(f"file {file_id} of flow {flow}", FILE_LOCKS, file_id & 0xFFFFFFFF, 1)

    def confirm(self, flow: str) -> None:
        """Raise :class:`LostTurn` unless the server says, now, that this run's session
        still holds ``flow``'s lock: asked right before each output is published, so that
        a worker whose session was ended (cut off from the database for longer than the
        keepalive allows, terminated, a server restarted) never publishes what another
        worker, now holding the flow, may be writing too."""
        self._confirm(f"flow {flow}", FLOW_LOCKS, _flow_key(flow) & 0xFFFFFFFF, 2)

    def _confirm(self, what: str, high: int, low: int, kind: int) -> None:
        try:
            held = self._try(
                "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND classid = %s AND objid = %s AND objsubid = %s",
                high, low, kind)
        except TransientError as exc:
            raise LostTurn(f"{what}: the ledger cannot confirm this run still holds it "
                           f"({exc}); nothing more of it is written") from None
        if not held:
            raise LostTurn(f"{what}: this run no longer holds it in the ledger "
                           f"{redacted(self._url)}; nothing more of it is written")


def _file_key(file_id: int) -> int:
    return (FILE_LOCKS << 32) | (file_id & 0xFFFFFFFF)


def _flow_key(flow: str) -> int:
    import zlib

    return zlib.crc32(flow.encode("utf-8")) - (1 << 31)  # a signed 32-bit key


@contextmanager
def run_lock(url: str, wait: float, busy: Callable[[str], BaseException], *,
             alone: bool = False) -> Iterator[Turns]:
    """Hold the ledger's run lock while the block runs, shared with other runs (``alone``:
    with none), ``wait`` seconds to get it, else ``busy``."""
    import time

    import psycopg

    try:
        conn = connect(url, autocommit=True)
    except psycopg.Error as exc:
        raise TransientError(f"ledger {redacted(url)}: cannot connect: "
                             f"{str(exc).strip().splitlines()[0]}") from None
    turns = Turns(conn, url)
    try:
        deadline = time.monotonic() + wait
        # Said first, so that the runs of every machine let this command in.
        while alone and not turns._try("SELECT pg_try_advisory_lock_shared(%s)",
                                       OPERATOR_LOCK):
            if time.monotonic() >= deadline:
                raise busy(f"the ledger {redacted(url)} is busy; this command stops here")
            time.sleep(0.05)
        how = "pg_try_advisory_lock" if alone else "pg_try_advisory_lock_shared"
        if not alone and turns.operator_waits():
            raise busy(f"another bridge command holds the run lock of the ledger "
                       f"{redacted(url)}, or waits for it (an operator's): this run lets "
                       "it in, and stops here")
        while not turns._try(f"SELECT {how}(%s)", RUN_LOCK):
            if time.monotonic() >= deadline:
                raise busy(f"another bridge {'run' if alone else 'command'} holds the run "
                           f"lock of the ledger {redacted(url)}; this one stops here")
            time.sleep(0.1)
        yield turns
    finally:
        # Let go before closing: a closed connection's locks go only when the server has
        # ended its session, which a run started right after may not see yet.
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock_all()")
        conn.close()
