"""The ledger's port: the record of every file seen and of every state change.

A file is the bytes that were claimed: its identity is (flow, path, size, sha256), taken at
claim. Output names, business keys and fingerprints of a file are fixed together, in one
transaction, before anything is written, so a run that restarts after a crash (or after an
outage) writes the same outputs under the same names and never a second copy. SQLite is the
embedded implementation; PostgreSQL, shared by several workers, runs the same SQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from bridge.issues import Issue

#: ``make(next_seq, name_taken)`` returns (target, folder, name) triples. It runs inside the
#: planning transaction, so it must do no I/O: the names are checked at the target after.
PlanMaker = Callable[[Callable[[str], int], Callable[[str, str], bool]],
                     list[tuple[str, str, str]]]

#: The private name a claimed file has at its source while bridge holds it.
CLAIM_PREFIX = ".bridge-claim-"


class IllegalTransition(Exception):
    """A state change the state machine does not allow: a bug, never bad data."""


@dataclass(frozen=True)
class FileRow:
    id: int
    flow: str
    path: str
    size: int
    sha256: str  # "" while the file is claimed and not yet downloaded
    state: str
    attempts: int
    issues: int
    reason: str | None
    replay_of: int | None
    run_id: int | None
    created: float
    updated: float
    mtime: float | None = None
    held_as: str | None = None  # the private name at the source while bridge holds it
    approved: bool = False
    next_try: float | None = None
    kept_at: str | None = None  # where its bytes are kept once finished: archive, quarantine
    #: A file left in its folder (``archive: leave``): the digest of the reference tables
    #: it was read with; when they change it is read again.
    refs: str | None = None
    #: A replay that sends only the keys no file holds (``bridge replay --unsent``).
    unsent_only: bool = False

    @property
    def own_keys(self) -> tuple[int, ...]:
        """The files whose sent keys and fingerprints do not count for this one: itself (a
        file redone after a crash), and the original of a replay, unless the replay sends
        only what no file holds."""
        return (self.id,) if self.unsent_only else (self.id, self.replay_of or self.id)


@dataclass(frozen=True)
class Tallies:
    """Counts and sums over the whole ledger, by flow (for metrics)."""

    files: dict[tuple[str, str], int]  # (flow, state) -> files
    rows: dict[str, tuple[int, int]]  # flow -> (rows read, rows written)
    issues: dict[tuple[str, str], int]  # (flow, code) -> issues recorded
    bytes_read: dict[str, int]  # flow -> bytes taken from its source
    bytes_written: dict[tuple[str, str], int]  # (flow, target) -> bytes of outputs written
    last_success: dict[str, float]  # flow -> when its last file was done
    last_pass: tuple[float, float] | None  # (started, ended) of the last finished pass


@dataclass(frozen=True)
class OutputRow:
    id: int
    file_id: int
    target: str
    folder: str
    name: str
    sha256: str | None
    rows: int | None
    state: str  # planned, written, abandoned


@dataclass(frozen=True)
class Written:
    """An output now at its target: what the ledger records of it."""

    output_id: int
    sha256: str | None
    rows: int | None
    size: int | None
    state: str = "written"


@dataclass(frozen=True)
class Figures:
    """Rows and money in and out of one file (money as exact decimals)."""

    rows_in: int | None = None
    rows_out: int | None = None
    money_in: Decimal | None = None
    money_out: Decimal | None = None


@dataclass(frozen=True)
class Fact:
    """One business fact a file sent (``facts:`` of its flow): an order, a cancellation."""

    file_id: int
    flow: str
    kind: str
    at: float
    data: dict[str, str]


@dataclass(frozen=True)
class Event:
    file_id: int
    state: str
    at: float
    detail: str | None


@dataclass(frozen=True)
class Observation:
    """What bridge knows of a listed name, by its own clocks."""

    size: int
    mtime: float
    age: float  # seconds since first seen (monotonic)
    stable_for: float  # seconds size and mtime have not changed (monotonic)
    done_id: int | None = None  # done already, and unchanged since (archive: leave)
    incomplete: bool = False  # found incomplete at this very size and mtime


@dataclass(frozen=True)
class Now:
    """One reading of the clocks: wall time for records, monotonic time for windows."""

    wall: float
    mono: float
    boot: str  # the monotonic clock restarts with the machine: windows restart with it


class Runs(Protocol):
    """The ledger's connection, and the runs (passes and commands) it records."""

    def close(self) -> None: ...
    def start_run(self, now: float, command: str) -> int: ...
    def end_run(self, run_id: int, now: float, status: str) -> None: ...


class Observations(Protocol):
    """What a source folder looked like, by bridge's own clocks, and what people saw."""

    def observe(self, flow: str, listing: list[tuple[str, int, float]], now: Now
                ) -> dict[str, Observation]: ...
    def mark_incomplete(self, flow: str, path: str, size: int, mtime: float) -> None: ...
    def forget(self, flow: str, path: str) -> None: ...
    def tallies(self) -> Tallies:
        """Counts and sums by flow, for metrics."""
        ...
    def acknowledge(self, flows: list[str], now: float) -> None:
        """A person has seen the refused files of ``flows`` up to ``now``."""
        ...
    def acknowledged(self, flow: str) -> float:
        """When a person last acknowledged the flow's refused files (0: never)."""
        ...
    def seen(self, flow: str) -> int:
        """Files seen in the flow's folder and not taken yet (waiting to be complete)."""
        ...
    def remember_done(self, flow: str, path: str, size: int, mtime: float, file_id: int
                      ) -> None: ...


class Files(Protocol):
    """Files and their states: claims, state changes, approvals, the history."""

    def claim(self, flow: str, path: str, size: int, mtime: float, run_id: int | None,
              now: float) -> FileRow:
        """A row for a file about to be taken, with its private name, before any move."""
        ...
    def claim_many(self, flow: str, files: Iterable[tuple[str, int, float]],
                   run_id: int | None, now: float) -> list[FileRow]:
        """:meth:`claim` for several files (path, size, mtime), in their order, in one
        transaction: one durable commit for them all."""
        ...
    def refuse(self, flow: str, path: str, size: int, mtime: float, issue: Issue,
               run_id: int | None, now: float) -> FileRow:
        """A file refused before it is taken (a name bridge cannot handle): recorded
        rejected, with its issue, in one transaction."""
        ...
    def drop_claim(self, file_id: int) -> None:
        """Forget a claim that took nothing (the file vanished or changed first)."""
        ...
    def fetched(self, file_id: int, size: int, sha256: str, now: float,
                detail: str | None = None) -> None: ...
    def find(self, flow: str, path: str, size: int, sha256: str, *, besides: int = 0,
             latest: bool = False, refs: str | None = None) -> FileRow | None:
        """The first file of these bytes at this path, replays aside, and those bridge
        refused or found duplicate (not one an operator refused); with ``latest``, the
        path's last file if it had these bytes and was read with the references ``refs``
        (a file left in its folder: unchanged since it was last read)."""
        ...
    def create(self, flow: str, path: str, size: int, sha256: str, run_id: int | None,
               now: float, replay_of: int | None = None, mtime: float | None = None,
               refs: str | None = None, unsent_only: bool = False) -> FileRow: ...
    def set_state(self, file_id: int, state: str, now: float, detail: str | None = None,
                  *, issues: int | None = None, reason: str | None = None,
                  attempt: bool = False, next_try: float | None = None,
                  approved: bool | None = None, reset_attempts: bool = False,
                  kept_at: str | None = None, written: Iterable[Written] = ()) -> None:
        """Move a file to ``state`` (refused with IllegalTransition if the state machine
        does not allow it) and record the event; in the same transaction, where the file
        is kept (``kept_at``) and the outputs ``written``."""
        ...
    def get(self, file_id: int) -> FileRow: ...
    def approve(self, file_id: int, now: float, detail: str, *, left_out: Iterable[int] = (),
                reason: str | None = None) -> None:
        """A held file approved by an operator, but for the rows ``left_out`` (by row id,
        refused for ``reason``): recorded, and the file ``approved``, in one transaction;
        IllegalTransition if it is not held."""
        ...
    def left_out(self, file_id: int) -> dict[int, str]:
        """The rows an operator left out of a file when approving it: row id -> reason."""
        ...
    def set_kept(self, file_id: int, where: str | None) -> None: ...
    def files(self, *, flow: str | None = None, states: frozenset[str] | None = None,
              since: float | None = None, last: int | None = None) -> list[FileRow]: ...
    def events(self, file_id: int) -> list[Event]: ...
    def find_by_path(self, path: str) -> list[FileRow]: ...


class PrintPairs(Protocol):
    """A file's new delta fingerprints: a dict, or what gathers them as a large file is read
    (each key once, with its last fingerprint; ``len``: at least the keys there are)."""

    def __len__(self) -> int: ...
    def items(self) -> Iterable[tuple[str, str]]: ...


class Outputs(Protocol):
    """The outputs of a file and their sequence numbers, fixed before anything is written."""

    def plan(self, file_id: int, make: PlanMaker, *, keys: Iterable[str],
             fingerprints: PrintPairs, now: float, detail: str | None = None,
             figures: Figures | None = None, unsent: Iterable[str] = ()
             ) -> list[OutputRow]:
        """Fix a file's outputs, business keys and fingerprints (and its ``figures``, and
        the keys a ``dedupe keep: sent`` left out as never sent), and move it to
        ``checked``, in one transaction. Planned already: returns the plan."""
        ...
    def outputs(self, file_id: int) -> list[OutputRow]: ...
    def set_output(self, output_id: int, state: str, *, sha256: str | None = None,
                   rows: int | None = None, size: int | None = None) -> None: ...
    def rename_output(self, output_id: int, make: Callable[[Callable[[str], int]], str]
                      ) -> OutputRow:
        """Give a planned output another name (``if_exists: next``)."""
        ...


class Records(Protocol):
    """What is kept of a file: retention, figures, issues, business facts."""

    # retention: what of a finished file may be deleted, and what was
    def prunable(self, flow: str, what: str, before: float, states: frozenset[str],
                 limit: int) -> list[FileRow]:
        """Files of ``flow`` in ``states``, finished before ``before``, whose ``what``
        (``work``, ``kept``, or ``values``: the sender's values quoted in its issues, of a
        file with issues only) is not pruned yet, oldest first."""
        ...
    def mark_pruned(self, file_id: int, what: str, now: float) -> None: ...
    def forget_values(self, file_id: int) -> None:
        """Drop the sender's values quoted in a file's issues (personal data)."""
        ...

    # rows and money in and out, for reconciliation
    def set_figures(self, file_id: int, figures: Figures) -> None: ...
    def figures(self, file_id: int) -> Figures: ...

    # issues found in a file (the first MAX_ISSUES; the report has them all), and business
    # facts (commissions, sales): blocks of (kind, {field: [text, ...]} as JSON). Both
    # replace what the file had. ``durable=False``: not synced on its own, where a ledger
    # syncs at all; for a change that a synced commit follows before bridge acts on it.
    def record_issues(self, file_id: int, issues: list[Issue], *, durable: bool = True
                      ) -> None: ...
    def record_facts(self, file_id: int, flow: str, facts: Iterable[tuple[str, str]],
                     at: float, *, durable: bool = True) -> None: ...
    def forget_facts(self, file_id: int) -> None: ...
    def facts(self, kinds: Iterable[str], *, since: float | None = None,
              until: float | None = None) -> Iterator[Fact]: ...
    def issues(self, file_id: int) -> list[Issue]: ...


class BusinessKeys(Protocol):
    """Business keys already sent and the fingerprints of delta sync, across files."""

    # business keys already sent (de-duplication across files)
    def sent_keys(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                  ) -> set[str]:
        """Which keys other files sent; ``besides``: files whose keys do not count (the file
        itself when a run redoes it, and the original of a replay)."""
        ...
    def unwritten_keys(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                       ) -> dict[str, int]:
        """Which of ``keys`` a file holds whose outputs are not all written, and that is not
        final (retrying, or failed and waiting for a person: retried, its rows reach the
        target; rejected, they never do), each with that file's id; ``besides`` as for
        :meth:`sent_keys`."""
        ...
    def held_keys(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                  ) -> dict[str, int]:
        """Which of ``keys`` a file waiting for an operator (held, or approved and not
        planned yet) would send, each with the first such file's id (every key, for a file
        held before its keys were kept: they are unknown); ``besides`` as for
        :meth:`sent_keys`."""
        ...
    def dropped_keys(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                     ) -> dict[str, int]:
        """Which of ``keys`` another file's ``dedupe keep: sent`` left out as never sent (a
        cancellation of an order no file had sent), each with the first such file's id;
        ``besides`` as for :meth:`sent_keys`."""
        ...
    def hold_keys(self, flow: str, file_id: int, keys: Iterable[str]) -> None:
        """The keys a file held for an operator would send (replacing the ones it had):
        kept until it is planned (they are then its sent keys), or rejected."""
        ...
    def forget_keys(self, flow: str, file_id: int) -> None:
        """A file refused before any of its outputs was written: its keys were never
        sent, nor its fingerprints."""
        ...
    def reject_file(self, flow: str, file_id: int, now: float, detail: str | None, *,
                    reason: str, forget: bool) -> None:
        """An operator's refusal, in one transaction: the file's outputs not written yet
        abandoned, with ``forget`` (none was written) its keys, fingerprints and facts
        forgotten, and the file rejected. Apart, a stop between them left a file not
        rejected, its outputs abandoned (its keys forgotten, or not): a `bridge retry`
        then finished it as done, none of its rows at a target."""
        ...
    def skipped_for(self, flow: str, file_id: int) -> dict[int, list[str]]:
        """The other files of ``flow`` that skipped keys ``file_id`` holds, as noted
        (``already-sent``, the key as its value, clipped as issues are): {file id: the
        values}, by id; a file taken after it whose notes are not all kept, with none
        (it may have skipped some). Asked before :meth:`forget_keys`."""
        ...
    def keys_mark(self) -> tuple[int, int] | None:
        """Where the keys stand now (None: this ledger cannot tell), for
        :meth:`keys_unchanged`."""
        ...
    def keys_unchanged(self, mark: tuple[int, int] | None, flow: str, keys: Iterable[str]
                       ) -> bool:
        """True when no key of ``keys`` of ``flow`` can have been recorded or forgotten
        since ``mark``, by any connection: an answer about them given since still holds.
        False when unsure."""
        ...
    # delta sync: what was last sent for each business key
    def fingerprints(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                     ) -> dict[str, str]: ...
    def shared_key(self, name: str, make: str) -> str:
        """A value every worker of the ledger shares, ``make`` if it has none yet."""
        ...
    def known_keys(self, flow: str, *, besides: tuple[int, ...] = ()
                   ) -> Iterator[list[str]]:
        """Every key of the flow with a fingerprint (a delta's gone), each once, in
        batches: a flow of a million articles is not held in memory at once."""
        ...


class Ledger(Runs, Observations, Files, Outputs, Records, BusinessKeys, Protocol):
    """The whole port, split by concern above: what the engine and the commands use. SQLite
    (:mod:`bridge.ledger.sqlite`) and PostgreSQL (:mod:`bridge.ledger.postgres`) implement
    it with the same SQL."""
