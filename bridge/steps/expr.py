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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from jinja2 import TemplateSyntaxError, Undefined, nodes
from jinja2.parser import Parser

from bridge.codecs.frames import has_column
from bridge.errors import ConfigError
from bridge.steps import limits
from bridge.steps.arrays import flat, probe, text_read, to_array
from bridge.steps.distinct import WHOLE, Failure, Failures, by_distinct
from bridge.steps.sandbox import decimals, environment, round2, to_decimal, to_int

__all__ = ["WHOLE", "Expression", "Failure", "Failures", "compile_expression", "decimals", "round2",
           "to_array", "to_decimal", "to_int"]

#: Values every name is given in turn when an expression is compiled: an expression that
#: breaks a bound on such small values breaks it on every row, and is a mistake.
_PROBES: tuple[object, ...] = ("", 2)
#: Results of distinct rows one evaluation remembers (rows of the same values run once).
MEMO_MAX = 65_536


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


@dataclass
class Expression:
    """A compiled expression: a column, or jinja code over the variables in ``names``."""

    source: str
    column: str | None
    names: tuple[str, ...]
    code: Any = None
    tree: nodes.Node | None = None

    @functools.cached_property
    def pure(self) -> bool:
        """Whether its result is a function of its values alone (the ``random`` filter is
        the one of the sandbox that is not)."""
        if self.tree is None:
            return False
        found = [self.tree, *self.tree.find_all(nodes.Filter)]  # find_all skips the root
        return not any(isinstance(f, nodes.Filter) and f.name == "random" for f in found)

    @functools.cached_property
    def sensitive(self) -> frozenset[str]:
        """The names whose missing values its Arrow kernels would not treat as jinja does
        (:func:`~bridge.steps.vector.null_sensitive`): found once, not per table."""
        from bridge.steps.vector import null_sensitive

        return frozenset(null_sensitive(self.tree)) if self.tree is not None else frozenset()

    def evaluate(
        self, table: pa.Table, variables: Mapping[str, object]
    ) -> tuple[pa.Array | pa.ChunkedArray, Failures]:
        """One value per row of ``table``, and the rows that failed."""
        n = table.num_rows
        if self.column is not None:
            return table.column(self.column), Failures()
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
                return pa.nulls(n), Failures.every(n, error)
            if isinstance(value, str) and len(value) * n > budget().text:
                return pa.nulls(n), Failures(stopped=f"{len(value):,} characters on each of "
                                                     f"{n:,} rows is more than allowed")
            one = to_array([value])  # typed as a column of n such values would be
            return (pa.repeat(one[0], n) if n else one.slice(0, 0)), Failures()
        fast = self._vectorised(table, variables, columns, budget)
        if fast is not None:
            return fast
        if n == 0:
            return self._empty(table, variables, columns), Failures()
        return self._rows(table, variables, columns, budget(), to_array)

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
    ) -> tuple[pa.Array | pa.ChunkedArray, Failures] | None:
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
            return values, Failures()
        missing = pc.is_null(table.column(sensitive[0]))
        for name in sensitive[1:]:
            missing = pc.or_(missing, pc.is_null(table.column(name)))
        rows = pc.indices_nonzero(missing)
        if len(rows) == 0:
            return values, Failures()
        try:
            patch, failures = self._rows(table.select(columns).take(rows), variables, columns,
                                         budget(), lambda out: pa.array(out, values.type),
                                         rows.to_numpy())
        except (pa.ArrowException, TypeError, ValueError):
            return None
        mask = pc.fill_null(missing, False)
        return pc.replace_with_mask(flat(values), flat(mask), patch), failures

    def _rows(
        self, table: pa.Table, variables: Mapping[str, object], columns: list[str],
        budget: limits.Budget, make: Callable[[list[object]], pa.Array],
        at: np.ndarray | None = None,
    ) -> tuple[pa.Array, Failures]:
        """Rows through jinja: once per distinct row where the rows of the same values are
        sure to give the same result (:func:`~bridge.steps.distinct.by_distinct`), else
        one by one (:meth:`_per_row`). ``make`` builds the column of results."""
        if self.pure and all(_exact_key(table.column(n).type) for n in columns):
            base = {k: v for k, v in variables.items() if k in self.names}
            got = by_distinct(self.run, base, table, columns, budget, MEMO_MAX, make, at)
            if got is not None:
                return got
        out, failures = self._per_row(table, variables, columns, budget,
                                      None if at is None else at.tolist())
        return make(out), Failures.of(failures)

    def _per_row(
        self, table: pa.Table, variables: Mapping[str, object], columns: list[str],
        budget: limits.Budget | None = None, at: list[int] | None = None,
    ) -> tuple[list[object], list[Failure]]:
        """The value of each row (None where it failed), and the rows that failed: by
        their place in ``table``, or in ``at`` (the rows' places in the caller's table)."""
        if budget is None:
            budget = limits.Budget(table.num_rows, text_read(table, columns))
        values = [table.column(name).to_pylist() for name in columns]
        base = {k: v for k, v in variables.items() if k in self.names}
        out: list[object] = []
        failures: list[Failure] = []
        # Rows of the same values give the same result: run once (a stale lookup gives a
        # million rows of the same missing values), unless the values could be equal and
        # differ in text (0.0 and -0.0) or the expression is not a function of its values.
        seen: dict[tuple[object, ...], object] | None = (
            {} if self.pure and all(_exact_key(table.column(n).type) for n in columns)
            else None)
        for i, row in zip(at or range(table.num_rows), zip(*values, strict=True),
                          strict=True):
            result = _UNSEEN if seen is None else seen.get(row, _UNSEEN)
            if result is _UNSEEN:
                result = self.run({**base, **dict(zip(columns, row, strict=True))})
                if isinstance(result, Exception):
                    result = _Failed(f"{type(result).__name__}: {result}")
                if seen is not None and len(seen) < MEMO_MAX:
                    seen[row] = result
            if type(result) is _Failed:
                failures.append(Failure(i, result.error))
                result = None
            out.append(result)
            stop = budget.spend(result)
            if stop is not None:
                # The rows left are not computed: none of them may be written.
                failures.append(Failure(WHOLE, f"stopped at row {len(out)} of "
                                               f"{table.num_rows}: {stop}"))
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
            result = limits.column_value(limits.checked(context.vars["result"]))
            if isinstance(result, Undefined):
                result._fail_with_undefined_error()
        except Exception as exc:  # any error of one row's data becomes an issue
            return exc
        return result


_UNSEEN = object()


@dataclass(frozen=True, slots=True)
class _Failed:
    """A row's evaluation that raised: why, as its issue says it."""

    error: str


def _exact_key(kind: pa.DataType) -> bool:
    """Whether values of this type are equal only when they read the same (not floats:
    0.0 and -0.0) and can be a key (not lists, structs or maps)."""
    return not (pa.types.is_floating(kind) or pa.types.is_nested(kind))


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
