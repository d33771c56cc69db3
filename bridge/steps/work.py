"""The state of one run of the steps: the tables, and what was found so far.

Every step reads and writes Arrow tables through :class:`Work`, which also knows where it is
(``steps[2].lookup``) so that a configuration mistake names the step, and a bad row becomes
an issue on the row's line in the source file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs.frames import has_column
from bridge.display import did_you_mean
from bridge.errors import ConfigError
from bridge.issues import NOTE_CODES, Issue, clip
from bridge.steps.expr import WHOLE, Expression, Failures, compile_expression

if TYPE_CHECKING:
    import numpy as np

    from bridge.steps.context import StepContext

LINE = "_line"
PARENT_LINE = "_parent_line"
Column: TypeAlias = "pa.Array | pa.ChunkedArray"
#: Expressions made for the steps (:meth:`Work.expression`), by source and whether it is a
#: column of the table: each with the names it read that were columns or variables.
_MADE: dict[tuple[str, bool], tuple[Expression, frozenset[str]]] = {}
MAX_MADE = 4096


class Work:
    def __init__(self, tables: dict[str, pa.Table], ctx: StepContext) -> None:
        self.tables = tables
        self.ctx = ctx
        self.where = "steps"
        self.issues: list[Issue] = []
        self._errors = self._seen = 0  # errors among the first _seen issues (to_build)
        #: Errors past the caller's room (:meth:`bare`): how many of each code, and the
        #: source lines of their rows (null: an error of the whole table).
        self.unbuilt: Counter[str] = Counter()
        self.unbuilt_lines: list[Column] = []
        #: Notes not built, by code (past the caller's room: :meth:`to_build`).
        self.counted: Counter[str] = Counter()
        self.held: list[str] = []
        self.skipped: list[str] = []
        self.sent: list[str] = []
        #: The keys a ``dedupe keep: sent`` left out as never sent.
        self.unsent: list[str] = []
        self.fingerprints: dict[str, str] = {}
        self.unchanged = 0
        #: A delta step with ``gone``: the keys it saw, and the types of its fields.
        self.delta_seen: list[str] = []
        self.delta_types: dict[str, pa.DataType] = {}
        self.delta_table: str | None = None
        #: The key fields of the delta step on each table: a row a later step drops was
        #: never sent, so its fingerprint is not remembered (:meth:`keep`).
        self.delta_keys: dict[str, list[str]] = {}
        #: The parent table of each child table made by a step (righe of testata): a row
        #: left out takes with it the children of its own table only, not rows of another
        #: table that happen to carry the same line (a table mapped from the parent).
        self.parent_of: dict[str, str] = {}

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.where}: {message}")

    def name(self, table: str | None) -> str:
        """The table a step names, or the only table when it names none."""
        if table is None:
            if len(self.tables) != 1:
                raise self.fail("name the table: there are " + (
                    ", ".join(repr(n) for n in self.tables) or "none"))
            return next(iter(self.tables))
        if table not in self.tables:
            raise self.fail(f"no table {table!r} (there are: {', '.join(self.tables)})")
        return table

    def get(self, table: str | None) -> tuple[str, pa.Table]:
        name = self.name(table)
        return name, self.tables[name]

    def need(self, name: str, table: pa.Table, fields: Iterable[str]) -> None:
        for f in fields:
            if not has_column(table, f):
                raise self.fail(f"table {name!r} has no field {f!r}"
                                + did_you_mean(f, table.schema.names))

    def expression(self, source: str, name: str, table: pa.Table) -> Expression:
        """``compile_expression`` over the table's columns: made once per source and kept
        (a chunk, and every small file, asks for each of the flow's expressions again), and
        taken again while the names it read are what they were: columns or variables the
        same, the rest the environment's (``range``...). Else compiled, errors and all."""
        schema, variables = table.schema, self.ctx.variables
        key = (source, has_column(schema, source))
        made = _MADE.get(key)
        if made is not None:
            expr, known = made
            if all((has_column(schema, n) or n in variables) == (n in known)
                   for n in expr.names):
                return expr
        expr = compile_expression(source, schema.names, self.where, variables, name)
        if len(_MADE) >= MAX_MADE:
            _MADE.clear()
        _MADE[key] = (expr, frozenset(n for n in expr.names if has_column(schema, n)
                                      or n in variables))
        return expr

    def evaluate(self, expr: Expression, name: str, table: pa.Table, target: str) -> Column:
        """The column of values; rows that fail become ``bad-expression`` issues."""
        values, failures = expr.evaluate(table, self.ctx.variables)
        self.report(failures, expr, name, table, target)
        return values

    def report(self, failures: Failures, expr: Expression, name: str, table: pa.Table,
               target: str) -> None:
        if not failures:
            return
        full = self.to_build("bad-expression", len(failures))
        built = failures[:full]
        rows = [f.row for f in built if f.row != WHOLE]
        lines = iter(self.lines_at(table, rows))
        inputs = iter(_inputs(table, expr, rows))
        for f in built:
            whole = f.row == WHOLE  # stopped: no row of the table is to be trusted
            self.issues.append(Issue(
                "bad-expression",
                f"{self.where}: {target} = {expr.source!r} failed: {f.error}",
                None if whole else next(lines), name, target,
                None if whole else clip(next(inputs)),
            ))
        past = failures.past(full)
        self.bare("bad-expression", table, past, whole=len(failures) - full - len(past))

    def lines_at(self, table: pa.Table, rows: Sequence[int] | np.ndarray
                 ) -> list[int | None]:
        """The source lines of these rows (None each, for rows made in memory)."""
        return _lines_of(table, rows).to_pylist()  # type: ignore[no-any-return]

    def to_build(self, code: str, count: int) -> int:
        """How many of ``count`` issues of ``code`` a step builds in full, the first ones
        in row order; the caller keeps the first issues of the file whatever a step builds
        past them, so what it keeps is the same:
        - notes: no more than the caller still keeps (:attr:`StepContext.notes_room`),
          the others counted in :attr:`counted`;
        - errors: no more than the caller still keeps (:attr:`StepContext.errors_room`)
          less the errors found so far; the step adds the others with :meth:`bare`."""
        if code not in NOTE_CODES:
            room = self.ctx.errors_room
            if room is None:
                return count
            # The steps only ever add issues: those added since the last call are counted.
            self._errors += sum(1 for i in self.issues[self._seen:] if i.is_error)
            self._seen = len(self.issues)
            return max(0, min(count, room - self._errors))
        room = self.ctx.notes_room
        if room is None or count <= room:
            return count
        self.counted[code] += count - room
        return room

    def bare(self, code: str, table: pa.Table, rows: Sequence[int] | np.ndarray,
             whole: int = 0) -> None:
        """The issues of ``code`` past those :meth:`to_build` let a step build, on ``rows``
        of ``table`` and ``whole`` of the whole table: errors counted, with the source
        lines of their rows (null for the whole table, and for rows made in memory), which
        is all the caller does with them (leave the rows out, count them by code); no
        object a row (a stale reference table fails a million rows). Notes, counted
        already: nothing."""
        if code in NOTE_CODES or not len(rows) + whole:
            return
        self.unbuilt[code] += len(rows) + whole
        if len(rows):
            self.unbuilt_lines.append(_lines_of(table, rows))
        if whole:
            self.unbuilt_lines.append(pa.nulls(whole, pa.int64()))

    def keep(self, name: str, mask: Column) -> None:
        """Keep the rows of ``name`` where ``mask`` is true; their children follow them."""
        table = self.tables[name]
        mask = pc.fill_null(mask, False)
        if pc.all(mask).as_py():  # every row kept (or none to keep): nothing to filter
            return
        self.tables[name] = table.filter(mask)
        fields = self.delta_keys.get(name)
        if fields and self.fingerprints and all(has_column(table, f) for f in fields):
            from bridge.steps.ops import business_keys

            dropped = table.filter(pc.invert(mask))
            for key in business_keys(dropped, fields).to_pylist():
                self.fingerprints.pop(key, None)
        if has_column(table, LINE):
            self._drop_children(name, table.column(LINE).filter(pc.invert(mask)), {name})

    def _drop_children(self, parent: str, lines: Column, seen: set[str]) -> None:
        for child, table in list(self.tables.items()):
            if child in seen or not has_column(table, PARENT_LINE):
                continue
            if self.parent_of.get(child, parent) != parent:
                continue
            orphan = pc.fill_null(pc.is_in(table.column(PARENT_LINE), value_set=lines), False)
            if pc.any(orphan).as_py():
                self.tables[child] = table.filter(pc.invert(orphan))
                if has_column(table, LINE):
                    self._drop_children(child, table.column(LINE).filter(orphan),
                                        seen | {child})

    def put(self, name: str, table: pa.Table, field: str, values: Column) -> pa.Table:
        """``table`` with ``field`` set to ``values`` (replaced in place when it exists)."""
        at = table.schema.get_all_field_indices(field)  # (not the list of every name)
        if at:
            return table.set_column(at[0], field, values)
        return table.append_column(field, values)


def constant(value: object, n: int) -> pa.Array:
    return pa.nulls(n) if value is None else pa.repeat(value, n)


def _inputs(table: pa.Table, expr: Expression, rows: list[int]) -> list[str]:
    """What each of ``rows`` gave the expression (``name=value, ...``): each column taken
    once for all the rows (a stale reference table fails a million of them)."""
    at = pa.array(rows, pa.int64())
    columns = [(n, table.column(n).take(at).to_pylist()) for n in expr.names
               if has_column(table, n)]
    return [", ".join(f"{n}={values[k]!r}" for n, values in columns) for k in range(len(rows))]


def _lines_of(table: pa.Table, rows: Sequence[int] | np.ndarray) -> pa.Array:
    """The source lines of these rows, as Arrow (nulls, for rows made in memory)."""
    if not has_column(table, LINE):
        return pa.nulls(len(rows), pa.int64())
    return table.column(LINE).take(pa.array(rows, pa.int64()))
