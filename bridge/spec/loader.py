"""Find and load tracciati from YAML, reporting mistakes with their file and location.

Tracciati live in folders laid out as ``<root>/<system>/<name>.yaml`` and are named
``system/name``. The roots searched, in order: folders given by the caller (``--tracciati``,
the ``tracciati:`` list of bridge.yaml), the folders in ``$BRIDGE_TRACCIATI`` (separated by
``os.pathsep``) and the ``tracciati`` folder shipped with bridge (:mod:`bridge.shipped`).
Never the current directory: a layout decides what bridge writes, and a stray ``tracciati``
folder wherever cron happens to start must not replace a shipped one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bridge.errors import TracciatoError
from bridge.shipped import shipped
from bridge.spec.model import Tracciato

SHIPPED = shipped("tracciati")


def search_roots(extra: Iterable[Path | str] = ()) -> list[Path]:
    roots = [Path(p) for p in extra]
    env = os.environ.get("BRIDGE_TRACCIATI", "")
    roots += [Path(p) for p in env.split(os.pathsep) if p]
    roots.append(SHIPPED)
    seen: list[Path] = []
    for r in roots:
        if r.is_dir() and r.resolve() not in {s.resolve() for s in seen}:
            seen.append(r)
    return seen


def available(extra: Iterable[Path | str] = ()) -> dict[str, Path]:
    """Every tracciato name found, with its file; earlier roots win."""
    found: dict[str, Path] = {}
    for root in search_roots(extra):
        for path in sorted(root.glob("*/*.yaml")) + sorted(root.glob("*/*.yml")):
            found.setdefault(f"{path.parent.name}/{path.stem}", path)
    return found


def find(name: str, extra: Iterable[Path | str] = ()) -> Path:
    """The file of a tracciato given by name (``system/name``) or by path."""
    as_path = Path(name)
    if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
        return as_path
    files = available(extra)
    if name in files:
        return files[name]
    known = ", ".join(sorted(files)) or "none"
    raise TracciatoError(f"no tracciato named {name!r} (known: {known})")


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
    path = Path(path)
    from bridge.yamlio import YamlError, load

    try:
        data = load(text)
    except YamlError as exc:
        raise TracciatoError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise TracciatoError(f"{path}: the file must hold a mapping (format, records, ...)")
    data.setdefault("name", f"{path.parent.name}/{path.stem}")
    try:
        return Tracciato.model_validate(data)
    except ValidationError as exc:
        raise TracciatoError("\n".join(f"{path}: {line}"
                                        for line in describe(exc, text))) from None


def describe(exc: ValidationError, text: str | None = None) -> list[str]:
    """One plain line per pydantic error: ``records.testata.fields[3].length: must be > 0``.
    With the YAML ``text``, a mistake that is one of YAML's traps (``01`` read as a number,
    a comma that ended a value inside ``{...}``) says so, and how to write it."""
    from bridge.spec.yamlhints import compose, hint

    root = compose(text) if text is not None else None
    lines = []
    seen: set[str] = set()
    for err in exc.errors():
        where = _location(err["loc"])
        better = hint(err, root, where) if root is not None else None
        if better is not None:
            if better not in seen:  # one trap may break several alternatives of a union
                lines.append(better)
                seen.add(better)
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (a typo?)"
        lines.append(f"{where}: {msg}" if where else msg)
    return lines


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
