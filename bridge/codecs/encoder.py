"""Typed tables back to the bytes of a file; a value the file cannot hold is an issue on its row.

:func:`encode_rows` is the way back of :func:`bridge.codecs.decode`. Each table holds one
record type. Its values are cast to their fields' types (:mod:`bridge.codecs.casting`),
rendered as text in the fields' formats (:mod:`bridge.fields`), checked against what the
target can hold (the encoding, control characters, unquoted delimiters:
:mod:`bridge.codecs.guards`; the field's own length and pattern rules), then laid
out as lines (:func:`bridge.codecs.split.join`).

Nothing a row holds makes it raise: every problem is an :class:`Issue` on the row's
``_line``, and no bytes are made while there is an error. What does not fit the
tracciato at all (a table for a record it lacks, a column of a type that cannot become
the field's) is the configuration's fault: :class:`bridge.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from bridge.codecs.casting import _has, _values
from bridge.errors import ConfigError, DataError
from bridge.issues import Issue, clip

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bridge.codecs.guards import Problem
    from bridge.codecs.raw import RawTable
    from bridge.fields import BadCells
    from bridge.spec.model import FieldSpec, RecordSpec, Tracciato


class EncodeError(DataError):
    """Rows that cannot be written in the layout; ``issues`` says which and why."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"cannot write: {first.code}: {first.message}{more}")


@dataclass
class Encoded:
    """The file's bytes, or None when some value cannot be written; and every issue.

    Issues are errors (the bytes are None) or notes (a value written otherwise than
    given, e.g. ``transliterated``), sorted by line. ``line`` is the row's ``_line``,
    None when its table has no ``_line`` or for a problem of the whole column.
    """

    data: bytes | None
    issues: list[Issue] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    @property
    def error_lines(self) -> set[int]:
        """The ``_line`` of every row with an error. An error whose line is None cannot
        be pinned on a row: leaving rows out will not make the file writable."""
        return {i.line for i in self.errors if i.line is not None}


def encode_rows(tables: Mapping[str, pd.DataFrame | pa.Table], t: Tracciato, *,
                head: bool = True, tail: bool = True) -> Encoded:
    """The bytes of a file holding these tables, exactly as the layout says, or the
    issues of the rows that cannot be written.

    Rows are put in file order by ``_line`` (rows of one line in the order of the
    tracciato's record types); children without ``_line`` follow their parent's ``_line``
    through ``_parent_line``. The tables may be pandas or Arrow ones. Never raises on the
    values of the rows;
    raises :class:`ConfigError` for a table of a record the tracciato lacks, a column
    whose type can never become its field's, or a layout whose own text (pads,
    separators, headers...) cannot be written. ``head``/``tail``: see
    :func:`bridge.codecs.split.join` (a file written in parts).
    """
    from bridge.codecs.guards import check_layout
    from bridge.codecs.split import join

    unknown = [name for name in tables if name not in t.records]
    if unknown:
        raise ConfigError(f"tracciato {t.name or '(unnamed)'} has no record {unknown[0]!r} "
                          f"(it has {', '.join(t.records)})")
    check_layout(t)
    raws: list[RawTable] = []
    lines_of: list[np.ndarray] = []
    issues: list[Issue] = []
    # Records of one line (a record made from another, as a new customer's from its
    # order) are written in the order of the tracciato's record types.
    for name in sorted(tables, key=list(t.records).index):
        raw, lines, found = _table(tables[name], t.records[name], name, t)
        raws.append(raw)
        lines_of.append(lines)
        issues.extend(found)
    if not any(i.is_error for i in issues):
        # What the checks above let through is written; join still reports, never hides.
        data, late = join(raws, t, lines_of=lines_of, head=head, tail=tail)
        issues.extend(late)
    else:
        data = None
    issues.sort(key=lambda i: (i.line or 0))
    failed = data is None or any(i.is_error for i in issues)
    return Encoded(None if failed else bytes(data or b""), issues)


def encode(tables: Mapping[str, pd.DataFrame], t: Tracciato) -> bytes:
    """:func:`encode_rows`, raising :class:`EncodeError` with the errors when some value
    cannot be written (too long, unencodable, missing but required...). Notes are
    dropped: callers that report them use :func:`encode_rows`."""
    out = encode_rows(tables, t)
    if out.data is None:
        raise EncodeError(out.errors)
    return out.data


def _table(df: pd.DataFrame | pa.Table, rec: RecordSpec, name: str, t: Tracciato
           ) -> tuple[RawTable, np.ndarray, list[Issue]]:
    """One table's cells as text, its rows' lines (-1: none), and its issues."""
    import numpy as np
    import pyarrow.compute as pc

    from bridge.codecs.guards import screen
    from bridge.codecs.raw import RawTable
    from bridge.fields import render_column
    from bridge.fields.cells import TEXT_TYPES, Collector
    from bridge.fields.render import check_written, fit

    lines = row_lines(df)
    columns: dict[str, pa.Array] = {}
    issues: list[Issue] = []
    fixed = t.format == "fixed"
    # A number whose sign is written in another field: the digits unsigned, and the
    # sign field written from the number, whatever the table holds in it.
    signs = {f.sign_from.field: f for f in rec.data_fields if f.sign_from is not None}
    for f in rec.data_fields:
        width = f.length if fixed else None
        values, failed = _values(df, f, name)
        if f.name in signs:
            values = _sign_text(_values(df, signs[f.name], name)[0], signs[f.name])
        elif f.sign_from is not None:
            values = pc.abs_checked(values)
        found: list[Problem] = []
        if f.type in TEXT_TYPES:
            cells, bad = render_column(values, f)
            found += _problems(bad)
            cells, problems = screen(cells, values, f, t)
            found += problems
            rules = Collector(values)
            cells = check_written(cells, f, width, rules)
            if width is not None:
                cells = fit(cells, f, width, rules)
            found += _problems(rules.build())
        else:
            cells, bad = render_column(values, f, width)
            found += _problems(bad)
        if failed:
            # A value that could not be cast is null now: one issue says why, not two.
            gone = np.zeros(len(df) + 1, dtype=bool)  # the extra slot is row -1's
            gone[[p[0] for p in failed]] = True
            if failed[-1][0] < 0:
                gone[:] = True
            found = [*failed, *(p for p in found if not gone[p[0]])]
        columns[f.name] = cells
        issues.extend(_issue(p, lines, name, f.name) for p in found)
    return RawTable(name, columns, _order_keys(df, rec, lines), fitted=fixed), lines, issues


def _sign_text(number: pa.Array, f: FieldSpec) -> pa.Array:
    """The text of the field that holds ``number``'s sign: the first negative or positive
    text declared; nothing for a missing number."""
    import pyarrow as pa
    import pyarrow.compute as pc

    assert f.sign_from is not None
    neg, pos = f.sign_from.negative[0], f.sign_from.positive[0]
    below = pc.less(number, pa.scalar(0 if pa.types.is_integer(number.type) else Decimal(0),
                                      number.type))
    return pc.if_else(below, pa.scalar(neg), pa.scalar(pos))


def _ints(df: pd.DataFrame | pa.Table, name: str) -> np.ndarray:
    """A column of line numbers as int64, -1 where missing."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(df, pa.Table):
        column = pc.fill_null(df.column(name).cast(pa.int64()), -1)
        got: np.ndarray = column.to_numpy()
        return got.astype(np.int64, copy=False)
    ints: np.ndarray = df[name].to_numpy(dtype=np.int64, na_value=-1)
    return ints


def _problems(bad: BadCells) -> list[Problem]:
    if not bad:
        return []  # most columns: no list made of nothing
    return [(int(r), code, msg, clip(value)) for r, code, value, msg
            in zip(bad.rows, bad.codes, bad.values, bad.messages, strict=True)]


def _issue(p: Problem, lines: np.ndarray, record: str, field_name: str) -> Issue:
    row, code, message, value = p
    line = int(lines[row]) if row >= 0 else -1
    if line < 0 and row >= 0:
        # Not traceable to the file read: the row's place in its table, for a person.
        message += f" (row {row + 1} of the {record} table)"
    return Issue(code, message, line if line >= 0 else None, record, field_name, value)


def row_lines(df: pd.DataFrame | pa.Table) -> np.ndarray:
    """Each row's ``_line`` (-1 where the table has none)."""
    import numpy as np

    from bridge.codecs import LINE

    if not _has(df, LINE):
        return np.full(len(df), -1, dtype=np.int64)
    return _ints(df, LINE)


def _order_keys(df: pd.DataFrame | pa.Table, rec: RecordSpec, lines: np.ndarray
                ) -> np.ndarray:
    """A sort key per row that puts every record where it belongs in the file."""
    import numpy as np

    from bridge.codecs import LINE, PARENT_LINE

    n = len(df)
    shift = np.int64(1 << 20)
    if _has(df, LINE):
        keys: np.ndarray = lines * shift
        if rec.parent is not None and _has(df, PARENT_LINE):
            # A child right after its parent's line, by its distance from it: the same
            # order as its own line where an order's rows are together, and where they are
            # apart in the source (an order's row moved to the end of the export), still
            # within its parent's block, not under the parent before it.
            parent = _ints(df, PARENT_LINE)
            off = lines - parent
            near = (parent >= 0) & (lines >= 0) & (off >= 0) & (off < shift)
            keys = np.where(near, parent * shift + off, keys)
        known = lines >= 0
        if not known.all():
            # A row without a line stays right after the row before it.
            pos = np.arange(n, dtype=np.int64)
            last = np.maximum.accumulate(np.where(known, pos, -1))
            base = np.where(last >= 0, keys[np.maximum(last, 0)], 0)
            keys = np.where(known, keys, base + pos - last)
        return keys
    if rec.parent is not None and _has(df, PARENT_LINE):
        parent = _ints(df, PARENT_LINE)
        keys = parent * shift + 1 + rank_within(parent)
        return keys
    if rec.occurs == "last":
        return np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    if rec.occurs == "first":
        return np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    return np.arange(1, n + 1, dtype=np.int64) * shift


def rank_within(keys: np.ndarray) -> np.ndarray:
    """Each row's place among the rows with the same key, in row order (0, 1, 2...)."""
    import numpy as np

    n = len(keys)
    order = np.argsort(keys, kind="stable")
    ranked = keys[order]
    pos = np.arange(n, dtype=np.int64)
    starts = np.ones(n, dtype=bool)
    starts[1:] = ranked[1:] != ranked[:-1]
    run_start = np.maximum.accumulate(np.where(starts, pos, 0)) if n else pos
    within = np.empty(n, np.int64)
    within[order] = pos - run_start
    return within
