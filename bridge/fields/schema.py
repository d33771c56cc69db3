"""The pyarrow type each field type decodes to."""

from __future__ import annotations

import pyarrow as pa

from bridge.spec.model import FieldSpec

_STRINGS = frozenset(
    {"string", "enum", "constant", "partita_iva", "codice_fiscale", "ean13"}
)

#: Digits of a decimal128 column: the most an int64 holds exactly, so scaled integers and
#: decimals convert into each other without loss.
DECIMAL_PRECISION = 18


def has_offset(field: FieldSpec) -> bool:
    """Whether the field's format reads a UTC offset (%z)."""
    return field.format is not None and "%z" in field.format


def arrow_type(field: FieldSpec) -> pa.DataType:
    """The type of the column :func:`bridge.fields.parse_column` returns for ``field``.

    Raises ``ValueError`` for filler, which is never decoded.
    """
    kind = field.type
    if kind in _STRINGS:
        return pa.string()
    if kind == "integer":
        return pa.int64()
    if kind == "decimal":
        return pa.decimal128(DECIMAL_PRECISION, field.scale)
    if kind == "date":
        return pa.date32()
    if kind == "time":
        return pa.time32("s")
    if kind == "datetime":
        tz = field.timezone or ("UTC" if has_offset(field) else None)
        return pa.timestamp("s", tz)
    if kind == "boolean":
        return pa.bool_()
    raise ValueError(f"field {field.name!r}: a {kind} field has no values")
