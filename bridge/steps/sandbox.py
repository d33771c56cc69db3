"""The sandbox the expressions of the step language run in, and the filters it adds.

Every operation that may build much (``*``, ``+``, a call) is checked by
:mod:`bridge.steps.limits`; a missing cell stays missing through the text filters; numbers
are decimals, rounded half up as invoices are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from jinja2 import StrictUndefined, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bridge.steps import limits

__all__ = ["decimals", "environment", "round2", "to_decimal", "to_int"]

CENT = Decimal("0.01")
_NOT_DIGIT = re.compile(r"[^0-9]")

class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, with every operation that may build much checked by :mod:`limits`."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        return limits.binop(operator_, left, right, self.binop_table[operator_])

    def call(__self, __context: Any, __obj: Any, *args: Any,
             **kwargs: Any) -> Any:
        args = limits.before_call(__obj, args, kwargs)
        return limits.checked(super().call(__context, __obj, *args, **kwargs))


def _keep_none(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that leaves a missing value missing: jinja would turn None into 'None'."""

    if getattr(fn, "jinja_pass_arg", None) is None:
        def plain(value: Any, *args: Any, **kwargs: Any) -> Any:
            return None if value is None else fn(value, *args, **kwargs)

        return plain

    # jinja hands a context first to the filters marked for it; keep the mark and the order.
    def passing(ctx: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        return None if value is None else fn(ctx, value, *args, **kwargs)

    passing.jinja_pass_arg = fn.jinja_pass_arg  # type: ignore[attr-defined]
    return passing


def to_decimal(value: Any) -> Decimal | None:
    """Exact Decimal from text, integers or Decimals; floats through their shortest repr.
    Never a NaN or an infinity, which Decimal reads from a sender's `NaN` or `inf`: no
    field can hold them."""
    if value is None:
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    try:
        if isinstance(value, Decimal):
            d = value
        elif isinstance(value, float):
            d = Decimal(repr(value))
        elif isinstance(value, str):
            d = Decimal(value.strip().replace(",", "."))
        else:
            d = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{value!r} is not a number")
    return d


def round2(value: Any) -> Decimal:
    """Half-up to cents, as invoices round (Python's round() is half-even)."""
    d = to_decimal(value)
    assert d is not None
    return d.quantize(CENT, rounding=ROUND_HALF_UP)


def decimals(value: Any, places: int) -> Decimal:
    """Half-up to ``places`` decimals (0 to 18): a unit price to 4, as invoices carry it."""
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 18:
        raise ValueError(f"decimals({places!r}): the places are a whole number, 0 to 18")
    d = to_decimal(value)
    assert d is not None
    return d.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def to_int(value: Any) -> int:
    """A whole number, or an error: jinja's own int filter quietly turns 'abc' into 0."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, int):
        return value
    d = to_decimal(value)
    assert d is not None
    if d != d.to_integral_value():
        raise ValueError(f"{value!r} is not a whole number")
    if d.adjusted() > limits.MAX_INT_BITS * 3 // 10:  # digits: a sender's 1E999999 stays Decimal
        raise ValueError(f"{value!r} has too many digits")
    return int(d)


def _as_date(value: Any) -> date:
    return value.date() if isinstance(value, datetime) else value


def _default(value: Any, fallback: Any = "", boolean: bool = False) -> Any:
    # A missing cell is None here, not Undefined: jinja's own default would keep it.
    if value is None or isinstance(value, Undefined) or (boolean and not value):
        return fallback
    return value


def _environment() -> _Sandbox:
    env = _Sandbox(undefined=StrictUndefined, autoescape=False)
    builtin = env.filters
    for name in ("upper", "lower", "replace", "trim", "title", "capitalize", "string"):
        env.filters[name] = _keep_none(builtin[name])
    env.filters.update({
        "truncate": _keep_none(lambda s, n: str(s)[:n]),
        "zfill": _keep_none(lambda s, n: str(s).zfill(n)),
        "digits": _keep_none(lambda s: _NOT_DIGIT.sub("", str(s))),
        "round2": _keep_none(round2),
        "decimals": _keep_none(decimals),
        "int": _keep_none(to_int),
        "decimal": _keep_none(to_decimal),
        "date": _keep_none(_as_date),
        "default": _default,
        "d": _default,
    })
    env.filters = {name: limits.guard_filter(name, fn) for name, fn in env.filters.items()}
    del env.globals["lipsum"]  # text of any length, and of no use to a flow
    return env


_ENV: _Sandbox | None = None


def environment() -> _Sandbox:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV
