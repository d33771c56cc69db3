"""Runs: one pass over every flow (for cron); ``bridge watch`` runs them for ever.

Per flow, a pass first carries on the files an earlier pass left (in ledger order: each at
most once, a ``retrying`` one only once its backoff has passed), then takes the files that
are ready, in the flow's order. A lock file stops two runs from overlapping.

Order is kept through outages: outputs of one flow are written in the order their inputs
were claimed. A file whose outputs are planned but not yet written (a target down, say)
holds its flow: later files wait behind it, untouched, until it is written, or until an
operator retries or rejects it; files of other flows go on.
"""

from __future__ import annotations

import functools
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bridge.config import Config, Flow
from bridge.engine import clock as clocks
from bridge.engine.ahead import start_early, take_all
from bridge.engine.context import Outcome, open_config_ledger, private_dir
from bridge.engine.pipeline import Pipeline
from bridge.engine.readiness import Busy, ready
from bridge.engine.retention import prune
from bridge.engine.runlock import (
    LockBusy,
    LockTaken,
    OperatorBusy,
    OperatorDone,
    OperatorWaits,
    operator_mark,
    run_lock,
)
from bridge.engine.shared import flow_pass_any
from bridge.engine.strays import set_aside
from bridge.errors import (
    ConfigError,
    ReferenceDataError,
    SourceGone,
    TransientError,
    WaitedOut,
)
from bridge.ledger import FileRow, Ledger, Now
from bridge.states import CHECKED, RESUMABLE, RETRYING, WRITTEN
from bridge.transport import Transport

if TYPE_CHECKING:
    from bridge.ledger.postgres import Turns

log = logging.getLogger("bridge.runner")

Clock = Callable[[], "float | Now"]


@dataclass
class PassResult:
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # transient: a server, a disk
    config_errors: list[str] = field(default_factory=list)
    #: Those of them that may mend by themselves (WaitedOut: a reference table's data, a
    #: local source folder gone): watch goes on.
    waited_errors: list[str] = field(default_factory=list)
    internal_errors: list[str] = field(default_factory=list)
    waiting: int = 0  # files seen that wait for their readiness window
    made: list[str] = field(default_factory=list)  # target folders a write had to make
    elsewhere: list[str] = field(default_factory=list)  # flows another run was handling
    #: Flows with a file still to be retried (a server or a disk that failed it, not yet
    #: tried again): not working again yet, whatever this pass said.
    retrying: list[str] = field(default_factory=list)
    #: Flows whose pass was cut short (a signal, an operator's command let in) or never
    #: made: not seen whole, so neither failing nor working again by this pass.
    cut: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """4 a bug, 2 configuration, 3 retry later, 1 rejected or held (or waiting for a
        held one), 0 ok."""
        codes = {o.exit_code for o in self.outcomes}
        if self.internal_errors or 4 in codes:
            return 4
        if self.config_errors:
            return 2
        if self.errors or 3 in codes:
            return 3
        return 1 if 1 in codes else 0


def reading(clock: Clock) -> Now:
    t = clock()
    return t if isinstance(t, Now) else Now(float(t), float(t), "fixed")


def run_pass(cfg: Config, *, flows: list[str] | None = None, dry_run: bool = False,
             clock: Clock = clocks.now,
             report: Callable[[Outcome], None] | None = None,
             should_stop: Callable[[], bool] = lambda: False,
             full: bool = False, busy: Busy | None = None,
             connect: Callable[[Config, str], Transport] | None = None) -> PassResult:
    """One pass. ``should_stop`` is asked before each file: a signal lets the current file
    finish, then the pass ends. ``connect`` opens the transports (tests pass their own)."""
    chosen = flows or list(cfg.flows)
    for name in chosen:
        if name not in cfg.flows:
            raise ConfigError(f"no flow named {name!r} (known: {', '.join(cfg.flows)})")
    waits = OperatorWaits(cfg.operators_lock())
    with run_lock(cfg.path(cfg.lock_file), ledger=cfg.ledger_location(),
                  marked=cfg.operators_lock()) as turns:
        # Downloads left by a run that died: with the lock held, nobody else is writing.
        shutil.rmtree(cfg.path(cfg.work_dir) / "incoming", ignore_errors=True)
        private_dir(cfg.path(cfg.work_dir))
        ledger = open_config_ledger(cfg)
        pipe = Pipeline(cfg, ledger, {}, None, reading(clock), full=full, connect=connect)
        try:
            elsewhere = _operator_elsewhere(turns)
            return _pass(pipe, chosen, dry_run, clock, report,
                         lambda: should_stop() or waits() or elsewhere(), full, busy, turns)
        finally:
            if pipe.ahead is not None:
                pipe.ahead.close()
            for t in pipe.transports.values():
                t.close()
            ledger.close()


#: Seconds at most between two questions to a PostgreSQL ledger: does an operator's
#: command on another machine wait for the run lock?
ASK_OPERATORS_EVERY = 0.5


def _operator_elsewhere(turns: Turns | None) -> Callable[[], bool]:
    """Asked before each file: True once an operator's command on any machine sharing the
    ledger waits for its run lock (asked of the server at most every half second)."""
    at, said = -ASK_OPERATORS_EVERY, False

    def asked() -> bool:
        nonlocal at, said
        if turns is None:
            return False
        if time.monotonic() - at >= ASK_OPERATORS_EVERY:
            at = time.monotonic()
            try:
                said = turns.operator_waits()
            except TransientError:
                said = False  # the ledger's connection: the pass itself finds it gone
        return said

    return asked


def _pass(pipe: Pipeline, flows: list[str], dry_run: bool, clock: Clock,
          report: Callable[[Outcome], None] | None, should_stop: Callable[[], bool],
          full: bool, busy: Busy | None, turns: Turns | None = None) -> PassResult:
    ledger = pipe.ledger
    pipe.run_id = None if dry_run else ledger.start_run(pipe.now.wall,
                                                          "run --full" if full else "run")
    result = PassResult()

    def note(o: Outcome | None) -> Outcome | None:
        if o is not None:
            result.outcomes.append(o)
            level = (logging.WARNING if o.waits else
                     logging.ERROR if o.exit_code >= 3 else logging.INFO)
            log.log(level, "[%s] %s: %s%s",
                    o.flow, o.name, o.state, f": {o.message}" if o.message else "")
            if report is not None:
                report(o)
        return o

    asked_to_stop = [False]

    def stopping() -> bool:
        if should_stop():
            asked_to_stop[0] = True
            return True
        return False

    for at, name in enumerate(flows):
        asked_to_stop[0] = False
        # Files any worker may carry on: the flow's lock only chooses who lists the source.
        shared = pipe.cfg.flows[name].order == "any" and not dry_run
        try:
            mine = turns is None or shared or turns.take(name)
        except TransientError as exc:
            # The run's own connection to the ledger is gone (and its holds with it): the
            # flows left wait for the next pass, and this one ends as a pass does.
            result.errors.append(f"{name}: {exc}; this flow and the ones after it wait for "
                                 "the next pass")
            result.cut.extend(flows[at + 1:])
            break
        if not mine:
            result.elsewhere.append(name)  # another run handles it now: next pass
            continue
        pipe.fence = None if turns is None or shared else functools.partial(turns.confirm,
                                                                            name)
        try:
            _check(pipe, name, early=not (shared or dry_run))
            if shared:
                flow_pass_any(pipe, name, pipe.cfg.flows[name], note, stopping, busy,
                              result, turns)
            else:
                _flow_pass(pipe, name, pipe.cfg.flows[name], dry_run, note, stopping,
                           busy, result)
        except TransientError as exc:
            result.errors.append(f"{name}: {exc}")
        except ConfigError as exc:
            # An unknown host key, a missing tracciato...: this flow stops, the others go on.
            result.config_errors.append(f"{name}: {exc}")
            if isinstance(exc, WaitedOut):
                result.waited_errors.append(f"{name}: {exc}")
        except Exception as exc:
            from bridge.logs import log_internal_error

            where = log_internal_error(exc, f"the pass over flow {name}")
            result.internal_errors.append(f"{name}: internal error: {type(exc).__name__}: "
                                          f"{exc} (traceback in {where})")
        finally:
            pipe.fence = None
            if turns is not None and not shared:
                turns.give(name)
        if not dry_run and _still_retrying(ledger, name):
            result.retrying.append(name)
        if asked_to_stop[0]:
            result.cut.append(name)
    result.made = list(pipe.made)
    if pipe.run_id is not None:
        ledger.end_run(pipe.run_id, reading(clock).wall, f"exit {result.exit_code}")
    return result


def _still_retrying(ledger: Ledger, flow: str) -> bool:
    """A file of ``flow`` retrying for a failure (not one that only waits for another)."""
    from bridge.engine.exits import WAITS

    try:
        return any(not (r.reason or "").startswith(WAITS)
                   for r in ledger.files(flow=flow, states=frozenset({RETRYING})))
    except TransientError:
        return True  # the ledger itself failing: nothing works again yet


def _check(pipe: Pipeline, name: str, *, early: bool = False) -> None:
    """The flow's configuration checked (:mod:`preflight`) unless known good; ``early``:
    the helper may start meanwhile (:func:`~bridge.engine.ahead.start_early`)."""
    if name not in pipe.checked:
        # A mistake of the configuration is found at start, before any file is looked at,
        # even when none is there; checked again only once something it read changed.
        from bridge.engine import checked

        print_ = checked.fingerprint(pipe.cfg, name)
        if not checked.known_good(pipe.cfg, name, print_):
            from bridge.engine.preflight import preflight

            if early:
                start_early(pipe, pipe.cfg.flows[name])

            mistakes = [m for m in preflight(pipe, [name]) if not m.note]
            if mistakes:
                said = "; ".join(str(m) for m in mistakes)
                if all(m.reference for m in mistakes):
                    raise ReferenceDataError(said)
                # The source folder gone since a check found it (with a reference table
                # rewritten meanwhile, say: checked again): watch waits, as for the others.
                if all(m.reference or m.gone for m in mistakes) and \
                        checked.was_good(pipe.cfg, name):
                    raise SourceGone(said)
                raise ConfigError(said)
            checked.remember_good(pipe.cfg, name, print_)
        pipe.checked.add(name)


def _flow_pass(pipe: Pipeline, name: str, flow: Flow, dry_run: bool,
               note: Callable[[Outcome | None], Outcome | None],
               should_stop: Callable[[], bool], busy: Busy | None, result: PassResult) -> None:
    ledger = pipe.ledger
    if not dry_run:
        for row in _resumable(ledger, name, pipe.now.wall):
            if should_stop():
                return
            note(pipe.advance(row.id))
        blocker = holding(ledger, name)
        if blocker is not None:
            when = (f"next try at {time.strftime('%H:%M:%S', time.localtime(blocker.next_try))}"
                    if blocker.next_try else "next pass")
            result.errors.append(f"{name}: waits behind file {blocker.id} ({blocker.path}, "
                                 f"{blocker.state}), whose outputs are not all written: "
                                 f"{when}")
            return
    listing = ready(pipe, name, flow, busy)
    result.waiting += listing.waiting
    for entry, key, why in listing.refused:
        if not dry_run:
            note(pipe.refuse_name(name, entry, key, why))
    for entry, why in listing.strays:  # before any claim: a new one might get its ID
        note(Outcome(name, entry.name, "waiting", message=f"not its ledger's claim ({why}): "
                     "a run puts it in quarantine") if dry_run
             else set_aside(pipe, name, flow, entry, why))
    if dry_run:
        for entry, _ in listing.ready:
            note(Outcome(name, entry.name, "ready", message="would be taken"))
        return
    # A server or a disk failed (a file retrying): the flow's other files wait for the next
    # pass. Small files are transformed ahead in a second process where it helps.
    if not take_all(pipe, name, flow, listing.ready, note, should_stop):
        return
    for p in prune(pipe, name, flow):
        log.info("[%s] file %d: pruned its %s (%s)", p.flow, p.file_id, p.what, p.where)


def _resumable(ledger: Ledger, flow: str, now: float) -> list[FileRow]:
    """Files an earlier pass left: blockers (outputs planned, not all written) first, in
    ledger order, then the rest; a retrying file only once its time has come."""
    rows = [r for r in ledger.files(flow=flow, states=RESUMABLE)
            if r.state != RETRYING or r.next_try is None or r.next_try <= now]
    planned = {r.id for r in rows if r.state in (CHECKED, WRITTEN, RETRYING)
               and any(o.state == "planned" for o in ledger.outputs(r.id))}
    first = [r for r in rows if r.id in planned]
    if holding(ledger, flow, besides={r.id for r in first}) is not None:
        return first
    return first + [r for r in rows if r.id not in planned]


def holding(ledger: Ledger, flow: str, besides: set[int] | None = None) -> FileRow | None:
    """The first file of a flow whose planned outputs are not all written and that is
    still to be retried (a file that waits for a person holds nothing: it would hold the
    flow until someone comes)."""
    for r in ledger.files(flow=flow, states=frozenset({CHECKED, RETRYING})):
        if besides and r.id in besides:
            continue
        if any(o.state == "planned" for o in ledger.outputs(r.id)):
            return r
    return None


__all__ = ["LockBusy", "LockTaken", "OperatorBusy", "OperatorDone", "OperatorWaits", "PassResult",
           "holding", "operator_mark", "run_lock", "run_pass"]
