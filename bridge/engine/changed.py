"""A claimed file its sender changed after bridge took it: what was imported, and the rest.

A sender that keeps its file open writes on into it after bridge renamed it to its private
name (``.bridge-claim-ID``): the rename does not stop a handle already open. What bridge
took is the bytes it fetched (their size and sha256 are in the ledger, their copy in the
work area): those are the file's, imported (or refused) once. The file at the source is
then more than that, or other bytes.

When the file is done with, its held file is compared with what was taken before it is
archived. One that differs is never archived (nor deleted) as done: it is set apart into
the flow's quarantine under the file's name, recorded as a rejected file of its own with a
``changed-after-taken`` issue and a report, and named by ``bridge status --check``. The
issue says what the first file imported from it and what it did not: for a file that
grew, the bytes (and lines) written after; for one written again, all of it, whose rows
may repeat the ones imported. Putting the whole file back would send the imported rows a
second time: the issue says so.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from bridge import faults
from bridge.engine import moves
from bridge.engine.taking import incoming, sha256_of
from bridge.issues import Issue
from bridge.states import REJECTED

if TYPE_CHECKING:
    from pathlib import Path

    from bridge.config import Flow
    from bridge.engine.context import Context
    from bridge.ledger import FileRow
    from bridge.transport import Entry

#: The issue code of the file found under a claim's private name, changed since it was taken.
CHANGED = "changed-after-taken"
#: How :func:`set_apart`'s answer starts (the file's outcome says it).
NOTE = "changed after bridge took it"


def set_apart(ctx: Context, row: FileRow, flow: Flow, here: Entry) -> str | None:
    """If the file held under ``row``'s private name (``here``) is not the bytes taken,
    move it into quarantine, recorded and reported; where it went (for the file's own
    detail), or None when it is the very bytes taken (to be archived as done)."""
    if not row.sha256 or (here.size == row.size
                          and (row.mtime is None or here.mtime == row.mtime)):
        return None  # as taken (a time that differs only costs reading it again)
    name = moves.held_name(row)
    tmp = incoming(ctx) / f"{row.id}.changed"
    ctx.transport(flow.source.connection).download(flow.source.folder, name, tmp, expect=here)
    try:
        message = _what_was_taken(ctx, row, tmp)
    finally:
        tmp.unlink(missing_ok=True)
    if message is None:
        return None  # the same bytes, touched: done
    issue = Issue(CHANGED, message, value=row.path)
    rest = next((r for r in _recorded(ctx, row) if (r.size, r.mtime) == (here.size,
                                                                          here.mtime)), None)
    if rest is None:
        rest = ctx.ledger.refuse(row.flow, row.path, here.size, here.mtime, issue,
                                 ctx.run_id, ctx.now.wall)
    faults.point("changed-recorded")
    kept = moves.set_aside(ctx, flow, name, rest.id, want=row.path)
    faults.point("changed-moved")
    return _kept(ctx, flow, rest, issue, kept)


def moved_before(ctx: Context, row: FileRow, flow: Flow) -> str | None:
    """The rest of ``row`` an earlier attempt recorded and moved into quarantine, stopped
    before it said where (said now), or stopped once it had said so, before ``row`` was
    done (said again); None if there is none."""
    src = ctx.transport(flow.source.connection)
    for rest in _recorded(ctx, row):
        for name in (row.path, f"{row.path}.{rest.id}"):
            there = src.stat(flow.quarantine_folder, name)
            if there is not None and (there.size, there.mtime) == (rest.size, rest.mtime):
                return _kept(ctx, flow, rest, ctx.ledger.issues(rest.id)[0],
                             f"{flow.quarantine_folder}/{name}")
    for rest in _recorded(ctx, row, kept=True):
        return f"{NOTE}: the rest set apart as file {rest.id} in {rest.kept_at}"
    return None


def _kept(ctx: Context, flow: Flow, rest: FileRow, issue: Issue, kept: str) -> str:
    from bridge.engine.tables import load_tracciato

    ctx.ledger.set_kept(rest.id, kept)
    report = moves.write_report(ctx, rest, flow, None, [issue],
                                load_tracciato(ctx.cfg, flow.tracciato), "rejected", {},
                                kept.rsplit("/", 1)[-1])
    return f"{NOTE}: the rest set apart as file {rest.id} in {kept}, report: {report}"


def _recorded(ctx: Context, row: FileRow, *, kept: bool = False) -> list[FileRow]:
    """The records an earlier attempt made of ``row``'s rest before it was stopped (not
    said where it went yet; ``kept``: said), latest first: taken again, not made twice.
    Only those whose issue names ``row`` (a later file of that name may have a rest too)."""
    mine = re.compile(rf"\bfile {row.id}\b")
    return [r for r in reversed(ctx.ledger.find_by_path(row.path))
            if r.flow == row.flow and r.state == REJECTED and r.reason == CHANGED
            and (r.kept_at is not None) == kept and r.created >= row.created
            and any(i.code == CHANGED and mine.search(i.message)
                    for i in ctx.ledger.issues(r.id))]


def _what_was_taken(ctx: Context, row: FileRow, found: Path) -> str | None:
    size = found.stat().st_size
    if size == row.size and sha256_of(found) == row.sha256:
        return None
    written = [o for o in ctx.ledger.outputs(row.id) if o.state == "written"]
    sent = (f"imported: {sum(o.rows or 0 for o in written)} row(s) written "
            f"({', '.join(o.name for o in written)})" if written
            else f"from which nothing was written (file {row.id} is "
                 f"{ctx.ledger.get(row.id).state})")
    head, lines = _head(found, row.size)
    if size > row.size and head == row.sha256:
        return (f"{row.path} grew after bridge took it: its first {row.size} bytes (lines "
                f"1-{lines}) are file {row.id}, {sent}; the {size - row.size} bytes written "
                f"after them (from line {lines + 1}) were not imported. Those are the only "
                "ones to send: do not put this file back whole, its first part would be "
                f"imported again; put back a file with only its lines from {lines + 1} on "
                "(and the header, if its layout has one)")
    return (f"{row.path} was written again after bridge took it (or, after a ledger "
            f"restored from a backup, is another file under its private name): file "
            f"{row.id} is the {row.size} bytes taken before (sha256 {row.sha256[:12]}), "
            f"{sent}; this file, {size} bytes, is not those bytes and was not imported. "
            f"Its rows may repeat some of file {row.id}'s: compare them (bridge show "
            f"{row.id}) and put back only the rows not imported")


def _head(path: Path, size: int) -> tuple[str, int]:
    """The sha256 of the first ``size`` bytes of ``path``, and the lines they end."""
    import hashlib

    h, left, lines = hashlib.sha256(), size, 0
    with path.open("rb") as f:
        while left > 0:
            block = f.read(min(left, 1 << 20))
            if not block:
                break
            h.update(block)
            lines += block.count(b"\n")
            left -= len(block)
    return h.hexdigest(), lines
