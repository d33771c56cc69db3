"""The text and the truth of a column's values, as a jinja2 template writes and judges them.

:mod:`bridge.template_columns` renders a block on columns: it needs, for a whole column at
once, what ``{{ value }}`` writes for each value (escaped when the template escapes) and
what ``{% if value %}`` makes of it. Arrow makes both for text, whole numbers, booleans,
decimals and dates, whose text Arrow writes as Python does; any other type
is written by Python, value by value, from the values the template would see.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa


def write(value: Any, escape: bool) -> str:
    """What ``{{ value }}`` writes: escaped as markupsafe escapes, or as it is."""
    from bridge.templating import escape_value

    return str(escape_value(value)) if escape else str(value)


def column(series: pd.Series, escape: bool, what: str) -> pa.Array:
    """The text (``what`` "text") or the truth ("truth") of every value of a column, as
    jinja2 sees the values :func:`bridge.engine.render.template_rows` gives it: made by
    Arrow for text, whole numbers, booleans, decimals and dates, and by
    Python, value by value, for any other type."""
    import pandas as pd
    import pyarrow as pa

    kind = series.dtype.pyarrow_dtype if isinstance(series.dtype, pd.ArrowDtype) else None
    arrow = _ARROW.get(_family(kind)) if kind is not None else None
    if arrow is not None:
        values = pa.array(series)
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        done = arrow(values, escape, what)
        if done is not None:
            return done
    from bridge.engine.render import column_values

    cells = column_values(series)
    if what == "truth":
        return pa.array([bool(v) for v in cells], pa.bool_())
    return pa.array([write(v, escape) for v in cells], pa.string())


def _family(kind: pa.DataType) -> str | None:
    import pyarrow as pa

    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "text"
    if pa.types.is_integer(kind):
        return "integer"
    if pa.types.is_boolean(kind):
        return "boolean"
    if pa.types.is_decimal(kind) and kind.scale >= 0:
        return "decimal"  # an exponent where Python's Decimal writes one (1E-10, 0E-7)
    if pa.types.is_date32(kind):
        return "date"
    return None


def _text_cells(values: pa.Array, escape: bool, what: str) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    values = values.cast(pa.string())
    if what == "truth":
        return pc.fill_null(pc.greater(pc.binary_length(values), 0), False)
    if escape:
        values = escaped(values)
    return pc.fill_null(values, "None")


def escaped(values: pa.Array) -> pa.Array:
    """``values`` (UTF-8 text) with ``&<>'"`` written as markupsafe writes them (and CR as
    ``&#13;``), edited on their bytes: these six are ASCII, never a byte of a longer
    character."""
    import numpy as np

    from bridge.fields.buffers import build, view

    offsets, data = view(values)
    special = data == ord("&")  # six comparisons: a fraction of a look-up of every byte
    for byte in _MORE_ENTITIES:
        special |= data == byte
    at = np.flatnonzero(special)
    if not len(at):
        return values
    grow = np.zeros(len(data), dtype=np.int64)  # the bytes each byte's entity adds
    grow[at] = _GROW[data[at]]
    ends = np.cumsum(grow + 1)  # where each byte's text ends in the escaped bytes
    if ends[-1] >= 2**31:
        raise ValueError("more escaped text than one Arrow array holds")
    starts = ends - (grow + 1)
    out = np.empty(int(ends[-1]), dtype=np.uint8)
    plain = ~special
    out[starts[plain]] = data[plain]
    kinds = data[at]
    for byte, entity in _ENTITIES.items():
        where = starts[at[kinds == byte]]
        for k, b in enumerate(entity):
            out[where + k] = b
    valid = values.is_valid().to_numpy(zero_copy_only=False) if values.null_count else None
    return build(np.concatenate(([0], ends))[offsets], out, valid)


#: What markupsafe writes for the characters it escapes, by their byte; and a carriage
#: return as its reference, which an XML parser would read as a line feed
#: (:func:`bridge.templating.escape_value` alike).
_ENTITIES = {ord("&"): b"&amp;", ord(">"): b"&gt;", ord("<"): b"&lt;", ord("'"): b"&#39;",
             ord('"'): b"&#34;", ord("\r"): b"&#13;"}
_MORE_ENTITIES = tuple(b for b in _ENTITIES if b != ord("&"))


def _number_cells(values: pa.Array, escape: bool, what: str) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if what == "truth":
        return pc.fill_null(pc.not_equal(values, 0), False)
    return pc.fill_null(values.cast(pa.string()), "None")


def _boolean_cells(values: pa.Array, escape: bool, what: str) -> pa.Array:
    import pyarrow.compute as pc

    if what == "truth":
        return pc.fill_null(values, False)
    return pc.fill_null(pc.if_else(values, "True", "False"), "None")


def _date_cells(values: pa.Array, escape: bool, what: str) -> pa.Array | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    if what == "truth":
        return values.is_valid()
    days = pc.min_max(values.cast(pa.int32()))
    if values.null_count < len(values) and not (
            days["min"].as_py() >= _FIRST_DAY and days["max"].as_py() <= _LAST_DAY):
        return None  # a day Python's dates cannot hold
    return pc.fill_null(values.cast(pa.string()), "None")


#: 0001-01-01 and 9999-12-31 as Arrow's day numbers (days from 1970-01-01).
_FIRST_DAY, _LAST_DAY = -719_162, 2_932_896


def _grow() -> np.ndarray:
    import numpy as np

    grow = np.zeros(256, dtype=np.int64)
    for byte, entity in _ENTITIES.items():
        grow[byte] = len(entity) - 1
    return grow


_GROW = _grow()

_ARROW: dict[str | None, Callable[[pa.Array, bool, str], pa.Array | None]] = {
    "text": _text_cells, "integer": _number_cells, "decimal": _number_cells,
    "boolean": _boolean_cells, "date": _date_cells,
}
