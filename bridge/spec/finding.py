"""Where a tracciato's file is, by its name, without reading any layout (a check of
whether anything changed needs no more).

Tracciati live in folders laid out as ``<root>/<system>/<name>.yaml`` and are named
``system/name``. The roots searched, in order: folders given by the caller (``--tracciati``,
the ``tracciati:`` list of bridge.yaml), the folders in ``$BRIDGE_TRACCIATI`` (separated by
``os.pathsep``) and the ``tracciati`` folder shipped with bridge (:mod:`bridge.shipped`).
Never the current directory: a layout decides what bridge writes, and a stray ``tracciati``
folder wherever cron happens to start must not replace a shipped one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from bridge.errors import TracciatoError
from bridge.shipped import shipped

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
