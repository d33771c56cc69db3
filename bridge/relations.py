"""Checks between records and between the fields of one record, declared in the tracciato.

- ``link``: a child's field equals its parent's (the order number of each detail line);
- ``checks.file_totals``: a field equals the sum of a field over a record type in the
  whole file, wherever those records are (a grand total in a trailer over the headers);
- ``rules``: conditions between the fields of one record (an amount equal to a product
  rounded half up, a sign that follows a code, a field allowed only with another).

They run chunk by chunk beside :class:`bridge.validate.FileChecker`, which calls them: a
record group is never split between chunks, so a child meets its parent in its chunk, and
the file totals keep only a sum per rule and the distinct values to compare with it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bridge.codecs.frames import rows_in
from bridge.issues import Issue, clip
from bridge.tally import Batch

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bridge.spec.model import RecordSpec, RowRule, Tracciato

LINE = "_line"
PARENT_LINE = "_parent_line"
#: Lines kept per distinct value a file total is compared with (a report names a few).
LINES_KEPT = 100


class Relations:
    """Feed it every chunk's typed tables in order, then call :meth:`finish`."""

    def __init__(self, t: Tracciato) -> None:
        self.t = t
        self.sums = [Decimal(0) for _ in t.checks.file_totals]
        #: Per file total: each distinct value of the checked field, with its first lines.
        self.seen: list[dict[Decimal, list[int]]] = [defaultdict(list)
                                                     for _ in t.checks.file_totals]

    def feed(self, tables: Mapping[str, pd.DataFrame]) -> list[Batch]:
        out: list[Batch] = []
        for name, rec in self.t.records.items():
            if not (rec.link or rec.rules) or name not in tables or not rows_in(tables, name):
                continue  # nothing to check (its frame is not made for nothing)
            df = tables[name]
            if rec.link and rec.parent is not None and rec.parent in tables:
                out += [_link(name, rec, k, df, tables[rec.parent])
                        for k in range(len(rec.link))]
            out += [_rule(name, rec, k, rule, df) for k, rule in enumerate(rec.rules)]
        for i, ft in enumerate(self.t.checks.file_totals):
            if ft.over in tables:
                self.sums[i] += _sum(tables[ft.over][ft.sum])
            if ft.record in tables:
                df = tables[ft.record]
                values = _arrow(df[ft.field]).to_pylist()  # None where missing
                for line, value in zip(df[LINE].tolist(), values, strict=True):
                    if value is None:  # missing: its own issue if required
                        continue
                    lines = self.seen[i][Decimal(value)]
                    if len(lines) < LINES_KEPT:
                        lines.append(int(line))
        return out

    def finish(self) -> list[Issue]:
        issues = []
        for i, ft in enumerate(self.t.checks.file_totals):
            total = self.sums[i]
            for value, lines in self.seen[i].items():
                if abs(value - total) <= ft.tolerance:
                    continue
                issues += [Issue("file-total-mismatch",
                                 f"{ft.record}.{ft.field} is {value}, the sum of "
                                 f"{ft.over}.{ft.sum} over the file is {total}"
                                 + (f" (tolerance {ft.tolerance})" if ft.tolerance else ""),
                                 line, ft.record, ft.field, clip(value)) for line in lines]
        issues.sort(key=lambda i: i.line or 0)
        return issues


def _sum(col: pd.Series) -> Decimal:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(col, from_pandas=True)
    if pa.types.is_integer(arr.type):
        arr = arr.cast(pa.decimal128(38, 0))
    total = pc.sum(arr).as_py()
    return Decimal(0) if total is None else Decimal(total)


def _link(name: str, rec: RecordSpec, k: int, children: pd.DataFrame,
          parents: pd.DataFrame) -> Batch:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    ln = rec.link[k]
    plines = parents[LINE].to_numpy(dtype=np.int64)
    mine = children[PARENT_LINE].to_numpy(dtype=np.int64)
    at = np.minimum(np.searchsorted(plines, mine), max(len(plines) - 1, 0))
    found = (mine >= 0) & (plines[at] == mine) if len(plines) else np.zeros(len(mine), bool)
    rows = np.flatnonzero(found)
    own = _arrow(children[ln.field]).take(pa.array(rows))
    theirs = _arrow(parents[ln.parent]).take(pa.array(at[rows]))
    differ = pc.fill_null(pc.not_equal(own, theirs), False)
    bad = rows[np.asarray(differ.to_numpy(zero_copy_only=False), dtype=bool)]
    lines = children[LINE].to_numpy(dtype=np.int64)[bad]

    def make(positions: np.ndarray) -> list[Issue]:
        out = []
        for p in positions.tolist():
            row = int(bad[p])
            value = children[ln.field].iloc[row]
            other = parents[ln.parent].iloc[int(at[row])]
            out.append(Issue("link-mismatch",
                             f"{name}.{ln.field} is {value!s}, its {rec.parent} (line "
                             f"{int(mine[row])}) has {ln.parent} {other!s}",
                             int(lines[p]), name, ln.field, clip(value)))
        return out

    return Batch.alike(lines, ("link-mismatch", name, ln.field), make)


def _arrow(col: pd.Series) -> pa.Array:
    import pyarrow as pa

    arr = pa.array(col, from_pandas=True)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _rule(name: str, rec: RecordSpec, k: int, rule: RowRule, df: pd.DataFrame) -> Batch:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from bridge.spec.rules import compiled, subject

    that, when = compiled(name, rec, rule, f"records.{name}.rules[{k}]")
    read = sorted(set(that.names) | set(when.names if when is not None else ()))
    read = [n for n in read if n in df.columns]
    table = pa.table({n: _arrow(df[n]) for n in read}) if read else \
        pa.table({"_": pa.nulls(len(df))})
    # A rule sees missing values (``x is none`` is a rule); a record where it cannot be
    # computed because a value it reads is missing is not judged: that value has its own
    # issue when it matters.
    gaps = np.zeros(len(df), dtype=bool)
    for n in read:
        gaps |= np.asarray(pc.is_null(table.column(n)).to_numpy(zero_copy_only=False),
                           dtype=bool)
    judged = np.ones(len(df), dtype=bool)
    errors: dict[int, str] = {}
    ok: Any = None
    for expr in ([when] if when is not None else []) + [that]:
        values, failures = expr.evaluate(table, {})
        for f in failures:
            if f.row >= 0 and gaps[f.row]:
                judged[f.row] = False
            else:
                errors.setdefault(f.row, f.error)
        if expr is when:
            judged &= _true(values)
        else:
            ok = values
    broken = judged & ~_true(ok) & ~_null(ok)
    for row in errors:
        if row >= 0:
            broken[row] = judged[row]
    if -1 in errors:
        broken = judged  # the evaluation was stopped: no record is known to keep the rule
    rows = np.flatnonzero(broken)
    lines = df[LINE].to_numpy(dtype=np.int64)[rows]
    field = subject(rec, rule, that)
    code = rule.code

    def make(positions: np.ndarray) -> list[Issue]:
        out = []
        for p in positions.tolist():
            row = int(rows[p])
            shown = ", ".join(f"{n}={_shown(df[n].iloc[row])}" for n in read)
            why = rule.message or f"{rule.that!r} does not hold"
            error = errors.get(row, errors.get(-1))
            if error is not None:
                why = f"{rule.that!r} cannot be checked: {error}"
            out.append(Issue(code, f"{why} ({shown})", int(lines[p]), name, field,
                             clip(_shown(df[field].iloc[row]))))
        return out

    return Batch.alike(lines, (code, name, field), make)


def _true(values: Any) -> np.ndarray:
    """Where an expression's result is true (a boolean True, not merely a value)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if not pa.types.is_boolean(arr.type):
        return np.zeros(len(arr), dtype=bool)
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _null(values: Any) -> np.ndarray:
    import numpy as np
    import pyarrow.compute as pc

    return np.asarray(pc.is_null(values).to_numpy(zero_copy_only=False), dtype=bool)


def _shown(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    try:
        import pandas as pd

        if pd.isna(value):  # type: ignore[call-overload]
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)
