"""The bounds of an expression: what one may build, and what one evaluation may cost.

jinja's sandbox keeps an expression away from the file system and private attributes; it
does not keep it from building an 800 MB text (``'x' | center(800000000)``) or a number of
a billion digits (``((n ** 1000) ** 1000) ** 1000``), and the data may choose those sizes
(``'x' * quantita``). Expressions are the operator's, the rows are not, so:

- an operation that could allocate much in one go is checked *before* it runs: repetition,
  power, product of integers, a width or padding, a replacement, a join, a ``%`` or
  ``.format`` with a width; any other method called with a number larger than
  :data:`MAX_TEXT` is refused too (``to_bytes(10**9)``);
- every value built is checked after: text up to :data:`MAX_TEXT` characters, lists up to
  :data:`MAX_ITEMS` items, integers up to :data:`MAX_INT_BITS` bits;
- one evaluation over a table has a deadline and a budget of text in all (:class:`Budget`),
  so that many rows, each within bounds, cannot add up to a runaway.

Breaking a bound raises :class:`LimitError`: a ``bad-expression`` issue on the row, or a
configuration error when the expression breaks it by itself (see ``compile_expression``).
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from jinja2.exceptions import SecurityError

#: Characters of any text an expression builds (a field of an ERP file is far shorter).
MAX_TEXT = 100_000
#: Items of any list it builds (jinja's sandbox bounds range() the same way).
MAX_ITEMS = 100_000
#: Bits of any integer (about 1,200 digits: beyond any amount of money).
MAX_INT_BITS = 4096
#: The largest exponent of ``**``.
MAX_POWER = 1_000
#: One evaluation of an expression over a table: seconds, plus seconds per row...
TIME_BASE, TIME_PER_ROW = 10.0, 0.001
#: ...and characters of text in all, beyond four times the text it reads.
TEXT_BUDGET = 64 << 20

_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


class LimitError(SecurityError):
    """An expression would build, or compute, more than its bounds allow."""


def checked(value: Any) -> Any:
    """``value`` if it is within the bounds; LimitError if not."""
    if isinstance(value, str):
        _text(len(value))
    elif isinstance(value, list | tuple | dict | set | frozenset):
        if len(value) > MAX_ITEMS:
            raise LimitError(f"a list of more than {MAX_ITEMS:,} items")
    elif isinstance(value, int) and not isinstance(value, bool):
        _bits(value.bit_length())
    return value


#: The digits of the widest decimal column (decimal128), and the range of an integer one.
MAX_DECIMAL_DIGITS = 38
INT64 = range(-(2**63), 2**63)


class Unholdable(ValueError):
    """A row's result no column can hold as the number it is: an issue of that row's data
    (never a bound the expression breaks by itself)."""


def column_value(value: Any) -> Any:
    """``value`` if a column can hold it as the number it is; :class:`Unholdable` if not.
    A number past them made the whole column text, and every other row's ``x * 2`` a
    repeated text."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise Unholdable(f"{value} is not a number a column holds")
        digits, exponent = len(value.as_tuple().digits), int(value.as_tuple().exponent)
        needed = digits + exponent if exponent >= 0 else max(digits, -exponent)
        if needed > MAX_DECIMAL_DIGITS:
            raise Unholdable(f"a number of {needed} digits: a column holds "
                             f"{MAX_DECIMAL_DIGITS} at most")
    elif isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
        raise Unholdable("an integer past 64 bits: a column holds none")
    return value


def _text(n: int) -> None:
    if n > MAX_TEXT:
        raise LimitError(f"a text longer than {MAX_TEXT:,} characters")


def _bits(n: int) -> None:
    if n > MAX_INT_BITS:
        raise LimitError(f"a number larger than {MAX_INT_BITS} bits")


def _size(n: object) -> None:
    if isinstance(n, int) and not isinstance(n, bool) and abs(n) > MAX_TEXT:
        raise LimitError(f"a size or count of {n} (more than {MAX_TEXT:,})")


def binop(op: str, left: Any, right: Any, compute: Callable[[Any, Any], Any]) -> Any:
    """``left op right`` for the operators the sandbox intercepts, checked before and after."""
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (left, right))
    if op == "**":
        if isinstance(right, int | Decimal) and abs(Decimal(right)) > MAX_POWER:
            raise LimitError(f"power {right} is larger than {MAX_POWER}")
        if ints and right > 0 and abs(left) > 1:
            _bits(left.bit_length() * right)
    elif op == "*":
        if ints:
            _bits(left.bit_length() + right.bit_length())
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(times, int):
                (_text if isinstance(seq, str) else _items)(len(seq) * times)
    elif op == "+":
        if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
            (_text if isinstance(left, str) else _items)(len(left) + len(right))
    elif op == "%" and isinstance(left, str):
        percent_format(left, right)
    return checked(compute(left, right))


def _items(n: int) -> None:
    if n > MAX_ITEMS:
        raise LimitError(f"a list of more than {MAX_ITEMS:,} items")


def percent_format(fmt: str, args: Any) -> None:
    """A ``%`` format may not ask for a width or precision beyond MAX_TEXT."""
    values = args if isinstance(args, tuple) else (args,)
    for width, precision in _PERCENT_SPEC.findall(fmt):
        for n in (width, precision):
            if n == "*":
                for v in values:
                    _size(v)
            elif n:
                _size(int(n))


def brace_format(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """A ``.format`` may not ask for a width beyond MAX_TEXT; when a width is computed
    (``{:>{w}}``), no number it is given may be larger."""
    for _, _, spec, _ in string.Formatter().parse(fmt):
        if spec and "{" in spec:
            for v in (*args, *kwargs.values()):
                _size(v)
        for n in _DIGITS.findall(spec or ""):
            _size(int(n))


def replaced_length(s: str, old: str, new: str, count: int | None = None) -> int:
    """The length of ``s.replace(old, new, count)``, known before building it."""
    n = len(s) + 1 if old == "" else s.count(old)
    if count is not None and count >= 0:
        n = min(n, count)
    return len(s) + n * (len(new) - len(old))


def joined_length(sep: str, items: list[Any]) -> int:
    return len(sep) * max(0, len(items) - 1) + sum(len(str(x)) for x in items)


def before_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Check a method or global call before it runs; the arguments to call it with."""
    method = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    name, owner = getattr(method, "__name__", ""), getattr(method, "__self__", None)
    if isinstance(owner, str) and name in ("format", "format_map"):
        mapping = args[0] if name == "format_map" and args and isinstance(args[0], dict) else {}
        brace_format(owner, args, {**kwargs, **mapping})
        return args  # its numbers are values to show, not sizes
    for v in (*args, *kwargs.values()):
        _size(v)
    if isinstance(owner, str):
        if name == "expandtabs":
            tab = args[0] if args else kwargs.get("tabsize", 8)
            _text(len(owner) + owner.count("\t") * max(0, int(tab)))
        elif name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
            _text(replaced_length(owner, args[0], args[1], *args[2:3]))
        elif name == "join" and args:
            items = _listed(args[0])
            _text(joined_length(owner, items))
            args = (items, *args[1:])
        elif name == "translate" and args and isinstance(args[0], dict):
            longest = max((len(v) for v in args[0].values() if isinstance(v, str)), default=1)
            _text(len(owner) * max(1, longest))
    return args


def _listed(values: Iterable[Any]) -> list[Any]:
    """An iterable as a list, counted as it is read: a generator is read once, here."""
    items: list[Any] = []
    for v in values:
        items.append(v)
        _items(len(items))
    return items


def _before_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> tuple[Any, ...]:
    """Check a filter's arguments (``args[0]`` is the value) before it runs."""
    rest = (*args[1:], *kwargs.values())
    if name in ("center", "zfill", "slice", "batch"):
        for v in rest:
            _size(v)
    elif name == "indent" and rest:
        width = rest[0]
        pad = len(width) if isinstance(width, str) else width
        _size(pad)
        _text(len(str(args[0])) + (str(args[0]).count("\n") + 1) * int(pad))
    elif name == "format" and args:
        percent_format(str(args[0]), tuple(args[1:]) or dict(kwargs))
    elif name == "replace" and len(args) >= 3:
        count = args[3] if len(args) > 3 else kwargs.get("count")
        _text(replaced_length(str(args[0]), str(args[1]), str(args[2]), count))
    elif name == "join" and args:
        items = _listed(args[0])
        sep = args[1] if len(args) > 1 else kwargs.get("d", "")
        _text(joined_length(str(sep), items))
        args = (items, *args[1:])
    return args


def guard_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with its arguments checked before and its value after."""
    passes = getattr(fn, "jinja_pass_arg", None)

    def guarded(*args: Any, **kwargs: Any) -> Any:
        if passes is not None:  # jinja hands a context first: keep it first
            return checked(fn(args[0], *_before_filter(name, args[1:], kwargs), **kwargs))
        return checked(fn(*_before_filter(name, args, kwargs), **kwargs))

    if passes is not None:
        guarded.jinja_pass_arg = passes  # type: ignore[attr-defined]
    return guarded


class Budget:
    """What one evaluation of an expression over a table may cost: a deadline, and a number
    of characters of text in all. Rows each within bounds cannot add up to a runaway."""

    def __init__(self, rows: int, read: int) -> None:
        self.seconds = TIME_BASE + TIME_PER_ROW * rows
        self.deadline = time.monotonic() + self.seconds
        self.text = TEXT_BUDGET + 4 * read

    def spend(self, value: object) -> str | None:
        """Count ``value``; the reason to stop when the budget is spent, else None."""
        if isinstance(value, str):
            self.text -= len(value)
            if self.text < 0:
                return "its values add up to more text than the rows it reads allow"
        if time.monotonic() > self.deadline:
            return f"it ran for more than {self.seconds:.0f} s over this table"
        return None
