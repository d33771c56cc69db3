"""The end of one reading of a file (:class:`bridge.engine.transform._Run`), once its last
chunk has gone through the steps: the keys the file no longer has withdrawn
(:mod:`bridge.engine.gone`), the trailer's steps run on the rows counted over every chunk,
its rows written, and every target's output finished; nothing is kept of a refused file.
A file refused under reject-file lists what a reading of the whole file at once would
(:func:`refuse`, :func:`errors_only`), whatever its chunks."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from bridge.engine.chunking import Caps, Checked, trailer_result
from bridge.engine.tables import money_sum

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from bridge.engine.parts import TargetParts
    from bridge.engine.transform import _Run
    from bridge.steps import StepResult


#: What refused a file under reject-file, by the order in which a reading of the whole
#: file at once meets them: the rows as decoded, else the steps, else the targets.
DECODED, STEPS, RENDERED = 3, 2, 1


def refuse(run: _Run, by: int) -> None:
    """The file is refused (reject-file) by errors ``by`` its rows as decoded, its
    steps or its targets. It lists what a reading of the whole file at once lists,
    whatever its chunks: the errors of the first of those that found some in any
    chunk, and no note of the steps nor of the targets (a chunk's are kept only once
    it is written). What the chunks before kept of the others is forgotten."""
    if by < run.refused_by:
        return
    c = run.checked
    if by > run.refused_by:
        gone = {id(i) for i in run.caps.made}
        if by == DECODED:  # the whole file's rows never reach the operator's choice
            gone |= {id(i) for i in run.left_issues}
            c.left_out = 0
        c.issues[:] = [i for i in c.issues if id(i) not in gone]
        run.caps = Caps(c.issues)
    c.rejected = True
    run.refused_by = by


def errors_only(run: _Run, tables: Mapping[str, pd.DataFrame],
                arrow: dict[str, pa.Table] | None, parts: list[TargetParts]) -> None:
    """A chunk of a file its steps or its targets refused in a chunk before: the
    errors they find in it (nothing is written), as in the whole file read at once."""
    from bridge.steps import apply_steps

    step_ctx = dataclasses.replace(run.step_ctx, notes_room=run.caps.notes_room,
                                   errors_room=run.caps.errors_room)
    given = arrow if arrow is not None and arrow.keys() == tables.keys() else tables
    result = apply_steps(run.body, given, step_ctx)
    bad = [i for i in result.issues if i.is_error]
    run.once.keep()
    if bad or result.unbuilt_lines:
        refuse(run, STEPS)
        run.caps.keep_errors(bad, result.unbuilt)
    elif run.refused_by == RENDERED:
        for p in parts:
            found = p.part(result.arrow if p.arrow else result.tables)[1]
            p.keep_keys()
            run.caps.keep_errors([i for i in found if i.is_error])


def end(run: _Run, parts: list[TargetParts]) -> Checked:
    """The trailer, then every output finished; nothing kept of a refused file."""
    c, flow = run.checked, run.flow
    c.rows = dict(run.rows)
    c.issues += run.caps.summaries()
    if c.rejected or run.nothing or (c.skipped_rows and not run.kept_source):
        c.rejected = True  # nothing good is left: the whole file is refused
        run._discard(parts)
        return c
    if run.gone is not None and not _withdraw(run, parts):
        return c
    trailer = _trailer(run)
    if trailer is None:
        run._discard(parts)
        return c
    made = []
    for p in parts:
        data, found, rows = p.tail(trailer.arrow if p.arrow else trailer.tables)
        errors = [i for i in found if i.is_error]
        if errors or data is None:
            c.issues.extend(errors)
            c.rejected = True  # a trailer that cannot be written: no row to leave out
            run._discard(parts)
            return c
        c.issues.extend(found)
        made.append((p, data, rows))
    for p, data, rows in made:
        p.write(data, rows)
    c.money_out = _add(c.money_out, money_sum(trailer.arrow, flow.totals.money_out))
    for p, target in zip(parts, flow.targets, strict=True):
        if run.data_rows or target.write_empty:
            c.rendered.append(p.finish())
        else:
            p.file.discard()
    c.sent_keys = run.sent
    c.facts = run.facts
    c.nothing_to_write = not c.rendered
    return c


def _withdraw(run: _Run, parts: list[TargetParts]) -> bool:
    """The keys this file no longer has, through the steps after the delta into the
    targets (:mod:`bridge.engine.gone`); False if they cannot be written."""
    from bridge.engine.gone import not_withdrawn, note, withdrawn
    from bridge.steps import apply_steps

    assert run.gone is not None
    row, c, gone = run.row, run.checked, run.gone.args.gone
    assert gone is not None
    ledger, besides = run.ctx.ledger, row.own_keys
    # The keys sent before (how many), and those of them not in this file.
    known, missing = run.gone.seen.missing(ledger.known_keys(row.flow, besides=besides))
    last = ledger.fingerprints(row.flow, missing, besides=besides)
    made = withdrawn(run.gone.args, last, run.gone.types)
    if made is None:
        return True
    table, prints = made
    # Of the keys sent, those withdrawn already are not in the shop: not in the share.
    live = known - (len(last) - len(prints))
    issue, held = note(sorted(prints), live, gone.hold_above)
    if held and run.left and row.approved:
        # An operator chose rows: the withdrawals, no row of the file, were not chosen.
        c.issues.append(not_withdrawn(sorted(prints), live))
        return True
    result = apply_steps(run.body[run.gone.index + 1:],
                         {run.gone.table or "gone": table}, run.step_ctx)
    out = [p.part(result.arrow if p.arrow else result.tables) for p in parts]
    errors = [i for i in [*result.issues, *(i for o in out for i in o[1])] if i.is_error]
    if errors:
        c.issues.extend(errors)
        c.rejected = True  # a withdrawal that cannot be written: no row to leave out
        run._discard(parts)
        return False
    for p, (data, _, rows) in zip(parts, out, strict=True):
        if data is not None:
            p.write(data, rows)
    result.fingerprints.update(prints)
    run._gather({}, result)
    c.issues.append(issue)
    c.held.extend([held] if held else [])
    return True


def _trailer(run: _Run) -> StepResult | None:
    """The trailer's steps on the rows counted over every chunk (None if they fail)."""
    result = trailer_result(run.trailer, run.counts, run.step_ctx)
    run.checked.issues.extend(result.issues)
    if any(i.is_error for i in result.issues):
        run.checked.rejected = True
        return None
    return result


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return a if b is None else b if a is None else a + b
