"""The SQLite ledger's readiness half: what each source folder looked like, pass after pass.

Windows are measured on the monotonic clock, so a wall clock that jumps (NTP, a mistaken
date) never makes a half file look old. The monotonic clock restarts with the machine: a
name seen before a reboot starts its windows again.
"""

from __future__ import annotations

import json
import sqlite3
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from itertools import islice
from typing import cast

from bridge.errors import TransientError
from bridge.issues import clip
from bridge.ledger.base import Now, Observation, PrintPairs
from bridge.states import FINAL, REJECTED


class ReadinessStore:
    db: sqlite3.Connection
    #: A file's own keys and fingerprints are found by its id (migration 14), whatever
    #: SQLite's statistics say of the flow's index (PostgreSQL: no hint).
    KEYS_INDEX = " INDEXED BY sent_keys_file"
    PRINTS_INDEX = " INDEXED BY fingerprints_file"
    #: A file's sent keys recorded as one JSON array a batch (SQLite's ``json_each``): half
    #: the time of a statement a key (bench/README.md). PostgreSQL: a statement a key.
    KEYS_AS_JSON = True

    def _tx(self, durable: bool = True) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _read(self, sql: str, args: tuple[object, ...] | list[object] = ()
              ) -> list[tuple[object, ...]]:
        raise NotImplementedError

    @staticmethod
    def _move(db: sqlite3.Connection, file_id: int, state: str, now: float,
              detail: str | None) -> None:
        raise NotImplementedError

    def observe(self, flow: str, listing: list[tuple[str, int, float]], now: Now
                ) -> dict[str, Observation]:
        """Record what a folder looks like now (one transaction for the whole listing; lost,
        the folder is only looked at again)."""
        with self._tx(durable=False) as db:
            known = {r[0]: r[1:] for r in db.execute(
                "SELECT path, size, mtime, mono_first, mono_stable, boot, done_id, incomplete "
                "FROM observations WHERE flow = ?", (flow,))}
            out: dict[str, Observation] = {}
            new, changed, rebooted = [], [], []
            for path, size, mtime in listing:
                row = known.get(path)
                if row is None:
                    out[path] = Observation(size, mtime, 0.0, 0.0)
                    new.append((flow, path, size, mtime, now.wall, now.wall, now.mono, now.mono,
                                now.boot))
                    continue
                old_size, old_mtime, first, stable, boot, done_id, incomplete = row
                if boot != now.boot or first is None or stable is None:
                    first = stable = now.mono
                    rebooted.append((now.mono, now.boot, flow, path))
                if (old_size, old_mtime) != (size, mtime):
                    out[path] = Observation(size, mtime, now.mono - first, 0.0)
                    changed.append((size, mtime, now.wall, now.mono, flow, path))
                else:
                    out[path] = Observation(size, mtime, now.mono - first, now.mono - stable,
                                            done_id, bool(incomplete))
            db.executemany("INSERT INTO observations (flow, path, size, mtime, first_seen, "
                           "stable_since, mono_first, mono_stable, boot) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", new)
            db.executemany("UPDATE observations SET mono_first = ?, mono_stable = ?, boot = ? "
                           "WHERE flow = ? AND path = ?",
                           [(m, m, b, f, p) for m, b, f, p in rebooted])
            db.executemany("UPDATE observations SET size = ?, mtime = ?, stable_since = ?, "
                           "mono_stable = ?, done_id = NULL, incomplete = 0 "
                           "WHERE flow = ? AND path = ?", changed)
            listed = {p for p, _, _ in listing}
            gone = [(flow, p) for p in known if p not in listed]
            db.executemany("DELETE FROM observations WHERE flow = ? AND path = ?", gone)
        return out

    def mark_incomplete(self, flow: str, path: str, size: int, mtime: float) -> None:
        """The file was found incomplete at this size and mtime: not ready until it changes."""
        with self._tx() as db:
            db.execute("UPDATE observations SET incomplete = 1 WHERE flow = ? AND path = ? "
                       "AND size = ? AND mtime = ?", (flow, path, size, mtime))

    def seen(self, flow: str) -> int:
        try:
            # Not the ones claimed since they were seen (forgotten by the next listing).
            row = self.db.execute(
                "SELECT COUNT(*) FROM observations o WHERE o.flow = ? AND o.done_id IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM files f WHERE f.flow = o.flow "
                "AND f.path = o.path AND f.created >= o.first_seen)", (flow,)).fetchone()
        except sqlite3.Error as exc:
            raise TransientError(f"ledger: {exc}") from None
        return int(row[0])

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

    # -- business keys and fingerprints ------------------------------------------------

    def sent_keys(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                  ) -> set[str]:
        found: set[str] = set()
        for skip, asked, values in _asked(keys, besides):
            # Read as every question of the ledger is: a connection gone is a transient
            # error (the file waits), not a bug of the step that asked.
            rows = cast("list[tuple[str]]", self._read(
                f"SELECT key FROM sent_keys WHERE flow = ? AND file_id NOT IN ({skip}) AND key "
                f"IN ({asked})", (flow, *values)))
            found.update(r[0] for r in rows)
        return found

    def unwritten_keys(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                       ) -> dict[str, int]:
        found: dict[str, int] = {}
        for skip, asked, values in _asked(keys, besides):
            rows = cast("list[tuple[str, int]]", self._read(
                f"SELECT s.key, s.file_id FROM sent_keys s JOIN files f ON f.id = s.file_id "
                f"WHERE s.flow = ? AND s.file_id NOT IN ({skip}) AND s.key IN ({asked}) AND "
                f"f.state NOT IN ({', '.join(repr(x) for x in sorted(FINAL))}) AND EXISTS "
                "(SELECT 1 FROM outputs o WHERE o.file_id = s.file_id AND "
                "o.state = 'planned')", (flow, *values)))
            found.update((str(k), int(i)) for k, i in rows)
        return found

    def held_keys(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                  ) -> dict[str, int]:
        final = ", ".join(repr(x) for x in sorted(FINAL))
        found: dict[str, int] = {}
        for skip, asked, values in _asked(keys, besides):
            rows = cast("list[tuple[str, int]]", self._read(
                f"SELECT h.key, MIN(h.file_id) FROM held_keys h JOIN files f ON f.id = "
                f"h.file_id WHERE h.flow = ? AND h.file_id NOT IN ({skip}) AND h.key IN "
                f"({asked}) AND f.state NOT IN ({final}) GROUP BY h.key", (flow, *values)))
            found.update((str(k), int(i)) for k, i in rows)
        # A file held before its keys were kept (schema 17) may hold any of them.
        ids = _ids(besides)
        unknown = self._read(
            f"SELECT MIN(h.file_id) FROM held_keys h JOIN files f ON f.id = h.file_id WHERE "
            f"h.flow = ? AND h.key IS NULL AND h.file_id NOT IN ({_marks(len(ids))}) AND "
            f"f.state NOT IN ({final})", (flow, *ids))
        if unknown and unknown[0][0] is not None:
            found.update((k, int(cast(int, unknown[0][0]))) for k in keys if k not in found)
        return found

    def dropped_keys(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                     ) -> dict[str, int]:
        # Asked of every new key of a flow that drops cancellations, and the keys dropped
        # are few (orders voided before anyone sent them): when they are no more than the
        # keys asked, they are read whole, not looked up one by one (a 1M-row file asked
        # 600,000 keys of an empty table in 0.47 s). Counted no further than the keys
        # asked: a small file's question costs no more as the flow's history grows.
        [(dropped,)] = cast("list[tuple[int]]", self._read(
            "SELECT COUNT(*) FROM (SELECT 1 FROM unsent_keys WHERE flow = ? LIMIT ?) AS d",
            (flow, len(keys) + 1)))
        if not dropped:
            return {}
        found: dict[str, int] = {}
        if dropped <= len(keys):
            ids = _ids(besides)
            wanted = set(keys)
            rows = cast("list[tuple[str, int]]", self._read(
                f"SELECT key, MIN(file_id) FROM unsent_keys WHERE flow = ? AND file_id NOT IN "
                f"({_marks(len(ids))}) GROUP BY key", (flow, *ids)))
            found.update((str(k), int(i)) for k, i in rows if k in wanted)
            return found
        for skip, asked, values in _asked(keys, besides):
            rows = cast("list[tuple[str, int]]", self._read(
                f"SELECT key, MIN(file_id) FROM unsent_keys WHERE flow = ? AND file_id NOT IN "
                f"({skip}) AND key IN ({asked}) GROUP BY key", (flow, *values)))
            found.update((str(k), int(i)) for k, i in rows)
        return found

    def hold_keys(self, flow: str, file_id: int, keys: Iterable[str]) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM held_keys WHERE file_id = ?", (file_id,))
            given = iter(keys)
            while batch := list(islice(given, KEY_BATCH)):
                db.executemany("INSERT INTO held_keys (flow, key, file_id) VALUES (?, ?, ?)",
                               ((flow, k, file_id) for k in batch))

    def fingerprints(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                     ) -> dict[str, str]:
        found: dict[str, str] = {}
        for skip, asked, values in _asked(keys, besides):
            rows = cast("list[tuple[str, str]]", self._read(
                f"SELECT key, fingerprint FROM fingerprints WHERE flow = ? AND file_id NOT IN "
                f"({skip}) AND key IN ({asked}) ORDER BY file_id", (flow, *values)))
            found.update(rows)  # the latest file wins
        return found

    def known_keys(self, flow: str, *, besides: tuple[int, ...] = ()
                   ) -> Iterator[list[str]]:
        ids = _ids(besides)
        after: str | None = None
        while True:  # a batch a statement, from where the last ended: by the (flow, key) index
            rows = cast("list[tuple[str]]", self._read(
                f"SELECT DISTINCT key FROM fingerprints WHERE flow = ? AND file_id NOT IN "
                f"({_marks(len(ids))}){'' if after is None else ' AND key > ?'} ORDER BY key "
                f"LIMIT {KNOWN_BATCH}", (flow, *ids, *([] if after is None else [after]))))
            if rows:
                yield [r[0] for r in rows]
            if len(rows) < KNOWN_BATCH:
                return
            after = rows[-1][0]

    # -- whether an answer on keys still holds ------------------------------------------

    def keys_mark(self) -> tuple[int, int] | None:
        """Where the keys stand now, for :meth:`keys_unchanged`: SQLite's count of the
        commits of other connections (``data_version``), and of this one's key writes."""
        ((version,),) = self._read("PRAGMA data_version")
        return int(cast(int, version)), self._journal().count

    def keys_unchanged(self, mark: tuple[int, int] | None, flow: str, keys: Iterable[str]
                       ) -> bool:
        """True when none of ``keys`` of ``flow`` can have been recorded or forgotten since
        ``mark`` (a :meth:`keys_mark`): no other connection committed anything since, and
        this one's key writes since hold none of them. False when unsure: ask again."""
        if mark is None or (now := self.keys_mark()) is None or now[0] != mark[0]:
            return False  # no mark, or another connection (a worker, a command) committed
        journal = self._journal()
        since = journal.count - mark[1]  # this connection's key writes since the mark
        if since > len(journal.writes):
            return False  # older than what is kept
        wanted = set(keys)
        return not any(written_flow == flow and (written is None or not wanted.isdisjoint(written))
                       for written_flow, written in journal.last(since))

    def _journal(self) -> KeyJournal:
        journal: KeyJournal | None = getattr(self, "_keys_written", None)
        if journal is None:
            journal = self._keys_written = KeyJournal()
        return journal

    def forget_keys(self, flow: str, file_id: int) -> None:
        self._journal().add(flow, None)
        with self._tx() as db:
            db.execute("DELETE FROM held_keys WHERE file_id = ?", (file_id,))
            db.execute("DELETE FROM unsent_keys WHERE file_id = ?", (file_id,))
            for table in (f"sent_keys{self.KEYS_INDEX}", f"fingerprints{self.PRINTS_INDEX}"):
                db.execute(f"DELETE FROM {table} WHERE flow = ? AND file_id = ?", (flow, file_id))

    def reject_file(self, flow: str, file_id: int, now: float, detail: str | None, *,
                    reason: str, forget: bool) -> None:
        if forget:
            self._journal().add(flow, None)
        with self._tx() as db:
            db.execute("UPDATE outputs SET state = 'abandoned' WHERE file_id = ? AND "
                       "state = 'planned'", (file_id,))
            db.execute("DELETE FROM held_keys WHERE file_id = ?", (file_id,))
            if forget:
                db.execute("DELETE FROM unsent_keys WHERE file_id = ?", (file_id,))
                for table in (f"sent_keys{self.KEYS_INDEX}",
                              f"fingerprints{self.PRINTS_INDEX}"):
                    db.execute(f"DELETE FROM {table} WHERE flow = ? AND file_id = ?",
                               (flow, file_id))
                db.execute("DELETE FROM facts WHERE file_id = ?", (file_id,))
            db.execute("UPDATE files SET reason = ? WHERE id = ?", (reason, file_id))
            self._move(db, file_id, REJECTED, now, detail)

    def skipped_for(self, flow: str, file_id: int) -> dict[int, list[str]]:
        skipped: dict[int, list[str]] = {}
        noted = ("SELECT i.file_id, i.value FROM files f JOIN issues i ON i.file_id = f.id "
                 "WHERE f.flow = ? AND f.id != ? AND i.code = 'already-sent' AND ")
        rows = self._read(noted + "i.value IN (SELECT key FROM sent_keys WHERE flow = ? AND "
                          "file_id = ?) ORDER BY i.id", (flow, file_id, flow, file_id))
        # A key longer than an issue's value is noted clipped (:func:`bridge.issues.clip`).
        long = [str(k) for (k,) in self._read(
            f"SELECT key FROM sent_keys{self.KEYS_INDEX} WHERE file_id = ? AND flow = ? AND "
            f"length(key) > {CLIPPED}", (file_id, flow))]
        for start in range(0, len(long), 500):
            part = sorted({clip(k, CLIPPED) or "" for k in long[start:start + 500]})
            rows += self._read(noted + f"i.value IN ({', '.join('?' * len(part))}) "
                               "ORDER BY i.id", (flow, file_id, *part))
        for other, value in rows:
            skipped.setdefault(int(cast(int, other)), []).append(str(value))
        # A file taken since whose notes were not all kept may have skipped some unnoted.
        for (other,) in self._read(
                "SELECT f.id FROM files f WHERE f.flow = ? AND f.id > ? AND f.issues > "
                "(SELECT COUNT(*) FROM issues i WHERE i.file_id = f.id)", (flow, file_id)):
            skipped.setdefault(int(cast(int, other)), [])
        return dict(sorted(skipped.items()))

    def _record_keys(self, db: sqlite3.Connection, flow: str, file_id: int,
                     keys: Iterable[str], fingerprints: PrintPairs,
                     unsent: Iterable[str] = ()) -> None:
        given = iter(keys)  # a large file's keys come from its spool: a batch at a time
        # The fingerprints, given once (a few held here, to journal their keys too); the
        # keys written, for the journal (None: too many to keep there).
        few = len(fingerprints) <= KeyJournal.KEYS
        pairs = list(fingerprints.items()) if few else fingerprints.items()
        kept: set[str] | None = {k for k, _ in pairs} if few else None
        while batch := list(islice(given, KEY_BATCH)):
            if kept is not None:
                kept.update(batch)
                kept = kept if len(kept) <= KeyJournal.KEYS else None
            # SQLite's JSON gives a string back cut at a NUL (\u0000): such a batch, and one
            # where a backslash happens to be followed by u0000, goes a key at a time.
            if self.KEYS_AS_JSON and "\\u0000" not in (
                    text := json.dumps(batch, ensure_ascii=False)):
                db.execute("INSERT OR IGNORE INTO sent_keys SELECT ?, value, ? FROM "
                           "json_each(?)", (flow, file_id, text))
            else:
                db.executemany("INSERT OR IGNORE INTO sent_keys VALUES (?, ?, ?)",
                               ((flow, k, file_id) for k in batch))
        given = iter(dict.fromkeys(unsent))  # a key dropped by several chunks: once
        while batch := list(islice(given, KEY_BATCH)):
            db.executemany("INSERT INTO unsent_keys (flow, key, file_id) VALUES (?, ?, ?)",
                           ((flow, k, file_id) for k in batch))
        db.execute(f"DELETE FROM fingerprints{self.PRINTS_INDEX} WHERE flow = ? AND file_id = ?",
                   (flow, file_id))
        db.executemany("INSERT INTO fingerprints VALUES (?, ?, ?, ?)",
                       ((flow, k, v, file_id) for k, v in pairs))
        self._journal().add(flow, None if kept is None else frozenset(kept))


class KeyJournal:
    """A connection's latest writes of keys and fingerprints: (flow, the keys written;
    None: any key of the flow), and how many there were in all."""

    #: Writes kept: a mark older than that many writes is too old to tell.
    KEPT = 64
    #: Keys kept a write: a larger file's write counts as any key of its flow.
    KEYS = 20_000

    def __init__(self) -> None:
        self.writes: deque[tuple[str, frozenset[str] | None]] = deque(maxlen=self.KEPT)
        self.count = 0

    def add(self, flow: str, keys: frozenset[str] | None) -> None:
        self.writes.append((flow, keys))
        self.count += 1

    def last(self, n: int) -> list[tuple[str, frozenset[str] | None]]:
        return list(self.writes)[len(self.writes) - n:] if n > 0 else []


#: Sent keys recorded a batch at a time: a large file's hundreds of thousands never all in
#: memory at once.
KEY_BATCH = 2_000


#: Keys asked in one statement: with the ids, under SQLite's oldest limit of 999 values.
ASK_BATCH = 512
#: Keys of a flow read at a time for a delta's ``gone``.
KNOWN_BATCH = 50_000
#: The fewest places a batch of keys asked is given (a power of two, as every size).
ASK_LEAST = 16


#: The length of an issue's value: a longer key is noted clipped to it.
CLIPPED = 200


def _asked(keys: list[str], besides: tuple[int, ...]
           ) -> Iterator[tuple[str, str, list[object]]]:
    """``keys`` a batch at a time: the places of ``file_id NOT IN (...)`` and of
    ``key IN (...)``, and the values for both. Every value is bound and a batch is given a
    power of two of places (the last key again in the spare ones, which finds nothing
    more), so a statement's text is one of a few whatever the file, and stays prepared in
    the connection's statement cache. With the ids in its text, each file's question was
    prepared again: 4% of the instructions of a small file's transform."""
    ids = _ids(besides)
    skip = _marks(len(ids))
    for start in range(0, len(keys), ASK_BATCH):
        part = keys[start:start + ASK_BATCH]
        places = max(ASK_LEAST, 1 << (len(part) - 1).bit_length())
        yield skip, _marks(places), [*ids, *part, *[part[-1]] * (places - len(part))]


def _ids(besides: tuple[int, ...]) -> list[int]:
    return [int(b) for b in besides] or [-1]


def _marks(n: int) -> str:
    return ", ".join("?" * n)
