"""The failure exits of one file: how the pipeline ends a file it cannot carry on.

Each is recorded so a person can see it and act on it: a rejected file is quarantined (or,
read in place, left where it is) with its issues and a report, its planned outputs
abandoned; a file that failed on a connection or a disk is retried after a backoff, and
failed once out of attempts (one that waits for another file a person settles first is
tried again at most every :data:`WAITING_AT_MOST` seconds, its attempts not spent); a bug
fails the file with an ``internal-error`` issue and its traceback saved beside it. Each
takes the pipeline as its :class:`~bridge.engine.context.Context`, so none imports it.
"""

from __future__ import annotations

import contextlib
import traceback
from typing import TYPE_CHECKING

from bridge.atomic import save_atomic
from bridge.engine import moves, taking
from bridge.engine.context import Outcome
from bridge.errors import TransientError
from bridge.issues import COUNT_CODES, Issue
from bridge.states import CLAIMED, FAILED, FINAL, REJECTED, RETRYING
from bridge.transport import TargetExists, observed_size

if TYPE_CHECKING:
    from bridge.config import Flow
    from bridge.engine.context import Context
    from bridge.ledger import FileRow
    from bridge.report_cells import RawRows
    from bridge.spec.model import Tracciato
    from bridge.transport import Entry

#: Seconds at most between two tries of a file that waits for another file a person
#: settles (:class:`~bridge.errors.WaitsForFile`): it goes within this once that one has.
WAITING_AT_MOST = 3600.0
#: How the reason of a file retrying only for such a wait begins: its flow does not fail.
WAITS = "waits for another file: "


def reject(ctx: Context, row: FileRow, flow: Flow, issues: list[Issue], t: Tracciato | None,
           rows: dict[str, int], raw: RawRows | None = None) -> Outcome:
    from bridge.engine.tables import load_tracciato

    if t is None:
        t = load_tracciato(ctx.cfg, flow.tracciato)
    ctx.ledger.record_issues(row.id, issues)
    name = moves.quarantine(ctx, row, flow)
    if row.replay_of is None:
        ctx.ledger.set_kept(row.id, f"{flow.quarantine_folder}/{name}")
    if flow.archive == "leave" and row.mtime is not None and row.replay_of is None:
        ctx.ledger.remember_done(row.flow, row.path, row.size, row.mtime, row.id)
    source = ctx.work(row.id) / "source"
    report = moves.write_report(ctx, row, flow, source, issues, t, "rejected", rows, name,
                                raw_rows=raw)
    for out in ctx.ledger.outputs(row.id):
        if out.state == "planned":
            ctx.ledger.set_output(out.id, "abandoned")
    # the first error of a row or of the file, not a count of the others
    first = next((i for i in issues if i.is_error and i.code not in COUNT_CODES),
                 issues[0] if issues else None)
    why = f"{len(issues)} issue(s): {first.code}" if first is not None else "rejected"
    ctx.ledger.set_state(row.id, REJECTED, ctx.now.wall, f"{why}; {report}",
                         issues=len(issues), reason=why)
    return Outcome(row.flow, row.path, REJECTED, row.id, len(issues), report=report,
                   message=f"{issues[0].message}" if len(issues) == 1 else "")


def refuse_in_place(ctx: Context, row: FileRow, flow: Flow, issue: Issue) -> Outcome:
    """Not a file bridge may read (a link, a device, a file the server will not serve):
    left, recorded with its issue and report, not looked at while it stays the same."""
    if row.held_as is not None:
        moves.give_back(ctx, row, flow)
    ctx.ledger.record_issues(row.id, [issue])
    from bridge.engine.tables import load_tracciato

    report = moves.write_report(ctx, row, flow, None, [issue],
                                load_tracciato(ctx.cfg, flow.tracciato), "rejected", {})
    here = as_listed(ctx, flow, row.path)
    if here is None:
        here = ctx.transport(flow.source.connection).stat(flow.source.folder, row.path)
    if here is not None:  # as it is now: the same file is not looked at again
        ctx.ledger.remember_done(row.flow, row.path, observed_size(here), here.mtime, row.id)
    ctx.ledger.set_state(row.id, REJECTED, ctx.now.wall, f"{issue.code}; {report}",
                         issues=1, reason=issue.code)
    return Outcome(row.flow, row.path, REJECTED, row.id, 1, report=report,
                   message=f"{issue.message}; left where it is")


def as_listed(ctx: Context, flow: Flow, name: str) -> Entry | None:
    """``name`` in the flow's source folder as the next listing will have it: a link, a
    FIFO with its kind (not told again as not-a-file), never as a stat through the link;
    None when it is not there, or cannot be seen now. A local or SFTP stat is an lstat: a
    regular file is its own answer there, without listing the whole folder for each file
    refused. An FTP server's SIZE and MDTM (and many an MLST) follow a link: there, and
    for what is not a regular file, the listing says what the name is."""
    src = ctx.transport(flow.source.connection)
    with contextlib.suppress(TransientError):
        if ctx.cfg.connection(flow.source.connection).type in ("local", "sftp"):
            here = src.stat(flow.source.folder, name)
            if here is not None:
                return here
        return next((e for e in src.list(flow.source.folder) if e.name == name), None)
    return None


def refuse_unread(ctx: Context, row: FileRow, flow: Flow) -> Outcome:
    if taking.hold(ctx, row, flow) is None:
        ctx.ledger.drop_claim(row.id)
        return Outcome(row.flow, row.path, "gone", message="vanished before bridge took it")
    return reject(ctx, ctx.ledger.get(row.id), flow, ctx.ledger.issues(row.id), None, {})


def retry_later(ctx: Context, row: FileRow, flow: Flow, why: str, *, waits: bool = False
                ) -> Outcome:
    """Retried after a backoff, out of attempts: failed. ``waits`` (another file a
    person settles first): never failed for that, tried again at most every hour."""
    row = ctx.ledger.get(row.id)
    if row.state in FINAL:
        raise TransientError(why)
    if row.sha256 == "" and row.state == CLAIMED and not _held(ctx, row, flow):
        other = _swapped(ctx, row, flow)
        if other is not None:
            return refuse_swapped(ctx, row, flow, other, why)
        ctx.ledger.drop_claim(row.id)  # nothing was taken: it is seen again later
        return Outcome(row.flow, row.path, RETRYING, message=why)
    attempts = row.attempts + 1
    if attempts >= flow.max_attempts and not waits:
        return fail(ctx, row, f"gave up after {attempts} attempts: {why}", internal=False,
                attempt=True)
    wait = flow.retry_backoff * 2 ** min(attempts - 1, 32)
    if waits:
        wait = min(wait, max(flow.retry_backoff, WAITING_AT_MOST))
    ctx.ledger.set_state(row.id, RETRYING, ctx.now.wall, why,
                         reason=WAITS + why if waits else why, attempt=True,
                         next_try=ctx.now.wall + wait)
    tried = (f"tried {attempts} time(s), it waits" if waits
             else f"attempt {attempts} of {flow.max_attempts}")
    return Outcome(row.flow, row.path, RETRYING, row.id,
                   message=f"{why}; {tried}, next in {wait:g} s", waits=waits)


def _swapped(ctx: Context, row: FileRow, flow: Flow) -> Entry | None:
    """What the listing has under a claimed file's private name when it is not a file there
    (a link out of an FTP server's root: its STAT, SIZE and RETR refused, as if gone; a
    folder)."""
    try:
        listed = ctx.transport(flow.source.connection).list(flow.source.folder, folders=True)
    except TransientError:
        return None  # cannot tell: as before, the claim goes and the name is seen again
    return next((e for e in listed if e.name == row.held_as and e.kind is not None), None)


def refuse_swapped(ctx: Context, row: FileRow, flow: Flow, other: Entry, why: str
                   ) -> Outcome:
    """A claimed file swapped for a link, a FIFO... under its private name: never read,
    given back under its name if the server lets it be moved, else left there; recorded
    once, with its issue and report, so that the sender's file is not lost from view."""
    from bridge.engine.readiness import NOT_A_FILE
    from bridge.engine.tables import load_tracciato

    assert row.held_as is not None
    where = row.held_as
    with contextlib.suppress(TransientError, TargetExists):
        if moves.give_back(ctx, row, flow):
            where = row.path
    issue = Issue(NOT_A_FILE, f"{row.path}, held by bridge as {row.held_as}, is now "
                              f"{other.kind}, not the file that was listed ({why}): never "
                              f"read, left as {where}. The sender's file is not imported: "
                              "ask for it again", value=where)
    ctx.ledger.record_issues(row.id, [issue])
    report = moves.write_report(ctx, row, flow, None, [issue],
                                load_tracciato(ctx.cfg, flow.tracciato), "rejected", {})
    if where == row.path:  # the next listing has it under its name: not told again
        with contextlib.suppress(TransientError):
            here = next((e for e in ctx.transport(flow.source.connection).list(
                flow.source.folder) if e.name == row.path), None)
            if here is not None:
                ctx.ledger.remember_done(row.flow, row.path, observed_size(here), here.mtime,
                                         row.id)
    ctx.ledger.set_state(row.id, REJECTED, ctx.now.wall, f"{issue.code}; {report}",
                         issues=1, reason=issue.code)
    return Outcome(row.flow, row.path, REJECTED, row.id, 1, report=report,
                   message=issue.message)


def _held(ctx: Context, row: FileRow, flow: Flow) -> bool:
    try:
        return (row.held_as is not None and ctx.transport(flow.source.connection).stat(
            flow.source.folder, row.held_as) is not None)
    except TransientError:
        return True  # cannot tell: keep the claim, it is safe to resume


def internal_error(ctx: Context, row: FileRow, exc: Exception) -> Outcome:
    from bridge.logs import log_internal_error

    where = log_internal_error(exc, f"file {row.id} ({row.path}) of flow {row.flow}")
    saved = ctx.work(row.id) / "error.txt"
    try:
        saved.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        save_atomic(saved, "".join(traceback.format_exception(exc)).encode(), mode=0o600)
        where = str(saved)
    except OSError:
        pass
    return fail(ctx, row, f"internal error: {type(exc).__name__}: {exc} (traceback in "
                     f"{where})", internal=True)


def fail(ctx: Context, row: FileRow, why: str, *, internal: bool, attempt: bool = False
         ) -> Outcome:
    row = ctx.ledger.get(row.id)
    if row.state in FINAL:
        raise RuntimeError(f"file {row.id} is {row.state}: {why}")
    if internal:
        issues = ctx.ledger.issues(row.id)
        ctx.ledger.record_issues(row.id, [Issue("internal-error", why), *issues])
    ctx.ledger.set_state(row.id, FAILED, ctx.now.wall, why, reason=why, attempt=attempt,
                         issues=row.issues + int(internal))
    return Outcome(row.flow, row.path, FAILED, row.id, message=why, internal=internal)
