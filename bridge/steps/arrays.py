"""Arrow arrays for the expressions of :mod:`bridge.steps.expr`: Python results made a
column, exact for decimals; a made-up value of a column's type; text read, for bounds."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc


def probe(kind: pa.DataType) -> object:
    """A value of an Arrow type, to learn what an expression makes of such values."""
    if pa.types.is_decimal(kind):
        return Decimal(1).scaleb(-kind.scale)
    if pa.types.is_integer(kind):
        return 1
    if pa.types.is_floating(kind):
        return 1.0
    if pa.types.is_boolean(kind):
        return True
    if pa.types.is_timestamp(kind):
        return datetime(2000, 1, 3, 12, 0)
    if pa.types.is_date(kind):
        return date(2000, 1, 3)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "1"
    return None


def text_read(table: pa.Table, columns: list[str]) -> int:
    """Characters of text the columns hold: an evaluation may build more text the more it
    reads."""
    total = 0
    for name in columns:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            total += int(pc.sum(pc.utf8_length(col)).as_py() or 0)
    return total


def flat(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def to_array(values: list[object]) -> pa.Array:
    """An Arrow column from Python results, exact for decimals, text when types mix."""
    kinds = {type(v) for v in values if v is not None}
    if kinds == {Decimal, int} or kinds == {Decimal}:
        values = [None if v is None else Decimal(v) for v in values]  # type: ignore[arg-type]
    try:
        return pa.array(values, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())
