"""jinja2 for file names and templated outputs, always sandboxed.

A template from a configuration cannot reach the file system nor attributes it should not:
it runs in jinja2's immutable sandbox, with undefined names as errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.errors import BridgeError, ConfigError

if TYPE_CHECKING:
    from jinja2 import Template, nodes
    from jinja2.sandbox import ImmutableSandboxedEnvironment


@lru_cache(maxsize=4)
def environment(autoescape: bool = False, folder: str | None = None
                ) -> ImmutableSandboxedEnvironment:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.compiler import CodeGenerator
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class RowsFirst(ImmutableSandboxedEnvironment):
        """``row.field`` on a row (a plain dict) is its value, found at the first try: the
        sandbox would first look for an attribute of the dict, fail, and only then take the
        key (an exception per value, a fifth of an XML render). Anything else, and a name
        that is no key, goes through the sandbox's own checks."""

        def getattr(self, obj: Any, attribute: str) -> Any:
            if type(obj) is dict:
                try:
                    return obj[attribute]
                except KeyError:
                    pass
            return super().getattr(obj, attribute)

    class PlainTextFirst(CodeGenerator):
        """Values written with autoescape go through :func:`escape_value` (a text with
        nothing to escape comes back as it is) instead of markupsafe's ``escape``, which
        wraps every value in a new ``Markup``: the same text, a third of an XML render
        less. Should jinja stop calling this hook, its own escape runs: slower, the same."""

        def _output_child_pre(self, node: Any, frame: Any, finalize: Any) -> None:
            if frame.eval_ctx.autoescape and not frame.eval_ctx.volatile:
                self.write("environment.escape_value(")
                if finalize.src is not None:
                    self.write(finalize.src)
                return
            super()._output_child_pre(node, frame, finalize)

    RowsFirst.code_generator_class = PlainTextFirst
    RowsFirst.escape_value = staticmethod(escape_value)  # type: ignore[attr-defined]

    env = RowsFirst(
        undefined=StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        loader=FileSystemLoader(folder) if folder else None,
    )
    env.filters["zfill"] = lambda v, n: str(v).zfill(int(n))
    return env


def escape_value(value: Any) -> Any:
    """What markupsafe's ``escape`` writes for ``value``, as a plain text when the value is
    one (``&``, ``<``, ``>``, ``'`` and ``"`` as its entities, and a carriage return as
    ``&#13;``) or a number, a date or None
    (whose text holds none of them); anything else through ``escape`` itself (a
    ``Markup`` stays as it is)."""
    kind = type(value)
    if kind is str:
        if "&" in value or "<" in value or ">" in value or "'" in value or '"' in value:
            value = (value.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
                     .replace("'", "&#39;").replace('"', "&#34;"))
        # A carriage return as its reference: an XML parser reads a raw one (and CR LF)
        # as a line feed, and the note would reach the ERP with other line ends.
        return value.replace("\r", "&#13;") if "\r" in value else value
    if kind in _PLAIN:
        return str(value)
    return _escape()(value)


@lru_cache(maxsize=1)
def _escape() -> Callable[[Any], Any]:
    from markupsafe import escape

    return escape


#: Types whose text never holds a character markup escapes.
_PLAIN = frozenset({int, bool, float, Decimal, date, datetime, type(None)})


def render_name(template: str, variables: dict[str, Any]) -> str:
    """A file name from its template, e.g. ``ORD{{ seq | zfill(6) }}_{{ now:%Y%m%d }}.TXT``."""
    try:
        name = _compiled(template).render(**variables)
    except Exception as exc:
        raise _raised(f"file name template {template!r}", exc) from None
    return name.strip()


def _raised(where: str, exc: Exception, line: object = None) -> Exception:
    """What a render of a template raised, as its caller must take it: jinja2's errors (an
    undefined name) and what the template's own code raised on the values it was given
    (``{{ a // b }}`` with ``b`` zero, a text added to a number) are mistakes of the
    template, so that the file waits for the template to be mended instead of failing as
    a fault of bridge's. Running out of memory, and bridge's own errors (what the caller
    must do about them is theirs), stay what they are. ``line``: the line of the source file
    the record being rendered came from, said so that its values can be found."""
    from jinja2 import TemplateError

    if isinstance(exc, TemplateError):
        return ConfigError(f"{where}: {exc}")
    if isinstance(exc, (MemoryError, BridgeError)):
        return exc
    at = "" if line is None else f", the record of line {line}"
    return ConfigError(f"{where}: {type(exc).__name__}: {exc} (raised by the template's own "
                       f"code on the values of this file{at})")


@lru_cache(maxsize=64)
def _compiled(template: str) -> Template:
    return environment().from_string(template)


def name_variables(now: datetime, seq: int, source_name: str, flow: str) -> dict[str, Any]:
    stem = Path(source_name).stem
    return {
        "now": now,
        "date": now.strftime("%Y%m%d"),
        "time": now.strftime("%H%M%S"),
        "seq": seq,
        "source_name": source_name,
        "source_stem": stem,
        "flow": flow,
    }


#: What a templated output may be: markup escapes every value, text escapes none.
KINDS = ("xml", "html", "text")


def render_file(template: Path, variables: dict[str, Any], kind: str) -> str:
    """A templated output of the declared ``kind``: in XML and HTML every value is escaped,
    so data cannot break the markup. The kind is declared (a target's ``format``), never
    guessed from the template's name: ``ORDERS.XML`` or ``orders.xml.tmpl`` is markup too."""
    if kind not in KINDS:
        raise ConfigError(f"template {template}: format {kind!r} is not one of "
                          f"{', '.join(KINDS)}")
    env = environment(autoescape=kind != "text", folder=str(template.parent))
    try:
        return env.get_template(template.name).render(**variables)
    except Exception as exc:
        raise _raised(f"template {template}", exc) from None


def fmt_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


#: The blocks of a template rendered record by record (a target's ``each``).
BLOCKS = ("head", "each", "tail")


class Blocks:
    """A template rendered in parts, so that an output is written as the file streams: its
    ``head`` block once, its ``each`` block per record, its ``tail`` block once. Compiled
    once; what the blocks write is escaped by the declared ``kind``, as a whole render."""

    def __init__(self, template: Path, kind: str) -> None:
        from jinja2 import TemplateError

        if kind not in KINDS:
            raise ConfigError(f"template {template}: format {kind!r} is not one of "
                              f"{', '.join(KINDS)}")
        self.where = template
        env = environment(autoescape=kind != "text", folder=str(template.parent))
        try:
            self.template = env.get_template(template.name)
        except TemplateError as exc:
            raise ConfigError(f"template {template}: {exc}") from None
        missing = [b for b in BLOCKS if b not in self.template.blocks]
        if missing:
            raise ConfigError(f"template {template}: a target with `each` renders the "
                              f"blocks head, each and tail; missing: {', '.join(missing)}")

        #: The template's text, as read when it was compiled.
        self.source = env.loader.get_source(env, template.name)[0] if env.loader else ""
        self._env = env

    def fields(self, block: str, record: str, lines: str | None
               ) -> dict[str, frozenset[str]] | None:
        """The fields that ``block`` reads of the record (``testata.numero``) and of its
        lines (``r['codice']`` in ``{% for r in righe %}``), by table; None when it may
        read others: a row passed whole to a filter, a call or a ``set``, or read by a
        computed key. The rows handed to the block can then hold these fields alone."""
        from jinja2 import TemplateError, nodes

        try:
            tree = self._env.parse(self.source)
        except TemplateError:
            return None
        found = [b for b in tree.find_all(nodes.Block) if b.name == block]
        used: dict[str, set[str]] = {record: set(), **({lines: set()} if lines else {})}
        if len(found) != 1 or not _row_reads(found[0], None, {lines} if lines else set(),
                                               {record: record}, used):
            return None
        return {name: frozenset(names) for name, names in used.items()}

    def render(self, block: str, variables: dict[str, Any]) -> str:
        return self.render_each(block, variables, "", [None])[0]

    def render_each(self, block: str, variables: dict[str, Any], name: str,
                    values: Iterable[Any], more: Callable[[Any], dict[str, Any]] | None = None
                    ) -> list[str]:
        """``block`` once per value, the value as the variable ``name`` (and the variables
        ``more`` gives for it): one context for them all, its variables changed between
        renders (a context per record costs more than many a record's render)."""
        render = self.template.blocks[block]
        out = []
        value = None
        try:
            context = self.template.new_context(dict(variables))
            scope = context.parent  # where the block looks its variables up
            for value in values:
                scope[name] = value
                if more is not None:
                    scope.update(more(value))
                out.append("".join(render(context)))
        except Exception as exc:
            line = value.get("_line") if isinstance(value, dict) else None
            if line is not None and variables.get("source_name"):
                line = f"{line} of {variables['source_name']}"
            raise _raised(f"template {self.where}, block {block}", exc, line) from None
        return out


def _row_reads(node: nodes.Node, parent: nodes.Node | None, tables: set[str],
               rows: dict[str, str], used: dict[str, set[str]]) -> bool:
    """Collect in ``used`` the fields read from rows, by the table they come from
    (``rows``: the record's name, and loop variables over a table of ``tables``); False
    when a row or a table is used in any other way than reading a field by its name, or
    looping over a table."""
    from jinja2 import nodes

    if isinstance(node, nodes.For) and isinstance(node.iter, nodes.Name) \
            and node.iter.name in tables:
        if not isinstance(node.target, nodes.Name):
            return False
        inner = {**rows, node.target.name: node.iter.name}
        parts = [*node.body, *node.else_, *([node.test] if node.test else [])]
        return all(_row_reads(child, node, tables, inner, used) for child in parts)
    if isinstance(node, nodes.Name) and (node.name in rows or node.name in tables):
        if node.ctx != "load" or node.name not in rows:
            return False  # a row given to something else, a table not looped over
        if isinstance(parent, nodes.Getattr) and parent.node is node:
            used[rows[node.name]].add(parent.attr)
            return True
        if isinstance(parent, nodes.Getitem) and parent.node is node \
                and isinstance(parent.arg, nodes.Const) and isinstance(parent.arg.value, str):
            used[rows[node.name]].add(parent.arg.value)
            return True
        return False
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) \
            and isinstance(node.node.node, nodes.Name) and node.node.node.name in rows:
        return False  # testata.get('x'): a method of the row, not a field
    return all(_row_reads(child, node, tables, rows, used)
               for child in node.iter_child_nodes())
