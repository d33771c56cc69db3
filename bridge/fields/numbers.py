"""Reading integers and exact decimals from text, in every sign and separator style.

The path is the same for every style: one RE2 match says which cells have the declared
shape, one numpy pass over the UTF-8 bytes turns the good cells into plain ASCII numbers
("1.234,56-" -> "1234.56", "1000}" -> "10000"), and one pyarrow cast makes them int64 or
decimal128. A leading "-" is left for the cast to read; trailing and overpunched signs are
read from the last byte and applied afterwards. No value ever passes through a float.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.fields import buffers
from bridge.fields.cells import DECIMAL_PRECISION, Collector, to_numpy_mask
from bridge.spec.model import FieldSpec

#: COBOL overpunch: the last digit carries the sign. Index = digit.
PUNCH_POSITIVE = "{ABCDEFGHI"
PUNCH_NEGATIVE = "}JKLMNOPQR"

INT64_MAX = "9223372036854775807"
INT64_MIN_DIGITS = "9223372036854775808"

_PLUS, _MINUS, _DOT = ord("+"), ord("-"), ord(".")
_STAND_IN = "\x01"


def is_ascii_char(text: str | None) -> bool:
    return text is not None and len(text) == 1 and ord(text) < 128


def shape_regex(field: FieldSpec, integer: bool) -> str:
    """An RE2 pattern matching exactly the texts of the declared number format."""
    dec = re.escape(field.decimal_separator)
    grouped = r"\d+"
    if field.thousands_separator:
        grouped = rf"(?:\d{{1,3}}(?:{re.escape(field.thousands_separator)}\d{{3}})+|\d+)"
    implied = field.implied_decimals and not integer
    if field.sign == "overpunch":
        # The sign rides on the last digit; no grouping in such (COBOL) fields.
        body = r"\d*" if integer or implied else rf"\d*(?:{dec}\d*)?"
        return rf"^{body}[0-9{{}}A-R]$"
    if implied:
        body = r"\d+"
    elif integer:
        body = grouped
    else:
        body = rf"(?:{grouped}(?:{dec}\d+)?|{dec}\d+)"
    return {
        "none": rf"^{body}$",
        "leading": rf"^[+-]?{body}$",
        "trailing": rf"^{body}[+-]?$",
        "leading_separate": rf"^[+-]{body}$",
        "trailing_separate": rf"^{body}[+-]$",
    }[field.sign]


def _edits(field: FieldSpec) -> tuple[bytes, dict[int, int], np.ndarray | None,
                                     np.ndarray | None]:
    """Bytes to drop, bytes to swap, and first- and last-byte tables that make plain ASCII.

    A leading sign stays where it is (pyarrow's cast reads "-"), and a leading "+"
    becomes a zero: no bytes to move, and no negation afterwards.
    """
    drop = b"+-" if field.sign.startswith("trailing") else b""
    first = None
    if field.sign.startswith("leading"):
        first = buffers.identity_table()
        first[_PLUS] = ord("0")
    if is_ascii_char(field.thousands_separator):
        drop += (field.thousands_separator or "").encode()
    sep = field.decimal_separator if is_ascii_char(field.decimal_separator) else _STAND_IN
    swap = {} if sep == "." else {ord(sep): _DOT}
    last = None
    if field.sign == "overpunch":
        last = buffers.identity_table()
        for digit, (pos, neg) in enumerate(zip(PUNCH_POSITIVE, PUNCH_NEGATIVE, strict=True)):
            last[ord(pos)] = last[ord(neg)] = ord("0") + digit
    return drop, swap, first, last


def _negative(text: pa.Array, field: FieldSpec) -> np.ndarray:
    """Rows whose trailing or overpunched sign is negative."""
    offsets, data = buffers.view(text)
    last = buffers.last_bytes(offsets, data)
    if field.sign == "overpunch":
        return np.isin(last, np.frombuffer(PUNCH_NEGATIVE.encode(), dtype=np.uint8))
    if field.sign in ("trailing", "trailing_separate"):
        return np.asarray(last == _MINUS)
    return np.zeros(len(text), dtype=bool)


def parse_number(text: pa.Array, field: FieldSpec, bad: Collector,
                 like: str | Callable[[], str]) -> tuple[pa.Array, np.ndarray]:
    """Typed int64 (integer) or decimal128(18, scale) values; bad cells null and flagged.

    ``like`` is an example of the format for messages ("1.234,56 or -1.234,56"), or a
    function making it.
    """
    integer = field.type == "integer"
    code = "bad-integer" if integer else "bad-decimal"
    kind = "an integer" if integer else "a decimal"
    shaped = pc.match_substring_regex(text, pattern=shape_regex(field, integer))
    ok = to_numpy_mask(shaped)
    flags = ok != ok  # all false, same length
    wrong = ~ok
    if text.null_count:
        wrong &= text.is_valid().to_numpy(zero_copy_only=False)
    if wrong.any():
        # The example costs a render: made only when some cell needs it.
        shown = like if isinstance(like, str) else like()
        flags = bad.add(wrong, code, f"{{value}} is not {kind} like {shown}", text)
    if not ok.any():
        target = pa.int64() if integer else pa.decimal128(DECIMAL_PRECISION, field.scale)
        return pa.nulls(len(text), target), flags
    plain = text
    # Separators outside ASCII are first replaced by an ASCII stand-in (\x01 for the
    # decimal one, which the byte table then turns into ".").
    for sep, repl in ((field.thousands_separator, ""), (field.decimal_separator, _STAND_IN)):
        if sep and not is_ascii_char(sep):
            plain = pc.replace_substring(plain, sep, repl)
    drop, swap, first, last = _edits(field)
    plain = buffers.edit(plain, drop, swap, first, last, ok)
    if not integer:
        plain, long_wrong = _shortened(plain, field, bad, text)
        flags, ok = flags | long_wrong, ok & ~long_wrong
    try:
        values = _cast(plain, field, integer)
    except pa.ArrowInvalid:
        # Rare: too many decimals or digits. Find those cells, then cast the rest.
        wrong = _too_big(plain, field, integer, bad, text)
        if not integer and not field.implied_decimals:
            wrong |= _too_precise(plain, field, bad, text)
        flags = flags | wrong
        ok &= ~wrong
        plain = pc.if_else(pa.array(ok), plain, None)
        values = _cast(plain, field, integer)
    if field.sign.startswith("leading"):
        return values, flags
    neg = _negative(text, field) & ok
    if neg.any():
        values = pc.if_else(pa.array(neg), pc.negate(values), values)
    return values, flags


def _cast(plain: pa.Array, field: FieldSpec, integer: bool) -> pa.Array:
    if integer:
        return pc.cast(plain, pa.int64())
    target = pa.decimal128(DECIMAL_PRECISION, field.scale)
    if not field.implied_decimals:
        return pc.cast(plain, target)
    # COBOL V: the digits are the unscaled value; read them at scale 0 and relabel the
    # same 128-bit integers with the field's scale.
    whole = pc.cast(plain, pa.decimal128(DECIMAL_PRECISION, 0))
    return pa.Array.from_buffers(target, len(whole), whole.buffers(), offset=whole.offset)


#: The longest plain decimal a decimal128(18) can be: 18 digits, a sign and a point.
_PLAIN_MAX = DECIMAL_PRECISION + 2


def _shortened(plain: pa.Array, field: FieldSpec, bad: Collector,
               text: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The plain decimals without the zeros that say nothing (leading ones, and trailing
    ones after the point), and the cells too long even so, flagged: pyarrow's cast reads
    a text of 128 digits or more as another number (9 x 128 is -1), drops a 1 followed by
    200 decimal zeros, and raises on decimal zeros past its precision. Only when a cell
    is longer than any decimal this reads (rare)."""
    none = np.zeros(len(plain), dtype=bool)
    lengths = pc.utf8_length(plain)
    if (pc.max(lengths).as_py() or 0) <= _PLAIN_MAX:
        return plain, none
    short = pc.replace_substring_regex(plain, r"^(-?)0+([0-9])", r"\1\2")
    if not field.implied_decimals:
        short = pc.replace_substring_regex(short, r"(\.[0-9]*?)0+$", r"\1")
        short = pc.replace_substring_regex(short, r"\.$", "")
    long = pc.fill_null(pc.greater(lengths, _PLAIN_MAX), False)
    plain = pc.if_else(long, short, plain)
    still = pc.fill_null(pc.greater(pc.utf8_length(plain), _PLAIN_MAX), False)
    if not pc.any(still).as_py():
        return plain, none
    # Each of these is too big, or too precise: said as a shorter one would be.
    over = pc.if_else(still, plain, None)
    wrong = _too_big(over, field, False, bad, text)
    if not field.implied_decimals:
        wrong |= _too_precise(over, field, bad, text)
    return pc.if_else(pa.array(wrong), None, plain), wrong


def _too_big(plain: pa.Array, field: FieldSpec, integer: bool, bad: Collector,
             text: pa.Array) -> np.ndarray:
    digits = pc.utf8_ltrim(plain, characters="-0")
    dot = pc.find_substring(digits, ".")
    whole = pc.if_else(pc.less(dot, 0), pc.utf8_length(digits), dot)
    if integer:
        # Same-length digit strings compare like the numbers; -2**63 is one more than max.
        limit = pc.if_else(pc.starts_with(plain, "-"), INT64_MIN_DIGITS, INT64_MAX)
        over = pc.or_(pc.greater(whole, len(INT64_MAX)),
                      pc.and_(pc.equal(whole, len(INT64_MAX)), pc.greater(digits, limit)))
        return bad.add(over, "bad-integer", "{value} is too large for an integer", text)
    room = DECIMAL_PRECISION - (0 if field.implied_decimals else field.scale)
    return bad.add(pc.greater(whole, room), "bad-decimal",
                   f"{{value}} has more than {room} digits", text)


def _too_precise(plain: pa.Array, field: FieldSpec, bad: Collector,
                 text: pa.Array) -> np.ndarray:
    # Trailing zeros past the scale lose nothing ("1,230" is 1.23), so they are allowed.
    dot = pc.find_substring(plain, ".")
    has_dot = pc.greater_equal(dot, 0)
    trimmed = pc.if_else(has_dot, pc.utf8_rtrim(plain, characters="0"), plain)
    decimals = pc.subtract(pc.subtract(pc.utf8_length(trimmed), dot), 1)
    over = pc.and_(has_dot, pc.greater(decimals, field.scale))
    return bad.add(over, "too-many-decimals",
                   f"{{value}} has more than {field.scale} decimal digits", text)
