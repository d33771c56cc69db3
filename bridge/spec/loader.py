"""Load tracciati from YAML, reporting mistakes with their file and location. Where a
tracciato's file is found by its name: :mod:`bridge.spec.finding` (its names are given
here too).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bridge.errors import TracciatoError
from bridge.spec.finding import SHIPPED as SHIPPED  # the names are the loader's too
from bridge.spec.finding import available as available
from bridge.spec.finding import find as find
from bridge.spec.finding import search_roots as search_roots
from bridge.spec.model import Tracciato

if TYPE_CHECKING:
    import yaml
    from pydantic_core import ErrorDetails

    from bridge.spec.yamltraps import Trap

def load(name: str, extra: Iterable[Path | str] = ()) -> Tracciato:
    """Load a tracciato by name or path; a mistake raises :class:`TracciatoError`."""
    path = find(name, extra)
    return load_file(path)


def load_file(path: Path) -> Tracciato:
    """A tracciato file, parsed once per content: a run over many files reads it once."""
    try:
        st = path.stat()
    except OSError as exc:
        raise TracciatoError(f"{path}: cannot read: {exc.strerror}") from None
    # The path as given (made absolute, not resolved: a pass asks per file and per chunk),
    # and what the file is now: a changed file is parsed again.
    key = (os.path.abspath(path), st.st_ino, st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TracciatoError(f"{path}: cannot read: {exc}") from None
        _CACHE[key] = parse(text, path)
    return _CACHE[key]


_CACHE: dict[tuple[str, int, int, int], Tracciato] = {}


def parse(text: str, path: Path | str = "<string>") -> Tracciato:
    """A tracciato from its YAML ``text``; every mistake, with ``path`` and where, raises
    :class:`TracciatoError`. A value YAML read as something else than what was written
    (``when: 01`` is the number 1, ``start: 010`` is 8) is a mistake too, with how to write
    it, even where the model would take what YAML made of it."""
    path = Path(path)
    from bridge.spec.yamltraps import find
    from bridge.yamlio import YamlError, load_nodes

    try:
        data, root = load_nodes(text)
    except YamlError as exc:
        raise TracciatoError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise TracciatoError(f"{path}: the file must hold a mapping (format, records, ...)")
    data.setdefault("name", f"{path.parent.name}/{path.stem}")
    traps = find(Tracciato, root, text, data)
    try:
        tracciato = Tracciato.model_validate(data)
    except ValidationError as exc:
        raise TracciatoError("\n".join(f"{path}: {line}"
                                        for line in _explained(exc, traps, root))) from None
    if traps:  # the model took them: what bridge would use is not what was written
        raise TracciatoError("\n".join(f"{path}: {trap.message}" for trap in traps))
    return tracciato


def describe(exc: ValidationError, text: str | None = None, root: yaml.Node | None = None
             ) -> list[str]:
    """One plain line per pydantic error: ``line 12: records.testata.fields[3].length: must
    be > 0`` (the line where ``root``, the YAML's nodes, has it; none without them).
    With the tracciato's YAML ``text``, a mistake that is one of YAML's traps (``01`` read
    as a number, a comma that ended a value inside ``{...}``) says so, and how to write it."""
    from bridge.spec.yamltraps import find
    from bridge.yamlio import YamlError, load_nodes

    traps: list[Trap] = []
    if text is not None:
        try:
            data, root = load_nodes(text)
            traps = find(Tracciato, root, text, data)
        except YamlError:
            pass
    return _explained(exc, traps, root)


def _explained(exc: ValidationError, traps: Sequence[Trap], root: yaml.Node | None = None
               ) -> list[str]:
    """The errors in words, a trap's message in place of the errors it explains (one trap
    may break several items of a list, or alternatives of a union); first the traps the
    model did not notice (``start: 010`` read as 8 may be why two fields overlap)."""
    from bridge.yamlio import line_of

    unnoticed = [t for t in traps if not any(t.explains(_loc(e)) for e in exc.errors())]
    lines = [t.message for t in unnoticed]
    for err in exc.errors():
        trap = next((t for t in traps if t.explains(_loc(err))), None)
        if trap is not None:
            if trap.message not in lines:
                lines.append(trap.message)
            continue
        where = _location(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (a typo?)"
        line = line_of(root, _loc(err)) if root is not None else None
        at = f"line {line}: " if line is not None else ""
        lines.append(f"{at}{where}: {msg}" if where else f"{at}{msg}")
    return lines


def _loc(err: ErrorDetails) -> list[Any]:
    """An error's location without pydantic's names of validators and union members."""
    return [p for p in err["loc"]
            if not (isinstance(p, str) and p.startswith(("function-", "tagged-union")))]


def _location(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and not part.startswith(("function-", "tagged-union")):
            out += f".{part}" if out else part
    return out


def lint(paths: Iterable[Path]) -> list[str]:
    """Every mistake in the tracciati files under ``paths`` (files or folders)."""
    from bridge.codecs import rehearse

    problems: list[str] = []
    for p in paths:
        files = sorted(p.rglob("*.y*ml")) if p.is_dir() else [p]
        for f in files:
            try:
                t = load_file(f)
            except TracciatoError as exc:
                problems.extend(str(exc).splitlines())
                continue
            # What lints, runs: the typing and checks of the layout on a file of one empty
            # record per type, as `bridge check` will run them.
            failed = rehearse(t)
            if failed is not None:
                problems.append(f"{f}: the checks of this layout fail on a file of empty "
                                f"records ({failed}): a bug of bridge, please report it")
    return problems
