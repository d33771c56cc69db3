"""Whole-column evaluation of the simplest jinja expressions, with Arrow kernels.

Most expressions in a flow are plain arithmetic, comparisons and a few string filters
(``quantity * price``, ``status != 'refunded'``, ``name | replace('#', '') | int``). Run
per row through jinja they cost microseconds each; here they run over the whole column at
once. The rule is that a result must equal what jinja gives for the same row, so only
cases whose meaning is identical in Python and in Arrow are taken (numbers with numbers,
text with text, ASCII-only case changes); anything else raises :class:`Fallback` and the
expression runs per row. Rows with a missing input run per row, as None behaves in jinja
in ways Arrow's nulls do not, except where both agree (:func:`null_sensitive`): the test
of a condition, ``is none``, a branch that is the result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from jinja2 import nodes

from bridge.codecs.frames import has_column
from bridge.steps.vector_ops import (
    Fallback,
    as_decimal,
    equal,
    fit,
    unify,
)

__all__ = ["Fallback", "null_sensitive", "vectorise"]




_ARITHMETIC: dict[type[nodes.Node], Callable[..., Any]] = {
    nodes.Add: pc.add_checked, nodes.Sub: pc.subtract_checked, nodes.Mul: pc.multiply_checked,
}
_COMPARE: dict[str, Callable[..., Any]] = {
    "eq": pc.equal, "ne": pc.not_equal, "lt": pc.less, "lteq": pc.less_equal,
    "gt": pc.greater, "gteq": pc.greater_equal,
}


def _numeric(t: pa.DataType) -> bool:
    return bool(pa.types.is_integer(t) or pa.types.is_decimal(t))


def _string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t))


def _same_kind(a: pa.DataType, b: pa.DataType) -> bool:
    return (_numeric(a) and _numeric(b)) or (_string(a) and _string(b)) or (
        pa.types.is_boolean(a) and pa.types.is_boolean(b))


def vectorise(node: nodes.Node, table: pa.Table, variables: Mapping[str, object]) -> Any:
    """An Arrow array (or scalar) equal to the expression on every row without nulls."""
    if isinstance(node, nodes.Name):
        if has_column(table, node.name):
            return table.column(node.name)
        return _scalar(variables.get(node.name))
    if isinstance(node, nodes.Const):
        return _scalar(node.value)
    if isinstance(node, nodes.Neg):
        value = vectorise(node.node, table, variables)
        if not _numeric(value.type):
            raise Fallback("minus of a non-number")
        return pc.negate_checked(value)
    if type(node) in _ARITHMETIC:
        assert isinstance(node, nodes.BinExpr)
        left = vectorise(node.left, table, variables)
        right = vectorise(node.right, table, variables)
        if not (_numeric(left.type) and _numeric(right.type)):
            raise Fallback("arithmetic on non-numbers")
        left, right = fit(left, right, isinstance(node, nodes.Mul))
        return _ARITHMETIC[type(node)](left, right)
    if isinstance(node, nodes.Compare) and len(node.ops) == 1 and \
            node.ops[0].op in ("in", "notin"):
        return _member(node, table, variables)
    if isinstance(node, nodes.Compare) and len(node.ops) == 1 and node.ops[0].op in _COMPARE:
        left, right = unify(vectorise(node.expr, table, variables),
                             vectorise(node.ops[0].expr, table, variables))
        if not _same_kind(left.type, right.type):
            raise Fallback("comparison of different kinds")
        if node.ops[0].op in ("eq", "ne"):
            return equal(left, right, node.ops[0].op == "ne")
        return _COMPARE[node.ops[0].op](left, right)
    if isinstance(node, nodes.And | nodes.Or):
        left, right = unify(vectorise(node.left, table, variables),
                             vectorise(node.right, table, variables))
        if left.type != right.type or not (_string(left.type) or _numeric(left.type)
                                           or pa.types.is_boolean(left.type)):
            raise Fallback("and/or of operands of different kinds")
        # jinja gives an operand: `a or b` is a when a is true, else b (`and`: the other).
        first = pc.fill_null(_truth(left), False)
        if isinstance(node, nodes.Or):
            return pc.if_else(first, left, right)
        return pc.if_else(first, right, left)
    if isinstance(node, nodes.Not):
        value = vectorise(node.node, table, variables)
        if not pa.types.is_boolean(value.type):
            raise Fallback("not of a non-boolean")
        return pc.invert(value)
    if isinstance(node, nodes.Filter) and node.node is not None:
        return _filter(node, table, variables)
    if isinstance(node, nodes.CondExpr) and node.expr2 is not None:
        # A missing test value is false, as None is in jinja (see null_sensitive).
        test = _test(node.test, table, variables)
        yes, no = _branch(node.expr1, table, variables), _branch(node.expr2, table, variables)
        if yes is None and no is None:
            raise Fallback("both branches none")
        yes = pa.scalar(None, no.type) if yes is None else yes
        no = pa.scalar(None, yes.type) if no is None else no
        yes, no = as_decimal(yes, no), as_decimal(no, yes)
        if yes.type != no.type:
            raise Fallback("branches of different types")
        return pc.if_else(test, yes, no)
    if isinstance(node, nodes.Concat):
        return _concat(node, table, variables)
    if isinstance(node, nodes.Test) and node.name == "none" and not node.args:
        # Rows where the value is null go through jinja; here every value is present.
        value = vectorise(node.node, table, variables)
        return pc.is_null(value) if isinstance(value, pa.Array | pa.ChunkedArray) \
            else pa.scalar(not value.is_valid)
    raise Fallback(type(node).__name__)


def null_sensitive(node: nodes.Node, top: bool = True) -> set[str]:
    """The names whose missing values the kernels would not treat as jinja does: their rows
    go through jinja. Not among them: a name used as the test of a condition (a missing
    value is false in both), the operand of ``is none``, and a branch of a condition whose
    value is the result itself (a missing value is None there, null here)."""
    if isinstance(node, nodes.Name):
        return set() if top else {node.name}
    if isinstance(node, nodes.CondExpr):
        names: set[str] = set()
        names |= _test_sensitive(node.test)
        # A branch is taken only where the test says so: a name that the test proves
        # present there (`d if d is not none else 0`) cannot be missing in that branch.
        present = _present(node.test)
        for branch, proven in ((node.expr1, present[0]), (node.expr2, present[1])):
            if branch is not None:
                names |= null_sensitive(branch, top=top) - proven
        return names
    if (isinstance(node, nodes.Test) and node.name == "none" and not node.args
            and isinstance(node.node, nodes.Name)):
        return set()
    if (isinstance(node, nodes.Filter) and node.name in _DEFAULTS
            and isinstance(node.node, nodes.Name)):
        return set()  # a missing value becomes the default, here as in jinja
    if isinstance(node, nodes.Filter) and node.name in _KEEP_NONE and node.node is not None:
        # These filters leave a missing value missing (bridge.steps.expr), as Arrow does.
        names = null_sensitive(node.node, top=top)
        for arg in node.args:
            names |= null_sensitive(arg, top=False)
        return names
    if isinstance(node, nodes.Compare) and len(node.ops) == 1 \
            and node.ops[0].op in ("eq", "ne"):
        # Missing values compare as jinja's None do (_equal): a name, or operands given by
        # and/or of names, may be missing here.
        return null_sensitive(node.expr, top=True) | null_sensitive(node.ops[0].expr,
                                                                    top=True)
    if isinstance(node, nodes.And | nodes.Or) and top:
        # `a or b` gives b for a missing a, and a missing b as it is: here as in jinja.
        return null_sensitive(node.left, top=True) | null_sensitive(node.right, top=True)
    if isinstance(node, nodes.Or):
        # Inside another expression (`'k|' ~ (a or b)`), a missing a is false and gives b,
        # as None does in jinja: only b's missing value is the result's (a text "None"
        # there, a null here).
        return null_sensitive(node.left, top=True) | null_sensitive(node.right, top=False)
    names = set()
    for child in node.iter_child_nodes():
        names |= null_sensitive(child, top=False)
    return names


def _present(test: nodes.Node) -> tuple[set[str], set[str]]:
    """The names a condition's test proves present where it is true, and where it is
    false: ``x is not none`` and a bare ``x`` (a missing value is false) prove ``x`` when
    true, ``x is none`` when false; ``and``, ``or`` and ``not`` combine them."""
    if isinstance(test, nodes.Name):
        return {test.name}, set()
    if (isinstance(test, nodes.Test) and test.name == "none" and not test.args
            and isinstance(test.node, nodes.Name)):
        return set(), {test.node.name}
    if isinstance(test, nodes.Not):
        when_true, when_false = _present(test.node)
        return when_false, when_true
    if isinstance(test, nodes.And):
        return _present(test.left)[0] | _present(test.right)[0], set()
    if isinstance(test, nodes.Or):
        return set(), _present(test.left)[1] | _present(test.right)[1]
    return set(), set()


def _test_sensitive(node: nodes.Node) -> set[str]:
    """The names whose missing values a condition's test would not see as jinja does: in
    a test only truth counts, a missing value is false in both, so ``and``, ``or`` and
    ``not`` of names and of (in)equalities are safe."""
    if isinstance(node, nodes.Name):
        return set()
    if isinstance(node, nodes.And | nodes.Or):
        return _test_sensitive(node.left) | _test_sensitive(node.right)
    if isinstance(node, nodes.Not):
        return _test_sensitive(node.node)
    if isinstance(node, nodes.Compare) and len(node.ops) == 1 \
            and node.ops[0].op in ("eq", "ne"):
        return null_sensitive(node, top=True)
    return null_sensitive(node, top=False)


_DEFAULTS = ("default", "d")
#: Filters that give a missing value for a missing value, in jinja as in the kernels.
_KEEP_NONE = ("upper", "lower", "replace", "truncate", "digits", "round2", "int", "decimal",
              "date", "decimals")


def _concat(node: nodes.Concat, table: pa.Table, variables: Mapping[str, object]) -> Any:
    """``a ~ b``: texts laid end to end. Only texts (jinja writes other values its own
    way), and no operand that may be missing on a row whose inputs are all present (a
    condition with a ``none`` branch: jinja would write "None")."""
    from bridge.steps.limits import MAX_TEXT, TEXT_BUDGET

    parts = []
    for part in node.nodes:
        if any(isinstance(n, nodes.CondExpr) for n in part.find_all(nodes.CondExpr)) \
                or isinstance(part, nodes.CondExpr):
            raise Fallback("a condition inside ~")
        value = vectorise(part, table, variables)
        if not _string(value.type):
            raise Fallback("~ of a value that is not text")
        parts.append(value)
    if not any(isinstance(p, pa.Array | pa.ChunkedArray) for p in parts):
        raise Fallback("~ of constants")
    joined = pc.binary_join_element_wise(*parts, "")
    lengths = pc.utf8_length(joined)
    if (pc.max(lengths).as_py() or 0) > MAX_TEXT or (pc.sum(lengths).as_py() or 0) > TEXT_BUDGET:
        raise Fallback("a text past the bounds")
    return joined


def _test(node: nodes.Node, table: pa.Table, variables: Mapping[str, object]) -> Any:
    """The truth of a condition's test: ``and``/``or``/``not`` of the truths of their
    operands, whatever those are (only the truth of the result matters there)."""
    if isinstance(node, nodes.And | nodes.Or):
        left, right = _test(node.left, table, variables), _test(node.right, table, variables)
        return (pc.and_ if isinstance(node, nodes.And) else pc.or_)(left, right)
    if isinstance(node, nodes.Not):
        return pc.invert(_test(node.node, table, variables))
    # A missing value is false, as None is in jinja (see null_sensitive).
    return pc.fill_null(_truth(vectorise(node, table, variables)), False)


def _member(node: nodes.Compare, table: pa.Table, variables: Mapping[str, object]) -> Any:
    """``x in ['a', 'b']``: a value among constants of its own kind."""
    items = node.ops[0].expr
    if isinstance(items, nodes.Const) and isinstance(items.value, list | tuple):
        values = list(items.value)  # a literal list, folded by jinja into one constant
    elif isinstance(items, nodes.List | nodes.Tuple) and all(
            isinstance(i, nodes.Const) for i in items.items):
        values = [i.value for i in items.items if isinstance(i, nodes.Const)]
    else:
        raise Fallback("in of something other than a list of constants")
    left = vectorise(node.expr, table, variables)
    if _string(left.type) and all(isinstance(v, str) for v in values):
        choices = pa.array(values, pa.string())
    elif pa.types.is_integer(left.type) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in values):
        choices = pa.array(values, pa.int64())
    else:
        raise Fallback("in of values of another kind")
    if isinstance(left, pa.Scalar):
        raise Fallback("in of a constant")
    found = pc.is_in(left, value_set=choices)
    return pc.invert(found) if node.ops[0].op == "notin" else found


def _truth(value: Any) -> Any:
    """Python's truth of present values: a non-empty text, a non-zero number."""
    if pa.types.is_boolean(value.type):
        return value
    if _string(value.type):
        return pc.not_equal(pc.utf8_length(value), 0)
    if _numeric(value.type):
        return pc.not_equal(value, pa.scalar(0).cast(value.type))
    raise Fallback(f"truth of {value.type}")


def _branch(node: nodes.Node, table: pa.Table, variables: Mapping[str, object]) -> Any:
    """A branch of a condition; None for a literal none (its type comes from the other)."""
    if isinstance(node, nodes.Const) and node.value is None:
        return None
    return vectorise(node, table, variables)


def _scalar(value: object) -> pa.Scalar:
    if isinstance(value, bool | int | str | Decimal):
        return pa.scalar(value)
    raise Fallback(f"a {type(value).__name__} value")


def _replaced_within_limits(value: Any, old: str, new: str) -> None:
    """A replacement that lengthens the text is computed here only when no row, nor all the
    rows together, would go past the bounds of :mod:`bridge.steps.limits`; otherwise the
    rows go through jinja, which refuses those that would."""
    from bridge.steps.limits import MAX_TEXT, TEXT_BUDGET

    if len(new) <= len(old):
        return
    if not old:
        raise Fallback("a replacement of the empty text")
    grown = pc.add(pc.utf8_length(value),
                   pc.multiply(pc.count_substring(value, old), len(new) - len(old)))
    if isinstance(grown, pa.Scalar):
        grown = pa.array([grown.as_py()])
    if (pc.max(grown).as_py() or 0) > MAX_TEXT or (pc.sum(grown).as_py() or 0) > TEXT_BUDGET:
        raise Fallback("a replacement past the bounds")


#: Where Arrow's time zone rules and Python's agree: Arrow applies no daylight saving time
#: past 2037 (found by the property test: 2038-04-01 07:00 UTC is March 31 in Los Angeles
#: for Arrow, April 1 for Python), and old dates have rules of their own.
_RULES_FROM, _RULES_UNTIL = 1970, 2038  # years, from the first to before the second


def _within_known_rules(value: Any) -> None:
    years = pc.year(value)
    low, high = pc.min(years).as_py(), pc.max(years).as_py()
    if low is not None and (low < _RULES_FROM or high >= _RULES_UNTIL):
        raise Fallback("a moment outside the years whose time zone rules Arrow knows")


def _filter(node: nodes.Filter, table: pa.Table, variables: Mapping[str, object]) -> Any:
    if node.kwargs or node.dyn_args or node.dyn_kwargs:
        raise Fallback("filter with keyword arguments")
    args = []
    for a in node.args:
        if not isinstance(a, nodes.Const):
            raise Fallback("filter with a computed argument")
        args.append(a.value)
    assert node.node is not None
    if node.name == "decimal" and isinstance(node.node, nodes.Const):
        return pa.scalar(Decimal(str(node.node.value)))
    value = vectorise(node.node, table, variables)
    kind = value.type
    if pa.types.is_null(kind) and node.name in _KEEP_NONE:
        return value  # nothing but missing values: these filters leave them missing
    if node.name in ("upper", "lower") and not args and _string(kind):
        # Python and Arrow agree on case only for ASCII ('ß'.upper() is 'SS' in Python).
        if pc.all(pc.string_is_ascii(value)).as_py() is False:  # None: no text at all
            raise Fallback("non-ASCII text")
        return (pc.ascii_upper if node.name == "upper" else pc.ascii_lower)(value)
    if node.name == "replace" and len(args) == 2 and _string(kind) and all(
            isinstance(a, str) for a in args):
        _replaced_within_limits(value, args[0], args[1])
        return pc.replace_substring(value, args[0], args[1])
    if node.name == "truncate" and len(args) == 1 and _string(kind) and isinstance(
            args[0], int) and args[0] >= 0:
        return pc.utf8_slice_codeunits(value, 0, args[0])
    if node.name == "int" and not args and (_string(kind) or _numeric(kind)):
        if _string(kind) and not pc.all(pc.match_substring_regex(
                value, r"^[+-]?[0-9]+$")).as_py():
            raise Fallback("text that Arrow and Python may read differently")
        return pc.cast(value, pa.int64())
    if node.name == "date" and not args and pa.types.is_timestamp(kind):
        # jinja takes the date of the datetime in its own time zone: the local wall clock.
        if kind.tz not in (None, "UTC", "Etc/UTC", "+00:00"):
            _within_known_rules(value)
        local = pc.local_timestamp(value) if kind.tz is not None else value
        return pc.cast(local, pa.date32())
    if node.name == "date" and not args and pa.types.is_date32(kind):
        return value
    if node.name in _DEFAULTS and len(args) in (1, 2) and _string(kind) \
            and isinstance(args[0], str) and (len(args) == 1 or isinstance(args[1], bool)):
        fallback = pa.scalar(args[0], kind)
        out = pc.fill_null(value, fallback)
        if len(args) == 2 and args[1]:  # default(x, true): an empty text too
            out = pc.if_else(pc.equal(pc.utf8_length(out), 0), fallback, out)
        return out
    if node.name == "digits" and not args and _string(kind):
        return pc.replace_substring_regex(value, "[^0-9]", "")
    if node.name == "decimal" and not args and pa.types.is_integer(kind):
        return pc.cast(value, pa.decimal128(19, 0))  # every int64 fits in 19 digits
    if node.name == "decimal" and not args and pa.types.is_decimal(kind):
        return value
    if node.name == "abs" and not args and _numeric(kind):
        return pc.abs_checked(value)
    if node.name == "round2" and not args and pa.types.is_decimal(kind) and kind.scale >= 2:
        rounded = pc.round(value, ndigits=2, round_mode="half_towards_infinity")
        return pc.cast(rounded, pa.decimal128(min(38, kind.precision), 2))
    if node.name == "decimals" and len(args) == 1 and type(args[0]) is int \
            and 0 <= args[0] <= 18 and pa.types.is_decimal(kind) and kind.scale >= args[0]:
        rounded = pc.round(value, ndigits=args[0], round_mode="half_towards_infinity")
        return pc.cast(rounded, pa.decimal128(min(38, kind.precision), args[0]))
    raise Fallback(f"filter {node.name}")
