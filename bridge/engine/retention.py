"""Retention: what bridge keeps of each finished file, and for how long (``retention:`` per
flow). Applied at the end of every pass, a bounded number of files at a time, and by hand
with ``bridge prune [--dry-run]``.

- ``work`` (default 30 days): bridge's own copy of the file, what it rendered, its reports;
  a replay of the file is no longer possible after;
- ``reports`` (default 90 days): a refused file and its two reports in the quarantine
  folder, and the sender's values quoted in the ledger's issues of every file (done,
  duplicate or refused, and one that still waits: held, failed, retrying), each replaced
  by its code's plain meaning;
- ``archive`` (default: kept): an archived source file.

The ledger keeps the rest (names, sizes, states, times, issue codes and messages) for
reconciliation; a file's clock starts when it is finished, or, for one that waits, at its
last change. A waiting file's own copy stays until it is finished: it is the file itself,
which an approval or a retry still writes. Its values, forgotten, are quoted again by the
run that finishes it, and forgotten in their turn.
"""

from __future__ import annotations

import posixpath
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.states import ALL, DONE, DUPLICATE, FINAL, REJECTED

if TYPE_CHECKING:
    from bridge.config import Flow
    from bridge.engine.context import Context
    from bridge.ledger import FileRow

#: Files pruned per flow and per kind at the end of a pass: a pass stays short.
PER_PASS = 200
REPORT_SUFFIXES = ("", ".issues.csv", ".report.html")
QUOTED = "the sender's values quoted in the ledger"


@dataclass(frozen=True)
class Pruned:
    flow: str
    file_id: int
    what: str  # work, reports, archive
    where: str


def prune(ctx: Context, name: str, flow: Flow, *, dry_run: bool = False,
          limit: int | None = PER_PASS) -> list[Pruned]:
    """Delete what the flow's retention no longer keeps; what was (or would be) deleted."""
    r, now = flow.retention, ctx.now.wall
    most = limit if limit is not None else 1 << 62
    out: list[Pruned] = []
    if r.work is not None:
        for row in ctx.ledger.prunable(name, "work", now - r.work, FINAL, most):
            folder = ctx.work(row.id)
            there = folder.is_dir()  # removed already (by hand): nothing to say it deletes
            if not dry_run:
                shutil.rmtree(folder, ignore_errors=True)
                ctx.ledger.mark_pruned(row.id, "work", now)
            if there:
                out.append(Pruned(name, row.id, "work", str(folder)))
    kinds = [("reports", r.reports, frozenset({REJECTED})),
             ("archive", r.archive, frozenset({DONE, DUPLICATE}))]
    for what, keep, states in kinds:
        if keep is None:
            continue
        for row in ctx.ledger.prunable(name, "kept", now - keep, states, most):
            out += _drop_kept(ctx, name, flow, row, what, dry_run)
    if r.reports is not None:  # a refused file's values go with its reports, above
        for row in ctx.ledger.prunable(name, "values", now - r.reports, ALL - {REJECTED},
                                       most):
            if not dry_run:
                ctx.ledger.forget_values(row.id)
                ctx.ledger.mark_pruned(row.id, "values", now)
            out.append(Pruned(name, row.id, "reports", QUOTED))
    return out


def _drop_kept(ctx: Context, name: str, flow: Flow, row: FileRow, what: str,
               dry_run: bool) -> list[Pruned]:
    gone = []
    if row.kept_at:
        folder, base = posixpath.split(row.kept_at)
        src = ctx.transport(flow.source.connection)
        for suffix in REPORT_SUFFIXES if what == "reports" else ("",):
            if src.stat(folder, base + suffix) is not None:
                if not dry_run:
                    src.delete(folder, base + suffix)
                gone.append(Pruned(name, row.id, what, f"{row.kept_at}{suffix}"))
    if not dry_run:
        if what == "reports":
            ctx.ledger.forget_values(row.id)
            ctx.ledger.mark_pruned(row.id, "values", ctx.now.wall)
        ctx.ledger.mark_pruned(row.id, "kept", ctx.now.wall)
    if gone or what != "reports":
        return gone  # an archived file gone already: nothing was (or would be) deleted
    return [Pruned(name, row.id, what, f"{QUOTED} (the refused file and its reports were "
                   "gone already)")]
