"""Decode, validate, transform and render one file: the pure middle of the pipeline.

The policy on bad rows decides what an error does: ``reject-file`` refuses the whole file
(a bad order line must not half-import an order); ``skip-rows`` drops the bad rows, and with
them every row of the same group (the whole order), and goes on with the rest. A value the
target cannot hold (a character its encoding lacks, too long for its field, a line break in
a fixed-width field) is a bad row like any other, found when the targets are rendered: its
issue names the source line it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.engine.render import Rendered, data_rows, render_targets
from bridge.engine.tables import drop_bad_rows, load_tracciato, money_sum, reference
from bridge.issues import Issue

if TYPE_CHECKING:
    import pandas as pd

    from bridge.config import Flow
    from bridge.engine.context import Context
    from bridge.ledger import FileRow
    from bridge.spec.model import Tracciato

__all__ = ["Checked", "load_tracciato", "money_sum", "reference", "transform_file"]

#: How many times skip-rows may run the steps again after leaving bad rows out.
MAX_STEP_PASSES = 4


@dataclass
class Checked:
    tracciato: Tracciato | None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # rows read, per record type
    money_in: Decimal | None = None
    issues: list[Issue] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    sent_keys: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    rendered: list[Rendered] = field(default_factory=list)
    rejected: bool = False
    skipped_rows: bool = False
    nothing_to_write: bool = False

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def notes(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]


def transform_file(ctx: Context, row: FileRow, flow: Flow, source: Path, *,
                   render: bool = True) -> Checked:
    """Everything between the bytes taken and the bytes to write, with no I/O but reading
    the work copy and the reference tables."""
    from bridge.codecs import decode
    from bridge.steps import StepContext, apply_steps

    t = load_tracciato(ctx.cfg, flow.tracciato)
    decoded = decode(source.read_bytes(), t)
    checked = Checked(t, rows=decoded.counts, issues=list(decoded.issues),
                      money_in=money_sum(decoded.tables, flow.totals.money_in))
    tables = decoded.tables
    if checked.errors:
        if flow.on_bad_rows == "reject-file":
            checked.rejected = True
            return checked
        tables = drop_bad_rows(tables, checked.errors, t)
        checked.skipped_rows = True
    # A file redone after a crash, or replayed, must not see its own keys as sent before.
    mine = (row.id, row.replay_of or row.id)
    step_ctx = StepContext(
        reference=lambda name: reference(ctx, name),
        already_sent=lambda keys: ctx.ledger.sent_keys(row.flow, keys, besides=mine),
        last_sent=lambda keys: ctx.ledger.fingerprints(row.flow, keys, besides=mine),
        full=ctx.full,
        variables={"source_name": row.path, "flow": row.flow,
                   "now": datetime.fromtimestamp(row.created)},
    )
    for _ in range(MAX_STEP_PASSES):
        result = apply_steps(flow.steps, tables, step_ctx)
        bad = [i for i in result.issues if i.is_error]
        rendered: list[Rendered] = []
        if not bad and render:
            empty = data_rows(ctx.cfg, flow, result.tables) == 0
            rendered, bad = render_targets(ctx.cfg, row, flow, result.tables, empty=empty)
        if not bad:
            break
        checked.issues.extend(bad)
        if flow.on_bad_rows == "reject-file":
            checked.rejected = True
            return checked
        # skip-rows: leave the bad source rows (and their groups) out, then run the steps
        # again, so that totals and trailers count only what is written.
        tables = drop_bad_rows(tables, bad, t)
        checked.skipped_rows = True
    else:
        checked.rejected = True  # still bad rows after every pass: refuse the whole file
        return checked
    checked.issues.extend(result.issues)
    checked.held = list(result.held)
    checked.sent_keys = list(result.sent_keys)
    checked.fingerprints = dict(result.fingerprints)
    checked.tables = result.tables
    checked.rendered = rendered
    if checked.skipped_rows and not any(len(df) for df in tables.values()):
        checked.rejected = True  # nothing good is left: the whole file is refused
    elif render and not rendered:
        checked.nothing_to_write = True
    return checked

