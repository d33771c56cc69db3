"""File checks: what one row alone cannot tell.

Cell checks (types, lengths, patterns) happen while typing cells, in :mod:`bridge.fields`.
Here are the checks across rows and records: unique keys, parent/child linkage, order rules
(a coda only at the end), control totals, trailer counts and row counts; the links, file
totals and row rules a tracciato declares are in :mod:`bridge.relations`. They run chunk by
chunk, keeping only small state between chunks, so a file of any size is checked in bounded
memory. A record group is never split between chunks, so per-group checks see whole groups.
The checks of a chunk find their issues in batches (:class:`bridge.tally.Batch`): the lines
first, the issues themselves built only for those a report keeps.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from bridge.codecs.frames import rows_in
from bridge.issues import Issue, clip
from bridge.once import KeysOnce
from bridge.relations import Relations
from bridge.tally import Batch

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bridge.codecs.raw import RawChunk
    from bridge.spec.model import ControlTotal, Tracciato, UniqueCheck
    from bridge.tally import Key

LINE = "_line"
PARENT_LINE = "_parent_line"


class FileChecker:
    """Feed it every chunk of a file in order, then call :meth:`finish`."""

    def __init__(self, t: Tracciato) -> None:
        self.t = t
        self.counts: Counter[str] = Counter()
        self.seen_keys = KeysOnce()  # each unique rule's keys, by its index
        self.last_seen = False  # a record that must be the last one has been seen
        self.any_line = False  # some line of the file has been seen
        self.trailer_values: list[tuple[int, int | None]] = []
        self.relations = Relations(t)

    def feed(self, tables: Mapping[str, pd.DataFrame], chunk: RawChunk) -> list[Batch]:
        issues: list[Batch] = []
        for name in tables:
            self.counts[name] += rows_in(tables, name)
        for i, rule in enumerate(self.t.checks.unique):
            if rule.record in tables:
                issues.append(self._unique(i, rule, tables[rule.record]))
        issues += self._linkage(tables)
        for ct in self.t.checks.control_totals:
            # Children are linked only to the parent their record declares; a rule on any
            # other pair has nothing to sum (the loader refuses it, this keeps decode safe).
            linked = ct.child in self.t.records and self.t.records[ct.child].parent == ct.parent
            if linked and ct.parent in tables and ct.child in tables:
                issues.append(_control_total(ct, tables[ct.parent], tables[ct.child]))
        issues += self._order(chunk)
        issues += self.relations.feed(tables)
        tc = self.t.checks.trailer_count
        if tc is not None and tc.record in tables:
            self._note_trailer(tables[tc.record])
        return issues

    def finish(self) -> list[Issue]:
        t = self.t
        issues: list[Issue] = []
        total = sum(self.counts.values())
        for name, rec in t.records.items():
            n = self.counts[name]
            if (rec.required or rec.occurs in ("first", "last", "once")) and n == 0 and total:
                issues.append(Issue("missing-record", f"no {name} record in the file",
                                    record=name))
            if rec.occurs in ("first", "last", "once") and n > 1:
                issues.append(Issue("too-many-records",
                                    f"{n} {name} records, the tracciato allows one", record=name))
        tc = t.checks.trailer_count
        if tc is not None:
            issues += self._trailer_check()
        issues += self.relations.finish()
        for rc in t.checks.rows:
            n = self.counts[rc.record] if rc.record else total
            what = f"{rc.record} rows" if rc.record else "rows"
            if rc.min is not None and n < rc.min:
                issues.append(Issue("too-few-rows", f"{n} {what}, at least {rc.min} expected",
                                    record=rc.record))
            if rc.max is not None and n > rc.max:
                issues.append(Issue("too-many-rows", f"{n} {what}, at most {rc.max} allowed",
                                    record=rc.record))
        return issues

    # -- per chunk ----------------------------------------------------------------------

    def _unique(self, i: int, rule: UniqueCheck, df: pd.DataFrame) -> Batch:
        import numpy as np
        import pandas as pd

        if not len(df):
            return _none()
        keys = df[rule.fields]
        hashes = pd.util.hash_pandas_object(_as_text(keys), index=False).to_numpy()
        # The keys seen so far are kept sorted, each with its first line (bridge.once).
        dup, _ = self.seen_keys.again_hashed(i, hashes, df[LINE].to_numpy(dtype=np.int64))
        self.seen_keys.keep()
        lines = df[LINE].to_numpy(dtype=np.int64)[dup]

        def make(positions: np.ndarray) -> list[Issue]:
            out = []
            for p in positions.tolist():
                value = "/".join(str(v) for v in keys.iloc[dup[p]])
                out.append(Issue("duplicate-key",
                                 f"{'+'.join(rule.fields)} {clip(value)!r} appears more than once",
                                 int(lines[p]), rule.record, rule.fields[0], clip(value)))
            return out

        return Batch.alike(lines, ("duplicate-key", rule.record, rule.fields[0]), make)

    def _linkage(self, tables: Mapping[str, pd.DataFrame]) -> list[Batch]:
        import numpy as np

        out = []
        for name, rec in self.t.records.items():
            if rec.parent is None or name not in tables:
                continue
            df = tables[name]
            orphans = df[LINE].to_numpy(dtype=np.int64)[df[PARENT_LINE].to_numpy() < 0]
            message = f"a {name} record with no {rec.parent} before it"
            out.append(_alike(orphans, "orphan-riga", message, name))
        for name, rec in self.t.records.items():
            if rec.min_children <= 0 or name not in tables:
                continue
            lines = tables[name][LINE].to_numpy(dtype=np.int64)
            children = [tables[c][PARENT_LINE].to_numpy(dtype=np.int64)
                        for c, crec in self.t.records.items()
                        if crec.parent == name and c in tables]
            every = np.concatenate(children) if children else np.empty(0, np.int64)
            # Children per parent, counted by a sorted search rather than row by row.
            kids = np.sort(every)
            counts = (np.searchsorted(kids, lines, side="right")
                      - np.searchsorted(kids, lines, side="left"))
            short = np.flatnonzero(counts < rec.min_children)

            def make(positions: np.ndarray, name: str = name, short: np.ndarray = short,
                     counts: np.ndarray = counts, lines: np.ndarray = lines,
                     least: int = rec.min_children) -> list[Issue]:
                return [Issue("missing-record", f"{name} has {int(counts[short[p]])} child "
                              f"records, at least {least} expected", int(lines[short[p]]), name)
                        for p in positions.tolist()]

            out.append(Batch.alike(lines[short], ("missing-record", name, None), make))
        return out

    def _order(self, chunk: RawChunk) -> list[Batch]:
        import numpy as np

        kinds, lines = chunk.kinds, chunk.kind_lines
        if kinds is None or lines is None or not len(kinds):
            return []
        names = list(self.t.records)
        recs = [self.t.records[n] for n in names]
        lines = np.asarray(lines, dtype=np.int64)
        first_kinds = [k for k, r in enumerate(recs) if r.occurs == "first"]
        misplaced = np.flatnonzero(np.isin(kinds, first_kinds))
        if not self.any_line:
            misplaced = misplaced[misplaced != 0]
        self.any_line = True
        last_kinds = [k for k, r in enumerate(recs) if r.occurs == "last"]
        is_last = np.isin(kinds, last_kinds)
        marks = np.flatnonzero(is_last)
        start = 0 if self.last_seen else (int(marks[0]) + 1 if len(marks) else len(kinds))
        after = np.flatnonzero(~is_last[start:]) + start
        after = after[kinds[after] >= 0]
        self.last_seen = self.last_seen or bool(len(marks))

        def make(at: np.ndarray, where: str) -> Callable[[np.ndarray], list[Issue]]:
            return lambda positions: [
                Issue("bad-order", f"a {names[kinds[at[p]]]} record {where}",
                      int(lines[at[p]]), names[kinds[at[p]]]) for p in positions.tolist()]

        def count(at: np.ndarray) -> Callable[[np.ndarray], Counter[Key]]:
            return lambda positions: Counter(
                ("bad-order", names[k], None) for k in kinds[at[positions]].tolist())

        return [Batch(lines[at], make(at, where), count(at)) for at, where in
                ((misplaced, "must be the first line"), (after, "after the closing record"))]

    def _note_trailer(self, df: pd.DataFrame) -> None:
        tc = self.t.checks.trailer_count
        assert tc is not None
        for line, value in zip(df[LINE].tolist(), df[tc.field].tolist(), strict=True):
            self.trailer_values.append((int(line), _count(value)))

    def _trailer_check(self) -> list[Issue]:
        tc = self.t.checks.trailer_count
        assert tc is not None
        counted = sum(n for name, n in self.counts.items()
                      if (not tc.counts or name in tc.counts)
                      and (tc.include_self or name != tc.record))
        out = []
        for line, value in self.trailer_values:
            if value is not None and value != counted:
                out.append(Issue("trailer-count-mismatch",
                                 f"the {tc.record} says {value} records, the file holds {counted}",
                                 line, tc.record, tc.field, str(value)))
        return out


def _count(value: object) -> int | None:
    """The whole number a trailer cell holds; None when it holds none (an empty or bad
    cell already has its own issue, and a count cannot be compared with nothing)."""
    try:  # None, NA and NaN read as no number, too
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    return int(number)


def _control_total(ct: ControlTotal, parents: pd.DataFrame, children: pd.DataFrame) -> Batch:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(parents):
        return _none()
    values = _exact(pa.array(children[ct.sum], from_pandas=True))
    totals = _exact(pa.array(parents[ct.field], from_pandas=True))
    if values is None or totals is None:
        return _none()  # not numbers: the loader refuses such a rule
    kids = pa.table({"p": pa.array(children[PARENT_LINE].to_numpy()), "v": values})
    sums = kids.group_by("p").aggregate([("v", "sum")])
    head = pa.table({"p": pa.array(parents[LINE].to_numpy()), "t": totals})
    joined = head.join(sums, "p", join_type="left outer")
    total = joined["t"]
    # A sum comes back as decimal128(38, s); 28 digits leave room for the subtraction.
    sum_type = pa.decimal128(28, joined["v_sum"].type.scale)
    summed = pc.fill_null(joined["v_sum"].cast(sum_type), pa.scalar(0, sum_type))
    diff = pc.abs(pc.subtract(total, summed))
    # The tolerance as exactly the digits it has: compared with 29-digit differences, the
    # type of the two together must stay within 38 digits.
    bad = pc.greater(diff, pa.scalar(ct.tolerance))
    rows = np.flatnonzero(pc.fill_null(bad, False).to_numpy(zero_copy_only=False))
    lines = joined["p"].to_numpy()[rows].astype(np.int64)

    def make(positions: np.ndarray) -> list[Issue]:
        # Only the mismatches kept become Python values.
        take = pa.array(rows[positions])
        return [Issue("control-total-mismatch",
                      f"{ct.parent}.{ct.field} is {tv}, the sum of its {ct.child}.{ct.sum} "
                      f"is {sv}", int(line), ct.parent, ct.field, clip(tv))
                for line, tv, sv in zip(lines[positions].tolist(), total.take(take).to_pylist(),
                                        summed.take(take).to_pylist(), strict=True)]

    return Batch.alike(lines, ("control-total-mismatch", ct.parent, ct.field), make)


def _exact(arr: pa.Array) -> pa.Array | None:
    """Numbers as decimals (integers too, so that sums and differences stay exact)."""
    import pyarrow as pa

    if pa.types.is_decimal(arr.type):
        return arr
    if pa.types.is_integer(arr.type):
        return arr.cast(pa.decimal128(19, 0))  # every int64 fits in 19 digits
    return None


def _as_text(keys: pd.DataFrame) -> pd.DataFrame:
    """Keys as text, so a key hashes the same whatever type a chunk gave its column.

    Columns already of text are left as they are: converting them costs a Python string
    per cell and changes nothing.
    """
    import pandas as pd

    out = {}
    for name in keys.columns:
        col = keys[name]
        dtype = col.dtype
        is_text = isinstance(dtype, pd.ArrowDtype) and str(dtype.pyarrow_dtype) in (
            "string", "large_string")
        out[name] = col if is_text else col.astype(str)
    return pd.DataFrame(out)


def _alike(lines: np.ndarray, code: str, message: str, record: str) -> Batch:
    """Issues on these lines with one message, and no field."""
    return Batch.alike(lines, (code, record, None), lambda positions: [
        Issue(code, message, int(line), record) for line in lines[positions].tolist()])


def _none() -> Batch:
    return Batch.of([])
