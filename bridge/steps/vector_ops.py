"""Small Arrow kernels of :mod:`bridge.steps.vector`: operands made comparable, equality as
jinja sees missing values, decimals narrowed so that Arrow's precision rules fit 38 digits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


class Fallback(Exception):
    """This expression, or this data, is not one the kernels compute exactly like jinja."""


def unify(left: Any, right: Any) -> tuple[Any, Any]:
    """A column of nothing but missing values (Arrow's null type) as the other's type."""
    if pa.types.is_null(left.type) and not pa.types.is_null(right.type):
        left = pc.cast(left, right.type)
    elif pa.types.is_null(right.type) and not pa.types.is_null(left.type):
        right = pc.cast(right, left.type)
    return left, right


def equal(left: Any, right: Any, negate: bool) -> Any:
    """``==`` (or ``!=``) as jinja compares: a missing value equals only a missing one."""
    same = pc.equal(left, right)
    both = pc.and_(pc.is_null(left), pc.is_null(right))
    either = pc.or_(pc.is_null(left), pc.is_null(right))
    out = pc.if_else(either, both, same)
    return pc.invert(out) if negate else out


def as_decimal(value: Any, other: Any) -> Any:
    """A whole-number constant as the other branch's decimal: jinja gives 0 or a Decimal
    per row, and a column of both is a column of decimals."""
    if (isinstance(value, pa.Scalar) and pa.types.is_integer(value.type)
            and pa.types.is_decimal(other.type) and value.is_valid):
        return pa.scalar(Decimal(value.as_py()), other.type)
    return value


def fit(left: Any, right: Any, product: bool) -> tuple[Any, Any]:
    """Decimals narrowed to the digits their values have, when Arrow's rule for the
    precision of a result (the operands' precisions added) would pass 38 digits: a
    quantity of decimal128(19, 0) times a price of decimal128(18, 4) is exact in 38."""
    if not (pa.types.is_decimal(left.type) or pa.types.is_decimal(right.type)):
        return left, right
    grow = (_precision(left) + _precision(right) + 1) if product else \
        (max(_precision(left) - _scale(left), _precision(right) - _scale(right))
         + max(_scale(left), _scale(right)) + 1)
    if grow <= 38:
        return left, right
    return _narrow(left), _narrow(right)


def _precision(value: Any) -> int:
    kind = value.type
    return int(kind.precision) if pa.types.is_decimal(kind) else 19


def _scale(value: Any) -> int:
    kind = value.type
    return int(kind.scale) if pa.types.is_decimal(kind) else 0


def _narrow(value: Any) -> Any:
    """A decimal with the precision its largest value needs (integers as they are)."""
    kind = value.type
    if not pa.types.is_decimal(kind):
        return value
    top = pc.max(pc.abs(value)) if isinstance(value, pa.Array | pa.ChunkedArray) else \
        pc.abs(value)
    biggest = top.as_py() if top.is_valid else None
    digits = len(str(int(biggest))) if biggest else 1
    try:
        return pc.cast(value, pa.decimal128(max(digits + kind.scale, 1), kind.scale))
    except pa.ArrowInvalid:
        raise Fallback("a decimal that does not narrow") from None
