"""Withdrawing what a file no longer has: the ``gone`` of a delta step.

A delta step remembers, per business key, the fields it last sent (its fingerprint: the
fields as text). When a file of the flow no longer has a key that was sent (an article
deleted in the ERP, or kept out by a filter because the master lacks it), the row comes
back once from that fingerprint, its ``gone.set`` fields changed (``stato: X``), and
goes through the steps after the delta, into the targets, like any other row: the shop
gets the article once more, withdrawn. Its new fingerprint is remembered, so the next
file that still lacks it withdraws nothing; a file that has it again sends it again.

What a file has is every key that reached the delta step, in any pass of the steps, and
every key of a row refused as bad (a bad barcode keeps an article out of one file; it is
not a reason to withdraw it). A file that would withdraw more than ``gone.hold_above`` of
the keys sent and not withdrawn waits for an operator: an export cut short must not empty
a shop. Rows an operator left out are not withdrawn either; see :func:`superseded_by` for a
file approved after a newer one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from bridge.engine.prints import SeenKeys
from bridge.issues import Issue

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from bridge.config import Flow
    from bridge.ledger import FileRow, Ledger
    from bridge.steps import StepSpec
    from bridge.steps.spec_business import DeltaArgs

#: Withdrawn keys named in the note; the rest are counted.
NAMED = 20


def gone_step(steps: Sequence[StepSpec]) -> tuple[int, DeltaArgs] | None:
    """The first delta step that withdraws, with its index."""
    from bridge.steps.spec_business import DeltaArgs

    for i, step in enumerate(steps):
        if isinstance(step.args, DeltaArgs) and step.args.gone is not None:
            return i, step.args
    return None


def key_parts(key: str, n: int) -> list[str | None]:
    """A business key back into its ``n`` fields (the inverse of ``business_keys``: parts
    joined by ``|``, ``\\`` and ``|`` escaped by a ``\\``; an empty part is missing)."""
    if n == 1:
        return [key]
    parts: list[str] = []
    cur: list[str] = []
    chars = iter(key)
    for ch in chars:
        if ch == "\\":
            cur.append(next(chars, ""))
        elif ch == "|":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    parts += [""] * (n - len(parts))
    return [p or None for p in parts[:n]]


def fingerprints(table: pa.Table, fields: list[str]) -> list[str]:
    """The fingerprint of each row, as the delta step makes it."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = [pc.fill_null(pc.cast(table.column(f), pa.string()), "\x00") for f in fields]
    prints = cells[0] if len(cells) == 1 else pc.binary_join_element_wise(*cells, "\x1f")
    return prints.to_pylist()  # type: ignore[no-any-return]


def _typed(values: list[str | None], kind: pa.DataType | None) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(values, pa.string())
    if kind is None or kind == pa.string():
        return text
    try:
        return pc.cast(text, kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return text  # read back as text: the steps after see what was sent


def _constant(value: object, n: int, kind: pa.DataType | None) -> pa.Array:
    import pyarrow as pa

    try:
        return pa.array([value] * n, kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return pa.array([value] * n)


def withdrawn(args: DeltaArgs, known: dict[str, str], types: dict[str, pa.DataType]
              ) -> tuple[pd.DataFrame, dict[str, str]] | None:
    """The rows to withdraw (key and delta fields, typed as the delta saw them) and their
    new fingerprints, of the keys sent before and not in the file (``known``: the
    fingerprint last sent for each); None when there are none."""
    import pandas as pd
    import pyarrow as pa

    assert args.gone is not None
    candidates = sorted(known)
    if not candidates:
        return None
    n = len(candidates)
    keys = [key_parts(k, len(args.key)) for k in candidates]
    sent = [[None if v == "\x00" else v for v in known[k].split("\x1f")] for k in candidates]
    columns: dict[str, pa.Array] = {}
    for i, f in enumerate(args.key):
        columns[f] = _typed([k[i] for k in keys], types.get(f))
    for i, f in enumerate(args.fields):
        if f in args.gone.set:
            columns[f] = _constant(args.gone.set[f], n, types.get(f))
        elif f not in columns:
            columns[f] = _typed([s[i] if i < len(s) else None for s in sent], types.get(f))
    table = pa.table(columns)
    prints = fingerprints(table, args.fields)
    fresh = [i for i, k in enumerate(candidates) if prints[i] != known[k]]
    if not fresh:
        return None  # withdrawn already
    table = table.take(pa.array(fresh, pa.int64()))
    rows = table.to_pandas(types_mapper=pd.ArrowDtype)
    return rows, {candidates[i]: prints[i] for i in fresh}


def note(keys: list[str], live: int, hold_above: float) -> tuple[Issue, str | None]:
    """The note that says what was withdrawn, and why the file waits if it does: ``live``,
    the keys sent and not withdrawn since (a shop emptied a few articles a night is
    emptied all the same)."""
    issue = Issue("withdrawn", f"{len(keys)} sent before and not in this file, sent as "
                  f"withdrawn: {_named(keys)}", value=str(len(keys)))
    share = len(keys) / live if live else 1.0
    held = None
    if share > hold_above:
        held = (f"it would withdraw {len(keys)} of the {live} keys sent and not withdrawn "
                f"({share:.0%}, over the {hold_above:.0%} of gone.hold_above): approve it "
                f"if the ERP really dropped them")
    return issue, held


def not_withdrawn(keys: list[str], live: int) -> Issue:
    """The note of withdrawals left out: the file's approval chose some of its rows."""
    return Issue("not-withdrawn", f"{len(keys)} of the {live} keys sent and not withdrawn "
                 f"are not in this file: {_named(keys)}; not withdrawn, as the approval chose "
                 "some rows of the file (a file approved whole withdraws them)",
                 value=str(len(keys)))


def _named(keys: list[str]) -> str:
    return ", ".join(keys[:NAMED]) + (f" and {len(keys) - NAMED} more"
                                      if len(keys) > NAMED else "")


def superseded_by(ledger: Ledger, row: FileRow, flow: Flow) -> FileRow | None:
    """A file of a flow whose files each hold the whole state (a delta that withdraws; or
    a file read in place, then of the same name), done already, with newer data than
    ``row``'s: ``row`` must not go over it (an approval given late, a replay of an older
    list). A replay's data is its original's."""
    from bridge.states import DONE

    origin = _origin(ledger, row)
    if gone_step(flow.steps) is not None:
        # Only a file taken after the origin can hold newer data than it.
        done = ledger.files(flow=row.flow, states=frozenset({DONE}), since=origin.created)
    elif flow.archive == "leave":
        done = [f for f in ledger.find_by_path(row.path)
                if f.flow == row.flow and f.state == DONE]
    else:
        return None
    return next((f for f in reversed(done) if f.id > origin.id and f.id != row.id
                 and _origin(ledger, f).id > origin.id), None)


def _origin(ledger: Ledger, row: FileRow) -> FileRow:
    """The file whose bytes ``row`` holds: itself, or the original a replay (of a
    replay...) was made from."""
    for _ in range(100):
        if row.replay_of is None:
            break
        row = ledger.get(row.replay_of)
    return row


class Withdrawals:
    """What one reading of a file gathers for its delta's ``gone``, chunk after chunk."""

    def __init__(self, index: int, args: DeltaArgs) -> None:
        self.index, self.args = index, args
        self.seen = SeenKeys()
        self.types: dict[str, pa.DataType] = {}
        self.table: str | None = args.table

    def saw(self, result: object) -> None:
        """The keys that reached the delta in one pass of the steps over a chunk."""
        from bridge.steps import StepResult

        assert isinstance(result, StepResult)
        self.seen.update(result.delta_seen)
        self.types.update(result.delta_types)
        self.table = self.table or result.delta_table

    def protect(self, tables: Mapping[str, pd.DataFrame], bad: list[Issue],
                more: Sequence[pa.Array | pa.ChunkedArray] = ()) -> None:
        """Rows refused as bad keep their keys: read from the source rows, when the key's
        fields are columns of the delta's table there. ``more``: the lines of errors not
        built (:attr:`bridge.steps.StepResult.unbuilt_lines`)."""
        import pyarrow as pa

        from bridge.steps.ops import business_keys

        name = self.table or (next(iter(tables)) if len(tables) == 1 else None)
        df = tables.get(name) if name is not None else None
        lines = {i.line for i in bad if i.line is not None}
        for found in more:
            lines.update(found.drop_null().to_pylist())
        if df is None or "_line" not in df.columns or not lines:
            return
        if any(f not in df.columns for f in self.args.key):
            return
        rows = df[df["_line"].isin(lines)]
        table = pa.Table.from_pandas(rows[list(self.args.key)], preserve_index=False)
        self.seen.update([k for k in business_keys(table, self.args.key).to_pylist()
                          if k is not None])
