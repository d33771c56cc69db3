"""What a tracciato's author most likely meant, when a mistake is one of YAML's traps.

YAML reads ``01`` as the number 1 and ``0001`` as 1 too, so ``when: 01`` or ``value: 0001``
reach the model as numbers where text is meant, and the model's message ("Input should be
a valid string") says nothing of why. Inside ``{...}`` an unquoted ``,`` ends a value, so
``{name: coda, description: the trailer, this one included.}`` gives a key named
``this one included.``. Here the YAML node behind a mistake is found again, and the
message says what YAML did and how to write it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from bridge.yamlio import Loader

#: Pydantic error types of a value that is not the text, list or name expected.
_TEXT_EXPECTED = {"string_type", "list_type", "literal_error", "enum", "model_type",
                  "dict_type"}
_NOT_TEXT = {"tag:yaml.org,2002:int": "the number", "tag:yaml.org,2002:float": "the number",
             "tag:yaml.org,2002:bool": "the boolean", "tag:yaml.org,2002:null": "nothing",
             "tag:yaml.org,2002:timestamp": "a date"}


def compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=Loader)
    except yaml.YAMLError:
        return None


def node_at(root: yaml.Node | None, loc: Sequence[Any]) -> tuple[yaml.Node | None,
                                                                 yaml.Node | None]:
    """The node at a pydantic location, and the mapping holding its key (or None)."""
    node, parent = root, None
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            found = next(((k, v) for k, v in node.value
                          if isinstance(k, yaml.ScalarNode) and k.value == part), None)
            if found is None:
                return None, None
            parent, node = node, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return None, None
            parent, node = None, node.value[part]
        elif isinstance(part, str) and part.startswith(("function-", "tagged-union")):
            continue
        else:
            return None, None
    return node, parent


def hint(err: Mapping[str, Any], root: yaml.Node | None, where: str) -> str | None:
    """A message for a mistake that is one of YAML's traps, or None."""
    loc = list(err["loc"])
    if err["type"] == "extra_forbidden" and loc:
        return _comma(loc, root, where)
    if err["type"] not in _TEXT_EXPECTED or isinstance(err.get("input"), str):
        return None
    if loc and isinstance(loc[-1], int):
        loc = loc[:-1]  # an item of a list: the list is shown whole, the item quoted
        where = re.sub(r"\[\d+\]$", "", where)
    node, _ = node_at(root, loc)
    scalars = [node] if isinstance(node, yaml.ScalarNode) else (
        [n for n in node.value if isinstance(n, yaml.ScalarNode)]
        if isinstance(node, yaml.SequenceNode) else [])
    wrong = [n for n in scalars if n.tag in _NOT_TEXT and not n.style]  # plain, unquoted
    if not wrong:
        return None
    n = wrong[0]
    key = next((p for p in reversed(loc) if isinstance(p, str)), "the value")
    read_as = _NOT_TEXT[n.tag]
    value = yaml.load(n.value, Loader=Loader) if n.tag != "tag:yaml.org,2002:null" else None
    shown = f"{read_as} {value!r}" if read_as != "nothing" else "nothing (null)"
    if isinstance(node, yaml.SequenceNode):
        quoted = "[" + ", ".join(f"'{s.value}'" if s in wrong else _as_written(s)
                                 for s in scalars) + "]"
    else:
        quoted = f"'{n.value}'"
    return (f"{where}: {n.value} was read by YAML as {shown}, not as text; write it in "
            f"quotes: {key}: {quoted} (line {n.start_mark.line + 1})")


def _as_written(node: yaml.ScalarNode) -> str:
    quote = node.style if node.style in ("'", '"') else ""
    return f"{quote}{node.value}{quote}"


_SPACE = re.compile(r"\s")


def _comma(loc: list[Any], root: yaml.Node | None, where: str) -> str | None:
    """An unknown key that is the tail of a value cut by an unquoted comma in ``{...}``."""
    _, mapping = node_at(root, loc)
    if not isinstance(mapping, yaml.MappingNode) or not mapping.flow_style:
        return None
    keys = [k for k, _ in mapping.value]
    at = next((i for i, k in enumerate(keys) if getattr(k, "value", None) == loc[-1]), None)
    if at is None or at == 0 or not _SPACE.search(str(loc[-1])):
        return None
    prev_key, prev_value = mapping.value[at - 1]
    if not isinstance(prev_value, yaml.ScalarNode) or prev_value.style:
        return None
    joined = f"{prev_value.value}, {loc[-1]}"
    return (f"{where}: an unquoted ',' inside {{...}} ended the value of "
            f"{prev_key.value!r}, and YAML read {loc[-1]!r} as a key; quote the whole value: "
            f"{prev_key.value}: '{joined}' (line {prev_value.start_mark.line + 1})")
