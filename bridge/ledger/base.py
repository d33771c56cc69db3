"""The ledger's port: the record of every file seen and of every state change.

A file's identity is (flow, path, size, sha256). Output names are fixed in the ledger before
anything is written, so a run that restarts after a crash finishes the same outputs and never
writes a second copy. SQLite is the embedded implementation; a shared PostgreSQL one can
follow behind the same methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from bridge.issues import Issue

PlanMaker = Callable[[Callable[[str], int]], list[tuple[str, str, str]]]

#: States of a file, in the order a good file goes through them.
FLOW_STATES = ("seen", "ready", "claimed", "fetched", "checked", "written", "done")
#: States a file stops in: done, or a failure exit, or a repeat of content already done.
FINAL_STATES = frozenset({"done", "rejected", "duplicate"})
#: States that wait for something: an operator (held), or a later pass (failed, approved).
WAITING_STATES = frozenset({"held", "approved", "failed"})
ALL_STATES = frozenset(FLOW_STATES) | FINAL_STATES | WAITING_STATES


@dataclass(frozen=True)
class FileRow:
    id: int
    flow: str
    path: str
    size: int
    sha256: str
    state: str
    attempts: int
    issues: int
    reason: str | None
    replay_of: int | None
    run_id: int | None
    created: float
    updated: float


@dataclass(frozen=True)
class OutputRow:
    id: int
    file_id: int
    target: str
    folder: str
    name: str
    sha256: str | None
    rows: int | None
    state: str  # planned, staged, written


@dataclass(frozen=True)
class Figures:
    """Rows and money in and out of one file (money as exact decimals)."""

    rows_in: int | None = None
    rows_out: int | None = None
    money_in: Decimal | None = None
    money_out: Decimal | None = None


@dataclass(frozen=True)
class Event:
    file_id: int
    state: str
    at: float
    detail: str | None


@dataclass(frozen=True)
class Observation:
    size: int
    mtime: float
    first_seen: float
    stable_since: float
    done_id: int | None = None  # done already, and unchanged since (archive: leave)


class Ledger(Protocol):
    def close(self) -> None: ...

    # runs
    def start_run(self, now: float, command: str) -> int: ...
    def end_run(self, run_id: int, now: float, status: str) -> None: ...

    # readiness: what a folder looked like, by bridge's own clock
    def observe(self, flow: str, listing: list[tuple[str, int, float]], now: float
                ) -> dict[str, Observation]: ...
    def forget(self, flow: str, path: str) -> None: ...
    def remember_done(self, flow: str, path: str, size: int, mtime: float, file_id: int
                      ) -> None: ...

    # files
    def find(self, flow: str, path: str, size: int, sha256: str) -> FileRow | None: ...
    def create(self, flow: str, path: str, size: int, sha256: str, run_id: int | None,
               now: float, replay_of: int | None = None) -> FileRow: ...
    def set_state(self, file_id: int, state: str, now: float, detail: str | None = None,
                  *, issues: int | None = None, reason: str | None = None,
                  attempt: bool = False) -> None: ...
    def get(self, file_id: int) -> FileRow: ...
    def files(self, *, flow: str | None = None, states: frozenset[str] | None = None,
              since: float | None = None, last: int | None = None) -> list[FileRow]: ...
    def events(self, file_id: int) -> list[Event]: ...
    def find_by_path(self, path: str) -> list[FileRow]: ...

    # outputs
    def plan(self, file_id: int, make: PlanMaker) -> list[OutputRow]:
        """Fix the outputs of a file once: ``make(next_seq)`` returns (target, folder, name)
        triples, and runs in the same transaction as the sequence numbers it draws, so a
        crash never burns a number nor plans twice. Planned already: returns the plan."""
        ...
    def outputs(self, file_id: int) -> list[OutputRow]: ...
    def set_output(self, output_id: int, state: str, *, sha256: str | None = None,
                   rows: int | None = None) -> None: ...
    def names_in_use(self, folder: str) -> set[str]: ...

    # rows and money in and out, for reconciliation
    def set_figures(self, file_id: int, figures: Figures) -> None: ...
    def figures(self, file_id: int) -> Figures: ...

    # issues found in a file (the first MAX_ISSUES; the report has them all)
    def record_issues(self, file_id: int, issues: list[Issue]) -> None: ...
    def issues(self, file_id: int) -> list[Issue]: ...

    # business keys already sent (de-duplication across files)
    def sent_keys(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                  ) -> set[str]:
        """Which keys other files sent; ``besides``: files whose keys do not count (the file
        itself when a run redoes it, and the original of a replay)."""
        ...
    # delta sync: what was last sent for each business key
    def fingerprints(self, flow: str, keys: list[str], *, besides: tuple[int, ...] = ()
                     ) -> dict[str, str]: ...
    def remember_fingerprints(self, flow: str, fingerprints: dict[str, str], file_id: int
                              ) -> None: ...

    def record_keys(self, flow: str, keys: list[str], file_id: int) -> None: ...
