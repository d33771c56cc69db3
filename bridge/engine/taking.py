"""Taking a file from its source: claim, hold, download, and make sure it is whole.

A file is the bytes that were claimed. The ledger row comes first (with the private name the
file will have), then the file is renamed to that private name (``.bridge-claim-ID``) in its
own folder: an atomic rename on every server, after which a sender reusing the name makes a
new file that bridge takes on its own. The download is then compared with what was listed:
a different size means someone is still writing, and the file is given back under its name
to wait. A file whose last record is visibly incomplete is given back too, until
``ready.max_wait`` has passed; then it is taken and rejected as ``truncated-file``.

Folders that bridge must not change (``archive: leave``) are read in place instead: the
download is compared with the listing before and after, and nothing ever moves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bridge import faults
from bridge.engine import moves
from bridge.engine.context import Outcome
from bridge.engine.tables import load_tracciato, refs_used
from bridge.errors import TransientError
from bridge.files import own_folder
from bridge.issues import Issue
from bridge.states import DUPLICATE, FETCHED

if TYPE_CHECKING:
    from bridge.config import Flow
    from bridge.engine.context import Context
    from bridge.ledger import FileRow, Observation
    from bridge.transport import Entry


@dataclass(frozen=True)
class Fetched:
    """A file now held in the work area; ``truncated`` says why it is not whole, if so."""

    row: FileRow
    truncated: str | None = None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def incoming(ctx: Context) -> Path:
    # Checked to be bridge's own folder, not a link planted in a work_dir with loose modes.
    return own_folder(ctx.cfg.path(ctx.cfg.work_dir) / "incoming")


def fetch(ctx: Context, row: FileRow, flow: Flow, obs: Observation | None
          ) -> Fetched | Outcome:
    """Carry a claimed file to ``fetched``; an Outcome when it is not taken after all."""
    src = ctx.transport(flow.source.connection)
    folder = flow.source.folder
    assert row.held_as is not None
    held = hold(ctx, row, flow)
    if held is None:
        here = src.stat(folder, row.path)
        return _drop(ctx, row, "gone" if here is None else "waiting",
                     "vanished before bridge took it" if here is None else
                     "changed since it was listed: it waits until it is stable again")
    if (held.size, held.mtime) != (row.size, row.mtime) and moves.give_back(ctx, row, flow):
        return _drop(ctx, row, "waiting", "changed since it was listed: it waits until it is "
                                          "stable again")
    tmp = incoming(ctx) / f"{row.id}.download"
    src.download(folder, row.held_as, tmp, expect=held)  # the very file held, and no more
    got = tmp.stat().st_size
    if got != held.size:
        tmp.unlink()
        if moves.give_back(ctx, row, flow):
            return _drop(ctx, row, "waiting", f"still being written ({got} bytes read, "
                                              f"{held.size} listed): it waits")
        return Outcome(row.flow, row.path, "waiting", row.id,
                       message=f"still being written ({got} of {held.size} bytes): it waits")
    mismatch = _done_file_disagrees(ctx, row, flow, tmp)
    if mismatch:
        tmp.unlink()
        if moves.give_back(ctx, row, flow):
            return _drop(ctx, row, "waiting", mismatch)
        return Outcome(row.flow, row.path, "waiting", row.id, message=mismatch)
    truncated = _incomplete(ctx, flow, tmp)
    young = obs is None or obs.age < flow.source.ready.max_wait
    if truncated and young and moves.give_back(ctx, row, flow):
        tmp.unlink()
        ctx.ledger.mark_incomplete(row.flow, row.path, held.size, held.mtime)
        return _drop(ctx, row, "waiting", f"incomplete ({truncated}): it waits for the rest")
    return _keep(ctx, row, flow, tmp, truncated)


def hold(ctx: Context, row: FileRow, flow: Flow) -> Entry | None:
    """Rename a claimed file to its private name (if not done yet); what is held there, or
    None when the listed file is no longer there as listed (nothing was taken)."""
    src = ctx.transport(flow.source.connection)
    folder = flow.source.folder
    assert row.held_as is not None
    held = src.stat(folder, row.held_as)
    if held is not None:
        return held
    here = src.stat(folder, row.path)
    if here is None or (here.size, here.mtime) != (row.size, row.mtime):
        return None
    try:
        src.move(folder, row.path, folder, row.held_as)
    except TransientError:
        if src.stat(folder, row.held_as) is None:
            if src.stat(folder, row.path) is None:
                return None
            raise
    faults.point("after-hold")
    _hold_marker(ctx, row, flow)
    held = src.stat(folder, row.held_as)
    if held is None:
        raise TransientError(f"{row.path} vanished as it was being taken")
    return held


def fetch_in_place(ctx: Context, name: str, flow: Flow, entry: Entry, obs: Observation
                   ) -> Fetched | Outcome | None:
    """Read a file that stays where it is (``archive: leave``); None if already done."""
    src = ctx.transport(flow.source.connection)
    folder = flow.source.folder
    tmp = incoming(ctx) / f"{name}.{hashlib.sha1(entry.name.encode()).hexdigest()}.download"
    src.download(folder, entry.name, tmp)
    after = src.stat(folder, entry.name)
    got = tmp.stat().st_size
    if after is None or (got, after.size, after.mtime) != (entry.size, entry.size, entry.mtime):
        tmp.unlink()
        return Outcome(name, entry.name, "waiting",
                       message="changed while it was read: it waits until it is stable")
    truncated = _incomplete(ctx, flow, tmp)
    if truncated and obs.age < flow.source.ready.max_wait:
        tmp.unlink()
        ctx.ledger.mark_incomplete(name, entry.name, entry.size, entry.mtime)
        return Outcome(name, entry.name, "waiting",
                       message=f"incomplete ({truncated}): it waits for the rest")
    digest = sha256_of(tmp)
    refs = refs_used(ctx, flow)
    # Unchanged since it was last read: bytes back to an older version are read again.
    known = ctx.ledger.find(name, entry.name, got, digest, latest=True, refs=refs)
    if known is not None:
        tmp.unlink()
        ctx.ledger.remember_done(name, entry.name, entry.size, entry.mtime, known.id)
        return None
    row = ctx.ledger.create(name, entry.name, got, digest, ctx.run_id, ctx.now.wall,
                            mtime=entry.mtime, refs=refs)
    faults.point("after-claim")
    _into_work(ctx, row, tmp)
    ctx.ledger.set_state(row.id, FETCHED, ctx.now.wall, f"{got} bytes, sha256 {digest[:12]}")
    if truncated:
        ctx.ledger.record_issues(row.id, [truncated_issue(truncated)])
    return Fetched(ctx.ledger.get(row.id), truncated)


def truncated_issue(why: str) -> Issue:
    return Issue("truncated-file", f"the file ends in the middle of a record ({why}): it was "
                 "cut short, or never finished")


def _keep(ctx: Context, row: FileRow, flow: Flow, tmp: Path, truncated: str | None
          ) -> Fetched | Outcome:
    size, digest = tmp.stat().st_size, sha256_of(tmp)
    _into_work(ctx, row, tmp)
    ctx.ledger.fetched(row.id, size, digest, ctx.now.wall, f"{size} bytes, sha256 {digest[:12]}")
    if truncated:
        # Kept in the ledger: a later attempt at this file must know it is not whole.
        ctx.ledger.record_issues(row.id, [truncated_issue(truncated)])
    row = ctx.ledger.get(row.id)
    known = ctx.ledger.find(row.flow, row.path, size, digest, besides=row.id)
    if known is None:
        return Fetched(row, truncated)
    ctx.ledger.set_state(row.id, DUPLICATE, ctx.now.wall,
                         f"same content as file {known.id}, {known.state}")
    where = moves.archive(ctx, row, flow)
    return Outcome(row.flow, row.path, DUPLICATE, row.id,
                   message=f"same content as file {known.id} ({known.state}): nothing to do"
                   + (f"; {where}" if where else ""))


def _into_work(ctx: Context, row: FileRow, tmp: Path) -> None:
    # ``tmp`` was made private (0600) by the download; the rename never follows a link.
    tmp.replace(own_folder(ctx.work(row.id)) / "source")


def _drop(ctx: Context, row: FileRow, state: str, why: str) -> Outcome:
    ctx.ledger.drop_claim(row.id)
    return Outcome(row.flow, row.path, state, message=why)


def _hold_marker(ctx: Context, row: FileRow, flow: Flow) -> None:
    rule = flow.source.ready
    if rule.rule != "done-file":
        return
    assert row.held_as is not None
    src = ctx.transport(flow.source.connection)
    marker = row.path + rule.done_suffix
    if src.stat(flow.source.folder, marker) is not None:
        try:
            src.move(flow.source.folder, marker, flow.source.folder,
                     row.held_as + moves.MARKER_SUFFIX)
        except TransientError:
            if src.stat(flow.source.folder, row.held_as + moves.MARKER_SUFFIX) is None:
                raise


def _done_file_disagrees(ctx: Context, row: FileRow, flow: Flow, data: Path) -> str | None:
    """With ``done_content: size|sha256``, what the sender's done-file says must match the
    bytes taken; otherwise the transfer is not complete yet (or was damaged)."""
    rule = flow.source.ready
    if rule.rule != "done-file" or rule.done_content == "any":
        return None
    assert row.held_as is not None
    marker = incoming(ctx) / f"{row.id}.marker"
    src = ctx.transport(flow.source.connection)
    name = row.held_as + moves.MARKER_SUFFIX
    there = src.stat(flow.source.folder, name)
    if there is None:
        return "the done-file is missing: waiting"
    src.download(flow.source.folder, name, marker, expect=there)
    said = marker.read_text(encoding="ascii", errors="replace").strip().split()
    marker.unlink()
    expected = str(data.stat().st_size) if rule.done_content == "size" else sha256_of(data)
    if said[:1] == [expected]:
        return None
    got = said[0] if said else "nothing"
    return f"the done-file says {rule.done_content} {got}, the file has {expected}: waiting"


def _incomplete(ctx: Context, flow: Flow, data: Path) -> str | None:
    from bridge.codecs.complete import incomplete

    return incomplete(data, load_tracciato(ctx.cfg, flow.tracciato))


class Lost(Exception):
    """The claimed bytes are nowhere any more (no work copy, nothing at the source)."""


def work_copy(ctx: Context, row: FileRow, flow: Flow) -> Path:
    """bridge's copy of the file; fetched again from where it is held if it was lost."""
    source = ctx.work(row.id) / "source"
    if source.exists():
        return source
    held = moves.held_name(row)
    src = ctx.transport(flow.source.connection)
    if row.replay_of is not None or src.stat(flow.source.folder, held) is None:
        raise Lost(f"the copy of {row.path} is gone from the work area and from the "
                   "source: nothing left to process")
    tmp = incoming(ctx) / f"{row.id}.download"
    src.download(flow.source.folder, held, tmp)
    if sha256_of(tmp) != row.sha256:
        tmp.unlink()
        raise Lost(f"{held} at the source is not the file claimed (sha256 differs)")
    source.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp.replace(source)
    return source
