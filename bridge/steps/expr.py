"""Expressions of the step language, evaluated over whole columns.

An expression is either the name of a field (a column, taken as it is, without a loop) or
a jinja2 expression run in an immutable sandbox with the row's fields as variables. Jinja
is compiled once per expression; only rows of a column go through Python. Money stays
exact: decimals reach jinja as :class:`decimal.Decimal`, and a literal such as ``1.22`` is
read as a Decimal too, never as a float. What an expression may build, and what one
evaluation may cost, is bounded (:mod:`bridge.steps.limits`): the rows are not the
operator's, and must not make the operator's expression run away.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.parser import Parser
from jinja2.sandbox import ImmutableSandboxedEnvironment

from bridge.codecs.frames import has_column
from bridge.errors import ConfigError
from bridge.steps import limits
from bridge.steps.arrays import flat, probe, text_read, to_array

__all__ = ["WHOLE", "Expression", "Failure", "compile_expression", "round2", "to_array",
           "to_decimal", "to_int"]

CENT = Decimal("0.01")
_NOT_DIGIT = re.compile(r"[^0-9]")
#: Values every name is given in turn when an expression is compiled: an expression that
#: breaks a bound on such small values breaks it on every row, and is a mistake.
_PROBES: tuple[object, ...] = ("", 2)


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
    """Exact Decimal from text, integers or Decimals; floats through their shortest repr."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).strip().replace(",", ".")) if isinstance(value, str) \
            else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


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


def _exact_literals(node: nodes.Node) -> nodes.Node:
    """Float literals become Decimals: ``price * 1.22`` must not pass through binary floats."""
    for child in node.iter_child_nodes():
        for field_name in child.fields:
            value = getattr(child, field_name)
            if isinstance(value, nodes.Const) and isinstance(value.value, float):
                setattr(child, field_name, _decimal_of(value))
            elif isinstance(value, list):
                setattr(child, field_name, [
                    _decimal_of(v) if isinstance(v, nodes.Const) and isinstance(v.value, float)
                    else v for v in value])
        _exact_literals(child)
    return node


def _decimal_of(const: nodes.Const) -> nodes.Filter:
    text = nodes.Const(repr(const.value), lineno=const.lineno)
    return nodes.Filter(text, "decimal", [], [], None, None, lineno=const.lineno)


@dataclass(frozen=True)
class Failure:
    """One row an expression could not compute: its position and the error, for an issue.
    Row :data:`WHOLE`: the evaluation was stopped (its budget spent), and no row is to be
    trusted: an issue of the whole file."""

    row: int
    error: str


WHOLE = -1


@dataclass
class Expression:
    """A compiled expression: a column, or jinja code over the variables in ``names``."""

    source: str
    column: str | None
    names: tuple[str, ...]
    code: Any = None
    tree: nodes.Node | None = None

    @functools.cached_property
    def sensitive(self) -> frozenset[str]:
        """The names whose missing values its Arrow kernels would not treat as jinja does
        (:func:`~bridge.steps.vector.null_sensitive`): found once, not per table."""
        from bridge.steps.vector import null_sensitive

        return frozenset(null_sensitive(self.tree)) if self.tree is not None else frozenset()

    def evaluate(
        self, table: pa.Table, variables: Mapping[str, object]
    ) -> tuple[pa.Array | pa.ChunkedArray, list[Failure]]:
        """One value per row of ``table``, and the rows that failed."""
        n = table.num_rows
        if self.column is not None:
            return table.column(self.column), []
        columns = [name for name in self.names if has_column(table, name)]

        def budget() -> limits.Budget:
            # Made when rows are run through jinja: counting the text a table holds is
            # not free, and the Arrow kernels do not need it.
            return limits.Budget(n, text_read(table, columns))

        if not columns:
            # Same value on every row: computed once, and failing on every row alike.
            value = self.run({k: v for k, v in variables.items() if k in self.names})
            if isinstance(value, Exception):
                error = f"{type(value).__name__}: {value}"
                return pa.nulls(n), [Failure(i, error) for i in range(n)]
            if isinstance(value, str) and len(value) * n > budget().text:
                return pa.nulls(n), [Failure(WHOLE, f"{len(value):,} characters on each of "
                                                    f"{n:,} rows is more than allowed")]
            one = to_array([value])  # typed as a column of n such values would be
            return (pa.repeat(one[0], n) if n else one.slice(0, 0)), []
        fast = self._vectorised(table, variables, columns, budget)
        if fast is not None:
            return fast
        if n == 0:
            return self._empty(table, variables, columns), []
        out, failures = self._per_row(table, variables, columns, budget())
        return to_array(out), failures

    def _empty(self, table: pa.Table, variables: Mapping[str, object], columns: list[str]
               ) -> pa.Array:
        """No rows, typed as rows would make it: the expression run once on a made-up row
        of the columns' types (a check before any file, on empty tables, must see a
        number where the rows will give one, not a column of nulls)."""
        made_up = {name: probe(table.column(name).type) for name in columns}
        base = {k: v for k, v in variables.items() if k in self.names}
        value = self.run({**base, **made_up})
        if isinstance(value, Exception) or value is None:
            return pa.nulls(0)
        try:
            return to_array([value]).slice(0, 0)
        except (pa.ArrowException, TypeError, ValueError):
            return pa.nulls(0)

    def _vectorised(
        self, table: pa.Table, variables: Mapping[str, object], columns: list[str],
        budget: Callable[[], limits.Budget],
    ) -> tuple[pa.Array | pa.ChunkedArray, list[Failure]] | None:
        """Arrow kernels for the rows without nulls, jinja for the others; None: all jinja."""
        from bridge.steps.vector import Fallback, vectorise

        if self.tree is None:
            return None
        try:
            values = vectorise(self.tree, table, variables)
        except (Fallback, pa.ArrowException):
            return None
        if isinstance(values, pa.Scalar):
            values = pa.repeat(values, table.num_rows)
        sensitive = [name for name in columns if name in self.sensitive]
        if not sensitive:
            return values, []
        missing = pc.is_null(table.column(sensitive[0]))
        for name in sensitive[1:]:
            missing = pc.or_(missing, pc.is_null(table.column(name)))
        rows = pc.indices_nonzero(missing)
        if len(rows) == 0:
            return values, []
        out, failures = self._per_row(table.select(columns).take(rows), variables, columns,
                                      budget())
        try:
            patch = pa.array(out, values.type)
        except (pa.ArrowException, TypeError, ValueError):
            return None
        where = rows.to_pylist()
        failures = [f if f.row == WHOLE else Failure(where[f.row], f.error) for f in failures]
        mask = pc.fill_null(missing, False)
        return pc.replace_with_mask(flat(values), flat(mask), patch), failures

    def _per_row(
        self, table: pa.Table, variables: Mapping[str, object], columns: list[str],
        budget: limits.Budget | None = None,
    ) -> tuple[list[object], list[Failure]]:
        if budget is None:
            budget = limits.Budget(table.num_rows, text_read(table, columns))
        values = [table.column(name).to_pylist() for name in columns]
        base = {k: v for k, v in variables.items() if k in self.names}
        out: list[object] = []
        failures: list[Failure] = []
        for i, row in enumerate(zip(*values, strict=True)):
            result = self.run({**base, **dict(zip(columns, row, strict=True))})
            if isinstance(result, Exception):
                failures.append(Failure(i, f"{type(result).__name__}: {result}"))
                result = None
            out.append(result)
            stop = budget.spend(result)
            if stop is not None:
                # The rows left are not computed: none of them may be written.
                failures.append(Failure(WHOLE, f"stopped at row {i + 1} of {table.num_rows}: "
                                               f"{stop}"))
                out.extend([None] * (table.num_rows - len(out)))
                break
        return out, failures

    def run(self, env_vars: dict[str, object]) -> object:
        """The value, or the exception it raised (returned, so loops stay cheap)."""
        template = self.code
        try:
            context = template.new_context(env_vars)
            for _ in template.root_render_func(context):
                pass
            result = limits.checked(context.vars["result"])
            if isinstance(result, Undefined):
                result._fail_with_undefined_error()
        except Exception as exc:  # any error of one row's data becomes an issue
            return exc
        return result


def compile_expression(
    source: str, columns: Iterable[str], where: str, variables: Iterable[str] = (),
    table: str = "",
) -> Expression:
    """Compile once; unknown names, syntax errors and expressions that break a bound of
    :mod:`limits` by themselves (on any small value) are configuration mistakes."""
    known = set(columns)
    if source in known:
        return Expression(source, source, (source,))
    known.update(variables)
    compiled = _compiled(source)
    if isinstance(compiled, str):
        raise ConfigError(f"{where}: cannot read expression {source!r}: {compiled}")
    tree, names, code = compiled
    unknown = [n for n in names if n not in known and n not in environment().globals]
    if unknown:
        from bridge.display import did_you_mean

        raise ConfigError(f"{where}: table {table!r} has no field {unknown[0]!r} "
                          f"(in {source!r}){did_you_mean(unknown[0], known)}")
    expression = Expression(source, None, names, code, tree)
    fields = tuple(n for n in names if n in known)  # not the globals (range, dict...)
    failed = _unbounded(expression, fields)
    if failed is not None:
        raise ConfigError(f"{where}: expression {source!r} has no bound: {failed}; see the "
                          "limits in docs/steps.md")
    return expression


@lru_cache(maxsize=1024)
def _compiled(source: str) -> tuple[nodes.Node, tuple[str, ...], Any] | str:
    """An expression parsed and compiled once per process (a pass runs it per chunk and
    per file), or why it cannot be read."""
    env = environment()
    try:
        parser = Parser(env, source, state="variable")
        tree = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("unexpected text after the expression", 1)
    except TemplateSyntaxError as exc:
        return str(exc.message)
    found = [tree, *tree.find_all(nodes.Name)]  # find_all skips the root itself
    names = tuple(sorted({n.name for n in found
                          if isinstance(n, nodes.Name) and n.ctx == "load"}))
    assign = nodes.Assign(nodes.Name("result", "store"), tree, lineno=1)
    template = _exact_literals(nodes.Template([assign], lineno=1))
    assert isinstance(template, nodes.Template)
    template.set_environment(env)
    made = env.from_string(template)
    # Its globals as one plain dict (jinja gives a ChainMap over the environment's): every
    # row's context copies them, and a ChainMap is copied key by key in Python.
    made.globals = dict(made.globals)
    return assign.node, names, made


_BOUNDED: dict[tuple[str, tuple[str, ...]], str | None] = {}


def _unbounded(expression: Expression, fields: tuple[str, ...]) -> str | None:
    """Why the expression breaks a bound of :mod:`limits` by itself (on any small value),
    tried once per expression and fields."""
    key = (expression.source, fields)
    if key not in _BOUNDED:
        _BOUNDED[key] = None
        for value in _PROBES:
            failed = expression.run(dict.fromkeys(fields, value))
            if isinstance(failed, limits.LimitError):
                _BOUNDED[key] = f"{failed} (with every field {value!r})"
                break
    return _BOUNDED[key]
