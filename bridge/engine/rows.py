"""A held file row by row: what each row would write, which rows go together, and an
operator's choice of rows checked against them (``bridge pending ID --rows``, ``bridge
approve ID --rows/--except``).

A row's id is the line of the source file it starts on (``_line``): the number every report
and issue gives, stable for the bytes claimed. The preview is the run's own transformation
(:func:`bridge.engine.transform.transform_file`, as ``bridge replay --dry-run`` uses it)
into a scratch folder, watched chunk by chunk: nothing is written, nothing is recorded.

A **group** is rows that are written together, so that an operator approves or leaves out
all of them or none: the rows sharing the tracciato's ``group_by`` key (an order's lines), a
parent record with its children, the rows a ``group`` step brings together by fields of the
source, and the records the steps tie to one another (a line under its header). An ERP
order is never written with half its lines.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, SupportsInt, cast

from bridge.errors import ConfigError
from bridge.issues import Issue

if TYPE_CHECKING:
    import pandas as pd

    from bridge.config import Flow
    from bridge.engine.context import Context
    from bridge.ledger import FileRow

#: A reason to hold a file that names its row: ``line 12: no row of 'clienti' for ...``.
HELD_LINE = re.compile(r"line (\d+): (.*)", re.S)


@dataclass
class Record:
    """One record the main target would get from a row: its type and its values as text."""

    record: str
    values: dict[str, str]


@dataclass
class Row:
    row: int  # the row id: the line of the source file it starts on
    group: int  # the row id of its group's first row (itself when alone)
    records: list[Record] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # why it holds the file (a lookup)


@dataclass
class Preview:
    """A held file's rows (the first ``limit`` of them shown) and its groups."""

    file: FileRow
    total: int  # rows in the file
    rows: list[Row]  # those shown, in the order of the file
    members: dict[int, list[int]]  # group (its first row id) -> its row ids, in order
    target: str  # the target whose records are shown
    rejected: bool = False  # transformed now, the file would be refused
    issues: list[Issue] = field(default_factory=list)  # issues of no row: the whole file
    held: list[str] = field(default_factory=list)  # reasons to hold of no row


def preview(ctx: Context, row: FileRow, flow: Flow, *, limit: int | None = None) -> Preview:
    """What each row of a file would write, as the next run would transform it (the first
    ``limit`` rows; None: all, 0: none, only the rows and their groups)."""
    from bridge.engine.transform import transform_file

    source = ctx.work(row.id) / "source"
    if not source.exists():
        raise ConfigError(f"file {row.id} ({row.path}): bridge keeps no copy of it to look at")
    watcher = _Watcher(ctx, flow, limit)
    with tempfile.TemporaryDirectory(dir=ctx.work(row.id), prefix=".rows-") as scratch:
        checked = transform_file(ctx, row, flow, source, folder=Path(scratch), watch=watcher)
        checked.forget_keys()
    members = watcher.groups()
    group = {n: g for g, m in members.items() for n in m}
    shown = [Row(n, group[n], watcher.records.get(n, [])) for n in sorted(watcher.shown)]
    at = {r.row: r for r in shown}
    first = flow.targets[0]
    out = Preview(row, len(watcher.lines), shown, members, first.name or first.folder,
                  checked.rejected)
    for issue in checked.issues:
        if issue.line in at:
            at[issue.line].issues.append(issue)
        elif issue.line is None or issue.line not in group:
            out.issues.append(issue)
    for reason in checked.held:
        m = HELD_LINE.fullmatch(reason)
        if m and int(m.group(1)) in at:
            at[int(m.group(1))].held.append(m.group(2))
        elif not (m and int(m.group(1)) in group):
            out.held.append(reason)
    return out


def choose(p: Preview, *, keep: set[int] | None = None, drop: set[int] | None = None
           ) -> list[int]:
    """The rows an operator's choice leaves out: all but ``keep``, or ``drop``. Every row
    named must be a row of the file, and every group kept or left out whole."""
    rows = {n for m in p.members.values() for n in m}
    given = keep if keep is not None else drop or set()
    unknown = sorted(given - rows)
    if unknown:
        raise ConfigError(f"file {p.file.id} has no {named(unknown)}: its rows are "
                          f"{spans(rows) or 'none'} (bridge pending {p.file.id} --rows)")
    left = rows - keep if keep is not None else set(given)
    split = [m for m in p.members.values() if left & set(m) and set(m) - left]
    if split:
        said = [f"rows {spans(m)} are written together (one group, such as an order and "
                f"its lines); {named(set(m) & left)} would be left out and "
                f"{named(set(m) - left)} approved" for m in split[:3]]
        more = f"; and {len(split) - 3} more groups" if len(split) > 3 else ""
        raise ConfigError(f"file {p.file.id}: {'; '.join(said)}{more}: approve or leave out "
                          "every row of a group, or none")
    if rows and left == rows:
        raise ConfigError(f"file {p.file.id}: that leaves out every row; to refuse the whole "
                          f"file: bridge reject {p.file.id} --reason TEXT")
    return sorted(left)


def named(rows: set[int] | list[int]) -> str:
    """``row 4``, ``rows 2-4, 7``."""
    return f"{'row' if len(rows) == 1 else 'rows'} {spans(rows)}"


def spans(rows: set[int] | list[int]) -> str:
    """Row ids as runs: ``2-4, 7``."""
    runs: list[list[int]] = []
    for n in sorted(rows):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def parse_rows(text: str) -> set[int]:
    """``3,5,7-9`` as row ids; ValueError with a plain message when it is not that."""
    rows: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m:
            raise ValueError(f"{part!r} is not a row id: give row ids as shown by `bridge "
                             "pending ID --rows`, e.g. 3,5,7-9")
        first, last = int(m.group(1)), int(m.group(2) or m.group(1))
        if last < first or last - first > 1_000_000:
            raise ValueError(f"{part!r}: a range goes from a row to a later one")
        rows.update(range(first, last + 1))
    if not rows:
        raise ValueError("no row ids given")
    return rows


class _Watcher:
    """Sees every chunk go through the steps (:class:`bridge.engine.chunking.Watch`):
    gathers the row ids, ties the rows of each group, keeps the records of the rows shown."""

    def __init__(self, ctx: Context, flow: Flow, limit: int | None) -> None:
        from bridge.engine.tables import load_tracciato
        from bridge.steps.spec import GroupArgs

        self.limit = limit
        self.t = load_tracciato(ctx.cfg, flow.tracciato)
        first = self.t.single_record
        # (table, fields): rows of a table sharing the fields' values are one group
        self.by = [(first, list(self.t.group_by))] if self.t.group_by else []
        self.by += [(s.args.table or first, list(s.args.by)) for s in flow.steps
                    if isinstance(s.args, GroupArgs)]
        self.tables = _shown_tables(ctx, flow)
        self.start()

    def start(self) -> None:
        self.lines: list[int] = []
        self.shown: set[int] = set()
        self.parent: dict[int, int] = {}
        self.records: dict[int, list[Record]] = {}

    def source(self, tables: Mapping[str, pd.DataFrame]) -> None:
        found = sorted(n for df in tables.values() if "_line" in df.columns
                       for n in map(_int, df["_line"].tolist()) if n is not None)
        for n in found:
            self.parent.setdefault(n, n)
            if self.limit is None or len(self.shown) < self.limit:
                self.shown.add(n)
        self.lines += found
        for name, df in tables.items():
            if "_line" not in df.columns or not len(df):
                continue
            lines = [_int(n) for n in df["_line"].tolist()]
            if "_parent_line" in df.columns:
                self._tie(zip(lines, df["_parent_line"].tolist(), strict=True))
            for table, by in self.by:
                if name == table and all(c in df.columns for c in by):
                    keys = df.groupby(by, dropna=False, sort=False).ngroup().tolist()
                    first: dict[int, int | None] = {}
                    self._tie((n, first.setdefault(k, n)) for n, k in zip(lines, keys,
                                                                          strict=True))

    def result(self, tables: dict[str, pd.DataFrame]) -> None:
        from bridge.engine.render import template_rows

        for df in tables.values():  # a line made under its header is one group with it
            if "_line" in df.columns and "_parent_line" in df.columns:
                self._tie(zip(df["_line"].tolist(), df["_parent_line"].tolist(), strict=True))
        for name in self.tables or list(tables):
            got = tables.get(name)
            if got is None or "_line" not in got.columns or not self.shown:
                continue
            mine = got.loc[got["_line"].isin(list(self.shown)).fillna(False).to_numpy(bool)]
            for values in template_rows(mine):
                n = _int(values["_line"])
                if n is None:
                    continue
                self.records.setdefault(n, []).append(Record(name, {
                    k: _text(v) for k, v in values.items()
                    if not k.startswith("_") and v is not None}))

    def _tie(self, pairs: Iterable[tuple[object, object]]) -> None:
        for x, y in pairs:
            a, b = _int(x), _int(y)
            if a is None or b is None or a not in self.parent or b not in self.parent:
                continue  # no line, or a record made by the steps: not a row of the file
            ra, rb = self._find(a), self._find(b)
            if ra != rb:  # the group's first row is its root
                self.parent[max(ra, rb)] = min(ra, rb)

    def _find(self, n: int) -> int:
        while self.parent[n] != n:
            self.parent[n] = self.parent[self.parent[n]]
            n = self.parent[n]
        return n

    def groups(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for n in self.lines:
            out.setdefault(self._find(n), []).append(n)
        return out


def _shown_tables(ctx: Context, flow: Flow) -> list[str]:
    """The tables the flow's first target writes (empty: every table)."""
    from bridge.engine.tables import load_tracciato

    target = flow.targets[0]
    if target.tracciato is not None:
        t = load_tracciato(ctx.cfg, target.tracciato)
        return [n for n, r in t.records.items() if r.occurs not in ("first", "last")]
    if target.each is not None:
        return [n for n in (target.each.table, target.each.lines) if n]
    return []


def _int(value: object) -> int | None:
    """A line number, None when missing (a record made by the steps has none)."""
    import pandas as pd

    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return None
    return int(cast("SupportsInt", value))


def _text(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
