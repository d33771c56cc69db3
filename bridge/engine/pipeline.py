"""One file through one flow: the state machine's only entry point, and its failure boundary.

:meth:`Pipeline.advance` carries a file from whatever state the ledger says it is in as far
as it can go: fetch, transform, plan, write, archive. Every step is recorded before the next
begins and can be done again, so a file interrupted anywhere is finished by a later pass,
to the same output names and the same bytes. Whatever goes wrong ends the file in a state
a person can see and act on, and the pass goes on with the other files:

- bad data (including values a target cannot hold) -> ``rejected``: quarantine and report;
- a connection or disk failure -> ``retrying`` with backoff, ``failed`` after
  ``max_attempts`` (a file whose rows wait for another file a person settles first, as a
  cancellation for its order, waits as long as that one, its attempts not spent);
- anything unexpected (a bug) -> ``failed`` with an ``internal-error`` issue, the traceback
  saved beside the file, never retried until ``bridge retry``;
- a configuration mistake stops the flow (not the file) until it is fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from bridge import faults
from bridge.engine import exits, moves, taking
from bridge.engine.changed import NOTE as CHANGED_NOTE
from bridge.engine.context import Outcome
from bridge.engine.facts import record as record_facts
from bridge.engine.outputs import (
    keep_rendered,
    kept_rendered,
    plan_maker,
    render_again,
    write_output,
)
from bridge.engine.readiness import NOT_A_FILE
from bridge.engine.taking import Lost
from bridge.errors import ConfigError, DataError, LostTurn, TransientError, WaitsForFile
from bridge.issues import Issue
from bridge.ledger import Figures, FileRow, Ledger, Now, Written
from bridge.states import (
    APPROVED,
    CHECKED,
    CLAIMED,
    DONE,
    FAILED,
    FETCHED,
    FINAL,
    HELD,
    REJECTED,
    RETRYING,
    WRITTEN,
)
from bridge.transport import Refused, observed_size

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from bridge.config import Config, Flow
    from bridge.engine.ahead import Helper
    from bridge.engine.render import Rendered
    from bridge.ledger import Observation
    from bridge.transport import Entry, Transport

class Pipeline:
    def __init__(self, cfg: Config, ledger: Ledger, transports: dict[str, Transport],
                 run_id: int | None, now: Now, *, full: bool = False,
                 connect: Callable[[Config, str], Transport] | None = None) -> None:
        self.cfg = cfg
        self.checked: set[str] = set()  # flows whose configuration was checked (preflight)
        self.folders: dict[tuple[str, str], bool] = {}
        self.made: list[str] = []
        self.full = full  # delta steps send everything
        self.ledger = ledger
        self.transports = transports
        self.run_id = run_id
        self.now = now
        self.references: dict[str, pd.DataFrame] = {}
        self.fence: Callable[[], None] | None = None  # set by the pass, flow by flow
        self.ahead: Helper | None = None  # transforms small files ahead (engine.ahead)
        self.just_kept: tuple[int, dict[str, tuple[Rendered, Path]]] | None = None
        self._connect = connect
        self.work_dir = cfg.path(cfg.work_dir)  # asked for several times a file

    def transport(self, name: str) -> Transport:
        if name not in self.transports:
            from bridge.transport import connect

            self.transports[name] = (self._connect or connect)(self.cfg, name)
        return self.transports[name]

    def work(self, file_id: int) -> Path:
        return self.work_dir / str(file_id)

    # -- the entry points ---------------------------------------------------------------

    def take(self, flow_name: str, flow: Flow, entry: Entry, obs: Observation, *,
             claimed: FileRow | None = None) -> Outcome | None:
        """A ready file: claim it (unless ``claimed`` already), then carry it as far as it
        goes."""
        if entry.size > flow.max_bytes:
            return self._too_big(flow_name, flow, entry)
        if flow.archive == "leave":
            try:
                got = taking.fetch_in_place(self, flow_name, flow, entry, obs)
            except TransientError as exc:
                return Outcome(flow_name, entry.name, RETRYING, message=str(exc))
            except Refused as exc:
                return self._unread(flow_name, flow, entry, str(exc))
            if got is None or isinstance(got, Outcome):
                return got
            return self.advance(got.row.id, truncated=got.truncated)
        row = claimed or self.ledger.claim(flow_name, entry.name, entry.size, entry.mtime,
                                           self.run_id, self.now.wall)
        faults.point("after-claim")
        return self.advance(row.id, obs=obs)

    def refuse_name(self, flow_name: str, entry: Entry, shown: str, why: str) -> Outcome:
        """A name bridge cannot handle safely, or an entry that is not a file (a link, a
        FIFO): recorded as a rejected file with its issue, left where it is, and not looked
        at again while it stays the same."""
        issue = (Issue(NOT_A_FILE, f"{why}; it is left where it is: put the file itself "
                       "in its place", value=shown)
                 if entry.kind is not None else
                 Issue("bad-file-name", f"{why}; the file is left where it is: rename it there",
                       value=shown))
        row = self.ledger.refuse(flow_name, shown, entry.size, entry.mtime, issue, self.run_id,
                                 self.now.wall)
        self.ledger.remember_done(flow_name, shown, observed_size(entry), entry.mtime, row.id)
        return Outcome(flow_name, shown, REJECTED, row.id, 1, message=issue.message)

    def _unread(self, flow_name: str, flow: Flow, entry: Entry, why: str) -> Outcome:
        """A file read in place that the transport refused. Swapped since it was listed (a
        link, a FIFO now): it waits, and the next listing says what it is, once. Still the
        file listed (one the server will not send): recorded once, ``unreadable-file``."""
        now = exits.as_listed(self, flow, entry.name)  # None: the next pass looks again
        if now is None or now.kind is not None or (now.size, now.mtime) != (
                entry.size, entry.mtime):
            return Outcome(flow_name, entry.name, "waiting",
                           message=f"{why}; not read: it waits until it is a file")
        issue = Issue("unreadable-file", f"{why}; it is left where it is", value=entry.name)
        row = self.ledger.refuse(flow_name, entry.name, entry.size, entry.mtime, issue,
                                 self.run_id, self.now.wall)
        self.ledger.remember_done(flow_name, entry.name, observed_size(now), now.mtime, row.id)
        return Outcome(flow_name, entry.name, REJECTED, row.id, 1, message=issue.message)

    def advance(self, file_id: int, *, obs: Observation | None = None,
                truncated: str | None = None) -> Outcome:
        """Carry a file as far as it can go; safe to call again after any crash."""
        row = self.ledger.get(file_id)
        flow = self._flow(row)
        try:
            return self._advance(row, flow, obs, truncated)
        except LostTurn:
            raise  # another worker may hold the flow now: nothing is recorded of the file
        except Exception as exc:
            if self.fence is not None:
                # Lost the flow? That explains the failure (a file another worker finished
                # meanwhile, say): LostTurn, and nothing recorded of the file.
                self.fence()
            return self.failed(row, flow, exc)

    def failed(self, row: FileRow, flow: Flow, exc: Exception) -> Outcome:
        """What a failure of the file's stages makes of it, by what the caller must do."""
        if isinstance(exc, TransientError):
            return exits.retry_later(self, row, flow, str(exc),
                                     waits=isinstance(exc, WaitsForFile))
        if isinstance(exc, Refused):
            return exits.refuse_in_place(self, self.ledger.get(row.id), flow,
                                         Issue("unreadable-file", str(exc)))
        if isinstance(exc, Lost):
            return exits.fail(self, row, str(exc), internal=False)
        if isinstance(exc, DataError):
            issues = getattr(exc, "issues", None) or [Issue("internal-error", str(exc))]
            return exits.reject(self, self.ledger.get(row.id), flow, issues, None, {})
        if isinstance(exc, ConfigError):
            raise exc
        return exits.internal_error(self, row, exc)

    def _too_big(self, flow_name: str, flow: Flow, entry: Entry) -> Outcome:
        """Refused without reading it: held under its private name (where the folder may be
        changed) and moved to quarantine, or recorded in place (archive: leave)."""
        issue = too_big(flow, entry)
        if flow.archive == "leave":
            row = self.ledger.refuse(flow_name, entry.name, entry.size, entry.mtime, issue,
                                     self.run_id, self.now.wall)
            self.ledger.remember_done(flow_name, entry.name, entry.size, entry.mtime, row.id)
            return Outcome(flow_name, entry.name, REJECTED, row.id, 1, message=issue.message)
        row = self.ledger.claim(flow_name, entry.name, entry.size, entry.mtime, self.run_id,
                                self.now.wall)
        self.ledger.record_issues(row.id, [issue])
        return self.advance(row.id)

    # -- the stages ---------------------------------------------------------------------

    def _flow(self, row: FileRow) -> Flow:
        if row.flow not in self.cfg.flows:
            raise ConfigError(f"file {row.id} belongs to flow {row.flow!r}, no longer configured")
        return self.cfg.flows[row.flow]

    def _advance(self, row: FileRow, flow: Flow, obs: Observation | None,
                 truncated: str | None) -> Outcome:
        if row.state in FINAL or row.state in (HELD, FAILED):
            return Outcome(row.flow, row.path, row.state, row.id, message="nothing to do")
        if row.sha256 == "" and any(i.code == "file-too-large"
                                    for i in self.ledger.issues(row.id)):
            return exits.refuse_unread(self, row, flow)
        if row.sha256 == "":
            got = taking.fetch(self, row, flow, obs)
            if isinstance(got, Outcome):
                return got
            row, truncated = got.row, got.truncated
        if row.state == CLAIMED:  # read in place, stopped before it was marked fetched
            taking.work_copy(self, row, flow)  # bridge's copy, or the same bytes read again
            self.ledger.set_state(row.id, FETCHED, self.now.wall, "taken again after a stop")
            row = self.ledger.get(row.id)
        outputs = self.ledger.outputs(row.id)
        if row.state not in (CHECKED, WRITTEN) and not (row.state == RETRYING and outputs):
            cut = [i for i in self.ledger.issues(row.id) if i.code == "truncated-file"]
            if truncated or cut:
                return exits.reject(self, row, flow,
                                    cut or [taking.truncated_issue(truncated or "")], None, {})
            try:
                early = self._prepare(row, flow)
            finally:
                if self.ahead is not None:
                    self.ahead.forget(row.id)
            if early is not None:
                return early
            row = self.ledger.get(row.id)
        if row.state != WRITTEN:
            self._write(row, flow)
        return self._finish(self.ledger.get(row.id), flow)

    def _prepare(self, row: FileRow, flow: Flow) -> Outcome | None:
        """Transform and render; then reject, hold, or fix the plan (state ``checked``)."""
        from bridge.engine.gone import superseded_by
        from bridge.engine.transform import transform_file

        newer = superseded_by(self.ledger, row, flow)
        if newer is not None:  # held, then approved or retried after a newer file went
            return exits.reject(self, row, flow, [superseded(newer)], None, {})
        source = taking.work_copy(self, row, flow)
        checked = (self.ahead and self.ahead.result(self, row)) or transform_file(
            self, row, flow, source)
        if checked.issues:
            self.ledger.record_issues(row.id, checked.issues, durable=False)  # synced next
        rows_in = sum(checked.rows.values())
        wait = not row.approved and (bool(checked.held) or (  # nothing to write: to approve
            bool(flow.approval) and not checked.nothing_to_write))
        if checked.rejected or wait:
            self.ledger.set_figures(row.id, Figures(rows_in, None, checked.money_in, None))
            if wait and not checked.rejected:  # a cancellation of its orders waits for it
                self.ledger.hold_keys(row.flow, row.id, checked.sent_keys)
            checked.forget_keys()
        if checked.rejected:
            return exits.reject(self, row, flow, checked.errors, checked.tracciato,
                                checked.rows, checked.raw_rows)
        if wait:
            for r in checked.rendered:  # rendered again once approved
                if r.path is not None:
                    r.path.unlink(missing_ok=True)
            reason = "; ".join(checked.held) or "waits for an operator's approval"
            self.ledger.set_state(row.id, HELD, self.now.wall, reason, reason=reason,
                                  issues=len(checked.issues))
            return Outcome(row.flow, row.path, HELD, row.id, len(checked.issues), message=reason)
        if checked.skipped_rows or checked.left_out:  # rows left out: said in a report
            moves.write_report(self, row, flow, source, checked.errors, checked.tracciato,
                               "skipped-rows", checked.rows, raw_rows=checked.raw_rows)
        self.just_kept = (row.id, keep_rendered(self, row, checked.rendered))
        note = "nothing to write: no data rows left" if checked.nothing_to_write else None
        # Facts first: a crash before the plan redoes the file, and its facts with it (they
        # replace the file's own); once planned, the file is only written.
        record_facts(self, row, checked)
        figures = Figures(rows_in, checked.rendered[0].rows if checked.rendered else 0,
                          checked.money_in, checked.money_out)
        self.ledger.plan(row.id, plan_maker(row, flow, checked.rendered),
                         keys=checked.sent_keys, fingerprints=checked.fingerprints,
                         now=self.now.wall, detail=note, figures=figures,
                         unsent=checked.unsent_keys)
        checked.forget_keys()
        faults.point("after-plan")
        return None

    def _write(self, row: FileRow, flow: Flow) -> None:
        """Every planned output written, each recorded once it is durable at its target;
        the last one in the same transaction that makes the file ``written``."""
        pending = [o for o in self.ledger.outputs(row.id) if o.state == "planned"]
        last: list[Written] = []
        if pending:
            # Kept by this pass a moment ago: not read back from the work area.
            just, self.just_kept = self.just_kept, None
            kept = just[1] if just is not None and just[0] == row.id else kept_rendered(
                self, row)
            if kept is None or any(o.target not in kept for o in pending):
                kept = render_again(self, row, flow)
            for n, out in enumerate(pending):
                rendered, staged = kept[out.target]
                at_end = n == len(pending) - 1
                done = write_output(self, row, flow, out, rendered, staged, record=not at_end)
                if at_end:
                    last.append(done)
        faults.point("before-written")
        self.ledger.set_state(row.id, WRITTEN, self.now.wall, written=last)

    def _finish(self, row: FileRow, flow: Flow) -> Outcome:
        where = moves.archive(self, row, flow)
        faults.point("after-archive")
        if flow.archive == "leave" and row.replay_of is None and row.mtime is not None:
            self.ledger.remember_done(row.flow, row.path, row.size, row.mtime, row.id)
        kept = (where.removeprefix("archived to ") if where and where.startswith("archived to ")
                else None)
        outputs = [o for o in self.ledger.outputs(row.id) if o.state == "written"]
        note = "" if outputs else "nothing to write: no data rows left"
        self.ledger.set_state(row.id, DONE, self.now.wall, where or note or None, kept_at=kept)
        if where and where.startswith(CHANGED_NOTE):  # the rest set apart: said, not hidden
            note = f"{note}; {where}" if note else where
        return Outcome(row.flow, row.path, DONE, row.id, row.issues,
                       [(o.name, o.rows or 0) for o in outputs], message=note)


def superseded(newer: FileRow) -> Issue:
    """Why a file older than one its flow has done since is refused."""
    return Issue("superseded", f"file {newer.id} ({newer.path}) of the same flow, newer, was "
                 "done since: this file's data is older and would be sent over it; nothing "
                 "of it is written")


def too_big(flow: Flow, entry: Entry) -> Issue:
    """Why a file over the flow's ``max_bytes`` is refused without being read."""
    return Issue("file-too-large", f"{entry.size} bytes, over the flow's max_bytes "
                                   f"({flow.max_bytes})")


__all__ = ["APPROVED", "Lost", "Outcome", "Pipeline", "too_big"]
