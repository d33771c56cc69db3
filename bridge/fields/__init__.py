"""Typing cells: text columns in, typed pyarrow columns out, and back.

Codecs split bytes into cells of text; this package gives them their types, following a
:class:`bridge.spec.model.FieldSpec`, and reports bad cells as data (:class:`BadCells`,
codes from :data:`bridge.issues.CODES`) instead of raising. Every step works on whole
columns with pyarrow.compute and numpy; money stays exact (decimal128, never float).

- :func:`arrow_type`: the pyarrow type a field decodes to.
- :func:`parse_column`: one column of text cells -> typed values + bad cells.
- :func:`render_column`: typed values -> text cells (padded to a width for fixed-width
  files) + bad cells.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from bridge.fields import buffers, text
from bridge.fields.bad import BadCells, Collector
from bridge.fields.dates import render_temporal
from bridge.fields.parse import parse_column
from bridge.fields.render import fit, render_boolean, render_number
from bridge.fields.schema import arrow_type
from bridge.spec.model import FieldSpec

__all__ = ["BadCells", "arrow_type", "parse_column", "render_column"]


def render_column(values: pa.Array | pa.ChunkedArray, field: FieldSpec,
                  width: int | None = None) -> tuple[pa.Array, BadCells]:
    """Text of typed values in the field's format; null becomes "" (all pad when ``width``).

    With ``width`` (fixed-width files) every cell is padded with ``field.out_pad`` aligned
    ``field.out_align``; a longer cell is reported ``too-long`` and cut to ``width``.
    Characters are not checked against an encoding here: the codec does that.
    """
    arrow_type(field)  # refuses filler
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    if values.type == pa.null():
        values = pa.nulls(len(values), arrow_type(field))
    bad = Collector(_shown(values))
    kind = field.type
    if field.is_numeric:
        out = render_number(values, field, bad, width)
    elif kind in ("date", "time", "datetime"):
        out = render_temporal(values, field)
    elif kind == "boolean":
        out = render_boolean(values, field)
    else:
        out = text.apply_case(buffers.as_string(values), field)
        if kind == "constant":
            out = pc.fill_null(out, field.value)
            text.check_constant(out, field, bad)
        elif kind == "enum":
            text.check_enum(out, field, bad)
    if field.required:
        bad.add(pc.is_null(out), "missing-required", "the field is required and has no value")
    out = pc.fill_null(out, "")
    if width is not None:
        out = fit(out, field, width, bad)
    return out, bad.build()


def _shown(values: pa.Array) -> pa.Array:
    """The values as text for reports; types without a text cast show as null."""
    try:
        return pc.cast(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(len(values), pa.string())
