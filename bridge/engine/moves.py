"""Moves at the source: archive what is done, quarantine what is refused (with its reports),
give back what was taken too early.

Only the bytes that were claimed ever move: a claimed file waits under its private name
(``.bridge-claim-ID``) that no sender writes to, so a sender reusing the name meanwhile makes
a new file, left where it is for a later pass. A name already taken at the destination is
never overwritten: the file goes beside it as ``NAME.ID``.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING

from bridge.errors import TransientError
from bridge.files import own_folder
from bridge.transport import TargetExists

if TYPE_CHECKING:
    from pathlib import Path

    from bridge.config import Flow
    from bridge.engine.context import Context
    from bridge.issues import Issue
    from bridge.ledger import FileRow
    from bridge.report_cells import RawRows
    from bridge.spec.model import Tracciato

#: The done-file of a claimed file, beside it under its private name.
MARKER_SUFFIX = ".done"
#: What bridge writes in quarantine is customers' data: its user's only.
PRIVATE = 0o600


def held_name(row: FileRow) -> str:
    """Where the file's bytes are at the source now: its private name once claimed."""
    return row.held_as or row.path


def archive(ctx: Context, row: FileRow, flow: Flow) -> str | None:
    """Move (or delete) the source once it is done; says where it went."""
    if flow.archive == "leave" or row.replay_of is not None:
        return None
    src = ctx.transport(flow.source.connection)
    folder, name = flow.source.folder, held_name(row)
    here = src.stat(folder, name)
    if here is None:
        if row.held_as is None:
            return None
        from bridge.engine.changed import moved_before

        return moved_before(ctx, row, flow) or _gone_before(ctx, row, flow)
    if row.held_as is not None:
        from bridge.engine.changed import set_apart

        # Written into after it was taken: the rest is not archived as done.
        apart = set_apart(ctx, row, flow, here)
        if apart is not None:
            return apart
    where = "deleted"
    if flow.archive == "delete":
        src.delete(folder, name)
    else:
        where = "archived to " + _move_beside(ctx, flow, name, _day(ctx, flow, ctx.now.wall),
                                              row.path, row.id)
    _drop_marker(ctx, row, flow)
    return where


def _day(ctx: Context, flow: Flow, when: float) -> str:
    return f"{flow.archive_folder}/{datetime.fromtimestamp(when).strftime('%Y/%m/%d')}"


def _gone_before(ctx: Context, row: FileRow, flow: Flow) -> str:
    """The claimed file is no longer at the source: archived (or deleted) by an attempt
    that stopped before the ledger heard of it, or removed by someone else. Found in the
    archive by its name and its size and time (a move keeps them), it is recorded there;
    else it is said not archived."""
    if flow.archive == "delete":
        return "deleted"
    src = ctx.transport(flow.source.connection)
    for day in dict.fromkeys((_day(ctx, flow, ctx.now.wall), _day(ctx, flow, row.updated))):
        for name in (f"{row.path}.{row.id}", row.path):
            there = src.stat(day, name)
            if there is not None and (there.size, there.mtime) == (row.size, row.mtime):
                return f"archived to {day}/{name}"
    return ("not archived: gone from the source before it was archived (removed by someone "
            "else); bridge's copy is in its work area")


def quarantine(ctx: Context, row: FileRow, flow: Flow) -> str:
    """Move the claimed bytes into the quarantine folder; the file's name there (the name
    its reports are named after). A folder bridge only reads (``archive: leave``) keeps its
    file: the quarantine gets bridge's copy of the bytes taken."""
    if row.replay_of is not None:
        return row.path
    src = ctx.transport(flow.source.connection)
    if row.held_as is None and flow.archive == "leave":
        return _copy_beside(ctx, row, flow)
    folder, name = flow.source.folder, held_name(row)
    if src.stat(folder, name) is None:
        # Moved by an earlier attempt that stopped before its reports were written.
        beside = f"{row.path}.{row.id}"
        return beside if src.stat(flow.quarantine_folder, beside) is not None else row.path
    where = _move_beside(ctx, flow, name, flow.quarantine_folder, row.path, row.id)
    _drop_marker(ctx, row, flow)
    return where.rsplit("/", 1)[-1]


def give_back(ctx: Context, row: FileRow, flow: Flow) -> bool:
    """Put a file taken too early back under its own name; False if the name is taken
    again (a newer version is there: this one stays claimed)."""
    src = ctx.transport(flow.source.connection)
    folder = flow.source.folder
    assert row.held_as is not None
    if src.stat(folder, row.path) is not None:
        return False
    try:
        src.move(folder, row.held_as, folder, row.path)
    except TargetExists:
        return False
    marker = row.held_as + MARKER_SUFFIX
    if flow.source.ready.rule == "done-file" and src.stat(folder, marker) is not None:
        try:
            src.move(folder, marker, folder, row.path + flow.source.ready.done_suffix)
        except TargetExists:
            src.delete(folder, marker)
    return True


def set_aside(ctx: Context, flow: Flow, name: str, file_id: int, want: str | None = None
              ) -> str:
    """Move a file found at the source that is no file's claim (:mod:`strays`), or changed
    since it was taken (:mod:`changed`), into quarantine, under ``want`` (its name without
    a leading dot), with its done-file; where it went."""
    src = ctx.transport(flow.source.connection)
    where = _move_beside(ctx, flow, name, flow.quarantine_folder, want or name.lstrip("."),
                         file_id)
    marker = name + MARKER_SUFFIX
    if src.stat(flow.source.folder, marker) is not None:
        _move_beside(ctx, flow, marker, flow.quarantine_folder,
                     where.rsplit("/", 1)[-1] + MARKER_SUFFIX, file_id)
    return where


def _move_beside(ctx: Context, flow: Flow, name: str, dest: str, want: str, file_id: int
                 ) -> str:
    src = ctx.transport(flow.source.connection)
    folder = flow.source.folder
    for final in (want, f"{want}.{file_id}"):
        try:
            src.move(folder, name, dest, final)
            return f"{dest}/{final}"
        except TargetExists:
            continue
    raise TransientError(f"cannot move {name}: {dest}/{want} and {dest}/{want}.{file_id} "
                         "both exist")


def _copy_beside(ctx: Context, row: FileRow, flow: Flow) -> str:
    src = ctx.transport(flow.source.connection)
    copy = ctx.work(row.id) / "source"
    for final in (row.path, f"{row.path}.{row.id}"):
        there = src.stat(flow.quarantine_folder, final)
        if there is None and copy.exists():
            try:
                src.upload(copy, flow.quarantine_folder, final, mode=PRIVATE)
                return final
            except TargetExists:
                continue
        if there is not None and there.size == row.size and final.endswith(f".{row.id}"):
            return final  # copied by an earlier attempt
    return row.path


def _drop_marker(ctx: Context, row: FileRow, flow: Flow) -> None:
    if flow.source.ready.rule != "done-file":
        return
    src = ctx.transport(flow.source.connection)
    if row.held_as is not None:
        src.delete(flow.source.folder, row.held_as + MARKER_SUFFIX)
    else:
        src.delete(flow.source.folder, row.path + flow.source.ready.done_suffix)


def write_report(ctx: Context, row: FileRow, flow: Flow, source: Path | None,
                 issues: list[Issue], t: Tracciato | None, outcome: str,
                 rows: dict[str, int], name: str | None = None, *,
                 raw_rows: RawRows | None = None) -> str:
    """The CSV of bad rows and the HTML summary: kept in the work area, and put in the
    flow's quarantine folder beside the file (under ``name``, the file's name there);
    ``raw_rows``: the bad rows' cells, kept while the file was read."""
    from bridge.report import FileReport, write_reports

    if t is None:
        return ""
    folder = ctx.work(row.id) / "report"
    rep = FileReport(flow=row.flow, source_name=name or row.path, size=row.size,
                     sha256=row.sha256, outcome=outcome, rows=rows, issues=issues,
                     when=datetime.fromtimestamp(ctx.now.wall))
    try:
        folder = own_folder(folder, depth=2)  # never through a link planted there
        if source is not None and source.exists():
            with source.open("rb") as stream:  # read again in chunks, never whole
                paths = write_reports(folder, rep, stream, t, raw_rows)
        else:
            paths = write_reports(folder, rep, b"", t)
    except OSError as exc:
        raise TransientError(f"cannot write the report of {row.path}: {exc}") from None
    src = ctx.transport(flow.source.connection)
    for p in paths:
        # TargetExists: written by an earlier attempt at this file, cut short after it
        with contextlib.suppress(TargetExists):
            src.upload(p, flow.quarantine_folder, p.name, mode=PRIVATE)
    return f"{flow.quarantine_folder}/{paths[1].name}"
