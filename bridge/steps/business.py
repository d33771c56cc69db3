"""Business steps: translate (code tables), vat, percent, totals, extract and check.

Money is exact: decimals are read as their unscaled integers (the 128-bit words Arrow keeps
them in), worked on with numpy integer arithmetic, rounded half up (away from zero on a
tie, as Italian invoices round) and written back as decimal128, without floats and without a
Python loop over the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, localcontext
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs.frames import has_column
from bridge.fields.cells import to_numpy_mask
from bridge.issues import Issue, clip
from bridge.steps import spec_business as sb
from bridge.steps.expr import to_array
from bridge.steps.work import LINE, PARENT_LINE, Column, Work

#: Above this, products of unscaled amounts could overflow int64: Python integers take over.
SAFE = 2**62


def unscaled(values: Column) -> tuple[np.ndarray, int, np.ndarray]:
    """The integers behind a numeric column, its scale, and where it holds a value."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    valid = np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_integer(arr.type):
        ints = np.asarray(pc.fill_null(arr, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
        return ints, 0, valid
    if not pa.types.is_decimal(arr.type):
        raise TypeError(f"{arr.type} is not a number")
    if arr.type.bit_width != 128:
        arr = arr.cast(pa.decimal128(38, arr.type.scale))
    words = np.frombuffer(arr.buffers()[1], dtype=np.int64).reshape(-1, 2)
    words = words[arr.offset: arr.offset + len(arr)]
    low, high = words[:, 0].copy(), words[:, 1]
    if np.any((high != (low >> 63)) & valid):
        raise OverflowError("an amount too large for 64-bit arithmetic")
    low[~valid] = 0
    return low, arr.type.scale, valid


def from_unscaled(units: np.ndarray, scale: int, valid: np.ndarray) -> pa.Array:
    """decimal128(18, scale) from unscaled integers; null where not ``valid``."""
    units = np.asarray(units, dtype=np.int64)
    words = np.empty((len(units), 2), dtype=np.int64)
    words[:, 0] = units
    words[:, 1] = units >> 63
    arr = pa.Array.from_buffers(pa.decimal128(18, scale), len(units),
                                [None, pa.py_buffer(words.tobytes())])
    if valid.all():
        return arr
    return pc.if_else(pa.array(valid), arr, pa.scalar(None, arr.type))


def divide_half_up(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den rounded half away from zero; den > 0. On Python integers (an array of
    objects) when either holds them or a value could pass 64 bits."""
    if num.dtype == object or den.dtype == object or _big(num) or _big(den):
        n, d = num.astype(object), den.astype(object)
        q = (2 * np.abs(n) + d) // (2 * d)
        return np.asarray(np.where(n < 0, -q, q), dtype=object)
    q = (2 * np.abs(num) + den) // (2 * den)
    return np.asarray(np.where(num < 0, -q, q), dtype=np.int64)


def times(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """a * b, on Python integers where the product could pass 64 bits."""
    factor = np.asarray(b)
    top = _largest(a) * _largest(factor)
    if a.dtype == object or factor.dtype == object or top >= SAFE // 2:
        return np.asarray(a.astype(object) * factor.astype(object), dtype=object)
    return np.asarray(a * factor)


def _largest(values: np.ndarray) -> int:
    """The largest magnitude among ``values`` (a 0-d array too: a factor past 64 bits,
    such as 10 ** 26, is a Python integer there, whose ``abs`` has no ``max``)."""
    if values.ndim == 0:
        return abs(int(values.item()))
    return int(np.abs(values).max(initial=0))


def _big(values: np.ndarray) -> bool:
    return bool(len(values)) and int(np.abs(values).max()) >= SAFE // 2


def _rescale(units: np.ndarray, have: int, want: int) -> tuple[np.ndarray, np.ndarray]:
    """``units`` at scale ``have`` as a fraction num/den at scale ``want``."""
    if want >= have:
        return times(units, 10 ** (want - have)), np.ones(len(units), dtype=np.int64)
    den = 10 ** (have - want)
    return units, np.full(len(units), den, dtype=np.int64 if den < SAFE // 2 else object)


def _numbers(work: Work, name: str, table: pa.Table, field: str) -> tuple[np.ndarray, int,
                                                                              np.ndarray]:
    work.need(name, table, [field])
    try:
        return exact_units(table.column(field))
    except TypeError:
        raise work.fail(f"field {field!r} holds {table.column(field).type}, "
                        "not numbers") from None


def exact_units(values: Column) -> tuple[np.ndarray, int, np.ndarray]:
    """:func:`unscaled`, and past 64 bits Python's integers (exact) instead of an error."""
    try:
        return unscaled(values)
    except OverflowError:
        return wide_unscaled(values)


def wide_unscaled(values: Column) -> tuple[np.ndarray, int, np.ndarray]:
    """:func:`unscaled` as Python integers (an array of objects), for values past 64 bits."""
    kind = values.type
    scale = int(kind.scale) if pa.types.is_decimal(kind) else 0
    items = values.to_pylist()
    with localcontext() as exact:
        exact.prec = 100  # every digit of a decimal256, never rounded
        ints = np.array([0 if v is None else int(v.scaleb(scale)) if scale else int(v)
                         for v in items], dtype=object)
    return ints, scale, np.array([v is not None for v in items], dtype=bool)


def decimal_of(units: int, scale: int) -> Decimal:
    """The decimal whose unscaled integer is ``units``, every digit kept."""
    with localcontext() as exact:
        exact.prec = 100
        return Decimal(units).scaleb(-scale)


def put_amounts(work: Work, name: str, table: pa.Table, field: str, units: np.ndarray,
                scale: int, valid: np.ndarray) -> pa.Table:
    """``table`` with ``field`` set to the amounts (decimal128(18, scale)); an amount of
    more than 18 digits is null, with an ``amount-too-large`` issue on its row: a bad row,
    not a stopped flow."""
    over = valid & (np.abs(units) >= 10**18)
    if over.any():
        rows = np.flatnonzero(over)
        for row, line in zip(rows.tolist(), work.lines_at(table, rows), strict=True):
            shown = str(decimal_of(int(units[row]), scale))
            work.issues.append(Issue(
                "amount-too-large", f"{work.where}: {field} would be {clip(shown)}, more "
                "than 18 digits", line, name, field, clip(shown)))
        valid = valid & ~over
        units = np.where(over, 0, units)
    return work.put(name, table, field, from_unscaled(units.astype(np.int64), scale, valid))


def vat(work: Work, args: sb.VatArgs) -> None:
    name, table = work.get(args.table)
    g, gs, gv = _numbers(work, name, table, args.gross)
    r, rs, rv = _numbers(work, name, table, args.rate)
    hundred = 100 * 10**rs
    num, den = _rescale(g, gs, args.scale)
    usable = rv & ~_impossible_rates(work, name, table, args.rate, rv & (r <= -hundred))
    valid = gv & usable
    safe_rate = np.where(usable, r, 0)
    if args.per is not None:  # a unit price from an amount: one division, one rounding
        q, qs, qv = _numbers(work, name, table, args.per)
        valid &= qv & (q > 0)
        q = np.where(valid, q, 1)
        num, den = times(num, 10**qs), times(den, q)
    net = divide_half_up(times(num, hundred), times(den, hundred + safe_rate))
    table = put_amounts(work, name, table, args.net, net, args.scale, valid)
    if args.tax is not None:
        gross_at = divide_half_up(num, den)
        table = put_amounts(work, name, table, args.tax, gross_at - net, args.scale, valid)
    work.tables[name] = table


def _impossible_rates(work: Work, name: str, table: pa.Table, field: str,
                      rows: np.ndarray) -> np.ndarray:
    """A ``bad-vat-rate`` issue on each row of ``rows`` (a rate of -100% or less, from
    which no net amount can be worked out): a bad row, not a stopped flow."""
    if rows.any():
        at = np.flatnonzero(rows)
        rates = table.column(field).take(pa.array(at)).to_pylist()
        for rate, line in zip(rates, work.lines_at(table, at), strict=True):
            work.issues.append(Issue(
                "bad-vat-rate", f"{work.where}: a VAT rate of {rate}%: no net amount can be "
                "worked out of it", line, name, field, clip(str(rate))))
    return rows


def percent(work: Work, args: sb.PercentArgs) -> None:
    name, table = work.get(args.table)
    b, bs, bv = _numbers(work, name, table, args.base)
    r, rs, rv = _numbers(work, name, table, args.rate)
    num, den = _rescale(b, bs, args.scale)
    amount = divide_half_up(times(num, r), times(den, 100 * 10**rs))
    work.tables[name] = put_amounts(work, name, table, args.into, amount, args.scale, bv & rv)


def totals(work: Work, args: sb.TotalsArgs) -> None:
    child_name, child = work.get(args.table)
    parent_name, parent = work.get(args.into)
    if not has_column(child, PARENT_LINE) or not has_column(parent, LINE):
        raise work.fail(f"{child_name!r} rows are not children of {parent_name!r} rows "
                        "(make them with a group step)")
    columns = {"p": child.column(PARENT_LINE)}
    for n, (field, total) in enumerate(args.fields.items()):
        work.need(child_name, child, [total.sum])
        values = child.column(total.sum)
        if not (pa.types.is_decimal(values.type) or pa.types.is_integer(values.type)):
            raise work.fail(f"fields.{field}: {total.sum!r} holds {values.type}, not numbers")
        columns[f"v{n}"] = values
    # Every total in one grouping of the children by their parent's line.
    summed = pa.table(columns).group_by("p", use_threads=False).aggregate(
        [(f"v{n}", "sum") for n in range(len(args.fields))])
    at = pc.index_in(parent.column(LINE), value_set=summed.column("p"))
    for n, field in enumerate(args.fields):
        got = pc.take(summed.column(f"v{n}_sum"), at)
        zero = pa.scalar(0, pa.int64()).cast(got.type) if pa.types.is_integer(got.type) \
            else pa.scalar(0, pa.int64()).cast(pa.decimal128(38, got.type.scale)).cast(got.type)
        parent = work.put(parent_name, parent, field, pc.fill_null(got, zero))
    work.tables[parent_name] = parent


def translate(work: Work, args: sb.TranslateArgs) -> None:
    name, table = work.get(args.table)
    work.need(name, table, [args.field])
    column = pc.cast(table.column(args.field), pa.string())
    keys = pa.array(list(args.values), pa.string())
    probe = column
    if args.ignore_case:
        probe, keys = pc.utf8_lower(column), pc.utf8_lower(keys)
    at = pc.index_in(probe, value_set=keys)
    translated: Column = pc.take(to_array(list(args.values.values())), at)
    unknown = pc.and_(pc.is_valid(column), pc.is_null(at))
    rows = np.flatnonzero(np.asarray(unknown.to_numpy(zero_copy_only=False), dtype=bool))
    if len(rows):
        if args.missing == "default" and args.default is not None:
            fill = to_array([args.default])[0]
            translated = pc.if_else(unknown, fill.cast(translated.type)
                                    if translated.type != pa.null() else fill, translated)
        elif args.missing == "keep":
            translated = pc.if_else(unknown, column, pc.cast(translated, pa.string()))
        _unknown(work, args, name, table, rows)
    into = args.into or args.field
    work.tables[name] = work.put(name, table, into, translated)


def _unknown(work: Work, args: sb.TranslateArgs, name: str, table: pa.Table,
             rows: np.ndarray) -> None:
    if args.missing not in ("issue", "hold"):
        return
    issue = args.missing == "issue"
    rows, past = np.split(rows, [work.to_build("no-match", len(rows)) if issue else len(rows)])
    values = table.column(args.field).take(pa.array(rows)).to_pylist()
    for line, value in zip(work.lines_at(table, rows), values, strict=True):
        message = f"{work.where}: {clip(value)!r} is not in the table of {args.field!r}"
        if issue:
            work.issues.append(Issue("no-match", message, line, name, args.field, clip(value)))
        else:
            work.held.append(("" if line is None else f"line {line}: ") + message)
    work.bare("no-match", table, past)


def extract(work: Work, args: sb.ExtractArgs) -> None:
    name, table = work.get(args.table)
    work.need(name, table, [args.field])
    pattern = ("(?i)" if args.ignore_case else "") + args.pattern
    text = pc.cast(table.column(args.field), pa.string())
    found = pc.extract_regex(text, pattern=pattern)
    flat = found.combine_chunks() if isinstance(found, pa.ChunkedArray) else found
    for i in range(flat.type.num_fields):
        field = flat.type.field(i).name
        values = pc.struct_field(flat, [i])
        table = work.put(name, table, field, pc.if_else(pc.is_valid(flat), values,
                                                        pa.scalar(None, pa.string())))
    work.tables[name] = table


def check(work: Work, args: sb.CheckArgs) -> None:
    name, table = work.get(args.table)
    for rule in args.rules:
        work.need(name, table, [rule.field])
        if rule.that is not None:
            assert rule.code is not None
            expr = work.expression(rule.that, name, table)
            ok = work.evaluate(expr, name, table, rule.field)
            broken = pc.fill_null(pc.invert(pc.cast(ok, pa.bool_())), False)
            code, what = rule.code, rule.message or f"{rule.that!r} does not hold"
        else:
            broken, code, what = _invalid(table.column(rule.field), rule)
        rows = np.flatnonzero(to_numpy_mask(broken))
        rows, past = np.split(rows, [work.to_build(code, len(rows))])
        if len(rows):
            values = table.column(rule.field).take(pa.array(rows)).to_pylist()
            message = f"{work.where}: {what}"
            for line, value in zip(work.lines_at(table, rows), values, strict=True):
                work.issues.append(Issue(code, message, line, name, rule.field, clip(value)))
        work.bare(code, table, past)


def _invalid(values: Column, rule: sb.Rule) -> tuple[np.ndarray, str, str]:
    from bridge.fields.bad import Collector
    from bridge.fields.italian import check_identifier
    from bridge.spec.model import FieldSpec

    assert rule.valid is not None
    text = pc.cast(values, pa.string())
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    bad = check_identifier(text, FieldSpec(name=rule.field, type=rule.valid), Collector(text))
    code = {"partita_iva": "bad-partita-iva", "codice_fiscale": "bad-codice-fiscale",
            "ean13": "bad-ean13"}[rule.valid]
    return bad, code, rule.message or f"not a valid {rule.valid.replace('_', ' ')}"


def delta(work: Work, args: sb.DeltaArgs) -> None:
    """Keep the rows whose fingerprint (their fields as text) differs from the one last
    sent for their key; the new fingerprints go back to the caller to remember."""
    from bridge.steps.ops import business_keys

    name, table = work.get(args.table)
    work.need(name, table, [*args.key, *args.fields])
    keys = business_keys(table, args.key)
    cells = [pc.fill_null(pc.cast(table.column(f), pa.string()), "\x00") for f in args.fields]
    prints = cells[0] if len(cells) == 1 else pc.binary_join_element_wise(*cells, "\x1f")
    key_list, print_list = keys.to_pylist(), prints.to_pylist()
    again = _once(work, name, table, args, key_list)
    if args.gone is not None:  # what the file still has, and how to read a row back
        work.delta_seen.extend(k for k in key_list if k is not None)
        work.delta_table = name
        work.delta_types.update({f: table.schema.field(f).type
                                 for f in [*args.key, *args.fields]})
    known = {} if work.ctx.full else work.ctx.last_sent(
        sorted({k for k in key_list if k is not None}))
    for f, into in args.previous.items():
        table = work.put(name, table, into, previous_values(
            known, key_list, args.fields.index(f), table.schema.field(f).type))
        work.tables[name] = table
    if known:
        last = pa.array([known.get(k) if k is not None else None for k in key_list],
                        pa.string())
        same = pc.fill_null(pc.equal(last, prints), False)
        work.unchanged += int(pc.sum(same).as_py() or 0)
        work.keep(name, pc.invert(same))
    fresh = {k: fp for k, fp, twice in zip(key_list, print_list, again, strict=True)
             if k is not None and not twice and known.get(k) != fp}
    work.fingerprints.update(fresh)
    work.delta_keys[name] = list(args.key)


def _once(work: Work, name: str, table: pa.Table, args: sb.DeltaArgs,
          keys: list[str | None]) -> np.ndarray:
    """A file gives each key of a delta once: its one state. A key given again (by a later
    row, or a later chunk) is an error of that row; the first row is compared and sent.
    Two rows of an article in one price list made the shop's price flip at each reading:
    the ledger kept the last row's fingerprint, the next reading sent the first row."""
    from bridge.codecs.encoder import row_lines
    from bridge.once import KeysOnce

    once = work.ctx.once if work.ctx.once is not None else KeysOnce()
    lines = row_lines(table)
    rows, first = once.again(work.where, np.array(keys, dtype=object), lines)
    again = np.zeros(len(keys), dtype=bool)
    again[rows] = True
    full = work.to_build("duplicate-key", len(rows))
    for r, f in zip(rows[:full].tolist(), first[:full].tolist(), strict=True):
        where = f"line {f} gave it first" if f >= 0 else "an earlier row gave it"
        work.issues.append(Issue(
            "duplicate-key", f"{work.where}: the key {clip(keys[r])!r} again ({where}): a "
            "file gives each key one state; its first row is the one compared and sent",
            int(lines[r]) if lines[r] >= 0 else None, name, args.key[0], clip(keys[r])))
    work.bare("duplicate-key", table, rows[full:])
    return again


def previous_values(known: dict[str, str], keys: list[str | None], at: int, kind: pa.DataType
              ) -> pa.Array:
    """The value of the ``at``-th field of each key's last fingerprint, typed as now."""
    values: list[str | None] = []
    for k in keys:
        parts = known[k].split("\x1f") if k is not None and k in known else []
        value = parts[at] if at < len(parts) else None
        values.append(None if value == "\x00" else value)
    text = pa.array(values, pa.string())
    try:
        return pc.cast(text, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return text


BUSINESS: dict[str, Callable[[Work, Any], None]] = {
    "translate": translate, "vat": vat, "percent": percent, "totals": totals,
    "extract": extract, "check": check, "delta": delta,
}
