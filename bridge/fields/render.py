"""Typed values back to text, for writing files: the inverse of parsing.

Numbers are rendered from their exact decimal text ("-1234.50"), never from floats: the
text is cut into sign, whole digits and decimals, then rebuilt in the field's style
(separators, grouping, implied decimals, sign position, overpunch) with pyarrow string
kernels over the whole column.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.fields import buffers
from bridge.fields.cells import Collector
from bridge.fields.numbers import PUNCH_NEGATIVE, PUNCH_POSITIVE
from bridge.fields.text import full_match
from bridge.spec.model import FieldSpec

_DIGITS = pa.array(list("0123456789"))
#: Stand-in for digits while grouping thousands; never part of a rendered number.
_GAP = "\x02"


def render_number(values: pa.Array, field: FieldSpec, bad: Collector,
                  width: int | None) -> pa.Array:
    """Text of integer or decimal values in the field's style; null stays null."""
    scale = field.scale if field.type == "decimal" else 0
    if len(values) and values.null_count == len(values) and (
            pa.types.is_integer(values.type) or pa.types.is_decimal(values.type)):
        return pa.nulls(len(values), pa.string())  # nothing to write, nothing to check
    unscaled = _int_digits(values, scale, bad)
    if unscaled is not None and width is not None:
        cells = _fixed_digits(*unscaled, field, width)
        if cells is not None:
            if field.sign == "none":
                bad.add(unscaled[0] & ~bad.flagged, "below-minimum",
                        "{value} is negative and the field has no sign")
            return cells
    fast = None if unscaled is None else _as_arrow(*unscaled)
    magnitude = None
    if fast is None:
        neg, whole, frac = _digits(values, field, scale, bad)
    else:
        neg, magnitude = fast
        if not (field.implied_decimals and field.type == "decimal"):
            whole, frac = _split_digits(magnitude, scale)
    if field.implied_decimals and field.type == "decimal":
        if magnitude is not None:
            body = pc.cast(magnitude, pa.string())  # the digits, decimals included
        else:
            body = pc.utf8_ltrim(whole if frac is None else _join(whole, frac),
                                 characters="0")
            body = pc.if_else(pc.equal(body, ""), "0", body)
    else:
        if field.thousands_separator and field.sign != "overpunch":
            whole = group_thousands(whole, field.thousands_separator)
        body = whole if frac is None else _join(whole, field.decimal_separator, frac)
    if field.sign == "overpunch":
        return _punch(body, neg)
    if field.sign == "none":  # told once, where the field's minimum told it already
        bad.add(pc.and_(neg, pa.array(~bad.flagged)), "below-minimum",
                "{value} is negative and the field has no sign")
        return body
    sign = pc.if_else(neg, "-", "+" if field.sign.endswith("_separate") else "")
    if field.sign.startswith("trailing"):
        return _join(body, sign)
    if width is not None and field.out_pad == "0" and field.out_align == "right":
        # The sign goes before the zeros ("-0001234"), as COBOL and most ERPs expect.
        body = pc.if_else(pc.equal(sign, ""), pc.utf8_lpad(body, width, "0"),
                          pc.utf8_lpad(body, max(width - 1, 0), "0"))
    return _join(sign, body)


def _digits(values: pa.Array, field: FieldSpec, scale: int,
            bad: Collector) -> tuple[pa.Array, pa.Array, pa.Array | None]:
    """Sign, whole digits and exactly ``scale`` decimal digits of each value.

    Decimals are read as their unscaled integers ("-123450" at scale 4), which pyarrow
    always writes plainly, where its decimal text turns small values into "1E-8".
    """
    typ = values.type
    if pa.types.is_integer(typ):
        values, typ = values.cast(pa.decimal128(20, 0)), pa.decimal128(20, 0)
    elif not pa.types.is_decimal(typ):
        raise TypeError(f"field {field.name!r}: a {field.type} field needs integers or "
                        f"decimals, not {typ} (money is never a float)")
    make = pa.decimal256 if typ.bit_width == 256 else pa.decimal128
    if typ.scale < 0:
        typ = make(min(typ.precision - typ.scale, 76 if typ.bit_width == 256 else 38), 0)
        values = values.cast(typ)
    unscaled_type = make(typ.precision, 0)
    unscaled = pa.Array.from_buffers(unscaled_type, len(values), values.buffers(),
                                     offset=values.offset)
    text = pc.cast(unscaled, pa.string())
    neg = pc.starts_with(text, "-")
    digits = pc.utf8_ltrim(text, characters="-")
    extra = typ.scale - scale
    if extra > 0:
        # More decimals than the field holds: fine when they are zeros, else reported
        # (the digits are cut, never rounded, and the caller refuses the file).
        digits = pc.utf8_lpad(digits, extra + 1, "0")
        tail = pc.utf8_slice_codeunits(digits, -extra)
        bad.add(pc.not_equal(tail, "0" * extra), "too-many-decimals",
                f"{{value}} has more than {scale} decimal digits")
        digits = pc.utf8_slice_codeunits(digits, 0, -extra)
    elif extra < 0:
        digits = _join(digits, "0" * -extra)
    if not scale:
        return neg, digits, None
    digits = pc.utf8_lpad(digits, scale + 1, "0")
    return neg, pc.utf8_slice_codeunits(digits, 0, -scale), pc.utf8_slice_codeunits(
        digits, -scale)


def _fixed_digits(negative: np.ndarray, magnitude: np.ndarray, valid: np.ndarray | None,
                  field: FieldSpec, width: int) -> pa.Array | None:
    """Cells of exactly ``width`` characters, sign included, for digits-only numbers
    zero-padded on the left (the usual ERP field): the characters are laid out in one
    numpy matrix, a row per cell, instead of a dozen string kernels over the column.

    None when the field is written otherwise, or some value does not fit the width
    (the general path then renders it and reports it too long).
    """
    sign = field.sign
    digits_only = (field.type == "decimal" and field.implied_decimals) or (
        field.type == "integer" and (not field.thousands_separator or sign == "overpunch"))
    if not digits_only or field.out_pad != "0" or field.out_align != "right":
        return None
    room = width - (1 if sign.endswith("_separate") else 0)
    if not 2 <= room <= 18:
        return None
    n = len(magnitude)
    if sign in ("leading", "trailing"):
        # a negative value gives one digit's room to its "-"
        fits = magnitude < np.where(negative, 10 ** (room - 1), 10 ** room)
    else:
        fits = magnitude < 10 ** room
    if not fits.all():
        return None
    nulls = None if valid is None else pa.array(valid).buffers()[1]
    missing = 0 if valid is None else int(n - np.count_nonzero(valid))
    # Two digits at a time, from a table of "00".."99": half the divisions of one by one.
    half = (room + 1) // 2
    pairs = np.empty((half, n), dtype=np.uint16)
    # 32-bit division is several times faster than 64-bit, and most amounts fit.
    small = n == 0 or int(magnitude.max()) < 1 << 32
    rest: np.ndarray = magnitude.astype(np.uint32 if small else np.int64)
    for k in range(half - 1, -1, -1):
        quotient = rest // 100
        np.take(_PAIRS, rest - quotient * 100, out=pairs[k])
        rest = quotient
    by_row = np.ascontiguousarray(pairs.T)
    cells = np.empty((n, width), dtype=np.uint8)
    body = cells[:, 1:] if sign == "leading_separate" else cells[:, :room]
    body[...] = by_row.view(np.uint8)[:, half * 2 - room:]
    if sign == "overpunch":
        last = body[:, -1] - ord("0")
        body[:, -1] = np.where(negative, _PUNCH_NEG[last], _PUNCH_POS[last])
    elif sign == "leading":
        cells[negative, 0] = ord("-")
    elif sign == "trailing":
        # "0759-": the digits of a negative move left, over the zero its "-" makes room for
        cells[negative, :-1] = cells[negative, 1:]
        cells[negative, -1] = ord("-")
    elif sign.endswith("_separate"):
        at = 0 if sign == "leading_separate" else -1
        cells[:, at] = np.where(negative, ord("-"), ord("+"))
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(cells), nulls,
                                       missing)


_PAIRS = np.frombuffer("".join(f"{i:02d}" for i in range(100)).encode("ascii"),
                       dtype=np.uint16)
_PUNCH_POS = np.frombuffer(PUNCH_POSITIVE.encode("ascii"), dtype=np.uint8)
_PUNCH_NEG = np.frombuffer(PUNCH_NEGATIVE.encode("ascii"), dtype=np.uint8)


def _as_arrow(negative: np.ndarray, magnitude: np.ndarray, valid: np.ndarray | None
              ) -> tuple[pa.Array, pa.Array]:
    mask = None if valid is None else ~valid
    return pa.array(negative, pa.bool_(), mask=mask), pa.array(magnitude, pa.int64(), mask=mask)


def _int_digits(values: pa.Array, scale: int, bad: Collector
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Sign and unscaled magnitude at ``scale`` (int64) of integer or decimal values,
    as numpy arrays (nulls hold 0), with the mask of valid values (None: all valid).

    A decimal128 that fits an int64 (every one bridge decodes, 18 digits) is that int64
    in its low eight bytes, the high eight repeating its sign; integers are int64 already.
    Division and remainder by a power of ten then split them, far faster than rendering
    decimal text and cutting it. None when some value does not fit: :func:`_digits`.
    """
    typ = values.type
    n = len(values)
    if n == 0:
        return None
    valid = None if values.null_count == 0 else np.asarray(
        values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if pa.types.is_integer(typ) and (typ.bit_width < 64 or pa.types.is_signed_integer(typ)):
        unscaled = np.asarray(pc.fill_null(values.cast(pa.int64()), 0)
                              .to_numpy(zero_copy_only=False), dtype=np.int64)
        typ_scale = 0
    elif pa.types.is_decimal128(typ) and typ.scale >= 0:
        words = np.frombuffer(values.buffers()[1], dtype=np.int64)
        words = words[2 * values.offset: 2 * (values.offset + n)]
        unscaled, high = words[0::2], words[1::2]
        fits = high == (unscaled >> 63)
        if valid is not None:
            unscaled, fits = np.where(valid, unscaled, 0), fits | ~valid
        if not fits.all():
            return None
        typ_scale = typ.scale
    else:
        return None
    extra = typ_scale - scale
    if n and (int(unscaled.min()) == np.iinfo(np.int64).min or (
            extra < 0 and int(np.abs(unscaled).max()) > np.iinfo(np.int64).max // 10 ** -extra)):
        return None
    negative = unscaled < 0
    magnitude = np.abs(unscaled)
    if extra > 0:
        # More decimals than the field holds: fine when they are zeros, else reported
        # (the digits are cut, never rounded, and the caller refuses the file).
        step = 10 ** extra
        bad.add(magnitude % step != 0, "too-many-decimals",
                f"{{value}} has more than {scale} decimal digits")
        magnitude //= step
    elif extra < 0:
        magnitude *= 10 ** -extra
    return negative, magnitude, valid


def _split_digits(magnitude: pa.Array, scale: int) -> tuple[pa.Array, pa.Array | None]:
    """Whole digits and exactly ``scale`` decimal digits of unscaled magnitudes."""
    if not scale:
        return pc.cast(magnitude, pa.string()), None
    unit = 10 ** scale
    whole = pc.cast(pc.divide(magnitude, unit), pa.string())  # integer division: floor
    frac = pc.utf8_lpad(pc.cast(pc.subtract(magnitude, pc.multiply(pc.divide(magnitude, unit),
                                                                    unit)), pa.string()),
                        scale, "0")
    return whole, frac


def group_thousands(whole: pa.Array, sep: str) -> pa.Array:
    """'1234567' -> '1.234.567': cut into groups of three counted from the right."""
    longest = pc.max(pc.utf8_length(whole)).as_py() or 0
    span = -(-longest // 3) * 3
    padded = pc.utf8_lpad(whole, span, _GAP)
    replacement = "\\1" + sep.replace("\\", "\\\\")
    grouped = pc.replace_substring_regex(padded, pattern="(...)", replacement=replacement)
    grouped = pc.replace_substring(grouped, _GAP, "")
    return pc.utf8_trim(grouped, characters=sep)


def _punch(body: pa.Array, neg: pa.Array) -> pa.Array:
    last = pc.index_in(pc.utf8_slice_codeunits(body, -1), value_set=_DIGITS)
    positive = pc.take(pa.array(list(PUNCH_POSITIVE)), last)
    negative = pc.take(pa.array(list(PUNCH_NEGATIVE)), last)
    return _join(pc.utf8_slice_codeunits(body, 0, -1), pc.if_else(neg, negative, positive))


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def number_example(field: FieldSpec) -> str:
    """How the field writes 1234.56 and -1234.56, for messages: "1.234,56 or -1.234,56"."""
    scale = field.scale if field.type == "decimal" else 0
    magnitude = Decimal("1234." + ("56" + "7890123456789012")[:scale]) if scale else Decimal(1234)
    values = pa.array([magnitude, -magnitude], pa.decimal128(38, scale))
    text = render_number(values, field, Collector(pa.nulls(2, pa.string())), None).to_pylist()
    out = str(text[0]) if field.sign == "none" else f"{text[0]} or {text[1]}"
    notes = []
    if field.implied_decimals and scale:
        notes.append(f"digits only, the last {scale} are decimals")
    if field.sign == "overpunch":
        notes.append("sign punched in the last digit")
    return out + (f" ({'; '.join(notes)})" if notes else "")


def render_boolean(values: pa.Array, field: FieldSpec) -> pa.Array:
    if not pa.types.is_boolean(values.type):
        raise TypeError(f"field {field.name!r}: a boolean field needs booleans, "
                        f"not {values.type}")
    return pc.if_else(values, field.true_values[0], field.false_values[0])


def fit(text: pa.Array, field: FieldSpec, width: int, bad: Collector) -> pa.Array:
    """Pad every cell to ``width`` with the field's pad and alignment; cut longer ones."""
    # No cell has more characters than bytes: when no cell has more bytes than the width
    # (the common case), counting characters is not needed.
    # No nulls reach here (render_column fills them); one would only loosen the bound.
    least, most = buffers.byte_span(text) or (-1, 0)
    ascii_ = buffers.is_ascii(text)
    if least == most == width and ascii_:
        return text  # every cell is exactly ``width`` characters already (numbers, codes)
    if most > width:
        long = pc.greater(pc.utf8_length(text), width)
        flags = bad.add(long, *too_long(field, f"the field's {width} characters"), text)
        if flags.any():
            text = pc.utf8_slice_codeunits(text, 0, width)
    if ascii_ and field.out_pad.isascii():
        # one byte per character: the ASCII kernels pad the same, several times faster
        pad = pc.ascii_lpad if field.out_align == "right" else pc.ascii_rpad
    else:
        pad = pc.utf8_lpad if field.out_align == "right" else pc.utf8_rpad
    return pad(text, width, field.out_pad)


def too_long(field: FieldSpec, limit: str) -> tuple[str, str]:
    """The code and message of a value longer than ``limit`` (its words): an error, or a
    note that it was cut, as the field's ``on_too_long`` says."""
    if field.on_too_long == "cut":
        return "cut", f"{{value}} is longer than {limit}: written cut to them"
    return "too-long", f"{{value}} is longer than {limit}"


def check_written(text: pa.Array, field: FieldSpec, width: int | None,
                  bad: Collector) -> pa.Array:
    """The field's own rules on text about to be written (no nulls): ``max_length``
    (``too-long``), ``min_length`` (``too-short``) and ``pattern`` (``bad-pattern``).
    Empty cells are not held to them, as when reading.

    The width of a fixed-width field is :func:`fit`'s to check; cells too long for both
    come back cut to the width, so that each is reported once. A field that says
    ``on_too_long: cut`` is cut here, to its max_length or width, whichever is less, and
    its other rules hold on what is written (a pattern, on the cut value), as in CSV.
    """
    limit = field.max_length
    if field.on_too_long == "cut" and (limit is not None or width is not None):
        room = min(n for n in (limit, width) if n is not None)
        words = (f"the field's {width} characters" if room == width
                 else f"{room} characters (its max_length)")
        return _rules(_cut(text, field, room, words, bad), field, bad)
    narrower = limit is not None and (width is None or limit < width)
    # No cell has more characters than bytes: most columns need no count of characters.
    if narrower and (pc.max(pc.binary_length(text)).as_py() or 0) > (limit or 0):
        flags = bad.add(pc.greater(pc.utf8_length(text), limit),
                        *too_long(field, f"{limit} characters (its max_length)"), text)
        if width is not None and flags.any():
            text = pc.utf8_slice_codeunits(text, 0, width)
    return _rules(text, field, bad)


def _cut(text: pa.Array, field: FieldSpec, room: int, words: str, bad: Collector
         ) -> pa.Array:
    """Cells over ``room`` characters cut to it (the spaces the cut leaves at the end
    too), each noted ``cut``."""
    if (pc.max(pc.binary_length(text)).as_py() or 0) <= room:
        return text
    flags = bad.add(pc.greater(pc.utf8_length(text), room), *too_long(field, words), text)
    if not flags.any():
        return text
    cut = pc.utf8_rtrim(pc.utf8_slice_codeunits(text, 0, room), characters=" ")
    return pc.if_else(pa.array(flags), cut, text)


def _rules(text: pa.Array, field: FieldSpec, bad: Collector) -> pa.Array:
    """``min_length`` and ``pattern`` on the text as it will be written."""
    if field.min_length:
        length = pc.utf8_length(text)
        short = pc.and_(pc.greater(length, 0), pc.less(length, field.min_length))
        bad.add(short, "too-short",
                f"{{value}} is shorter than {field.min_length} characters", text)
    if field.pattern is not None:
        # One regex that lets the empty cell pass, instead of three kernels.
        fits = full_match(text, f"(?:{field.pattern})|")
        bad.add(pc.invert(fits), "bad-pattern",
                f"{{value}} does not match the pattern {field.pattern}", text)
    return text
