"""The YAML traps of a tracciato: where what YAML read is not what its author wrote.

YAML gives a plain (unquoted) value its type by its look: ``01`` and ``0001`` are the number
1 (``010`` is even 8, an octal number), ``1.50`` is 1.5, ``2024-01-01`` a date, ``12:30`` the
number 750; after a space ``#`` starts a comment, and inside ``{...}`` a ``,`` ends a value.
Where the model wants text it then says "Input should be a valid string" (or "a valid
list", or "unknown key" for the words after a comma), which says nothing of why. Where the
model takes what YAML made of it (``start: 010`` is 8; ``pad: #`` or ``pad: ,`` inside
``{...}`` leave the key empty, and an empty optional key is its default), what bridge uses
differs from what was written, silently.

:func:`find` walks the YAML node tree beside the model's annotations (which keys take text,
which take numbers, which hold a model, a list or a mapping) and returns every trap with its
location, its line and the value written as it must be. The loader gives a trap's message
in place of the model's errors at the same place, and refuses a layout whose trap the model
did not notice.
"""

from __future__ import annotations

import copy
import re
import types
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from bridge.yamlio import Loader

Loc = tuple[str | int, ...]
_TAG = "tag:yaml.org,2002:"
_NUMBERS = (int, float, Decimal)


@dataclass(frozen=True)
class Trap:
    """One trap: the line to print, and the model's locations whose errors it explains."""

    message: str
    covers: tuple[Loc, ...]

    def explains(self, loc: Sequence[Any]) -> bool:
        return any(tuple(loc[:len(c)]) == c for c in self.covers)


def find(model: type[BaseModel], root: yaml.Node | None, text: str,
         data: object = None) -> list[Trap]:
    """Every trap of the document ``root`` (parsed from ``text``) read as a ``model``;
    ``data`` (what YAML made of it) tells how a text must be written where a list is
    expected: alone (``when: '01'``), when the model takes one text for a list, or in one."""
    walk = _Walk(model, text, data)
    if isinstance(root, yaml.MappingNode):
        walk.model(model, root, ())
    return walk.traps


def _alternatives(annotation: Any) -> list[Any]:
    """The types a value may have: ``Annotated`` unwrapped, unions (``X | None``) spread."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _alternatives(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [alt for arg in get_args(annotation) for alt in _alternatives(arg)]
    return [annotation]


def _takes_text(alts: list[Any], text: str) -> bool:
    """Whether ``text`` in quotes fits one of the types: ``str``, or a ``Literal`` of it."""
    return any(a is str or (get_origin(a) is Literal and text in get_args(a)) for a in alts)


def _of(alts: list[Any], origin: type) -> Any:
    """The first alternative that is a ``list[...]`` or ``dict[...]`` (``origin``)."""
    return next((a for a in alts if get_origin(a) is origin), None)


def _plain(node: yaml.Node) -> bool:
    """A scalar written without quotes: YAML chose its type by its look."""
    return isinstance(node, yaml.ScalarNode) and not node.style  # libyaml: "", PyYAML: None


def _value(node: yaml.ScalarNode) -> Any:
    """What YAML made of a scalar (its text, for a string)."""
    if node.tag == _TAG + "str":
        return node.value
    return yaml.load(node.value, Loader=Loader) if node.value else None


def _quoted(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    return "'" + value.replace("'", "''") + "'"


def _reading(node: yaml.ScalarNode) -> str:
    """What YAML read a plain scalar as, in words: ``the number 1``, ``the date ...``."""
    tag = node.tag.removeprefix(_TAG)
    value = _value(node)
    if tag == "null":
        return "nothing (null)"
    if tag == "bool":
        return f"the boolean {str(value).lower()}"
    if tag == "timestamp":
        return f"the date {value}"
    if tag == "int" and re.fullmatch(r"[-+]?0[0-7_]+", node.value) and value != int(
            node.value.replace("_", "")):
        return f"the octal number {value}"
    if tag == "int" and ":" in node.value:
        return f"the number {value} (base 60)"
    return f"the number {value}"


class _Walk:
    def __init__(self, model: type[BaseModel], text: str, data: object) -> None:
        self.root_model, self.data = model, data
        self.lines = text.splitlines()
        self.traps: list[Trap] = []

    def add(self, loc: Loc, message: str, covers: Sequence[Loc] = ()) -> None:
        self.traps.append(Trap(f"{_where(loc)}: {message}", tuple(covers)))

    def rest(self, mark: yaml.Mark, colon: bool = True) -> str:
        """The source after ``mark`` on its line, past the ``:`` of a key (or up to it)."""
        line = self.lines[mark.line] if mark.line < len(self.lines) else ""
        return re.sub(r"^\s*:?\s*" if colon else r"^\s*", "", line[mark.column:])

    def value(self, annotation: Any, node: yaml.Node, loc: Loc, after: yaml.Mark) -> None:
        alts = _alternatives(annotation)
        if isinstance(node, yaml.MappingNode):
            model = next((a for a in alts if isinstance(a, type) and issubclass(a, BaseModel)),
                         None)
            if model is not None:
                self.model(model, node, loc)
            elif (mapping := _of(alts, dict)) is not None:
                self.mapping(get_args(mapping), node, loc)
            elif (items := _of(alts, list)) is not None:  # one {...} taken as a list of one
                self.value(get_args(items)[0], node, (*loc, 0), after)
        elif isinstance(node, yaml.SequenceNode) and (items := _of(alts, list)) is not None:
            self.sequence(get_args(items)[0], node, loc)
        elif isinstance(node, yaml.ScalarNode) and _plain(node):
            self.scalar(alts, node, loc, after)

    def model(self, model: type[BaseModel], node: yaml.MappingNode, loc: Loc) -> None:
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        cut = self.commas(node, fields, loc) if node.flow_style else set()
        for i, (key, value) in enumerate(node.value):
            if isinstance(key, yaml.ScalarNode) and key.value in fields and i not in cut:
                self.value(fields[key.value].annotation, value, (*loc, key.value),
                           key.end_mark)

    def mapping(self, types_: tuple[Any, ...], node: yaml.MappingNode, loc: Loc) -> None:
        """A ``dict[str, X]`` (record names): keys that YAML read as numbers, then values."""
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            name = _value(key)
            if (_plain(key) and not isinstance(name, str)
                    and _takes_text(_alternatives(types_[0]), key.value)):
                self.add(loc, f"{key.value} was read by YAML as {_reading(key)}, not as a "
                         f"name; write it in quotes: {_quoted(key.value)}: (line "
                         f"{key.start_mark.line + 1})", [(*loc, name, "[key]")])
            if isinstance(name, str | int):
                self.value(types_[1], value, (*loc, name), key.end_mark)

    def sequence(self, item: Any, node: yaml.SequenceNode, loc: Loc) -> None:
        """A list: models and lists inside it one by one, texts as one list (every text
        YAML read as something else is quoted in the list shown)."""
        alts = _alternatives(item)
        wrong = []
        for i, it in enumerate(node.value):
            if not _plain(it):
                self.value(item, it, (*loc, i), it.start_mark)
            elif it.tag == _TAG + "null" and not it.value:
                self.scalar(alts, it, (*loc, i), it.start_mark)
            elif self.not_text(alts, it):
                wrong.append(it)
            else:
                self.scalar(alts, it, (*loc, i), it.start_mark)
        if wrong:
            shown = ", ".join(_quoted(it.value) if it in wrong else _written(it)
                              for it in node.value)
            first = wrong[0]
            self.add(loc, f"{first.value} was read by YAML as {_reading(first)}, not as text; "
                     f"write it in quotes: {_key(loc)}: [{shown}] (line "
                     f"{first.start_mark.line + 1})", [loc])

    @staticmethod
    def not_text(alts: list[Any], node: yaml.ScalarNode) -> bool:
        """A plain scalar that YAML typed, where the model takes its text but not the type
        YAML gave it (``str | None`` takes ``null``: no trap)."""
        tag = node.tag.removeprefix(_TAG)
        if tag == "str" or not _takes_text(alts, node.value):
            return False
        fits = {"null": type(None) in alts, "bool": bool in alts,
                "int": any(a in _NUMBERS for a in alts), "float": float in alts or
                Decimal in alts}
        return not fits.get(tag, False)

    def scalar(self, alts: list[Any], node: yaml.ScalarNode, loc: Loc,
               after: yaml.Mark) -> None:
        key, line = _key(loc), node.start_mark.line + 1
        items = _of(alts, list)
        texts = alts if items is None else [*alts, *_alternatives(get_args(items)[0])]
        if node.tag == _TAG + "null" and not node.value:
            self.emptied(texts, loc, after)
        elif self.not_text(texts, node):
            single = items is None or str in alts or self.takes_one(loc, node.value)
            shown = _quoted(node.value) if single else f"[{_quoted(node.value)}]"
            self.add(loc, f"{node.value} was read by YAML as {_reading(node)}, not as text; "
                     f"write it in quotes: {key}: {shown} (line {line})", [loc])
        elif node.tag in (_TAG + "int", _TAG + "float") and any(a in _NUMBERS for a in alts):
            self.number(alts, node, loc)

    def emptied(self, alts: list[Any], loc: Loc, after: yaml.Mark) -> None:
        """A value left empty by a ``#`` that starts a comment (a single word: ``pad: #``,
        ``- #N/A``; words are a comment) or, inside {...}, by a ``,``."""
        rest = self.rest(after)
        if rest.startswith("#") and not re.search(r"\s", rest.strip()):
            why, value = "'#' after a space starts a YAML comment", rest.strip()
        elif rest.startswith(","):
            why, value = "an unquoted ',' inside {...} ends the value", ","
        else:
            return
        if not _takes_text(alts, value):
            return
        named = isinstance(loc[-1], str)
        what = _key(loc) if named else f"an item of {_key(loc)}"
        written = (f"{_key(loc)}: " if named else "- ") + _quoted(value)
        self.add(loc, f"{why}, so YAML read {what} as empty; write it in quotes: {written} "
                 f"(line {after.line + 1})", [loc])

    def number(self, alts: list[Any], node: yaml.ScalarNode, loc: Loc) -> None:
        """A number key whose value, as YAML read it, is not the number written: ``010``
        is 8 (octal); a decimal of 20 digits loses the last ones in a float."""
        value = _value(node)
        try:
            written = Decimal(node.value)
        except InvalidOperation:  # 0x1A, 1:30, .inf: YAML's own notations, meant as such
            return
        if isinstance(value, bool) or written == Decimal(str(value)):
            return
        if isinstance(value, int):
            fix = f"write it without leading zeros: {_key(loc)}: {int(written)}"
        else:
            fix = f"write it in quotes: {_key(loc)}: {_quoted(node.value)}"
        self.add(loc, f"{node.value} was read by YAML as {_reading(node)}, not as "
                 f"{written}; {fix} (line {node.start_mark.line + 1})", [loc])

    def commas(self, node: yaml.MappingNode, fields: dict[str, Any], loc: Loc) -> set[int]:
        """Keys of a {...} that are the rest of the value before them, cut by an unquoted
        ``,``: a key written without ``:`` after a plain value (``{description: the
        trailer, this one included.}``), or an unknown key holding a space. One trap for
        each value cut; the positions of its keys and the value cut are returned."""
        cut: set[int] = set()
        entries = node.value
        i = 1
        while i < len(entries):
            head_key, head = entries[i - 1]
            end = i
            while end < len(entries) and self.is_tail(entries[end], fields):
                end += 1
            if end == i or not _plain(head) or not isinstance(head_key, yaml.ScalarNode):
                i = end + 1
                continue
            last_key, last_value = entries[end - 1]
            stop = last_value.end_mark if last_value.value else last_key.end_mark
            joined = self.source(head.start_mark, stop)
            first = entries[i][0].value
            self.add((*loc, first), f"an unquoted ',' inside {{...}} ended the value of "
                     f"{head_key.value!r}, and YAML read {first!r} as a key; quote the whole "
                     f"value: {head_key.value}: {_quoted(joined)} (line "
                     f"{head.start_mark.line + 1})",
                     [(*loc, k.value) for k, _ in entries[i:end]])
            cut.update(range(i - 1, end))
            i = end + 1
        return cut

    def is_tail(self, entry: tuple[yaml.Node, yaml.Node], fields: dict[str, Any]) -> bool:
        key, value = entry
        if not _plain(key) or key.tag != _TAG + "str":
            return False
        no_colon = not value.value and not self.rest(key.end_mark, colon=False).startswith(":")
        spaced = key.value not in fields and bool(re.search(r"\s", key.value))
        return no_colon or (spaced and not isinstance(value, yaml.CollectionNode))

    def source(self, start: yaml.Mark, stop: yaml.Mark) -> str:
        """The text written between two marks (on one line or several)."""
        if start.line == stop.line:
            return self.lines[start.line][start.column:stop.column]
        parts = [self.lines[start.line][start.column:],
                 *self.lines[start.line + 1:stop.line], self.lines[stop.line][:stop.column]]
        return " ".join(p.strip() for p in parts)

    def takes_one(self, loc: Loc, text: str) -> bool:
        """Whether the model takes one text where it expects a list (``when: '01'``):
        tried on the data with the text in place of what YAML made of it."""
        data = copy.deepcopy(self.data)
        try:
            target: Any = data
            for part in loc[:-1]:
                target = target[part]
            target[loc[-1]] = text
            self.root_model.model_validate(data)
        except ValidationError as exc:
            return not any(tuple(e["loc"][:len(loc)]) == loc for e in exc.errors())
        except (LookupError, TypeError):
            return True
        return True


def _written(node: yaml.ScalarNode) -> str:
    quote = node.style if node.style in ("'", '"') else ""
    return f"{quote}{node.value}{quote}"


def _key(loc: Loc) -> str:
    return next((str(p) for p in reversed(loc) if isinstance(p, str)), "the value")


def _where(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
