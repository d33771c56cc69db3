"""Reading bridge's YAML files (bridge.yaml, tracciati): one loader, one kind of message.

- Booleans are only ``true`` and ``false`` (YAML 1.2): PyYAML's YAML 1.1 rules turn
  ``on:``, ``yes``, ``no``, ``off`` into booleans, so a lookup's ``on: codice`` became
  ``True: codice``, and an enum value ``NO`` (Norway) became False.
- libyaml's parser when PyYAML has it (about eight times faster), with the same rules.
- A syntax error says where (line and column) and what, in words, with a hint for the
  usual traps: a ``${VAR}`` or a ``:`` inside ``{...}`` without quotes, a tab.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_Base):  # type: ignore[valid-type, misc]
    """PyYAML's safe loader with YAML 1.2's booleans."""


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


def _plain(exc: yaml.YAMLError, text: str) -> YamlError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "?"
    problem = str(getattr(exc, "problem", None) or exc).strip()
    message = f"not valid YAML: {problem}"
    lines = text.splitlines()
    # The line where it went wrong, and the one where the construct began (a {...} left
    # open is found at the end of the file).
    marks = [m for m in (mark, getattr(exc, "context_mark", None)) if m is not None]
    line = " ".join(lines[m.line] for m in marks if m.line < len(lines))
    starts = (mark is not None and mark.line < len(lines)
              and mark.column < len(lines[mark.line]))
    if "\t" in line:
        message += " (YAML does not allow tabs for indentation: use spaces)"
    elif problem.startswith("found character that cannot start any token") and starts:
        assert mark is not None
        ch = lines[mark.line][mark.column]
        rest = re.split(r"[,}\]]| #", lines[mark.line][mark.column:])[0].strip()
        message += f" (a value starting with {ch!r} must be quoted: '{rest}')"
    elif "{" in line and "${" in line:
        message += (' (a ${VAR} inside {...} must be quoted: write "${VAR}", or the braces'
                    " are read as YAML's own)")
    elif "{" in line:
        message += (" (inside {...}, a value holding ':', ',', '#', '{' or '}' must be "
                    "quoted)")
    elif problem.startswith("mapping values are not allowed"):
        message += " (a value holding ': ' must be quoted)"

    return YamlError(where, message)


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
