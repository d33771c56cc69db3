"""Typing cells: text columns in, typed pyarrow columns out, and back.

Codecs split bytes into cells of text; this package gives them their types, following a
:class:`bridge.spec.model.FieldSpec`, and reports bad cells as data (:class:`BadCells`,
codes from :data:`bridge.issues.CODES`) instead of raising. Every step works on whole
columns with pyarrow.compute and numpy; money stays exact (decimal128, never float).

- :func:`arrow_type`: the pyarrow type a field decodes to.
- :func:`parse_column`: one column of text cells -> typed values + bad cells. The steps
  run in a fixed order: trim, missing and default, case, conversion by type, then
  constraints on the cells that converted. A bad cell is null in the output; a cell that
  breaks a constraint keeps its value (the report says why it is wrong, the value still
  shows what it was).
- :func:`render_column`: typed values -> text cells (padded to a width for fixed-width
  files) + bad cells.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.fields import buffers, text
from bridge.fields.cells import BadCells, Collector, arrow_type
from bridge.fields.dates import parse_temporal, render_temporal
from bridge.fields.italian import check_identifier
from bridge.fields.numbers import parse_number
from bridge.fields.render import fit, number_example, render_boolean, render_number
from bridge.spec.model import FieldSpec

__all__ = ["BadCells", "arrow_type", "parse_column", "render_column"]

_IDENTIFIERS = frozenset({"partita_iva", "codice_fiscale", "ean13"})


def parse_column(raw: pa.Array | pa.ChunkedArray,
                 field: FieldSpec) -> tuple[pa.Array, BadCells]:
    """Type one column of text cells (null where absent) following ``field``.

    Returns the typed values (type :func:`arrow_type`, null where missing or bad) and the
    bad cells, each with a code from :data:`bridge.issues.CODES`.
    """
    target = arrow_type(field)
    raw = buffers.as_string(raw)
    bad = Collector(raw)
    cells = text.trim(raw, field)
    missing = text.missing_rows(cells, field)
    some_missing = bool(missing.any())
    fill = field.value if field.type == "constant" else field.default
    if fill is not None:
        if some_missing:
            cells = pc.if_else(pa.array(missing), fill, cells)
        present = np.ones(len(cells), dtype=bool)
    else:
        if field.required and some_missing:
            bad.add(missing, "missing-required", "the field is required and the cell is empty")
        if some_missing or cells.null_count:
            # Tokens declared missing keep their bytes under the null otherwise.
            cells = (pc.if_else(pa.array(missing), pa.scalar(None, pa.string()), cells)
                     if field.missing_values else buffers.with_nulls(cells, ~missing))
        present = ~missing
    cells = text.apply_case(cells, field)
    values, flags = _convert(cells, field, bad)
    text.check_constraints(cells, values, present & ~flags, field, bad)
    if values.type != target:
        values = values.cast(target)
    return values, bad.build()


def _convert(cells: pa.Array, field: FieldSpec,
             bad: Collector) -> tuple[pa.Array, np.ndarray]:
    """Typed values, with bad cells nulled, and the mask of bad cells."""
    kind = field.type
    if field.is_numeric:
        return parse_number(cells, field, bad, lambda: number_example(field))
    if kind in ("date", "time", "datetime"):
        return parse_temporal(cells, field, bad)
    if kind == "boolean":
        return text.parse_boolean(cells, field, bad)
    if kind == "enum":
        flags = text.check_enum(cells, field, bad)
    elif kind == "constant":
        flags = text.check_constant(cells, field, bad)
    elif kind in _IDENTIFIERS:
        flags = check_identifier(cells, field, bad)
    else:
        return cells, np.zeros(len(cells), dtype=bool)
    if flags.any():
        cells = pc.if_else(pa.array(flags), pa.scalar(None, pa.string()), cells)
    return cells, flags


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
    bad = Collector(lambda: _shown(values), len(values))
    kind = field.type
    if field.is_numeric:
        if field.minimum is not None or field.maximum is not None:
            # As a file is read: the ERP's own layout refuses a number out of its range.
            text.check_range(values, pc.is_valid(values), field, bad)
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
        if field.required and field.default is None:
            _blank(out, field, bad)
    if out.null_count:
        if field.required:
            bad.add(pc.is_null(out), "missing-required",
                    "the field is required and has no value")
        out = pc.fill_null(out, "")
    if width is not None:
        out = fit(out, field, width, bad)
    return out, bad.build()


def _blank(out: pa.Array, field: FieldSpec, bad: Collector) -> None:
    """A required text given as one the file would read back as missing (empty, blank,
    a declared missing token) is missing: never written as an empty cell of a row the
    reader's own layout refuses. (A null is said below, with the other types'.)"""
    blank = text.missing_rows(text.trim(out, field), field)
    if out.null_count:
        blank &= out.is_valid().to_numpy(zero_copy_only=False)
    if blank.any():
        bad.add(blank, "missing-required",
                "the field is required and its value is empty or blank")


def _shown(values: pa.Array) -> pa.Array:
    """The values as text for reports; types without a text cast show as null."""
    try:
        return pc.cast(values, pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.nulls(len(values), pa.string())
