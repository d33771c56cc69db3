"""Targets: render the output bytes, fix their names in the ledger, write them atomically.

Names are decided once (:func:`plan_names`, inside the ledger's transaction) and kept, so a
restart writes the same names. A name already taken by a file bridge did not write is never
overwritten: ``if_exists: fail`` leaves the file waiting, ``next`` picks the next free name
when the names are planned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bridge import faults
from bridge.errors import TransientError
from bridge.transport import TargetExists

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from bridge.config import Config, Flow, Target
    from bridge.ledger import FileRow, Ledger, OutputRow
    from bridge.transport import Transport

MAX_NAME_TRIES = 1000


class Context(Protocol):
    cfg: Config
    ledger: Ledger

    def transport(self, name: str) -> Transport: ...
    def work(self, file_id: int) -> Path: ...


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


def render_targets(ctx: Context, row: FileRow, flow: Flow, tables: dict[str, pd.DataFrame]
                   ) -> list[Rendered]:
    from bridge.checking import load_tracciato
    from bridge.codecs import encode

    out = []
    for i, target in enumerate(flow.targets):
        if target.template is not None:
            data, rows = _render_template(ctx.cfg, row, target, tables)
        else:
            assert target.tracciato is not None
            t = load_tracciato(ctx.cfg, target.tracciato)
            mine = {name: df for name, df in tables.items() if name in t.records}
            data = encode(mine, t)
            rows = sum(len(df) for df in mine.values())
        out.append(Rendered(target_name(flow, i), data, rows))
    return out


def _render_template(cfg: Config, row: FileRow, target: Target,
                     tables: dict[str, pd.DataFrame]) -> tuple[bytes, int]:
    from bridge.templating import render_file

    assert target.template is not None
    records = {name: df.to_dict("records") for name, df in tables.items()}
    text = render_file(cfg.path(target.template),
                       {"tables": records, "source_name": row.path,
                        "now": datetime.fromtimestamp(row.created)})
    return text.encode(target.template_encoding), sum(len(df) for df in tables.values())


def plan_names(ctx: Context, row: FileRow, flow: Flow, rendered: list[Rendered],
               seq: Callable[[str], int]) -> list[tuple[str, str, str]]:
    from bridge.templating import name_variables, render_name

    planned = []
    for i, target in enumerate(flow.targets):
        tname = target_name(flow, i)
        dest = ctx.transport(target.connection)
        taken = ctx.ledger.names_in_use(target.folder)
        uses_seq = "seq" in target.filename
        for attempt in range(MAX_NAME_TRIES):
            number = seq(f"{row.flow}.{tname}") if uses_seq else 0
            name = render_name(target.filename,
                               name_variables(datetime.fromtimestamp(row.created), number,
                                              row.path, row.flow))
            if attempt and not uses_seq:
                stem, dot, ext = name.rpartition(".")
                name = f"{stem}-{attempt}.{ext}" if dot else f"{name}-{attempt}"
            free = name not in taken and dest.stat(target.folder, name) is None
            if free or target.if_exists == "fail":
                break
        else:
            raise TransientError(f"no free output name for {target.filename!r}")
        planned.append((tname, target.folder, name))
    return planned


def write_output(ctx: Context, row: FileRow, flow: Flow, out: OutputRow, r: Rendered) -> None:
    """Write one planned output (temporary name, then rename) and its done-file."""
    target = next(t for i, t in enumerate(flow.targets) if target_name(flow, i) == out.target)
    dest = ctx.transport(target.connection)
    staged = ctx.work(row.id) / "out" / str(out.id)
    staged.parent.mkdir(parents=True, exist_ok=True)
    staged.write_bytes(r.data)
    _put(ctx, dest, staged, out.folder, out.name, r.sha256)
    if target.done_file is not None:
        content = {"empty": "", "rows": f"{r.rows}\n", "sha256": f"{r.sha256}\n"}
        done = staged.with_suffix(".done")
        body = content[target.done_file.content].encode()
        done.write_bytes(body)
        _put(ctx, dest, done, out.folder, out.name + target.done_file.suffix,
             hashlib.sha256(body).hexdigest())
    faults.point("before-output-commit")
    ctx.ledger.set_output(out.id, "written", sha256=r.sha256, rows=r.rows)


def _put(ctx: Context, dest: Transport, staged: Path, folder: str, name: str, sha: str) -> None:
    try:
        dest.upload(staged, folder, name)
    except TargetExists:
        # Written by an earlier attempt that died before the ledger heard of it?
        check = staged.with_name(staged.name + ".existing")
        dest.download(folder, name, check)
        same = hashlib.sha256(check.read_bytes()).hexdigest() == sha
        check.unlink()
        if not same:
            raise TransientError(f"{folder}/{name} exists with other content; not "
                                 "overwritten (a person must look)") from None
