"""Reading bridge's YAML files (bridge.yaml, tracciati): one loader, one kind of message.

- Booleans are only ``true`` and ``false`` (YAML 1.2): PyYAML's YAML 1.1 rules turn
  ``on:``, ``yes``, ``no``, ``off`` into booleans, so a lookup's ``on: codice`` became
  ``True: codice``, and an enum value ``NO`` (Norway) became False.
- libyaml's parser when PyYAML has it (about eight times faster), with the same rules.
- A syntax error says where (line and column) and what, in words, with a hint for the
  usual traps and the value written as it must be: a ``${VAR}``, a ``:`` or a `` #``
  inside ``{...}`` without quotes, a value starting with ``%``, ``@``, a backtick or ``,``,
  a ``: `` inside a value, a tab.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import yaml

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_Base):  # type: ignore[valid-type, misc]
    """PyYAML's safe loader with YAML 1.2's booleans, refusing a key written twice in one
    mapping: PyYAML keeps the last and drops the first unsaid, so a second flow named as
    an earlier one, a second ``steps:`` or a field's ``length`` given twice took the place
    of the first with no word (YAML itself says a mapping's keys are unique). A key an
    anchor's merge (``<<: *base``) gives, written again, is the merge's purpose: allowed.
    Merges are made as YAML says (:meth:`flatten_mapping`)."""

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        """The mapping's keys with those its merges (``<<``) give: its own keys win over
        merged ones, and a mapping named earlier in a merge's list wins over a later one
        (YAML's merge key). A merged mapping is flattened first, with its own overrides:
        PyYAML 6.0.4's kept a key's first merged value, so that ``{<<: *b}``, where ``b``
        was ``{<<: *a, port: 2222}``, had ``a``'s port (and only when Python had interned
        the key's text). Each mapping is checked for a key written twice before, once."""
        done: set[int] = self.__dict__.setdefault("_flattened", set())
        if id(node) in done:
            return
        done.add(id(node))
        self._check_twice(node)
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        own: list[tuple[yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.tag == "tag:yaml.org,2002:value":
                    key_node.tag = "tag:yaml.org,2002:str"
                own.append((key_node, value_node))
                continue
            sources = (value_node.value if isinstance(value_node, yaml.SequenceNode)
                       else [value_node])
            for sub in sources:
                if not isinstance(sub, yaml.MappingNode):
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"expected a mapping or list of mappings for merging, but found "
                        f"{sub.id}", sub.start_mark)
                self.flatten_mapping(sub)
            # The last of equal keys wins when the mapping is made: the earliest, last.
            for sub in reversed(sources):
                merged.extend(sub.value)
        node.value = merged + own

    def _check_twice(self, node: yaml.MappingNode) -> None:
        seen: dict[Any, yaml.Mark] = {}
        merge: yaml.Mark | None = None
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                if merge is not None:  # the second merge's values would win, unsaid
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the merge key << is written twice in one mapping "
                        f"(first on line {merge.line + 1}): merge both in one list, the "
                        "first named winning: <<: [*first, *second]", key_node.start_mark)
                merge = key_node.start_mark
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # not hashable: the base refuses it in its own words
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is written twice in one mapping (first "
                    f"on line {first.line + 1}): YAML would keep the second and drop the "
                    "first unsaid; remove or rename one", key_node.start_mark)


Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in _Base.yaml_implicit_resolvers.items()
}
Loader.add_implicit_resolver("tag:yaml.org,2002:bool",
                             re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                             list("tTfF"))


class YamlError(ValueError):
    """A file that is not valid YAML: ``where`` is ``line L, column C``."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


def load(text: str) -> Any:
    """The data of a YAML document; :class:`YamlError` in plain words if it is not one."""
    try:
        return yaml.load(text, Loader=Loader)  # Loader is a safe loader
    except yaml.YAMLError as exc:
        raise _plain(exc, text) from None


def load_nodes(text: str) -> tuple[Any, yaml.Node | None]:
    """The data of a YAML document and its node tree (where each value was written, and
    how: plain or quoted), parsed once; :class:`YamlError` as :func:`load`."""
    loader = Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _plain(exc, text) from None
    finally:
        loader.dispose()
    return data, node


def line_of(root: yaml.Node | None, loc: Sequence[Any]) -> int | None:
    """The line (from 1) where the value at ``loc`` (keys and list indexes, as a model's
    error names it; an index may be text) is written: the key's own line for a key, else
    the nearest value written above it (a key that is missing: its mapping's); None for the
    whole document. A part that names no key there (the name of one of a union's members)
    is passed over."""
    node: yaml.Node | None = root
    mark: yaml.Mark | None = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            entry = next(((k, v) for k, v in node.value
                          if isinstance(k, yaml.ScalarNode) and k.value == str(part)), None)
            if entry is None:
                continue
            mark, node = entry[0].start_mark, entry[1]
        elif isinstance(node, yaml.SequenceNode) and str(part).isdigit() \
                and int(part) < len(node.value):
            node = node.value[int(part)]
            mark = node.start_mark
        else:
            break
    return None if mark is None else mark.line + 1


def _plain(exc: yaml.YAMLError, text: str) -> YamlError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"
    problem = str(getattr(exc, "problem", None) or exc).strip()
    lines = text.splitlines()
    # The line where it went wrong, and the one where the construct began (a {...} left
    # open is found at the end of the file).
    marks = [m for m in (mark, getattr(exc, "context_mark", None)) if m is not None]
    line = " ".join(lines[m.line] for m in marks if m.line < len(lines))
    at = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    col = mark.column if mark is not None else 0
    # A mapping read whole and refused (a key twice, a merge of a list) is no slip of
    # the syntax: the hints are for those.
    built = isinstance(exc, yaml.constructor.ConstructorError)
    hint = "" if built else _hint(problem, line, at, col, lines, marks)
    return YamlError(where, f"not valid YAML: {problem}{hint}")


def _hint(problem: str, line: str, at: str, col: int, lines: list[str],
          marks: list[Any]) -> str:
    """A hint in words for one of the usual traps, with the value written as it must be."""
    ch = at[col:col + 1]
    in_flow = _open_flow(at[:col])
    if "\t" in line:
        return " (YAML does not allow tabs for indentation: use spaces)"
    if ch and (problem.startswith("found character that cannot start any token")
               or (ch == "," and problem.startswith("did not find expected node content")
                   and not in_flow)):
        value = _quoted(_value_at(at, col, in_flow))
        return f" (a value starting with {ch!r} must be quoted: {value})"
    comment = _comment_in_flow(lines, marks)
    if comment:
        return comment
    if "{" in line and "${" in line:
        return (' (a ${VAR} inside {...} must be quoted: write "${VAR}", or the braces'
                " are read as YAML's own)")
    if "{" in line:
        fix = _flow_colon(at, col) if ch == ":" else None
        empty = re.search(r"([^\s{},:#'\"][^{},:#]*):\s+,\s*$", at[:col])
        if ch == "," and empty:  # {delimiter: ,, ...}: the first ',' ended an empty value
            fix = f"{empty.group(1)}: ','"
        return (" (inside {...}, a value holding ':', ',', '#', '{' or '}' must be "
                f"quoted){'; write ' + fix if fix else ''}")
    if problem.startswith("mapping values are not allowed"):
        found = re.match(r"\s*(?:-\s+)?([^\s#'\"{\[][^:#]*?):\s+(.+?)\s*(?:\s#.*)?$", at)
        fix = f": {found.group(1)}: {_quoted(found.group(2))}" if found else ""
        return f" (a value holding ': ' must be quoted{fix})"
    return ""


_QUOTED = re.compile(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"")


def _unquoted(line: str) -> str:
    """``line`` with its quoted values blanked out (same length): what YAML reads as syntax."""
    return _QUOTED.sub(lambda m: "_" * len(m.group()), line)


def _open_flow(before: str) -> bool:
    """Whether a ``{`` or ``[`` is still open at the end of ``before`` (one line)."""
    b = _unquoted(before)
    return b.count("{") + b.count("[") > b.count("}") + b.count("]")


def _value_at(at: str, col: int, in_flow: bool) -> str:
    """The value that starts at ``col``: up to a comment, and inside {...} or [...] up to
    the next ``,`` or closing bracket (there they end a value)."""
    rest = re.split(r"\s#", at[col:])[0]
    if in_flow:
        rest = re.split(r"(?<=.)[,}\]]", rest)[0]
    return rest.strip()


def _quoted(value: str) -> str:
    """``value`` in YAML quotes: single, or double when it holds a single one."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value and "\\" not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def _flow_colon(at: str, col: int) -> str | None:
    """``key: 'a: b'`` for a value inside {...} cut by the ``:`` at ``col``."""
    found = re.search(r"[{,]\s*([^\s{},:#'\"][^{},:#]*?):\s+([^{},]*)$", at[:col])
    if found is None:
        return None
    value = found.group(2) + re.split(r"[,}]", at[col:])[0]
    return f"{found.group(1).strip()}: {_quoted(value.strip())}"


def _comment_in_flow(lines: list[str], marks: list[Any]) -> str | None:
    """A ``#`` inside an open {...} or [...] starts a comment: the rest of the line, the
    closing bracket too, is gone, and the error is found a line or more later."""
    if not marks:
        return None
    last = max(m.line for m in marks)
    for n in range(max(min(m.line for m in marks) - 1, 0), min(last + 1, len(lines))):
        for found in re.finditer(r"(?:(?<=\s)|(?<=[\[{,]))(#[^\s,}\]]*)",
                                 _unquoted(lines[n])):
            if _open_flow(lines[n][:found.start()]):
                key = re.search(r"([^\s{},\[\]:#'\"][^{},\[\]:#]*):\s+$",
                                lines[n][:found.start(1)])
                fix = (f"{key.group(1)}: " if key else "") + _quoted(found.group(1))
                return (f" (line {n + 1}: '#' starts a YAML comment there, which hides the rest "
                        f"of the line, the closing bracket too: quote the value: {fix})")
    return None


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def key_line(text: str, path: str) -> int | None:
    """The line (1-based) of the deepest key of ``path`` (``flows.ordini.steps[3].group``)
    found in the YAML ``text``; None when not even its first key is there. Keys only: a
    message can point at the line to fix."""
    try:
        node = yaml.compose(text, Loader=Loader)
    except yaml.YAMLError:
        return None
    line = None
    for name, index in _PART.findall(path):
        if isinstance(node, yaml.MappingNode) and name:
            found = next(((k, v) for k, v in node.value
                          if isinstance(k, yaml.ScalarNode) and k.value == name), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            break
    return line
