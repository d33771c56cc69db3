"""A template's ``each`` block rendered on columns, not record by record.

jinja2 renders the ``each`` block once per record: every value is looked up, escaped and
joined by Python, a few dozen calls per order. A block that writes only text, fields of the
record and of its lines (``testata.numero``, ``r['codice']``), ``default``, ``a if c else
b``, ``not``, ``if``/``elif``/``else`` and ``for`` over the lines (with its ``else``) is
turned here into Arrow kernels over a batch of records: each field's text is made for the
whole column at once, escaped as the template escapes it, and the pieces are joined record
by record. The text is the one jinja2 renders, byte for byte (``tests/test_template_columns``
compares both on every construct and type). A block using anything else is rendered by
jinja2: :func:`compile_block` gives None, or :meth:`ColumnBlock.render` does for tables it
cannot render so (a field the table lacks, a value it cannot judge).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    from jinja2 import nodes

#: An expression: ("const", value) · ("var", name) · ("field", table, name) ·
#: ("default", expr, value, boolean) · ("cond", test, a, b) · ("not", expr).
Expr = tuple[Any, ...]
#: A piece of output: ("text", str) · ("out", expr) · ("if", [(test, body)], else) ·
#: ("for", body, else).
Piece = tuple[Any, ...]
#: A text or a truth for every row of a level, or one for them all.
Texts = Union[str, "pa.Array"]
Truths = Union[bool, "pa.Array"]

RECORD, LINE = "record", "line"


class Unsupported(Exception):
    """The block, or these tables, need jinja2."""


@dataclass(frozen=True)
class ColumnBlock:
    pieces: tuple[Piece, ...]
    escape: bool
    #: The variable names of the record and of a line in the loop (None: no loop).
    names: tuple[str, str | None]

    def render(self, records: pd.DataFrame, lines: pd.DataFrame | None,
               parents: np.ndarray | None, variables: Mapping[str, Any], *,
               utf8: bool = False) -> str | memoryview | None:
        """The block over every record of ``records``, its lines those of ``lines`` whose
        ``_parent_line`` (``parents``, -1 for none) is the record's ``_line``; None when
        jinja2 must render these tables. ``utf8``: the text as its UTF-8 bytes, as Arrow
        made them (a target written in UTF-8 needs no Python text: two passes fewer)."""
        try:
            scope = _Scope(self, records, lines, parents, variables)
            text = _join([_piece(p, scope, RECORD) for p in self.pieces])
        except Exception:  # anything else: jinja2 renders these tables, or says what is wrong
            return None
        if isinstance(text, str):
            text *= len(records)
            if utf8 and text.isascii():  # never a lone surrogate: as bytes, without a check
                return memoryview(text.encode("ascii"))
            return text  # as a text, whose bytes are checked where it is encoded
        import pyarrow as pa
        import pyarrow.compute as pc

        whole = pa.ListArray.from_arrays(pa.array([0, len(text)], pa.int32()), text)
        joined = pc.binary_join(whole, "")  # one text, no text per record
        if not utf8:
            return str(joined[0].as_py())
        try:
            joined.validate(full=True)  # what a Python text would refuse, refused here too
        except pa.ArrowInvalid:
            return None
        return memoryview(joined[0].as_buffer())


def compile_block(source: str, block: str, record: str, lines: str | None,
                  escape: bool) -> ColumnBlock | None:
    """``block`` of the template ``source`` for columns; None when jinja2 must render it."""
    from jinja2 import TemplateError

    try:
        return _compiled(source, block, record, lines, escape)
    except (Unsupported, TemplateError):
        return None


@lru_cache(maxsize=16)
def _compiled(source: str, block: str, record: str, lines: str | None,
              escape: bool) -> ColumnBlock:
    from jinja2 import nodes

    from bridge.templating import environment

    tree = environment(autoescape=escape).parse(source)
    if any(True for _ in tree.find_all(nodes.Extends)):
        raise Unsupported("inherits")
    found = [b for b in tree.find_all(nodes.Block) if b.name == block]
    if len(found) != 1:
        raise Unsupported("no such block")
    c = _Compiler(record, lines, escape)
    return ColumnBlock(tuple(c.body(found[0].body, None)), escape, (record, c.loop))


class _Compiler:
    def __init__(self, record: str, lines: str | None, escape: bool) -> None:
        self.record, self.lines, self.escape = record, lines, escape
        self.loop: str | None = None

    def body(self, body: list[nodes.Node], loop: str | None) -> list[Piece]:
        from jinja2 import nodes

        out: list[Piece] = []
        for node in body:
            if isinstance(node, nodes.Output):
                for child in node.nodes:
                    if isinstance(child, nodes.TemplateData):
                        out.append(("text", child.data))
                    else:
                        out.append(("out", self.expr(child, loop)))
            elif isinstance(node, nodes.If):
                branches = [(self.expr(node.test, loop), self.body(node.body, loop))]
                branches += [(self.expr(e.test, loop), self.body(e.body, loop))
                             for e in node.elif_]
                out.append(("if", branches, self.body(node.else_, loop)))
            elif isinstance(node, nodes.For) and loop is None and self.lines is not None \
                    and isinstance(node.iter, nodes.Name) and node.iter.name == self.lines \
                    and isinstance(node.target, nodes.Name) and node.test is None \
                    and not node.recursive and node.target.name not in (self.record, "loop"):
                if self.loop not in (None, node.target.name):
                    raise Unsupported("two loop names")
                self.loop = node.target.name
                out.append(("for", self.body(node.body, self.loop),
                            self.body(node.else_, None)))
            else:
                raise Unsupported(type(node).__name__)
        return out

    def expr(self, node: nodes.Node, loop: str | None) -> Expr:
        from jinja2 import nodes

        if isinstance(node, nodes.Const):
            return ("const", node.value)
        if isinstance(node, nodes.Not):
            return ("not", self.expr(node.node, loop))
        if isinstance(node, nodes.CondExpr) and node.expr2 is not None:
            return ("cond", self.expr(node.test, loop), self.expr(node.expr1, loop),
                    self.expr(node.expr2, loop))
        if isinstance(node, (nodes.Getattr, nodes.Getitem)) \
                and isinstance(node.node, nodes.Name):
            name = node.attr if isinstance(node, nodes.Getattr) else _const_text(node.arg)
            if node.node.name == self.record:
                return ("field", RECORD, name)
            if loop is not None and node.node.name == loop:
                return ("field", LINE, name)
            raise Unsupported("a field of something else")
        if isinstance(node, nodes.Name) and node.name not in (
                self.record, self.lines, loop, "loop"):
            return ("var", node.name)
        if isinstance(node, nodes.Filter) and node.name in ("default", "d") \
                and node.node is not None and node.dyn_args is None \
                and node.dyn_kwargs is None:
            args = [_const(a) for a in node.args]
            kwargs = {str(k.key): _const(k.value) for k in node.kwargs}
            try:
                value, boolean = _default_args(*args, **kwargs)
            except TypeError:
                raise Unsupported("default's arguments") from None
            return ("default", self.expr(node.node, loop), value, bool(boolean))
        raise Unsupported(type(node).__name__)


def _default_args(default_value: Any = "", boolean: Any = False) -> tuple[Any, Any]:
    return default_value, boolean


def _const(node: nodes.Node) -> Any:
    from jinja2 import nodes

    if not isinstance(node, nodes.Const):
        raise Unsupported("an argument that is no constant")
    return node.value


def _const_text(node: nodes.Node) -> str:
    value = _const(node)
    if not isinstance(value, str):
        raise Unsupported("an item that is no name")
    return value


class _Scope:
    """The columns of a batch: the records, and their lines in the order they are written
    (record by record, each record's lines in the file's order)."""

    def __init__(self, block: ColumnBlock, records: pd.DataFrame, lines: pd.DataFrame | None,
                 parents: np.ndarray | None, variables: Mapping[str, Any]) -> None:
        import numpy as np

        self.block, self.variables = block, variables
        self.frames: dict[str, pd.DataFrame] = {RECORD: records}
        self.n = {RECORD: len(records), LINE: 0}
        self.counts = np.zeros(len(records), dtype=np.int64)
        self.owner = np.zeros(0, dtype=np.int64)  # the record of each line written
        self.cache: dict[tuple[str, str, str], Any] = {}
        if block.names[1] is None or lines is None or parents is None \
                or "_line" not in records.columns:
            return
        keys = records["_line"].to_numpy(dtype=np.int64, na_value=-2)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        if len(ordered) > 1 and bool((ordered[1:] == ordered[:-1]).any()):
            raise Unsupported("records sharing a line")
        at = np.minimum(np.searchsorted(ordered, parents), max(len(ordered) - 1, 0))
        hit = np.flatnonzero((ordered[at] == parents) if len(ordered) else
                             np.zeros(len(parents), dtype=bool))
        owner = order[at[hit]]
        written = np.argsort(owner, kind="stable")
        self.owner = owner[written]
        self.counts = np.bincount(self.owner, minlength=len(records))
        self.frames[LINE] = lines.iloc[hit[written]]
        self.n[LINE] = len(self.owner)

    def field(self, table: str, name: str, level: str, what: str) -> Any:
        """The text or truth of a field of ``table``, for every row of ``level`` (a record's
        value repeated for each of its lines)."""
        if table == RECORD and level == LINE:
            key = (table, name, what + "@line")
            if key not in self.cache:
                self.cache[key] = self.field(table, name, RECORD, what).take(self.owner)
            return self.cache[key]
        key = (table, name, what)
        if key not in self.cache:
            frame = self.frames.get(table)
            if not self.n[table]:  # no row: nothing to write, whatever the field
                import pyarrow as pa

                self.cache[key] = pa.array([], pa.bool_() if what == "truth" else pa.string())
            elif frame is None or name not in frame.columns:
                raise Unsupported(f"no field {name}")
            else:
                from bridge.template_cells import column

                self.cache[key] = column(frame[name], self.block.escape, what)
        return self.cache[key]


def _piece(piece: Piece, scope: _Scope, level: str) -> Texts:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = piece[0]
    if kind == "text":
        return str(piece[1])
    if kind == "out":
        return _text(piece[1], scope, level)
    n = scope.n[level]
    if kind == "if":
        result = _join([_piece(p, scope, level) for p in piece[2]])
        for test, body in reversed(piece[1]):
            truth = _truth(test, scope, level)
            text = _join([_piece(p, scope, level) for p in body])
            result = _choose(truth, text, result, n)
        return result
    assert kind == "for" and level == RECORD
    each = _join([_piece(p, scope, LINE) for p in piece[1]])
    if isinstance(each, str):
        each = pa.array([each] * scope.n[LINE], pa.string())
    offsets = pa.array(_offsets(scope.counts), pa.int32())
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, each), "")
    if not piece[2]:
        return joined
    empty = _join([_piece(p, scope, RECORD) for p in piece[2]])
    return _choose(pa.array(scope.counts == 0), empty, joined, n)


def _offsets(counts: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.concatenate(([0], np.cumsum(counts))).astype(np.int32)


def _join(texts: list[Texts]) -> Texts:
    """The texts laid end to end, row by row."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not any(isinstance(t, pa.Array) for t in texts):
        return "".join(str(t) for t in texts)
    return pc.binary_join_element_wise(*texts, "")


def _choose(truth: Truths, a: Texts, b: Texts, n: int) -> Texts:
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(truth, bool):
        return a if truth else b
    if not isinstance(a, pa.Array) and not isinstance(b, pa.Array):
        a = pa.array([a] * n, pa.string())
    return pc.if_else(truth, a, b)


def _text(expr: Expr, scope: _Scope, level: str) -> Texts:
    """What jinja2 writes for ``expr``: its value's text, escaped if the block escapes."""

    kind = expr[0]
    if kind in ("const", "var"):
        return _write(_value(expr, scope), scope.block.escape)
    if kind == "field":
        return scope.field(expr[1], expr[2], level, "text")
    if kind == "not":
        return _choose(_truth(expr[1], scope, level), "False", "True", scope.n[level])
    if kind == "cond":
        return _choose(_truth(expr[1], scope, level), _text(expr[2], scope, level),
                       _text(expr[3], scope, level), scope.n[level])
    assert kind == "default"
    if not expr[3]:  # the value is always defined: default gives it back
        return _text(expr[1], scope, level)
    return _choose(_truth(expr[1], scope, level), _text(expr[1], scope, level),
                   _write(expr[2], scope.block.escape), scope.n[level])


def _truth(expr: Expr, scope: _Scope, level: str) -> Truths:
    """Python's truth of ``expr``'s value, as jinja2's ``if`` and ``default`` judge it."""
    import pyarrow.compute as pc

    kind = expr[0]
    if kind in ("const", "var"):
        return bool(_value(expr, scope))
    if kind == "field":
        return scope.field(expr[1], expr[2], level, "truth")
    if kind == "not":
        truth = _truth(expr[1], scope, level)
        return (not truth) if isinstance(truth, bool) else pc.invert(truth)
    if kind == "cond":
        test = _truth(expr[1], scope, level)
        a, b = _truth(expr[2], scope, level), _truth(expr[3], scope, level)
        if isinstance(test, bool):
            return a if test else b
        return pc.if_else(test, a, b)
    assert kind == "default"
    if expr[3] and bool(expr[2]):
        return True  # the value when it is true, else the default, which is true
    return _truth(expr[1], scope, level)


def _value(expr: Expr, scope: _Scope) -> Any:
    if expr[0] == "const":
        return expr[1]
    if expr[1] not in scope.variables:
        raise Unsupported(f"no variable {expr[1]}")
    return scope.variables[expr[1]]


def _write(value: Any, escape: bool) -> str:
    from bridge.template_cells import write

    return write(value, escape)
