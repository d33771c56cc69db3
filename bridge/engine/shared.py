"""The files of one flow carried on by several workers at once (``order: any``).

A flow in arrival order belongs to one worker at a time (its lock in the ledger): its files
are taken, numbered and written in the order they came, and a file waits behind one whose
outputs are not all written. With ``order: any`` the work is shared file by file:

- the *lister*, whichever worker holds the flow's lock in this pass, lists the source and
  claims each ready file, then fetches it (held under its private name at the source,
  downloaded, checked whole and not a duplicate), ending at ``fetched``. Claimed files are
  the lister's alone; a lister killed mid-claim leaves them to the next lister;
- every worker, the lister too, carries on any other file of the flow that it can lock in
  the ledger (a session lock of its own per file): transform, plan, write, archive. Output
  sequence numbers are fixed in the order files are planned, unique and gapless across
  workers (the ledger's writers take turns). A file locked by another is left to it; a
  worker killed mid-file lets go of its locks with its session, and the next worker to look
  carries the file on from the ledger's record, under the output names already planned.
  A worker that finds nothing to carry on while the lister is still at work waits for
  what it fetches (0.2 s between looks, 20 s idle at most); once the lister is done, the
  worker lists what came since itself;
- right before each output is published, the worker asks the server whether it still
  holds that file's lock (:meth:`~bridge.ledger.postgres.Turns.confirm_file`).

No file waits behind another: a file that cannot be written is retried on its own. On a
SQLite ledger there is one worker: it lists, then carries on every file, in ledger order.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge import faults
from bridge.engine import taking
from bridge.engine.context import Outcome
from bridge.engine.pipeline import too_big
from bridge.engine.readiness import Busy, ready
from bridge.engine.retention import prune
from bridge.engine.strays import set_aside
from bridge.states import CLAIMED, RESUMABLE, RETRYING

if TYPE_CHECKING:
    from bridge.config import Flow
    from bridge.engine.pipeline import Pipeline
    from bridge.engine.runner import PassResult
    from bridge.ledger import FileRow, Observation
    from bridge.ledger.postgres import Turns
    from bridge.transport import Entry

log = logging.getLogger("bridge.runner")

Note = Callable[[Outcome | None], Outcome | None]
#: At most this many sweeps over a flow's files in one pass (each carries a file or ends it).
SWEEPS = 10_000
#: A worker that is not the lister waits this long between sweeps that found nothing while
#: the lister is still at work, this many times in a row at most (about 20 s).
IDLE_WAIT = 0.2
IDLE_WAITS = 100


def flow_pass_any(pipe: Pipeline, name: str, flow: Flow, note: Note,
                  should_stop: Callable[[], bool], busy: Busy | None, result: PassResult,
                  turns: Turns | None) -> None:
    lister = turns is None or turns.take(name)
    try:
        idle = 0
        while not lister:
            # Carry on what the lister fetched while it is listing, then list what came
            # since once it is done (its lock is free), or give up after a while idle.
            moved = _carry(pipe, name, note, should_stop, turns, RESUMABLE - {CLAIMED})
            idle = 0 if moved else idle + 1
            if moved is None or idle > IDLE_WAITS or should_stop():
                return
            assert turns is not None
            lister = turns.take(name)
            if not lister:
                time.sleep(IDLE_WAIT)
        # Claims a lister left when it died, then what is ready now, then every file.
        if _carry(pipe, name, note, should_stop, turns, frozenset({CLAIMED})) is None:
            return
        if not _list(pipe, name, flow, note, should_stop, busy, result, turns):
            return
        if _carry(pipe, name, note, should_stop, turns, RESUMABLE - {CLAIMED}) is None:
            return
        for p in prune(pipe, name, flow):
            log.info("[%s] file %d: pruned its %s (%s)", p.flow, p.file_id, p.what, p.where)
    finally:
        if lister and turns is not None:
            turns.give(name)


def _list(pipe: Pipeline, name: str, flow: Flow, note: Note, should_stop: Callable[[], bool],
          busy: Busy | None, result: PassResult, turns: Turns | None) -> bool:
    """Claim and fetch every ready file; False when the pass must stop here."""
    listing = ready(pipe, name, flow, busy)
    result.waiting += listing.waiting
    for entry, key, why in listing.refused:
        note(pipe.refuse_name(name, entry, key, why))
    for entry, why in listing.strays:  # before any claim: a new one might get its ID
        note(set_aside(pipe, name, flow, entry, why))
    for entry, obs in listing.ready:
        if should_stop():
            return False
        row = pipe.ledger.claim(name, entry.name, entry.size, entry.mtime, pipe.run_id,
                                pipe.now.wall)
        faults.point("after-claim")
        take = (functools.partial(_too_big, pipe, flow, row.id, entry)
                if entry.size > flow.max_bytes else
                functools.partial(_fetch, pipe, flow, row.id, obs))
        o = note(_locked(pipe, name, row.id, turns, take))
        if o is not None and o.state == RETRYING:
            return False  # a server or a disk failed: the rest waits for the next pass
    return True


def _too_big(pipe: Pipeline, flow: Flow, file_id: int, entry: Entry) -> Outcome:
    pipe.ledger.record_issues(file_id, [too_big(flow, entry)])
    return pipe.advance(file_id)


def _fetch(pipe: Pipeline, flow: Flow, file_id: int, obs: Observation) -> Outcome | None:
    """A claimed file carried to ``fetched`` and left there for whichever worker carries
    it on; the Outcome when it ends here (gone, waiting, a duplicate, a failure)."""
    row = pipe.ledger.get(file_id)
    try:
        got = taking.fetch(pipe, row, flow, obs)
    except Exception as exc:
        return pipe.failed(row, flow, exc)
    return got if isinstance(got, Outcome) else None


def _carry(pipe: Pipeline, name: str, note: Note, should_stop: Callable[[], bool],
           turns: Turns | None, states: frozenset[str]) -> int | None:
    """Carry on every file of the flow in ``states`` that no other worker holds, sweep after
    sweep while some file moves (another worker may be adding them); how many moved, or
    None when the pass must stop here."""
    ledger = pipe.ledger
    count = 0
    for _ in range(SWEEPS):
        moved = 0
        for row in ledger.files(flow=name, states=states):
            if should_stop():
                return None
            if not _due(pipe, row):
                continue
            o = note(_locked(pipe, name, row.id, turns,
                             functools.partial(_advance, pipe, row.id, states)))
            if o is None:
                continue  # held by another worker, or carried on by one meanwhile
            moved += 1
            if o.state == RETRYING:
                return None
        count += moved
        if not moved:
            break
    return count


def _due(pipe: Pipeline, row: FileRow) -> bool:
    """Not a file retrying later than now."""
    return not (row.state == RETRYING and row.next_try and row.next_try > pipe.now.wall)


def _advance(pipe: Pipeline, file_id: int, states: frozenset[str]) -> Outcome | None:
    # Read again under the lock: another worker may have carried it on meanwhile.
    row = pipe.ledger.get(file_id)
    return pipe.advance(file_id) if row.state in states and _due(pipe, row) else None


def _locked(pipe: Pipeline, flow: str, file_id: int, turns: Turns | None,
            work: Callable[[], Outcome | None]) -> Outcome | None:
    """``work`` on the file while this run holds its lock (None if another run holds it),
    every output published under the fence of that lock."""
    if turns is not None and not turns.take_file(file_id):
        return None
    pipe.fence = None if turns is None else functools.partial(turns.confirm_file, flow,
                                                              file_id)
    try:
        return work()
    finally:
        pipe.fence = None
        if turns is not None:
            turns.give_file(file_id)
