"""Replay: process files again from bridge's own copy of what was received.

Every file taken is kept in the work area (``<work>/<id>/source``) with the outputs rendered
from it (``<work>/<id>/out/``). A replay is a new ledger entry linked to the original
(``replay_of``), with new outputs; a dry run writes nothing and shows how the new outputs
differ from the ones written before.
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.errors import ConfigError

if TYPE_CHECKING:
    from bridge.config import Flow
    from bridge.engine.context import Outcome
    from bridge.engine.pipeline import Pipeline
    from bridge.engine.render import Rendered
    from bridge.ledger import FileRow

MAX_DIFF_LINES = 200


@dataclass
class ReplayResult:
    original: FileRow
    outcome: Outcome | None
    diff: list[str]


class Superseded(ConfigError):
    """A file of a flow whose files hold the whole state, older than one done since."""


class NoCopy(ConfigError):
    """A finished file whose copy in the work area is gone (pruned by its retention, or
    removed by hand): it cannot be replayed."""


def replayable(pipe: Pipeline, original: FileRow, *, unsent: bool = False) -> Flow:
    """The flow of ``original``, if it can be replayed now (``unsent``: with only the rows
    no file holds); else the reason, raised. Asked of every file named before any is
    replayed: a command that stops half-way would leave some replayed, and the same command
    run again would replay those twice."""
    from bridge.engine.gone import superseded_by
    from bridge.states import DONE, FINAL

    if original.state not in FINAL:
        # Its outputs may still be written by a later pass: a replay now would be a second
        # delivery of the same rows (retry carries the file itself on).
        raise ConfigError(f"file {original.id} ({original.path}) is {original.state}, not "
                          f"finished: `bridge retry {original.id}` carries it on; a replay "
                          "processes a finished file again")
    if not original.sha256:
        raise NoCopy(never_read(original))
    if not (pipe.work(original.id) / "source").exists():
        raise NoCopy(f"file {original.id} ({original.path}): no copy kept to replay from "
                     "(its flow's `retention: work` pruned it, or it was removed)")
    flow = pipe.cfg.flows.get(original.flow)
    if flow is None:
        raise ConfigError(f"file {original.id}: flow {original.flow!r} is not configured")
    newer = superseded_by(pipe.ledger, original, flow)
    if newer is not None:
        raise Superseded(f"file {original.id} ({original.path}) is older than file "
                         f"{newer.id}, done since: each file of flow {original.flow!r} is the "
                         "whole state, and a replay would send older data over newer")
    if unsent and original.state != DONE:
        raise ConfigError(f"file {original.id} ({original.path}) is {original.state}: "
                          "--unsent sends the rows no file holds, and none of its rows was "
                          "sent, so it would send them all; a plain replay does that, if "
                          "that is what is meant")
    return flow


#: Why a file was never read, and what brings it in, by the issue that refused it.
NEVER_READ = {
    "not-a-file": ("it is not a file (a link, a FIFO or the like under the flow's name)",
                   "put the file itself in its place at the source: it is taken then"),
    "bad-file-name": ("bridge cannot handle its name safely",
                      "rename it at the source: it is taken then"),
}


def never_read(original: FileRow) -> str:
    """Why a file refused before it was read has nothing to replay from."""
    from bridge.display import printable

    why, fix = NEVER_READ.get(original.reason or "", (
        f"it was refused before it was read ({original.reason or original.state})",
        "see `bridge show " + str(original.id) + "`"))
    return (f"file {original.id} ({printable(original.path)}) was never read: {why}; "
            f"there is nothing to replay: {fix}")


def replay(pipe: Pipeline, original: FileRow, *, dry_run: bool, unsent: bool = False
           ) -> ReplayResult:
    """``original`` processed again; with ``unsent``, only its rows whose business keys no
    file holds now go (the original's own count as sent: what it sent is not sent twice),
    as after an operator rejected a file whose orders the original skipped."""
    from bridge.engine.transform import transform_file
    from bridge.states import FETCHED

    flow = replayable(pipe, original, unsent=unsent)
    source = pipe.work(original.id) / "source"
    if dry_run and unsent:
        raise ConfigError("a dry run shows a whole replay: --unsent is not shown dry, run "
                          "it (it sends only the keys no file holds)")
    if dry_run:
        with tempfile.TemporaryDirectory(dir=pipe.work(original.id)) as scratch:
            checked = transform_file(pipe, original, flow, source, folder=Path(scratch))
            if checked.rejected:
                return ReplayResult(original, None, [f"would be rejected: "
                                                     f"{len(checked.errors)} issues"])
            return ReplayResult(original, None, _diff(pipe, original, checked.rendered))
    row = pipe.ledger.create(original.flow, original.path, original.size, original.sha256,
                             pipe.run_id, pipe.now.wall, replay_of=original.id,
                             unsent_only=unsent)
    work = pipe.work(row.id)
    work.mkdir(parents=True, exist_ok=True, mode=0o700)
    shutil.copyfile(source, work / "source")
    pipe.ledger.set_state(row.id, FETCHED, pipe.now.wall, f"replay of file {original.id}")
    # The original is archived already: a replay (replay_of set) never moves anything at
    # the source.
    outcome = pipe.advance(row.id)
    return ReplayResult(original, outcome, [])


def _diff(pipe: Pipeline, original: FileRow, rendered: list[Rendered]) -> list[str]:
    from bridge.engine.outputs import kept_rendered

    before = {o.target: o for o in pipe.ledger.outputs(original.id)}
    kept = kept_rendered(pipe, original) or {}
    out: list[str] = []
    for r in rendered:
        old = before.get(r.target)
        if old is None:
            out.append(f"{r.target}: new output ({r.rows} rows)")
            continue
        if old.sha256 == r.sha256:
            # Not "nothing to do": a replay delivers the same rows a second time.
            out.append(f"{r.target}: {old.name}: identical; a replay writes its {r.rows} "
                       "rows again, in a new file")
            continue
        if r.target not in kept:
            out.append(f"{r.target}: {old.name}: differs (old copy not kept)")
            continue
        a = kept[r.target][0].read().decode("latin-1").splitlines()
        b = r.read().decode("latin-1").splitlines()
        lines = list(difflib.unified_diff(a, b, old.name, f"{old.name} (replay)", lineterm=""))
        out += lines[:MAX_DIFF_LINES]
        if len(lines) > MAX_DIFF_LINES:
            out.append(f"... {len(lines) - MAX_DIFF_LINES} more lines")
    return out
