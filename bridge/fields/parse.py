"""One column of text cells in, one typed column and its bad cells out.

The steps run in a fixed order, each over the whole column: trim, missing and default,
case, conversion by type, then constraints on the cells that converted. A bad cell is
null in the output; a cell that breaks a constraint keeps its value (the report says why
it is wrong, the value still shows what it was).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.fields import buffers, text
from bridge.fields.bad import BadCells, Collector
from bridge.fields.dates import parse_temporal
from bridge.fields.italian import check_identifier
from bridge.fields.numbers import parse_number
from bridge.fields.render import number_example
from bridge.fields.schema import arrow_type
from bridge.spec.model import FieldSpec

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
    missing = text.missing_mask(cells, field)
    fill = field.value if field.type == "constant" else field.default
    if fill is not None:
        cells = pc.if_else(missing, fill, cells)
    else:
        if field.required:
            bad.add(missing, "missing-required", "the field is required and the cell is empty")
        cells = pc.if_else(missing, pa.scalar(None, pa.string()), cells)
    cells = text.apply_case(cells, field)
    values, flags = _convert(cells, field, bad)
    present = pc.is_valid(cells).to_numpy(zero_copy_only=False)
    text.check_constraints(cells, values, present & ~flags, field, bad)
    if values.type != target:
        values = values.cast(target)
    return values, bad.build()


def _convert(cells: pa.Array, field: FieldSpec,
             bad: Collector) -> tuple[pa.Array, np.ndarray]:
    """Typed values, with bad cells nulled, and the mask of bad cells."""
    kind = field.type
    if field.is_numeric:
        return parse_number(cells, field, bad, number_example(field))
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
