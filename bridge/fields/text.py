"""Text steps shared by every type: trimming, missing cells, case, and constraints.

The order is fixed (see :func:`bridge.fields.parse_column`): trim, decide what is missing,
fill defaults, apply case, convert, then check constraints on the values that converted.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.fields import buffers
from bridge.fields.cells import TEXT_TYPES, Collector, to_numpy_mask
from bridge.spec.model import FieldSpec


def trim(text: pa.Array, field: FieldSpec) -> pa.Array:
    """Whitespace per ``field.trim``, then a custom pad character from the side it pads.

    Pads '0' and ' ' are left alone here: zeros are digits ("00184") and spaces are
    whitespace, already handled by ``trim``.
    """
    if field.trim != "none" and buffers.may_need_trim(text):
        family = "ascii" if buffers.is_ascii(text) else "utf8"
        side = {"both": "", "left": "l", "right": "r"}[field.trim]
        text = pc.call_function(f"{family}_{side}trim_whitespace", [text])
    if field.pad is not None and field.pad not in ("0", " "):
        if field.out_align == "right":
            text = pc.utf8_ltrim(text, characters=field.pad)
        else:
            text = pc.utf8_rtrim(text, characters=field.pad)
    return text


def missing_mask(text: pa.Array, field: FieldSpec) -> pa.Array:
    """True where the trimmed cell counts as missing: null, empty, or a declared token."""
    mask = pc.or_kleene(pc.is_null(text), pc.equal(text, ""))
    if field.missing_values:
        mask = pc.or_kleene(mask, pc.is_in(text, value_set=pa.array(field.missing_values)))
    return pc.fill_null(mask, True)


def missing_rows(text: pa.Array, field: FieldSpec) -> np.ndarray:
    """:func:`missing_mask` as numpy, read from the offsets where no token is declared."""
    if field.missing_values:
        return to_numpy_mask(missing_mask(text, field))
    offsets, _ = buffers.view(text)
    mask: np.ndarray = offsets[1:] == offsets[:-1]
    if text.null_count:
        mask |= ~text.is_valid().to_numpy(zero_copy_only=False)
    return mask


def apply_case(text: pa.Array, field: FieldSpec) -> pa.Array:
    if field.type not in TEXT_TYPES or field.case is None:
        return text
    return pc.utf8_upper(text) if field.case == "upper" else pc.utf8_lower(text)


def parse_boolean(text: pa.Array, field: FieldSpec, bad: Collector) -> tuple[pa.Array, np.ndarray]:
    is_true = pc.is_in(text, value_set=pa.array(field.true_values, pa.string()))
    is_false = pc.is_in(text, value_set=pa.array(field.false_values, pa.string()))
    wrong = pc.and_(pc.is_valid(text), pc.invert(pc.or_(is_true, is_false)))
    words = "/".join(field.true_values[:1] + field.false_values[:1])
    flags = bad.add(wrong, "bad-boolean", f"{{value}} is not a yes/no word like {words}", text)
    unknown = pa.scalar(None, pa.bool_())
    return pc.if_else(is_true, True, pc.if_else(is_false, False, unknown)), flags


def check_enum(text: pa.Array, field: FieldSpec, bad: Collector) -> np.ndarray:
    inside = pc.or_(pc.is_in(text, value_set=pa.array(field.values, pa.string())),
                    pc.is_null(text))
    allowed = ", ".join(field.values[:10]) + (", ..." if len(field.values) > 10 else "")
    return bad.add(pc.invert(inside), "not-in-enum", f"{{value}} is not one of {allowed}", text)


def check_constant(text: pa.Array, field: FieldSpec, bad: Collector) -> np.ndarray:
    differs = pc.not_equal(text, field.value)
    return bad.add(differs, "bad-constant", f"{{value}} differs from the constant "
                   f"'{field.value}'", text)


def check_constraints(text: pa.Array, typed: pa.Array, good: np.ndarray, field: FieldSpec,
                      bad: Collector) -> None:
    """Length, pattern and range rules on the cells that converted; values are kept."""
    if not good.any():
        return
    goods = pa.array(good)
    # No cell has more characters than bytes: under ``max_length`` bytes, none is too long.
    span = buffers.byte_span(text) if field.max_length is not None else None
    too_long = field.max_length is not None and (span is None or span[1] > field.max_length)
    if too_long or field.min_length is not None:
        length = pc.utf8_length(text)
        if too_long:
            long = pc.and_(goods, pc.greater(length, field.max_length))
            bad.add(long, "too-long", f"{{value}} is longer than {field.max_length} "
                    "characters", text)
        if field.min_length is not None:
            short = pc.and_(goods, pc.less(length, field.min_length))
            bad.add(short, "too-short", f"{{value}} is shorter than {field.min_length} "
                    "characters", text)
    if field.pattern is not None:
        fits = full_match(text, field.pattern)
        bad.add(pc.and_(goods, pc.invert(fits)), "bad-pattern",
                f"{{value}} does not match the pattern {field.pattern}", text)
    if field.is_numeric:
        _check_range(typed, goods, field, bad, text)


def full_match(text: pa.Array, pattern: str) -> pa.Array:
    """Whole-value regex match: RE2 in pyarrow, or Python's ``re`` for what RE2 lacks
    (look-arounds, back-references), applied once per distinct value."""
    try:
        return pc.match_substring_regex(text, pattern=f"^(?:{pattern})$")
    except pa.ArrowInvalid:
        pass
    compiled = re.compile(pattern)
    distinct = pc.unique(text).drop_null()
    hits = [v for v in distinct.to_pylist() if compiled.fullmatch(v)]
    return pc.is_in(text, value_set=pa.array(hits, pa.string()))


def check_range(typed: pa.Array, goods: pa.Array, field: FieldSpec, bad: Collector,
                text: pa.Array | None = None) -> None:
    """``below-minimum`` and ``above-maximum`` of the typed numbers where ``goods``."""
    _check_range(typed, goods, field, bad, text)


def _check_range(typed: pa.Array, goods: pa.Array, field: FieldSpec, bad: Collector,
                 text: pa.Array | None) -> None:
    # Bounds are moved onto the column's own grid (ceil for a minimum, floor for a
    # maximum) so the comparison is exact and needs no wider type.
    for bound, is_min in ((field.minimum, True), (field.maximum, False)):
        if bound is None:
            continue
        scalar = _bound_scalar(bound, is_min, typed.type)
        if scalar is None:
            if (bound > 0) == is_min:  # a bound beyond the type's range: nothing passes
                outside = goods
            else:
                continue
        else:
            cmp = pc.less if is_min else pc.greater
            outside = pc.and_(goods, cmp(typed, scalar))
        if is_min:
            bad.add(outside, "below-minimum", f"{{value}} is below the minimum {bound}", text)
        else:
            bad.add(outside, "above-maximum", f"{{value}} is above the maximum {bound}", text)


def _bound_scalar(bound: Decimal, is_min: bool, typ: pa.DataType) -> pa.Scalar | None:
    rounding = ROUND_CEILING if is_min else ROUND_FLOOR
    if pa.types.is_integer(typ):
        whole = math.ceil(bound) if is_min else math.floor(bound)
        if not -(2**63) <= whole < 2**63:
            return None
        return pa.scalar(whole, pa.int64())
    if bound.adjusted() >= typ.precision - typ.scale:
        return None
    with localcontext(prec=80):
        on_grid = bound.quantize(Decimal(1).scaleb(-typ.scale), rounding=rounding)
        if on_grid.copy_abs() >= Decimal(10) ** (typ.precision - typ.scale):
            return None
    return pa.scalar(on_grid, typ)
