"""The end of one reading of a file (:class:`bridge.engine.transform._Run`), once its last
chunk has gone through the steps: the keys the file no longer has withdrawn
(:mod:`bridge.engine.gone`), the trailer's steps run on the rows counted over every chunk,
its rows written, and every target's output finished; nothing is kept of a refused file."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from bridge.engine.chunking import Checked, trailer_result
from bridge.engine.tables import money_sum

if TYPE_CHECKING:
    from bridge.engine.parts import TargetParts
    from bridge.engine.transform import _Run
    from bridge.steps import StepResult


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
