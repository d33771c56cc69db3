"""Decode, validate, transform and render one file, chunk by chunk: the middle of the pipeline.

The file is decoded with :func:`bridge.codecs.iter_decode` (a chunk never splits a record
group: a parent with its children, or the rows sharing the tracciato's ``group_by``), the
steps run on each chunk, and every target's bytes are written as they are made into a file
of the work area (:mod:`bridge.engine.parts`). Steps that need the whole file are carried
across chunks: a ``trailer`` (its counts summed) runs once at the end; business keys and
fingerprints are gathered. So memory holds a chunk or two, whatever the file's size.

A flow is read whole when chunks could change what it writes (:func:`stream_plan`): a
``group`` step by other fields than the tracciato's ``group_by``, a step after the
trailer, a template without ``each``; or a group found apart in the file (then a
``read-whole`` note says why). A file over the flow's ``whole_max_bytes`` is refused
instead (``too-large-to-read-whole``), and so is one whose chunk would hold a group past it.

The policy on bad rows decides what an error does: ``reject-file`` refuses the whole file
(a bad order line must not half-import an order); ``skip-rows`` drops the bad rows, and
with them every row of the same group (the whole order), and goes on with the rest. A
value the target cannot hold is a bad row like any other, found when the targets are
rendered: its issue names the source line it came from. The sender's cells of the rows
with errors are kept as each chunk passes, for the report of the bad rows.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bridge import faults
from bridge.codecs.text import GroupTooLarge
from bridge.engine.chunking import (
    Caps,
    Checked,
    KeySpool,
    Together,
    give_back,
    group_too_large,
    stream_plan,
    too_big_to_read_whole,
)
from bridge.engine.ending import DECODED, RENDERED, STEPS, _add, end, errors_only, refuse
from bridge.engine.gone import Withdrawals, gone_step
from bridge.engine.prints import Prints
from bridge.engine.render import data_rows
from bridge.engine.tables import drop_bad_rows, leave_out, load_tracciato, money_sum, reference
from bridge.errors import TransientError
from bridge.issues import MAX_ISSUES, Issue
from bridge.once import KeysOnce
from bridge.report_cells import RawRows

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from bridge.codecs import Decoded
    from bridge.config import Flow
    from bridge.engine.chunking import Watch
    from bridge.engine.context import Context
    from bridge.engine.parts import Data, TargetParts
    from bridge.ledger import FileRow
    from bridge.spec.model import Tracciato
    from bridge.steps import StepContext, StepSpec

__all__ = ["Checked", "load_tracciato", "money_sum", "reference", "stream_plan",
           "transform_file"]

#: How many times skip-rows may run the steps again after leaving bad rows out.
MAX_STEP_PASSES = 4
#: Reasons a file waits for an operator, kept per file (the rest are counted).
MAX_HELD = 50

#: The name under which the keys a file sent in its chunks so far are kept (KeysOnce).
_SENT = ("dedupe", "sent by the chunks before")


def transform_file(ctx: Context, row: FileRow, flow: Flow, source: Path, *,
                   folder: Path | None = None, watch: Watch | None = None) -> Checked:
    """Everything between the bytes taken and the bytes to write: the outputs are files of
    ``folder`` (default: the file's render folder in the work area). The rows an operator
    left out (a replay: those of its original) never reach the steps; ``watch`` sees the
    rows of every chunk and what the steps made of them."""
    from bridge.engine.outputs import render_folder
    from bridge.engine.parts import clear_killed

    refused = ctx.ledger.left_out(row.id)
    if not refused and row.replay_of is not None:
        refused = ctx.ledger.left_out(row.replay_of)

    t = load_tracciato(ctx.cfg, flow.tracciato)
    if folder is None:
        folder = render_folder(ctx, row)
        for gone in ctx.work(row.id).glob("ahead-*"):  # a helper's, left by a run that died
            shutil.rmtree(gone, ignore_errors=True)
    clear_killed(folder)
    plan = stream_plan(flow, t)
    size = source.stat().st_size
    if isinstance(plan, tuple) and flow.chunk_bytes:
        # A file of one chunk is read at once: no second thread, nothing to carry over.
        chunk = flow.chunk_bytes if size > flow.chunk_bytes else None
        try:
            got = _Run(ctx, row, flow, t, folder, plan[0], plan[1], refused, watch).run(
                source, chunk, size)
        except GroupTooLarge as exc:
            return group_too_large(t, exc)
        if got is not None:
            return in_line_order(got)
        why = "the rows of a group are not together in the file"
    else:
        why = "chunk_bytes is 0" if isinstance(plan, tuple) else plan
    if (too_big := too_big_to_read_whole(flow, t, size, why)) is not None:
        return too_big
    checked = _Run(ctx, row, flow, t, folder, list(flow.steps), [], refused, watch).run(
        source, None, size)
    assert checked is not None
    if flow.chunk_bytes and size > flow.chunk_bytes:
        checked.issues.insert(0, Issue("read-whole", f"read whole, not in chunks: {why}"))
    return in_line_order(checked)


def in_line_order(checked: Checked) -> Checked:
    """The file's issues in the order of their lines, those of the whole file first (in
    the order found): the same list whether the file was read in chunks or whole, where
    the decoder's issues of every line would otherwise come before the steps'. Past the
    file's cap, which issues are kept may still differ (docs/issue-codes.md)."""
    checked.issues.sort(key=lambda i: i.line or 0)
    return checked


class _Run:
    """One reading of a file: the chunks through the steps into the targets' parts."""

    def __init__(self, ctx: Context, row: FileRow, flow: Flow, t: Tracciato, folder: Path,
                 body: Sequence[StepSpec], trailer: Sequence[StepSpec],
                 left: dict[int, str], watch: Watch | None) -> None:
        self.ctx, self.row, self.flow, self.t, self.folder = ctx, row, flow, t, folder
        self.body, self.trailer, self.left, self.watch = body, trailer, left, watch
        self.checked = Checked(t, fingerprints=Prints(folder))  # past a chunk: a file
        self.rows: Counter[str] = Counter()
        self.counts: dict[str, int] = {}  # rows of each table after the steps
        self.data_rows = 0
        self.kept_source = 0
        self.nothing = False  # an error of the whole file under skip-rows: nothing is left
        self.refused_by = 0  # what refused the file under reject-file (DECODED...), if any
        self.left_issues: list[Issue] = []  # the rows an operator left out, said so
        self.caps = Caps(self.checked.issues)
        self.sent = KeySpool(folder)
        self.once = KeysOnce()  # each delta's keys, one state per key and file
        # The keys sent by the chunks before, asked by a `dedupe keep: sent` (a
        # cancellation many chunks after its order) or `repeats: first`: kept only for
        # such a flow.
        self.keeps_sent = any(getattr(s.args, "keep", None) == "sent"
                              or getattr(s.args, "repeats", None) == "first" for s in body)
        # A chunk's facts are one large entry: to the file from the first one.
        self.facts = KeySpool(folder, ".facts-", spool_from=1, plain=True) \
            if flow.facts else None
        self.step_ctx = self._step_context()
        found = gone_step(body)
        self.gone = Withdrawals(*found) if found else None

    def _step_context(self) -> StepContext:
        from bridge.steps import StepContext

        ctx, row = self.ctx, self.row
        # A file redone after a crash, or replayed, must not see its own keys as sent.
        mine = row.own_keys
        return StepContext(
            reference=lambda name: reference(ctx, name),
            already_sent=lambda keys: ctx.ledger.sent_keys(row.flow, keys, besides=mine),
            unwritten=lambda keys: ctx.ledger.unwritten_keys(row.flow, keys, besides=mine),
            held=lambda keys: ctx.ledger.held_keys(row.flow, keys, besides=mine),
            # Asked only of a flow that drops cancellations of orders never sent.
            dropped=(lambda keys: ctx.ledger.dropped_keys(row.flow, keys, besides=mine))
            if self.keeps_sent else (lambda keys: {}),
            last_sent=lambda keys: ctx.ledger.fingerprints(row.flow, keys, besides=mine),
            sent_before=self._sent_before,
            full=ctx.full,
            once=self.once,
            variables={"source_name": row.path, "flow": row.flow,
                       "now": datetime.fromtimestamp(row.created)},
        )

    def _sent_before(self, keys: list[str]) -> list[bool]:
        import numpy as np
        import pandas as pd

        hashes = pd.util.hash_array(np.array(keys, dtype=object), categorize=False)
        out: list[bool] = self.once.taken(_SENT, hashes).tolist()
        return out

    def run(self, source: Path, chunk: int | None, size: int) -> Checked | None:
        """The file (of ``size`` bytes) read in chunks of ``chunk`` bytes (None: whole);
        None when its groups turn out not to be together (nothing is kept: read it
        whole)."""
        from bridge.codecs import iter_decode
        from bridge.engine.parts import open_parts
        from bridge.engine.render import target_name

        targets = [(target_name(self.flow, i), tg) for i, tg in enumerate(self.flow.targets)]
        try:
            parts = open_parts(self.ctx.cfg, self.row, targets, self.folder)
        except OSError as exc:
            raise _work_area(exc) from None
        if self.watch is not None:
            self.watch.start()
        try:
            together = Together(self.t) if chunk is not None and self.t.group_by else None
            for decoded in _read(iter_decode(source, self.t, chunk_bytes=chunk, keep_raw=True,
                                             group_max=self.flow.whole_max_bytes or None)):
                if together is not None and not together.fresh(decoded.tables):
                    self._discard(parts)
                    return None
                mark = len(self.checked.issues)
                self._chunk(decoded.tables, decoded.issues, parts, decoded.arrow)
                self._bad_rows(decoded, mark)
                give_back(min(chunk or size, size))
            return end(self, parts)
        except OSError as exc:  # a full disk, a quota: the file waits and is tried again
            self._discard(parts)
            raise _work_area(exc) from None
        except BaseException:
            self._discard(parts)
            raise

    def _chunk(self, tables: Mapping[str, pd.DataFrame], issues: list[Issue],
               parts: list[TargetParts], arrow: dict[str, pa.Table] | None = None) -> None:
        """One chunk through the steps into the parts; ``arrow``: the same ``tables`` as
        Arrow ones (used while no row is left out of them)."""
        c, flow = self.checked, self.flow
        from bridge.codecs import rows_in

        self.rows.update({n: rows_in(tables, n) for n in tables})
        c.money_in = _add(c.money_in, money_sum(tables, flow.totals.money_in))
        c.issues.extend(issues)
        errors = [i for i in issues if i.is_error]
        if errors and flow.on_bad_rows == "reject-file":
            refuse(self, DECODED)
        elif errors:
            tables, arrow = self._drop(tables, errors), None
        if self.nothing or (c.rejected and self.refused_by not in (STEPS, RENDERED)):
            return  # the file is refused: the rest is only decoded, for its issues
        if self.left:
            if self.gone is not None:  # left out by an operator: not gone from the ERP
                import pyarrow as pa

                self.gone.protect(tables, [], [pa.array(list(self.left), pa.int64())])
            tables, refused = leave_out(tables, self.left)
            arrow = None
            c.issues.extend(refused)
            self.left_issues.extend(refused)
            c.left_out += len(refused)
        if self.watch is not None:
            self.watch.source(tables)
        if c.rejected:  # by the steps or the targets of a chunk before
            errors_only(self, tables, arrow, parts)
            return
        for _ in range(MAX_STEP_PASSES):
            from bridge.steps import apply_steps

            # The notes and errors this file still keeps: the steps build no more.
            step_ctx = dataclasses.replace(self.step_ctx, notes_room=self.caps.notes_room,
                                           errors_room=self.caps.errors_room)
            given = arrow if arrow is not None and arrow.keys() == tables.keys() else tables
            result = apply_steps(self.body, given, step_ctx)
            if self.gone is not None:
                self.gone.saw(result)
            bad = [i for i in result.issues if i.is_error]
            by = STEPS  # what found the errors, if any
            made: list[tuple[TargetParts, Data, int]] = []
            notes: list[Issue] = []
            unbuilt = result.unbuilt_lines  # errors past the file's room: their lines alone
            if not bad and not unbuilt:
                by = RENDERED
                for p in parts:
                    data, found, rows = p.part(result.arrow if p.arrow else result.tables)
                    bad.extend(i for i in found if i.is_error)
                    notes.extend(i for i in found if not i.is_error)
                    if data is not None:
                        made.append((p, data, rows))
            if not bad and not unbuilt:
                break
            if flow.on_bad_rows == "reject-file":
                refuse(self, by)
                self.caps.keep_errors(bad, result.unbuilt)
                self.once.keep()  # the keys of every row, as a whole reading sees them
                for p in parts:
                    p.keep_keys()
                return
            self.caps.keep_errors(bad, result.unbuilt)
            # skip-rows: leave the bad source rows (and their groups) out, then run the
            # steps again, so that totals and trailers count only what is written.
            tables, arrow = self._drop(tables, bad, unbuilt), None
            if self.nothing:
                return
        else:
            c.rejected = True  # still bad rows after every pass: refuse the whole file
            return
        for p, data, rows in made:
            p.write(data, rows)
        del made
        faults.point("stream-part")
        self.caps.keep(result.issues, result.counted)
        self.caps.keep(notes)
        self._gather(tables, result)
        if self.watch is not None:
            self.watch.result(result.tables)

    def _bad_rows(self, decoded: Decoded, mark: int) -> None:
        """The sender's cells of the chunk's rows with errors kept for the report."""
        raw, decoded.raw, c = decoded.raw, None, self.checked
        if raw is not None and any(i.is_error and i.line for i in c.issues[mark:]):
            c.raw_rows = c.raw_rows or RawRows(self.t, limit=MAX_ISSUES)
            c.raw_rows.feed_issues(raw, c.issues[mark:])

    def _drop(self, tables: Mapping[str, pd.DataFrame], bad: list[Issue],
              more: Sequence[pa.Array | pa.ChunkedArray] = ()) -> dict[str, pd.DataFrame]:
        self.checked.skipped_rows = True
        if self.gone is not None:
            self.gone.protect(tables, bad, more)
        if any(i.line is None for i in bad) or any(a.null_count for a in more):
            self.nothing = True  # an error of the whole file: nothing of it is written
        return drop_bad_rows(tables, bad, self.t, more)

    def _gather(self, tables: Mapping[str, pd.DataFrame], result: object) -> None:
        from bridge.codecs import rows_in
        from bridge.steps import StepResult

        assert isinstance(result, StepResult)
        c = self.checked
        self.kept_source += sum(rows_in(tables, n) for n in tables)
        room = MAX_HELD - len(c.held)
        c.held.extend(result.held[:max(room, 0)])
        if len(result.held) > room:
            c.held.append(f"and {len(result.held) - room} more reasons")
        self.sent.add(result.sent_keys)
        c.unsent_keys.extend(result.unsent_keys)
        if self.keeps_sent and result.sent_keys:
            import numpy as np

            keys = np.array(result.sent_keys, dtype=object)
            # No lines to give: one byte a key, not eight (see bridge.once)
            self.once.again(_SENT, keys, np.full(len(keys), -1, dtype=np.int8))
        self.once.keep()
        if self.facts is not None:
            from bridge.engine.facts import fact_lines

            self.facts.add(fact_lines(self.flow.facts, result.arrow))
        c.fingerprints.update(result.fingerprints)
        for name, table in result.arrow.items():
            self.counts[name] = self.counts.get(name, 0) + len(table)
        self.data_rows += data_rows(self.ctx.cfg, self.flow, result.arrow)
        c.money_out = _add(c.money_out, money_sum(result.arrow, self.flow.totals.money_out))

    def _discard(self, parts: list[TargetParts]) -> None:
        for p in parts:
            p.file.discard()
        self.sent.remove()
        self.checked.fingerprints.remove()
        if self.facts is not None:
            self.facts.remove()


def _read(chunks: Iterator[Decoded]) -> Iterator[Decoded]:
    """The chunks of bridge's copy of a file; an error reading it (a bad block, a disk gone)
    said as one, not taken for the outputs' writing (the file waits and is read again)."""
    while True:
        try:
            decoded = next(chunks)
        except StopIteration:
            return
        except OSError as exc:
            raise TransientError("cannot read bridge's copy of the file in the work area: "
                                 f"{exc.strerror or exc}") from None
        yield decoded


def _work_area(exc: OSError) -> TransientError:
    return TransientError(f"cannot write the outputs in the work area: {exc.strerror or exc}")
