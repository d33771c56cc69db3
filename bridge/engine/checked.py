"""A flow's configuration, checked once per change: what lets every run check it at start.

`bridge run` and `bridge watch` check a flow's configuration before they look at its files
(:mod:`bridge.engine.preflight`), so that a mistake is an error at once, even on a run with
nothing to do. The check runs steps on empty tables and costs a few hundred milliseconds;
an idle run from cron must stay fast. So a flow that passed is remembered by the
fingerprint of everything its check read: the flow's own configuration, the reference
tables, the files of its tracciati, templates and reference tables (path, size, time of
change), and bridge's version. While the fingerprint stays the same, the flow is not
checked again; any change checks it at the next run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.atomic import save_atomic
from bridge.errors import BridgeError
from bridge.files import own_folder

if TYPE_CHECKING:
    from bridge.config import Config


def fingerprint(cfg: Config, name: str) -> str:
    """What a check of flow ``name`` depends on, hashed: stat calls only, no parsing."""
    import bridge
    from bridge.spec.finding import find

    flow = cfg.flows[name]
    sha = hashlib.sha256()
    sha.update(json.dumps({
        # bridge itself: an upgrade rewrites its files
        "bridge": [_stat(Path(bridge.__file__).parent / m) for m in _CODE],
        "flow": flow.model_dump(mode="json"),
        "references": {n: r.model_dump(mode="json") for n, r in cfg.references.items()},
        "tracciati": [str(cfg.path(p)) for p in cfg.tracciati],
        "base": str(cfg.base),
    }, sort_keys=True).encode())
    roots = tuple(str(cfg.path(p)) for p in cfg.tracciati)
    layouts = [flow.tracciato, *(t.tracciato for t in flow.targets if t.tracciato),
               *(r.tracciato for r in cfg.references.values())]
    files = [cfg.path(t.template) for t in flow.targets if t.template is not None]
    files += [cfg.path(r.file) for r in cfg.references.values()]
    for layout in layouts:
        try:
            files.append(find(layout, roots))
        except Exception:  # a layout not found: checked (and reported) every time
            return ""
    for path in files:
        sha.update(_stat(path).encode())
    return sha.hexdigest()


#: Modules of bridge whose change (an upgrade) checks every flow again.
_CODE = ("__init__.py", "config.py", "steps/spec.py", "engine/preflight.py")


def _stat(path: Path) -> str:
    try:
        st = os.stat(path)
    except OSError as exc:
        return f"{path}\0missing {exc.errno}\n"
    return f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ino}\n"


def _where(cfg: Config, name: str) -> Path:
    return cfg.path(cfg.work_dir) / "checked" / hashlib.sha256(name.encode()).hexdigest()[:32]


def known_good(cfg: Config, name: str, print_: str) -> bool:
    """Whether flow ``name`` passed its check with this fingerprint."""
    if not print_:
        return False
    try:
        return _where(cfg, name).read_text(encoding="ascii") == print_
    except (OSError, UnicodeDecodeError):
        return False


def was_good(cfg: Config, name: str) -> bool:
    """Whether flow ``name`` passed a check once with its source folder as it is
    configured now (its fingerprint otherwise whatever): the folder was there then."""
    return _source_seen(cfg, name).is_file()


def _source_seen(cfg: Config, name: str) -> Path:
    source = cfg.flows[name].source
    return _where(cfg, f"{name}\0{source.connection}\0{source.folder}")


def remember_good(cfg: Config, name: str, print_: str) -> None:
    """Flow ``name`` passed its check: not checked again while nothing changes."""
    if not print_:
        return
    where = _where(cfg, name)
    try:
        folder = own_folder(where.parent, depth=2)
        save_atomic(folder / where.name, print_.encode("ascii"), mode=0o600, durable=False)
        seen = _source_seen(cfg, name)
        if not seen.exists():
            save_atomic(folder / seen.name, b"", mode=0o600, durable=False)
    except (OSError, BridgeError):
        pass  # not remembered: checked again next time, which is only slower
