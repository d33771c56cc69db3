"""A table's columns cast to their fields' types; a value that does not convert is a problem.

:func:`_values` hands :mod:`bridge.codecs.encoder` a column of a pandas or Arrow table as
its field's pyarrow type (:func:`bridge.fields.arrow_type`). A column that casts whole is
cast once; one that does not is cast in halves down to the rows that fail
(:func:`_by_parts`), each of them null with a ``bad-...`` problem on its row; past
:data:`_MOST_BAD` of them, the rest are reported together. Floats cast to a decimal field
are rounded to its scale, and say so (``too-many-decimals``). A column whose type can never
become the field's is the configuration's fault: :class:`bridge.errors.ConfigError`.
:func:`_has` (whether a pandas or Arrow table has a column) serves the encoder too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.codecs.frames import has_column
from bridge.errors import ConfigError
from bridge.issues import clip

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from bridge.codecs.guards import Problem
    from bridge.spec.model import FieldSpec


#: Bad values of one column looked for one by one; past this many, the column is wrong
#: as a whole and the rest are reported together.
_MOST_BAD = 1000


def _values(df: pd.DataFrame | pa.Table, f: FieldSpec, record: str
            ) -> tuple[pa.Array, list[Problem]]:
    """The column as the field's pyarrow type; values that cannot be cast become nulls,
    each with a problem on its row."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bridge.fields import arrow_type

    n = len(df)
    want = arrow_type(f)
    if not _has(df, f.name):
        if f.type == "constant":
            return pa.array([f.value], pa.string()).take(np.zeros(n, dtype=np.int32)), []
        return pa.nulls(n, want), []
    if isinstance(df, pa.Table):
        from bridge.codecs import column_of

        return _arrow_values(column_of(df, f.name), want, f, record)
    col = df[f.name]
    try:
        # An ArrowDtype column hands over its pyarrow data as is: no conversion copy.
        got = (col.array.__arrow_array__() if isinstance(col.dtype, pd.ArrowDtype)
               else pa.array(col, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        got = None  # objects of mixed kinds: read piece by piece below
    if got is not None:
        return _arrow_values(got.combine_chunks() if isinstance(got, pa.ChunkedArray) else got,
                             want, f, record)
    return _by_parts(lambda a, b: _cast(pa.array(col.iloc[a:b], from_pandas=True), want),
                     n, want, f, lambda row: col.iloc[row])


def _arrow_values(values: pa.Array, want: pa.DataType, f: FieldSpec, record: str
                  ) -> tuple[pa.Array, list[Problem]]:
    import pyarrow as pa

    if values.type == want:
        return values, []
    try:
        return _cast(values, want), _rounded(values, want, f)
    except pa.ArrowNotImplementedError:
        raise ConfigError(f"record {record!r}, field {f.name!r}: a column of "
                          f"{values.type} cannot be written as a {f.type} field") from None
    except pa.ArrowInvalid:
        pass  # some values do not convert: find them
    return _by_parts(lambda a, b: _cast(values.slice(a, b - a), want), len(values), want, f,
                     lambda row: values[row].as_py())


def _has(df: pd.DataFrame | pa.Table, name: str) -> bool:
    import pyarrow as pa

    return has_column(df, name) if isinstance(df, pa.Table) else name in df.columns


#: The longest text written as a decimal: pyarrow reads a longer one as another number
#: (128 digits wrap around, 41 decimal zeros lose the value) where it should refuse it,
#: and no decimal a field holds takes more than 20 characters.
_DECIMAL_TEXT_MAX = 40


def _cast(values: pa.Array, want: pa.DataType) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.types.is_string(values.type) or pa.types.is_large_string(values.type)
    if text and pa.types.is_decimal(want) \
            and (pc.max(pc.utf8_length(values)).as_py() or 0) > _DECIMAL_TEXT_MAX:
        # As a value that does not convert: the rows holding one are found and said.
        raise pa.ArrowInvalid("a text too long to be a decimal")
    if pa.types.is_decimal(want) and pa.types.is_integer(values.type):
        # int64 -> decimal128(18, s) is refused outright by pyarrow.
        values = values.cast(pa.decimal128(38, want.scale))
    return values.cast(want)


def _rounded(values: pa.Array, cast: pa.DataType, f: FieldSpec) -> list[Problem]:
    """Floats cast to a decimal field are rounded to its scale: money never silently."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_floating(values.type) and pa.types.is_decimal(cast)):
        return []
    back = pc.cast(_cast(values, cast), pa.float64())
    changed = pc.fill_null(pc.not_equal(back, pc.cast(values, pa.float64())), False)
    rows = np.flatnonzero(changed.to_numpy(zero_copy_only=False))
    return [(int(r), "too-many-decimals", f"{values[int(r)].as_py()!r} has more than "
             f"{f.scale} decimal digits (a float, rounded if written)",
             clip(values[int(r)].as_py())) for r in rows]


def _by_parts(piece: Callable[[int, int], pa.Array], n: int, want: pa.DataType,
              f: FieldSpec, value_at: Callable[[int], object]
              ) -> tuple[pa.Array, list[Problem]]:
    """The column cast in halves, then halves of the halves that fail, down to the rows
    that do not convert: a few bad values cost a few dozen casts, not one per row."""
    import pyarrow as pa

    parts: list[pa.Array] = []
    bad: list[int] = []
    lumped: list[tuple[int, int]] = []
    todo = [(0, n)]
    while todo:
        a, b = todo.pop()
        try:
            parts.append(piece(a, b))
            continue
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
        parts.append(pa.nulls(b - a, want))
        if b - a == 1:
            bad.append(a)
        elif len(bad) >= _MOST_BAD:
            lumped.append((a, b))
        else:
            parts.pop()
            todo += [((a + b) // 2, b), (a, (a + b) // 2)]
    code = _CAST_CODES.get(f.type, "bad-pattern")
    problems: list[Problem] = [
        (row, code, f"{value_at(row)!r} cannot be written as a {f.type}",
         clip(value_at(row))) for row in bad]
    if lumped:
        count = sum(b - a for a, b in lumped)
        problems.append((-1, code, f"{count} more rows of the column hold values that cannot "
                         f"be written as a {f.type}, among them {value_at(lumped[0][0])!r}",
                         None))
    column = pa.concat_arrays(parts) if parts else pa.nulls(0, want)
    return column, problems


#: The issue of a value that cannot even be converted to its field's type.
_CAST_CODES = {t: f"bad-{t}" for t in ("integer", "decimal", "date", "time", "datetime",
                                        "boolean")}
