"""The bytes of every target of one file, rendered from one set of tables.

Rendering never raises on data: a value a target cannot hold comes back as an issue on the
row it came from. A target with no data rows is not rendered at all (``write_empty: false``,
the default): the ERP never receives a file holding only its header or trailer.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bridge.engine.tables import load_tracciato
from bridge.issues import Issue

if TYPE_CHECKING:
    import pandas as pd

    from bridge.config import Config, Flow, Target
    from bridge.ledger import FileRow


@dataclass(frozen=True)
class Rendered:
    target: str
    data: bytes
    rows: int

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def target_name(flow: Flow, index: int) -> str:
    return flow.targets[index].name or str(index)


def data_rows(cfg: Config, flow: Flow, tables: dict[str, pd.DataFrame]) -> int:
    """Rows that are data: every table but the headers and trailers of the targets."""
    skip: set[str] = set()
    for target in flow.targets:
        if target.tracciato is not None:
            t = load_tracciato(cfg, target.tracciato)
            skip.update(n for n, r in t.records.items() if r.occurs in ("first", "last"))
    return sum(len(df) for name, df in tables.items() if name not in skip)


def render_targets(cfg: Config, row: FileRow, flow: Flow, tables: dict[str, pd.DataFrame],
                   *, empty: bool = False) -> tuple[list[Rendered], list[Issue]]:
    """Every target's bytes, or the issues that stop them; ``empty``: no data rows, so only
    the targets that ask for it (``write_empty: true``) are rendered."""
    from bridge.codecs import encode_rows

    out: list[Rendered] = []
    issues: list[Issue] = []
    for i, target in enumerate(flow.targets):
        if empty and not target.write_empty:
            continue
        if target.template is not None:
            data, rows, bad = _render_template(cfg, row, target, tables)
        else:
            assert target.tracciato is not None
            t = load_tracciato(cfg, target.tracciato)
            mine = {name: df for name, df in tables.items() if name in t.records}
            encoded = encode_rows(mine, t)
            data, bad = encoded.data, [i for i in encoded.issues if i.is_error]
            issues.extend(i for i in encoded.issues if not i.is_error)
            rows = sum(len(df) for df in mine.values())
        issues.extend(bad)
        if data is not None and not bad:
            out.append(Rendered(target_name(flow, i), data, rows))
    return out, issues


def _render_template(cfg: Config, row: FileRow, target: Target,
                     tables: dict[str, pd.DataFrame]) -> tuple[bytes | None, int, list[Issue]]:
    from bridge.templating import render_file

    assert target.template is not None
    records = {name: df.to_dict("records") for name, df in tables.items()}
    text = render_file(cfg.path(target.template),
                       {"tables": records, "source_name": row.path,
                        "now": datetime.fromtimestamp(row.created)})
    rows = sum(len(df) for df in tables.values())
    try:
        return text.encode(target.template_encoding), rows, []
    except UnicodeEncodeError as exc:
        char = exc.object[exc.start:exc.end]
        return None, rows, [Issue("unencodable", f"{char!r} cannot be written in "
                                  f"{target.template_encoding} ({target.template.name})",
                                  value=char)]
