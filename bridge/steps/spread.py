"""The ``spread`` step: an amount of the whole order split over the order's VAT rates.

A discount or a shipping charge belongs to the order, not to one of its goods; on an
Italian invoice it follows the goods' VAT rates (accessory costs, art. 12 DPR 633/72), in
proportion to the goods of each rate when the rates are mixed. The step replaces each row
it selects (the discount line, the shipping line) with one row per rate of the other rows
of the same parent, each carrying its share of the amount: shares rounded half up, the
cents left over given to the largest share, so that the parts add up to the amount exactly.
``mode: largest`` gives the whole amount to the rate with the most goods instead.

Money stays exact (Decimal); the loop runs over the rows spread (one or two per order),
while the weights are summed by Arrow.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.steps import spec_business as sb
from bridge.steps.work import PARENT_LINE, Work

#: Per parent: for each value of the ``by`` field, in the order first seen, the summed
#: weight and the values of the ``take`` fields of its first row.
Weights = dict[int, dict[Any, tuple[Decimal, dict[str, Any]]]]


def spread(work: Work, args: sb.SpreadArgs) -> None:
    name, table = work.get(args.table)
    if PARENT_LINE not in table.column_names:
        raise work.fail(f"{name!r} rows have no parent to spread over (make them with a "
                        "group step)")
    work.need(name, table, [args.amount, args.weight, args.by, *args.same, *args.take])
    for f in (args.amount, args.weight, *args.same):
        kind = table.column(f).type
        if not (pa.types.is_decimal(kind) or pa.types.is_integer(kind)):
            raise work.fail(f"field {f!r} holds {kind}, not numbers")
    if table.num_rows == 0:
        return
    expr = work.expression(args.rows, name, table)
    chosen = work.evaluate(expr, name, table, args.amount)
    chosen = pc.fill_null(pc.cast(chosen, pa.bool_()), False)
    picked = np.asarray(chosen.to_numpy(zero_copy_only=False), dtype=bool)
    if not picked.any():
        return
    parents = table.column(PARENT_LINE).to_numpy(zero_copy_only=False)
    weights = _weights(table, ~picked & np.isin(parents, parents[picked]), args)
    at = np.flatnonzero(picked)
    # An order of one rate (most): the row keeps its amount and takes the rate, in place,
    # on whole columns. Only orders of several rates are split row by row.
    single: list[int] = []
    single_values: dict[str, list[Any]] = {f: [] for f in (args.by, *args.take)}
    several: list[int] = []
    for i in at.tolist():
        parts = weights.get(int(parents[i]))
        if not parts:
            continue
        if len(parts) == 1 or args.mode == "largest":
            value = next(iter(parts)) if len(parts) == 1 else \
                max(parts, key=lambda v: parts[v][0])
            single.append(i)
            single_values[args.by].append(value)
            for f in args.take:
                single_values[f].append(parts[value][1][f])
        else:
            several.append(i)
    if single:
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[single] = True
        for f, values in single_values.items():
            column = table.column(f)
            patch = pa.array(values, column.type)
            merged = pc.replace_with_mask(column.combine_chunks(), pa.array(mask), patch)
            table = table.set_column(table.column_names.index(f), f, merged)
    table = _split(table, several, weights, parents, args) if several else table
    if args.number is not None and several:
        from bridge.codecs.encoder import rank_within

        ranks = rank_within(np.asarray(table.column(PARENT_LINE).to_numpy(
            zero_copy_only=False), dtype=np.int64)) + 1
        table = work.put(name, table, args.number,
                         pa.array(ranks).cast(table.schema.field(args.number).type))
    work.tables[name] = table


def _split(table: pa.Table, rows: list[int], weights: Weights, parents: np.ndarray,
           args: sb.SpreadArgs) -> pa.Table:
    """The rows of orders of several rates replaced by their shares, in place."""
    chosen = table.take(pa.array(rows)).to_pylist()  # only these rows go to Python
    made: list[dict[str, Any]] = []
    order: list[int] = []  # where each made row goes: after the row it replaces
    keep = np.ones(table.num_rows, dtype=bool)
    scale = _scale(table, args.amount)
    for i, row in zip(rows, chosen, strict=True):
        parts = weights[int(parents[i])]
        amount = row[args.amount]
        if amount is None:
            continue
        keep[i] = False
        whole = Decimal(amount)
        for value, share, copied in _shares(whole, parts, args.mode, scale):
            new = {**row, **copied, args.by: value, args.amount: share}
            for f in args.same:  # split in the same proportion (a price of the amount)
                if row[f] is not None and whole != 0:
                    unit = Decimal(1).scaleb(-_scale(table, f))
                    new[f] = (Decimal(row[f]) * share / whole).quantize(
                        unit, rounding=ROUND_HALF_UP)
            made.append(new)
            order.append(i)
    if not made:
        return table
    # The rows kept and the rows made, each made row where the row it replaces was.
    positions = np.concatenate([np.flatnonzero(keep), np.asarray(order, dtype=np.int64)])
    extra = pa.Table.from_pylist(made, schema=table.schema)
    result = pa.concat_tables([table.filter(pa.array(keep)), extra])
    return result.take(pa.array(np.argsort(positions, kind="stable")))


def _scale(table: pa.Table, field: str) -> int:
    kind = table.column(field).type
    return int(kind.scale) if pa.types.is_decimal(kind) else 0


def _weights(table: pa.Table, use: np.ndarray, args: sb.SpreadArgs) -> Weights:
    """The weight of each ``by`` value among the rows of ``use``, per parent."""
    rows = table.filter(pa.array(use))
    valid = pc.and_(pc.is_valid(rows.column(args.weight)), pc.is_valid(rows.column(args.by)))
    rows = rows.filter(valid)
    out: Weights = {}
    if rows.num_rows == 0:
        return out
    keys = [PARENT_LINE, args.by]
    slim = rows.select([*keys, args.weight, *args.take]).append_column(
        "_at", pa.array(np.arange(rows.num_rows)))
    grouped = slim.group_by(keys, use_threads=False).aggregate(
        [(args.weight, "sum"), ("_at", "min")])
    firsts = grouped.column("_at_min").to_numpy()
    copies = slim.select(list(args.take)).take(pa.array(firsts)).to_pylist() if args.take \
        else [{} for _ in range(len(firsts))]
    order = np.argsort(firsts, kind="stable")
    parent_col = grouped.column(PARENT_LINE).to_pylist()
    by_col = grouped.column(args.by).to_pylist()
    sums = grouped.column(f"{args.weight}_sum").to_pylist()
    for k in order.tolist():
        out.setdefault(int(parent_col[k]), {})[by_col[k]] = (Decimal(sums[k]), copies[k])
    return out


def _shares(amount: Decimal, parts: dict[Any, tuple[Decimal, dict[str, Any]]], mode: str,
            scale: int) -> list[tuple[Any, Decimal, dict[str, Any]]]:
    """The amount's share for each value, in the order first seen, adding up exactly."""
    total = sum((w for w, _ in parts.values()), Decimal(0))
    largest = max(parts, key=lambda v: parts[v][0])  # first of equals: dicts keep order
    if mode == "largest" or total == 0 or len(parts) == 1:
        return [(largest, amount, parts[largest][1])]
    unit = Decimal(1).scaleb(-scale)
    shares = {v: (amount * w / total).quantize(unit, rounding=ROUND_HALF_UP)
              for v, (w, _) in parts.items()}
    shares[largest] += amount - sum(shares.values(), Decimal(0))
    return [(v, shares[v], parts[v][1]) for v in parts if shares[v] != 0 or v == largest]
