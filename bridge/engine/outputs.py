"""Targets: keep the rendered bytes, fix their names in the ledger, write them atomically.

The bytes of every target are rendered once and kept in the work area (``<work>/<id>/render``)
before the names are fixed; every later attempt writes those same bytes, so a target that
failed never makes the others disagree. Names are decided without any remote I/O, inside the
ledger's transaction (:func:`plan_maker`), and checked at the target when written: a name
taken by a file bridge did not write is never overwritten (``if_exists: fail`` leaves the
file waiting; ``next`` moves to the next free name).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bridge import faults
from bridge.atomic import save_atomic
from bridge.engine.render import Rendered, target_name
from bridge.errors import TransientError
from bridge.files import own_folder, rename_noreplace
from bridge.ledger import Written
from bridge.transport import Entry, Refused, TargetExists

if TYPE_CHECKING:
    from bridge.config import Flow, Target
    from bridge.engine.context import Context
    from bridge.ledger import FileRow, OutputRow
    from bridge.ledger.base import PlanMaker
    from bridge.transport import Transport

Seq = Callable[[str], int]
Taken = Callable[[str, str], bool]
MAX_NAME_TRIES = 1000
#: Tries of ``if_exists: next`` when names keep turning up taken at the target.
MAX_NEXT_TRIES = 20


def render_folder(ctx: Context, row: FileRow) -> Path:
    """Where a file's rendered outputs are kept (made private, no link planted there)."""
    return own_folder(ctx.work(row.id) / "render", depth=2)


def keep_rendered(ctx: Context, row: FileRow, rendered: list[Rendered]
                  ) -> dict[str, tuple[Rendered, Path]]:
    """Save every target's bytes in the work area, the index last. No fsync: the index holds
    each one's sha256, and bytes that do not match it are rendered again. Bytes streamed
    into a file of the work area while rendered are moved, not copied; a folder a helper
    streamed them into and indexed already (:func:`index_ahead`) is only renamed. Returns
    what :func:`kept_rendered` would read back (without reading it)."""
    adopted = _adopted(ctx, row, rendered)
    folder = adopted or render_folder(ctx, row)
    kept = {}
    for n, r in enumerate(rendered):
        path = folder / f"{n}.out"
        if r.data is None:
            assert r.path is not None
            moved = folder / r.path.name if adopted else r.path
            if moved != path:
                moved.replace(path)
        else:
            save_atomic(path, r.data, mode=0o600, durable=False)
        kept[r.target] = (_kept_at(r, path), path)
    index = render_index(rendered)
    if not (adopted and _holds(folder / "index.json", index)):
        save_atomic(folder / "index.json", index, mode=0o600, durable=False)
    return kept


def render_index(rendered: list[Rendered]) -> bytes:
    """The bytes of a render folder's ``index.json``: each target's file (``{n}.out``, in
    their order), rows and sha256."""
    return json.dumps({r.target: {"file": f"{n}.out", "rows": r.rows, "sha256": r.sha256}
                       for n, r in enumerate(rendered)}).encode()


def index_ahead(folder: Path, rendered: list[Rendered]) -> list[Rendered]:
    """Outputs streamed into ``folder`` (by a helper, ahead of their turn) given the names
    they are kept under, and the index written beside them: the process that writes them
    then only renames the folder. Outputs held in memory, or elsewhere, are left as they
    are, and so is the folder (no index)."""
    if not rendered or any(r.data is not None or r.path is None or r.path.parent != folder
                           for r in rendered):
        return rendered
    named = []
    for n, r in enumerate(rendered):
        assert r.path is not None
        path = folder / f"{n}.out"
        if r.path != path:
            r.path.replace(path)
        named.append(_kept_at(r, path))
    save_atomic(folder / "index.json", render_index(named), mode=0o600, durable=False)
    return named


def _adopted(ctx: Context, row: FileRow, rendered: list[Rendered]) -> Path | None:
    """The folder the transform streamed into (a helper's), renamed as the render folder
    when it holds those outputs and nothing else and there is no render folder yet: one
    folder fewer to make (a file system may spend a millisecond making one). None: the
    outputs are moved one by one. An ``index.json`` there (:func:`index_ahead`) is kept if
    it says what this one would."""
    paths = [r.path for r in rendered if r.path is not None]
    there = {p.parent for p in paths}
    if len(there) != 1:
        return None
    (source,) = there
    dest = ctx.work(row.id) / "render"
    if source == dest or source.parent != dest.parent:
        return None
    try:
        if set(os.listdir(source)) - {"index.json"} != {p.name for p in paths}:
            return None
        rename_noreplace(source, dest)
    except OSError:  # a render folder there already, say: moved one by one
        return None
    return dest


def _kept_at(r: Rendered, path: Path) -> Rendered:
    """``r`` as kept: its bytes in the file at ``path``, no longer in memory."""
    return Rendered(r.target, None, r.rows, path, r.sha256, r.size)


def _holds(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def kept_rendered(ctx: Context, row: FileRow) -> dict[str, tuple[Rendered, Path]] | None:
    """The bytes kept for a file (checked against their sha256, read in blocks, never held
    whole), and where; None if they are not all there."""
    folder = ctx.work(row.id) / "render"
    try:
        index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        out = {}
        for target, meta in index.items():
            path = folder / meta["file"]
            digest, size = _digest(path)
            if digest != meta["sha256"]:
                return None
            out[target] = (Rendered(target, None, int(meta["rows"]), path, digest, size), path)
    except (OSError, ValueError, KeyError):
        return None
    return out


def render_again(ctx: Context, row: FileRow, flow: Flow) -> dict[str, tuple[Rendered, Path]]:
    """The kept bytes are gone (a cleaned work area): render again. The file's own keys
    do not count as sent, so the same rows come out."""
    from bridge.engine.taking import work_copy
    from bridge.engine.transform import transform_file

    checked = transform_file(ctx, row, flow, work_copy(ctx, row, flow))
    checked.forget_keys()  # planned already, with the ledger's keys
    if checked.rejected:
        raise RuntimeError(f"file {row.id} was planned, but rendered again it is refused: "
                           "did its tracciato or steps change?")
    keep_rendered(ctx, row, checked.rendered)
    kept = kept_rendered(ctx, row)
    if kept is None:
        raise TransientError(f"cannot keep the rendered outputs of file {row.id}")
    return kept


def _digest(path: Path) -> tuple[str, int]:
    from bridge.engine.taking import sha256_of

    return sha256_of(path), path.stat().st_size


def plan_maker(row: FileRow, flow: Flow, rendered: list[Rendered]) -> PlanMaker:
    """The names of a file's outputs, drawn inside the ledger's transaction: no I/O here."""
    from bridge.templating import name_variables, render_name

    def make(seq: Seq, taken: Taken) -> list[tuple[str, str, str]]:
        planned = []
        for r in rendered:
            target = _target(flow, r.target)
            planned.append((r.target, target.folder, _name(target, r.target, seq, taken)))
        return planned

    def _name(target: Target, tname: str, seq: Seq, taken: Taken) -> str:
        uses_seq = "seq" in target.filename
        name = ""
        for attempt in range(MAX_NAME_TRIES):
            number = seq(f"{row.flow}.{tname}") if uses_seq else 0
            name = render_name(target.filename,
                               name_variables(datetime.fromtimestamp(row.created), number,
                                              row.path, row.flow))
            if attempt and not uses_seq:
                stem, dot, ext = name.rpartition(".")
                name = f"{stem}-{attempt}.{ext}" if dot else f"{name}-{attempt}"
            if target.if_exists == "fail" or not taken(target.folder, name):
                return name
        raise TransientError(f"no free output name for {target.filename!r}")

    return make


def write_output(ctx: Context, row: FileRow, flow: Flow, out: OutputRow, r: Rendered,
                 staged: Path, *, record: bool = True) -> Written:
    """Write one planned output (temporary name, then rename) and its done-file; recorded
    in the ledger as written unless ``record`` is false (the caller records what this
    returns, in a transaction of its own making)."""
    target = _target(flow, out.target)
    dest = ctx.transport(target.connection)
    place = (target.connection, out.folder)
    if place not in ctx.folders:  # asked once per pass and folder
        ctx.folders[place] = dest.is_folder(out.folder)
    for _ in range(MAX_NEXT_TRIES):
        try:
            # With a done-file, one folder sync after its rename makes both renames durable:
            # a power cut between them can leave the done-file without its output, never
            # the output's rename durable and its bytes not (those are synced before it).
            # The ledger has not heard of either, so the output is written again then.
            _put(dest, staged, out.folder, out.name, r.sha256, target.file_mode, ctx.fence,
                 durable=target.done_file is None)
            break
        except TargetExists:
            if target.if_exists == "fail":
                raise
            out = _next_name(ctx, row, flow, target, out)
    else:
        raise TransientError(f"no free output name for {target.filename!r} at the target")
    if not ctx.folders[place]:
        ctx.folders[place] = True
        ctx.made.append(f"{out.folder!r} on connection {target.connection!r}")
    if target.done_file is not None:
        content = {"empty": "", "rows": f"{r.rows}\n", "sha256": f"{r.sha256}\n"}
        body = content[target.done_file.content].encode()
        _put(dest, body, out.folder, out.name + target.done_file.suffix,
             hashlib.sha256(body).hexdigest(), target.file_mode, ctx.fence,
             beside=staged.with_name(staged.name + ".done"))
    faults.point("before-output-commit")
    if record:
        ctx.ledger.set_output(out.id, "written", sha256=r.sha256, rows=r.rows, size=r.size)
    return Written(out.id, r.sha256, r.rows, r.size)


def _next_name(ctx: Context, row: FileRow, flow: Flow, target: Target, out: OutputRow
               ) -> OutputRow:
    from bridge.templating import name_variables, render_name

    uses_seq = "seq" in target.filename

    def make(seq: Seq) -> str:
        if uses_seq:
            number = seq(f"{row.flow}.{out.target}")
            return render_name(target.filename, name_variables(
                datetime.fromtimestamp(row.created), number, row.path, row.flow))
        stem, dot, ext = out.name.rpartition(".")
        base, dash, n = stem.rpartition("-")
        count = int(n) + 1 if dash and n.isdigit() else 1
        stem = base if dash and n.isdigit() else stem
        return f"{stem}-{count}.{ext}" if dot else f"{out.name}-{count}"

    return ctx.ledger.rename_output(out.id, make)


def _target(flow: Flow, name: str) -> Target:
    return next(t for i, t in enumerate(flow.targets) if target_name(flow, i) == name)


def _put(dest: Transport, staged: Path | bytes, folder: str, name: str, sha: str,
         mode: int | None = None, fence: Callable[[], None] | None = None, *,
         beside: Path | None = None, durable: bool = True) -> None:
    """``staged`` (a file, or bytes: then read back, if need be, ``beside`` that path)
    written at the target, or found there already as an earlier attempt wrote it."""
    try:
        dest.upload(staged, folder, name, mode=mode, fence=fence, durable=durable)
    except TargetExists:
        # Written by an earlier attempt that died before the ledger heard of it?
        if isinstance(staged, bytes):
            assert beside is not None
            check, size = beside.with_name(beside.name + ".existing"), len(staged)
        else:
            check, size = staged.with_name(staged.name + ".existing"), staged.stat().st_size
        try:
            # A byte more than ours is enough to tell; a link or a FIFO there is not ours.
            dest.download(folder, name, check, expect=Entry(name, size, 0))
        except Refused:
            raise TargetExists(f"{folder}/{name} exists and is not a file bridge wrote; not "
                               "overwritten") from None
        same = _digest(check)[0] == sha
        check.unlink()
        if not same:
            raise TargetExists(f"{folder}/{name} exists with other content; not "
                               "overwritten") from None
