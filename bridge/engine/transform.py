"""Decode, validate and transform one file: the pure middle of the pipeline.

The policy on bad rows decides what an error does: ``reject-file`` refuses the whole file
(a bad order line must not half-import an order); ``skip-rows`` drops the bad rows, and with
them every row of the same group (the whole order), and goes on with the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bridge.issues import Issue

if TYPE_CHECKING:
    import pandas as pd

    from bridge.config import Config, Flow
    from bridge.ledger import FileRow, Ledger
    from bridge.spec.model import Tracciato


class Context(Protocol):
    cfg: Config
    ledger: Ledger
    now: float
    full: bool
    references: dict[str, pd.DataFrame]


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
    rejected: bool = False
    skipped_report: bool | None = None

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def notes(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]


#: How many times skip-rows may run the steps again after leaving bad rows out.
MAX_STEP_PASSES = 3


def load_tracciato(cfg: Config, name: str) -> Tracciato:
    """A tracciato by name, found once per configuration (a pass asks for it per file)."""
    from bridge.spec import load_file
    from bridge.spec.loader import find

    roots = tuple(str(cfg.path(p)) for p in cfg.tracciati)
    key = (roots, name)
    if key not in _FOUND or not _FOUND[key].exists():
        _FOUND[key] = find(name, roots)
    return load_file(_FOUND[key])


_FOUND: dict[tuple[tuple[str, ...], str], Path] = {}


def reference(ctx: Context, name: str) -> pd.DataFrame:
    """A reference table, decoded once per run; bad rows in it are a configuration error."""
    from bridge.codecs import decode
    from bridge.errors import ConfigError

    if name not in ctx.references:
        if name not in ctx.cfg.references:
            raise ConfigError(f"no reference table named {name!r}")
        ref = ctx.cfg.references[name]
        t = load_tracciato(ctx.cfg, ref.tracciato)
        path = ctx.cfg.path(ref.file)
        try:
            decoded = decode(path.read_bytes(), t)
        except OSError as exc:
            raise ConfigError(f"reference {name!r}: cannot read {path}: {exc.strerror}") from None
        errors = [i for i in decoded.issues if i.is_error]
        if errors:
            first = errors[0]
            raise ConfigError(f"reference {name!r} ({path}): {len(errors)} issues, first: "
                              f"line {first.line}: {first.code}: {first.message}")
        ctx.references[name] = decoded.tables[ref.record or t.single_record]
    return ctx.references[name]


def check_and_transform(ctx: Context, row: FileRow, flow: Flow, source: Path) -> Checked:
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
        checked.skipped_report = True
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
        step_errors = [i for i in result.issues if i.is_error]
        if not step_errors or flow.on_bad_rows == "reject-file":
            break
        # skip-rows: leave the bad source rows (and their groups) out, then run the steps
        # again, so that totals and trailers count only what is written.
        checked.issues.extend(step_errors)
        tables = drop_bad_rows(tables, step_errors, t)
        checked.skipped_report = True
    checked.issues.extend(result.issues)
    checked.held = list(result.held)
    checked.sent_keys = list(result.sent_keys)
    checked.fingerprints = dict(result.fingerprints)
    checked.tables = result.tables
    if step_errors:
        checked.rejected = True
        return checked
    if checked.skipped_report and not any(len(df) for df in checked.tables.values()):
        checked.rejected = True  # nothing good is left: the whole file is refused
    return checked


def money_sum(tables: dict[str, pd.DataFrame], where: str | None) -> Decimal | None:
    """The exact sum of ``record.field`` (or ``field`` of the only table), None if absent."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if where is None:
        return None
    record, _, name = where.rpartition(".")
    if not record and len(tables) == 1:
        record = next(iter(tables))
    df = tables.get(record)
    if df is None or name not in df.columns:
        return None
    total = pc.sum(pa.array(df[name], from_pandas=True)).as_py()
    return None if total is None else Decimal(total)


def drop_bad_rows(tables: dict[str, pd.DataFrame], errors: list[Issue],
                  t: Tracciato | None) -> dict[str, pd.DataFrame]:
    """The tables without the rows that have errors, and without the rest of their group.

    A group is a parent with its children (by ``_line``/``_parent_line``), or the rows that
    share the tracciato's ``group_by`` key (an order's line items).
    """
    bad = {i.line for i in errors if i.line is not None}
    if any(i.line is None for i in errors):
        return {name: df.iloc[0:0] for name, df in tables.items()}
    out: dict[str, pd.DataFrame] = {}
    bad_parents: set[int] = set()
    for df in tables.values():
        if "_parent_line" in df.columns:
            hit = df["_line"].isin(bad) if "_line" in df.columns else df["_parent_line"] < -1
            bad_parents.update(int(x) for x in df.loc[hit, "_parent_line"].tolist())
    bad_all = bad | bad_parents
    for name, df in tables.items():
        if "_line" not in df.columns:
            out[name] = df
            continue
        hit = df["_line"].isin(bad_all)
        if "_parent_line" in df.columns:
            hit = hit | df["_parent_line"].isin(bad_all)
        if t is not None and t.group_by and name == t.single_record:
            keys = df[t.group_by].astype(str).agg("\x1f".join, axis=1)
            hit = keys.isin(set(keys[hit]))
        out[name] = df.loc[~hit].reset_index(drop=True)
    return out
