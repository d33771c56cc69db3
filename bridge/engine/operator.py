"""An operator's decisions: approve a held file, retry or reject any file that is not final.

Each runs under the run lock (waiting a little for a pass to finish), so a decision never
races a pass over the same file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from bridge import faults
from bridge.config import Config
from bridge.engine import clock as clocks
from bridge.engine import moves
from bridge.engine.context import Outcome, open_config_ledger
from bridge.engine.gone import superseded_by
from bridge.engine.pipeline import Pipeline
from bridge.engine.runner import LockBusy, LockTaken, OperatorBusy, run_lock
from bridge.engine.tables import load_tracciato
from bridge.errors import ConfigError, TransientError
from bridge.issues import Issue
from bridge.ledger import FileRow, IllegalTransition
from bridge.states import APPROVED, DONE, DUPLICATE, FINAL, HELD, REJECTED, RETRYING, can_clear

#: Seconds an operator's command waits for a running pass to let go of the lock.
LOCK_WAIT = 30.0


@contextmanager
def session(cfg: Config) -> Iterator[Pipeline]:
    try:
        with run_lock(cfg.path(cfg.lock_file), wait=LOCK_WAIT, ledger=cfg.ledger_location(),
                      alone=True):
            ledger = open_config_ledger(cfg)
            now = clocks.now()
            pipe = Pipeline(cfg, ledger, {}, None, now)
            try:
                yield pipe
            finally:
                for t in pipe.transports.values():
                    t.close()
                ledger.close()
    except OperatorBusy:
        raise TransientError("another operator's command is at work and did not end in "
                             f"{LOCK_WAIT:g} s; try again once it is over") from None
    except (LockBusy, LockTaken):
        raise TransientError("a bridge run holds the lock and did not let go in "
                             f"{LOCK_WAIT:g} s; try again") from None


def _row(pipe: Pipeline, file_id: int) -> FileRow:
    try:
        return pipe.ledger.get(file_id)
    except KeyError:
        raise ConfigError(f"no file {file_id} in the ledger") from None


@dataclass
class Approved:
    """An operator's approval: the file as it is now, and the rows left out (if any) of
    the ``rows`` it has."""

    file: FileRow
    left_out: list[int] = field(default_factory=list)
    rows: int = 0


def approve(cfg: Config, file_id: int, *, rows: set[int] | None = None,
            leave: set[int] | None = None, reason: str | None = None) -> Approved:
    """Let a held file go on: whole, or only the rows ``rows`` (or all but ``leave``), the
    others refused for ``reason``. The decision is in the ledger before anything of the
    file is written; the next run writes what was approved."""
    from bridge.engine.rows import choose, named, preview

    with session(cfg) as pipe:
        row = _row(pipe, file_id)
        if row.state == APPROVED:
            raise ConfigError(f"file {file_id} is approved already, not held: the next run "
                              "writes it")
        if row.state != HELD:
            raise ConfigError(f"file {file_id} is {row.state}, not held: nothing to approve")
        flow = pipe.cfg.flows.get(row.flow)
        if flow is None:  # approved, no run would ever carry it on, nor show it waiting
            raise ConfigError(f"file {file_id}: its flow {row.flow!r} is not configured: "
                              "approved, it would wait for ever; configure the flow again "
                              "(by that name) first")
        newer = superseded_by(pipe.ledger, row, flow)
        if newer is not None:
            raise ConfigError(f"file {file_id} is older than file {newer.id} ({newer.path}), "
                              f"done since: approving it would send older data over newer; "
                              f"refuse it with `bridge reject {file_id} --reason superseded`")
        left: list[int] = []
        total = 0
        if rows is not None or leave is not None:
            seen = preview(pipe, row, flow, limit=0)
            left, total = choose(seen, keep=rows, drop=leave), seen.total
        if left and not (reason or "").strip():
            raise ConfigError(f"file {file_id}: {named(left)} would be left out: say why "
                              "with --reason (it goes in the ledger and the file's report)")
        detail = "approved by an operator"
        if left:
            detail += (f": {total - len(left)} of {total} rows; left out: {named(left)}: "
                       f"{reason}")
        elif reason:
            detail += f": {reason}"
        try:
            pipe.ledger.approve(file_id, pipe.now.wall, detail, left_out=left, reason=reason)
        except IllegalTransition:  # decided meanwhile (under the lock: never, but say so)
            raise ConfigError(f"file {file_id} is not held any more") from None
        faults.point("after-approve")
        return Approved(pipe.ledger.get(file_id), left, total)


@dataclass
class Rejected:
    """An operator's refusal: the file's outcome, and one line for each other file of its
    flow that skipped some of its business keys as sent (empty: none did)."""

    outcome: Outcome
    left_unsent: list[str] = field(default_factory=list)


def reject(cfg: Config, file_id: int, reason: str) -> Rejected:
    """Refuse a file in any state that is not final: its bytes go to quarantine with a
    report, its unwritten outputs are abandoned (outputs already written stay written).

    With no output written, its business keys are forgotten (none reached a target). A
    later file that skipped them as ``already-sent`` did not send them either: each is
    named, here and in a ``left-unsent`` issue of this file, with the command that sends
    what it skipped (``bridge replay ID --unsent``, which sends no key twice). The advice
    is recorded first, and the keys are forgotten as the file is rejected, in one
    transaction: a reject stopped before its end and run again names the advice again;
    one stopped after it says it is done, and where its advice is."""
    with session(cfg) as pipe:
        row = _row(pipe, file_id)
        if not can_clear(row.state):
            advised = any(i.code == "left-unsent" for i in pipe.ledger.issues(file_id))
            raise ConfigError(f"file {file_id} is {row.state}: it cannot be rejected any more"
                              + (f"; its reject left orders of later files unsent: `bridge "
                                 f"show {file_id}` names them" if advised else ""))
        flow = pipe.cfg.flows.get(row.flow)
        if flow is None:
            raise ConfigError(f"file {file_id}: flow {row.flow!r} is not configured")
        written = [o.name for o in pipe.ledger.outputs(file_id) if o.state == "written"]
        # An earlier reject of this file, stopped before its end (a kill), may have
        # forgotten the keys already: its advice, recorded first, is named again.
        had = pipe.ledger.issues(file_id)
        left = [] if written else _left_unsent(pipe, row)
        left = list(dict.fromkeys([*(i.message for i in had if i.code == "left-unsent"),
                                   *left]))
        issue = Issue("operator-rejected", f"rejected by an operator: {reason}")
        issues = [issue, *(Issue("left-unsent", line) for line in left),
                  *(i for i in had if i.code not in ("operator-rejected", "left-unsent"))]
        pipe.ledger.record_issues(file_id, issues)
        name = moves.quarantine(pipe, row, flow)
        report = moves.write_report(pipe, row, flow, pipe.work(row.id) / "source", issues,
                                    load_tracciato(cfg, flow.tracciato), "rejected", {}, name)
        faults.point("before-reject")
        # Its unwritten outputs abandoned and, none written, its keys forgotten (none of
        # its rows reached a target) as it is rejected: at once, never one without the other.
        pipe.ledger.reject_file(row.flow, file_id, pipe.now.wall, f"{reason}; {report}",
                                reason=reason, forget=not written)
        faults.point("after-reject")
        note = f"; outputs already written stay: {', '.join(written)}" if written else ""
        return Rejected(Outcome(row.flow, row.path, REJECTED, row.id, report=report,
                                message=f"rejected by an operator: {reason}{note}"), left)


def _left_unsent(pipe: Pipeline, row: FileRow) -> list[str]:
    """What the other files of ``row``'s flow skipped because ``row`` held the keys, one
    line each, with what to do: asked before its keys are forgotten."""
    lines = []
    for other_id, keys in pipe.ledger.skipped_for(row.flow, row.id).items():
        other = pipe.ledger.get(other_id)
        if other.state in (DUPLICATE, REJECTED):
            # Refused itself (by an operator, or by bridge): none of its rows go, the
            # skipped ones no more than the others; a replay would send them all.
            continue
        then = "" if other.state in FINAL else f" once it is done (it is {other.state})"
        send = f"`bridge replay {other.id} --unsent`{then} sends them, and no key twice"
        if not keys:
            lines.append(f"file {other.id} ({other.path}) may have skipped keys of file "
                         f"{row.id} as already-sent (its notes are not all kept): {send}")
            continue
        shown = ", ".join(repr(k) for k in keys[:5]) + (", ..." if len(keys) > 5 else "")
        lines.append(f"file {other.id} ({other.path}) skipped {len(keys)} key(s) of file "
                     f"{row.id} as already-sent ({shown}): they reach no target now; {send}")
    return lines


def retry(cfg: Config, file_id: int, say: Callable[[Outcome], None] | None = None
          ) -> Outcome:
    """Try a file again now, whatever its backoff or attempts: a held file is checked
    again (its reference tables may have changed), a failed one is carried on."""
    with session(cfg) as pipe:
        row = _row(pipe, file_id)
        if row.state in FINAL:
            hint = f" (bridge replay {file_id} processes it again)" if row.state == DONE else ""
            raise ConfigError(f"file {file_id} is {row.state}: nothing to retry{hint}")
        if row.state != RETRYING or row.attempts:
            pipe.ledger.set_state(file_id, RETRYING, pipe.now.wall, "retry asked by an "
                                  "operator", reset_attempts=True, next_try=None)
        pipe.run_id = pipe.ledger.start_run(pipe.now.wall, f"retry {file_id}")
        outcome = pipe.advance(file_id)
        pipe.ledger.end_run(pipe.run_id, clocks.now().wall, f"exit {outcome.exit_code}")
        if say is not None:
            say(outcome)
        return outcome
