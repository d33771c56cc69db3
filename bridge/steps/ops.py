"""The steps that work on one table at a time: rename, set, compute, filter, dedupe, map,
drop, recall (what a delta remembered of a key), and the trailer that counts what the
others made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs.frames import has_column
from bridge.errors import WaitsForFile
from bridge.issues import Issue, clip
from bridge.steps import spec
from bridge.steps import spec_business as sb
from bridge.steps.distinct import distinct_rows
from bridge.steps.work import LINE, PARENT_LINE, Work, constant


def rename(work: Work, args: spec.RenameArgs) -> None:
    name, table = work.get(args.table)
    work.need(name, table, args.fields)
    names = [args.fields.get(c, c) for c in table.schema.names]
    if len(set(names)) != len(names):
        clash = next(n for n in names if names.count(n) > 1)
        raise work.fail(f"table {name!r} would have two fields named {clash!r}")
    work.tables[name] = table.rename_columns(names)


def set_(work: Work, args: spec.SetArgs) -> None:
    name, table = work.get(args.table)
    for field, value in args.fields.items():
        table = work.put(name, table, field, constant(value, table.num_rows))
    work.tables[name] = table


def compute(work: Work, args: spec.ComputeArgs) -> None:
    name, table = work.get(args.table)
    for field, source in args.fields.items():
        # One field at a time, so that a field may use the ones computed before it.
        expr = work.expression(source, name, table)
        table = work.put(name, table, field, work.evaluate(expr, name, table, field))
    work.tables[name] = table


def filter_(work: Work, args: spec.FilterArgs) -> None:
    name, table = work.get(args.table)
    work.need(name, table, args.by)
    expr = work.expression(args.keep, name, table)
    if not args.by:
        kept = _truth(work.evaluate(expr, name, table, "keep"))
        _waiting(work, args, name, table, kept, np.arange(table.num_rows))
        work.keep(name, kept)
        return
    groups, firsts = group_ids(table, args.by)
    decided = _truth(work.evaluate(expr, name, rows_of(table, firsts, expr.names), "keep"))
    _waiting(work, args, name, table, decided, firsts)
    work.keep(name, pc.take(decided, pa.array(groups)))


def _waiting(work: Work, args: spec.FilterArgs, name: str, table: pa.Table,
             kept: pa.Array | pa.ChunkedArray, rows: np.ndarray) -> None:
    """A ``waiting`` note on the first row of each group (or each row) left out."""
    if args.note is None:
        return
    out = np.flatnonzero(~np.asarray(pc.fill_null(kept, True).to_numpy(
        zero_copy_only=False), dtype=bool))
    out = rows[out[:work.to_build("waiting", len(out))]]
    if not len(out):
        return
    field = ",".join(args.by) or None
    shown = (business_keys(table, args.by).take(pa.array(out)).to_pylist()
             if args.by else [None] * len(out))
    message = f"{work.where}: {args.note}"
    for line, key in zip(work.lines_at(table, out), shown, strict=True):
        work.issues.append(Issue("waiting", message, line, name, field, clip(key)))


def _truth(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    # A failed row is null, and null is kept: its bad-expression issue decides its fate,
    # not a silent drop.
    if pa.types.is_boolean(values.type):
        return pc.fill_null(values, True)
    return pa.array([v is None or bool(v) for v in values.to_pylist()], pa.bool_())


def dedupe(work: Work, args: spec.DedupeArgs) -> None:
    name, table = work.get(args.table)
    work.need(name, table, args.key)
    keys = business_keys(table, args.key)
    if args.repeats == "first":
        _first_only(work, name, keys)
        table = work.tables[name]
        keys = business_keys(table, args.key)
    unique = pc.unique(pc.drop_null(keys)).to_pylist()
    sent = work.ctx.already_sent(list(unique))
    if args.keep == "sent":
        _not_at_the_target_yet(work, args, [k for k in unique if k in sent])
        unsent = [k for k in unique if k not in sent]
        if unsent and work.sent:  # or sent with this file, by a step before (an order)
            here = set(work.sent)
            unsent = [k for k in unsent if k not in here]
        if unsent:  # or by a chunk of this file before this one
            before = work.ctx.sent_before(unsent)
            unsent = [k for k, was in zip(unsent, before, strict=True) if not was]
        _not_approved_yet(work, unsent)
        _only_sent(work, args, name, table, keys, unsent)
        return
    skipped = [k for k in unique if k in sent]
    if skipped:
        noted = skipped[:work.to_build("already-sent", len(skipped))]
        first = pc.index_in(pa.array(noted, pa.string()), value_set=keys).to_pylist()
        for key, line in zip(noted, work.lines_at(table, first), strict=True):
            work.issues.append(Issue(
                "already-sent",
                f"{work.where}: {clip(key)!r} was sent before; its rows are skipped",
                line, name, ",".join(args.key), clip(key)))
        work.keep(name, pc.invert(pc.fill_null(pc.is_in(keys, value_set=pa.array(skipped)),
                                               False)))
    work.skipped.extend(skipped)
    new = [k for k in unique if k not in sent]
    gone = _cancelled_first(work, args, new)
    work.sent.extend(k for k in new if k not in gone)


def _cancelled_first(work: Work, args: spec.DedupeArgs, new: list[str]) -> dict[str, int]:
    """Keys another file's ``dedupe keep: sent`` left out as never sent (their order was
    cancelled before it reached the target, as far as bridge knew then): sent now, the
    target would have the order and never its cancellation. Their rows are left out (the
    target ends with neither, as that file found it), and noted ``cancelled-unsent``."""
    dropped = work.ctx.dropped(new) if new else {}
    if not dropped:
        return dropped
    name, table = work.get(args.table)
    keys = business_keys(table, args.key)
    noted = list(dropped)[:work.to_build("cancelled-unsent", len(dropped))]
    first = pc.index_in(pa.array(noted, pa.string()), value_set=keys).to_pylist()
    for key, line in zip(noted, work.lines_at(table, first), strict=True):
        work.issues.append(Issue(
            "cancelled-unsent",
            f"{work.where}: {clip(key)!r} was cancelled by file {dropped[key]}, read before "
            "this one, when no file had sent it: its rows are left out, so the target never "
            "has it without its cancellation", line, name, ",".join(args.key), clip(key)))
    work.keep(name, pc.invert(pc.fill_null(pc.is_in(keys, value_set=pa.array(
        list(dropped), pa.string())), False)))
    return dropped


def _first_only(work: Work, name: str, keys: pa.Array | pa.ChunkedArray) -> None:
    """Keep the first row of each key in the file: not a row whose key an earlier row of
    this chunk gave, nor one the file's chunks before this one sent."""
    import pandas as pd

    values = pd.Series(keys.to_pylist(), dtype=object)
    again = np.array(values.duplicated() & values.notna(), dtype=bool)
    unique = [k for k in values.drop_duplicates() if k is not None]
    before = {k for k, was in zip(unique, work.ctx.sent_before(unique), strict=True) if was}
    if before:
        again |= np.array(values.isin(before), dtype=bool)
    work.keep(name, pa.array(~again))


def _not_at_the_target_yet(work: Work, args: spec.DedupeArgs, keys: list[str]) -> None:
    """A key held by a file whose outputs are not all written (retrying, or failed) is not
    at the target: a cancellation of its order would reach the ERP before the order, or
    without it if that file is rejected. The file waits until that one is written or its
    keys forgotten (rejected)."""
    _waits_for(work, work.ctx.unwritten(keys) if keys else {},
               "is held by file {}, whose outputs are not all written (it is retrying, or "
               "failed)", "`bridge retry {0}` sends file {0}")


def _not_approved_yet(work: Work, keys: list[str]) -> None:
    """A key no file sent that a file waiting for an operator's approval would send is not
    at the target, and may never be: a cancellation of its order dropped as never sent
    would be lost once that file is approved; sent, it would reach the ERP before the
    order. The file waits until that one is written (approved) or rejected."""
    _waits_for(work, work.ctx.held(keys) if keys else {},
               "may be sent by file {}, which waits for an operator's approval (held, or "
               "approved and not written yet)",
               "`bridge approve {0}` lets file {0} go (the next run writes it)")


def _waits_for(work: Work, held: dict[str, int], why: str, go: str) -> None:
    """The file waits for the first file ``held`` names (``why`` it may not go yet, and
    the command that lets that file ``go``), retrying without spending its attempts."""
    if not held:
        return
    key, holder = min(held.items(), key=lambda kv: (kv[1], kv[0]))
    more = f" (and {len(held) - 1} more key(s))" if len(held) > 1 else ""
    raise WaitsForFile(
        f"{work.where}: {clip(key)!r}{more} {why.format(holder)}: its rows here go only "
        f"once that file's reach the target. It waits: {go.format(holder)}, "
        f"`bridge reject {holder}` refuses it (these rows are then left out as never sent)")


def _only_sent(work: Work, args: spec.DedupeArgs, name: str, table: pa.Table,
               keys: pa.Array | pa.ChunkedArray, unsent: list[str]) -> None:
    """Keep the rows whose key is sent, by an earlier file or by this one (a ``dedupe``
    before this one let it through: an order that goes with its own credit note); note
    the others ``never-sent``."""
    if unsent:
        noted = unsent[:work.to_build("never-sent", len(unsent))]
        first = pc.index_in(pa.array(noted, pa.string()), value_set=keys).to_pylist()
        for key, line in zip(noted, work.lines_at(table, first), strict=True):
            work.issues.append(Issue(
                "never-sent", f"{work.where}: {clip(key)!r} was never sent; its rows are left out",
                line, name, ",".join(args.key), clip(key)))
    work.unsent.extend(unsent)
    work.keep(name, pc.fill_null(pc.invert(pc.is_in(keys, value_set=pa.array(
        unsent, pa.string()))), False))


def business_keys(table: pa.Table, fields: list[str]) -> pa.ChunkedArray | pa.Array:
    """The business key of each row as text, null if all its fields are null: one field as
    it is; several joined by ``|``, each with ``\\`` and ``|`` escaped by a ``\\``.

    Escaped, ``a|b`` + ``c`` and ``a`` + ``b|c`` are two keys, not one (a sender could
    otherwise make an order look sent). Parts without ``|`` or ``\\`` come out exactly as
    the plain join the ledgers already hold, so nothing sent before is sent again."""
    parts = [pc.cast(table.column(f), pa.string()) for f in fields]
    if len(parts) == 1:
        return parts[0]
    parts = [pc.replace_substring(pc.replace_substring(p, "\\", "\\\\"), "|", "\\|")
             for p in parts]
    joined = pc.binary_join_element_wise(*[pc.fill_null(p, "") for p in parts], "|")
    all_null = pc.and_kleene(*[pc.is_null(p) for p in parts[:2]])
    for p in parts[2:]:
        all_null = pc.and_kleene(all_null, pc.is_null(p))
    return pc.if_else(all_null, pa.scalar(None, pa.string()), joined)


def group_ids(table: pa.Table, by: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Group number of each row (in order of first appearance) and each group's first row.
    A missing value is a value of its own."""
    found = distinct_rows(table, by)
    if found is None:
        raise pa.ArrowNotImplementedError(f"rows cannot be grouped by {by}: a field's type "
                                          "cannot be compared by value")
    firsts, groups = found
    return groups, firsts


def rows_of(table: pa.Table, rows: np.ndarray, names: Iterable[str]) -> pa.Table:
    """The ``rows`` of ``table``, with only its columns named in ``names`` and its line
    numbers: what a key or an expression reads of a group's first rows, without taking
    every other column of the file too (an export has dozens)."""
    wanted = {*names, LINE}
    columns = [c for c in table.schema.names if c in wanted] or table.schema.names[:1]
    return table.select(columns).take(pa.array(rows))


def map_(work: Work, args: spec.MapArgs) -> None:
    name, table = work.get(args.table)
    if args.into in work.tables and args.into != name:
        raise work.fail(f"table {args.into!r} exists already")
    out = pa.table({c: table.column(c) for c in (LINE, PARENT_LINE) if has_column(table, c)})
    if out.num_columns == 0:
        out = pa.table({"__n": pa.nulls(table.num_rows)})
    for field, source in args.fields.items():
        expr = work.expression(source, name, table)
        out = work.put(args.into, out, field, work.evaluate(expr, name, table, field))
    if has_column(out, "__n"):
        out = out.drop_columns(["__n"])
    work.tables[args.into] = out


def drop(work: Work, args: spec.DropArgs) -> None:
    for name in args.tables:
        work.name(name)
    if args.fields:
        name, table = work.get(args.table)
        work.need(name, table, args.fields)
        work.tables[name] = table.drop_columns(args.fields)
    for name in args.tables:
        del work.tables[name]


def trailer(work: Work, args: spec.TrailerArgs) -> None:
    if args.into in work.tables:
        raise work.fail(f"table {args.into!r} exists already")
    counted = list(work.tables) if args.include == "all" else args.include
    for name in counted:
        work.name(name)
    count = sum(work.tables[n].num_rows for n in counted) + int(args.include_self)
    # The trailer has no _line: the encoder puts a record that occurs last at the end.
    row = pa.table({"__n": pa.nulls(1)})
    for field, source in args.fields.items():
        expr = work.expression(source, args.into, row)
        row = work.put(args.into, row, field, work.evaluate(expr, args.into, row, field))
    if args.count is not None:
        row = work.put(args.into, row, args.count, pa.array([count], pa.int64()))
    work.tables[args.into] = row.drop_columns(["__n"])


def recall(work: Work, args: sb.RecallArgs) -> None:
    """Set the ``take`` fields of each row to what a ``delta`` of the flow last sent for its
    key (an order's customer and agent, for its cancellation); a key never sent, or sent
    by this file, keeps the row's own values (the order went with them)."""
    from bridge.steps.business import previous_values

    name, table = work.get(args.table)
    work.need(name, table, args.key)
    keys = business_keys(table, args.key).to_pylist()
    known = work.ctx.last_sent(sorted({k for k in keys if k is not None}))
    if not known:
        return
    there = pa.array([k is not None and k in known for k in keys], pa.bool_())
    for f, into in args.take.items():
        kind = table.schema.field(into).type if has_column(table, into) else pa.string()
        then = previous_values(known, keys, args.fields.index(f), kind)
        now = table.column(into) if has_column(table, into) else pa.nulls(len(keys), kind)
        if not then.type.equals(now.type):
            now = pc.cast(now, then.type)
        table = work.put(name, table, into, pc.if_else(there, then, now))
    work.tables[name] = table


OPS: dict[str, Callable[[Work, Any], None]] = {
    "rename": rename, "set": set_, "compute": compute, "filter": filter_, "dedupe": dedupe,
    "map": map_, "drop": drop, "trailer": trailer, "recall": recall,
}
