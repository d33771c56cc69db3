"""The ``spread`` step: an amount of the whole order split over the order's VAT rates.

A discount or a shipping charge belongs to the order, not to one of its goods; on an
Italian invoice it follows the goods' VAT rates (accessory costs, art. 12 DPR 633/72), in
proportion to the goods of each rate when the rates are mixed. The step replaces each row
it selects (the discount line, the shipping line) with one row per rate of the other rows
of the same parent, each carrying its share of the amount: shares rounded half up, the
cents left over given to the largest share, so that the parts add up to the amount exactly.
``mode: largest`` gives the whole amount to the rate with the most goods instead.

Money stays exact: amounts are the unscaled integers of their decimals, worked on with
numpy on whole columns, with no loop over the rows; where a value, a sum or a product
could pass 64 bits the same arithmetic runs on Python integers (a bad value in a file must
not stop its flow).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs.frames import has_column
from bridge.steps import spec_business as sb
from bridge.steps.business import (
    SAFE,
    decimal_of,
    divide_half_up,
    exact_units,
    from_unscaled,
    times,
)
from bridge.steps.work import PARENT_LINE, Work


class Parts:
    """The rates of the parents, one entry per (parent, ``by`` value) in the order the
    values first come in the parent's other rows: the summed weight and the row the value
    (and the ``take`` fields) is read from."""

    def __init__(self, parent: np.ndarray, weight: np.ndarray, first: np.ndarray) -> None:
        self.parent, self.weight, self.first = parent, weight, first
        new = np.r_[True, parent[1:] != parent[:-1]] if len(parent) else np.empty(0, bool)
        starts = np.flatnonzero(new)
        #: Per entry, its parent's place in ``total`` and ``largest``.
        self.segment = np.cumsum(new) - 1
        #: Per parent: its total weight and its largest entry (the first of equals).
        self.total = np.add.reduceat(weight, starts) if len(starts) else weight[:0]
        self.largest = np.empty(0, np.int64)
        if len(starts):
            top = np.flatnonzero(weight == np.maximum.reduceat(weight, starts)[self.segment])
            _, at = np.unique(self.segment[top], return_index=True)
            self.largest = top[at]

    def of(self, parents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where each parent's entries start and how many it has."""
        start = np.searchsorted(self.parent, parents, "left")
        return start, np.searchsorted(self.parent, parents, "right") - start


def spread(work: Work, args: sb.SpreadArgs) -> None:
    name, table = work.get(args.table)
    if not has_column(table, PARENT_LINE):
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
    parents = np.asarray(table.column(PARENT_LINE).to_numpy(zero_copy_only=False),
                         dtype=np.int64)
    parts = _parts(table, parents, ~picked & np.isin(parents, parents[picked]), args)
    at = np.flatnonzero(picked)
    start, count = parts.of(parents[at])
    at, start, count = at[count > 0], start[count > 0], count[count > 0]
    if not len(at):
        return
    largest = parts.largest[parts.segment[start]]
    amount, _, has_amount = exact_units(table.column(args.amount))
    several = (count > 1) & has_amount[at] if args.mode == "proportional" else \
        np.zeros(len(at), bool)
    # An order of one rate (most), or all to the largest: the row keeps its amount and takes
    # the rate, in place. Only orders of several rates are split into rows.
    single = ~several & ((count == 1) | (args.mode == "largest"))
    if single.any():
        mask = np.zeros(table.num_rows, dtype=bool)
        mask[at[single]] = True
        source = pa.array(parts.first[largest[single]])
        for f in (args.by, *args.take):
            column = table.column(f).combine_chunks()
            merged = pc.replace_with_mask(column, pa.array(mask), column.take(source))
            table = table.set_column(table.schema.names.index(f), f, merged)
    if several.any():
        table = _split(table, at[several], start[several], count[several],
                       largest[several], amount, parts, args)
    if args.number is not None and args.mode == "proportional" and (count > 1).any():
        from bridge.codecs.encoder import rank_within

        ranks = rank_within(np.asarray(table.column(PARENT_LINE).to_numpy(
            zero_copy_only=False), dtype=np.int64)) + 1
        table = work.put(name, table, args.number,
                         pa.array(ranks).cast(table.schema.field(args.number).type))
    work.tables[name] = table


def _split(table: pa.Table, rows: np.ndarray, start: np.ndarray,
           count: np.ndarray, largest: np.ndarray, amount: np.ndarray, parts: Parts,
           args: sb.SpreadArgs) -> pa.Table:
    """The rows of orders of several rates replaced by their shares, in place."""
    # One entry per (row, rate of its parent), the rates in the order first seen.
    row_of = np.repeat(np.arange(len(rows)), count)
    offsets = np.cumsum(count) - count
    entry = start[row_of] + np.arange(len(row_of)) - offsets[row_of]
    whole = amount[rows][row_of]
    total = parts.total[parts.segment[entry]]
    weight = parts.weight[entry]
    is_largest = entry == largest[row_of]
    share = np.where(is_largest, whole, 0)
    weighed = total[offsets] != 0  # a parent whose weights sum to 0: all to the largest
    if weighed.any():
        on = weighed[row_of]
        sign = np.sign(total[on])
        share[on] = divide_half_up(times(whole[on], weight[on] * sign), total[on] * sign)
        # The cents left over go to the largest share: the parts add up to the amount.
        left = amount[rows] - np.add.reduceat(share, offsets)
        share[is_largest & on] += left[row_of[is_largest & on]]
    emit = (share != 0) | is_largest
    row_of, entry, share, whole = row_of[emit], entry[emit], share[emit], whole[emit]
    made = table.take(pa.array(rows[row_of]))
    source = pa.array(parts.first[entry])
    for f in (args.by, *args.take):
        made = made.set_column(made.schema.names.index(f), f, table.column(f).take(source))
    kind = table.schema.field(args.amount).type
    made = made.set_column(made.schema.names.index(args.amount), args.amount,
                           _column(share, _scale(kind), np.ones(len(share), bool), kind))
    for f in args.same:  # split in the same proportion (a price of the amount)
        units, scale, valid = exact_units(made.column(f))
        units = units.copy()
        on = valid & (whole != 0)
        sign = np.sign(whole[on])
        units[on] = divide_half_up(times(units[on], share[on] * sign), whole[on] * sign)
        made = made.set_column(made.schema.names.index(f), f,
                               _column(units, scale, valid, made.schema.field(f).type))
    keep = np.ones(table.num_rows, dtype=bool)
    keep[rows] = False
    # The rows kept and the rows made, each made row where the row it replaces was.
    positions = np.concatenate([np.flatnonzero(keep), rows[row_of]])
    result = pa.concat_tables([table.filter(pa.array(keep)), made])
    return result.take(pa.array(np.argsort(positions, kind="stable")))


def _parts(table: pa.Table, parents: np.ndarray, use: np.ndarray,
           args: sb.SpreadArgs) -> Parts:
    """The weight of each ``by`` value among the rows of ``use``, per parent."""
    weights, _, valid = exact_units(table.column(args.weight))
    by = table.column(args.by)
    rows = np.flatnonzero(use & valid & np.asarray(
        pc.is_valid(by).to_numpy(zero_copy_only=False), dtype=bool))
    if not len(rows):
        return Parts(*(np.empty(0, np.int64) for _ in range(3)))
    codes = pc.dictionary_encode(by.take(pa.array(rows)).combine_chunks()).indices
    code = np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64)
    pairs = np.stack([parents[rows], code], axis=1)
    _, first, inverse = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    big = weights.dtype == object or int(np.abs(weights[rows]).max()) * len(rows) >= SAFE
    sums = np.zeros(len(first), dtype=object if big else np.int64)
    np.add.at(sums, inverse.reshape(-1), weights[rows].astype(sums.dtype))
    parent, origin = parents[rows][first], rows[first]
    order = np.lexsort((origin, parent))
    return Parts(parent[order], sums[order], origin[order])


def _scale(kind: pa.DataType) -> int:
    return int(kind.scale) if pa.types.is_decimal(kind) else 0


def _column(units: np.ndarray, scale: int, valid: np.ndarray, kind: pa.DataType) -> pa.Array:
    if units.dtype == object:  # past 64 bits: made from Python values
        values = [int(u) if ok else None for u, ok in zip(units.tolist(), valid, strict=True)]
        if pa.types.is_integer(kind):
            return pa.array(values, kind)
        return pa.array([None if v is None else decimal_of(v, scale) for v in values], kind)
    if pa.types.is_integer(kind):
        return pa.array(units, pa.int64(), mask=~valid).cast(kind)
    return from_unscaled(units, scale, valid).cast(kind)
