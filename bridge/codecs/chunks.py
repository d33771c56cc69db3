"""Building :class:`RawChunk`s: tables from rows, groups kept whole across chunk ends.

Shared by the delimited and fixed-width splitters. A record group (a testata and its
righe, or the rows of one Shopify order) must never straddle two chunks, or the validator
would see orphans and half orders; the helpers here find where a chunk may end.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs.raw import RawChunk, RawTable
from bridge.codecs.text import Block, TextSource
from bridge.issues import Issue, clip
from bridge.spec.model import DelimitedFormat, Tracciato

#: For each data field of a record: its name and the 0-based column it is read from
#: (None: the column is absent, the cells are null).
Layout = list[tuple[str, int | None]]


def empty_table(t: Tracciato, record: str) -> RawTable:
    rec = t.records[record]
    cols = {f.name: pa.array([], pa.string()) for f in rec.data_fields}
    parents = np.empty(0, np.int64) if rec.parent else None
    return RawTable(record, cols, np.empty(0, np.int64), parents)


def empty_chunk(t: Tracciato) -> RawChunk:
    return RawChunk({name: empty_table(t, name) for name in t.records})


def slice_table(tab: RawTable, start: int, stop: int | None = None) -> RawTable:
    stop = len(tab) if stop is None else stop
    cols = {k: v.slice(start, stop - start) for k, v in tab.columns.items()}
    parents = None if tab.parent_lines is None else tab.parent_lines[start:stop]
    return RawTable(tab.record, cols, tab.lines[start:stop], parents)


def concat_tables(a: RawTable, b: RawTable) -> RawTable:
    if not len(a):
        return b
    cols = {
        k: pa.concat_arrays([_plain(a.columns[k]), _plain(b.columns[k])]) for k in a.columns
    }
    parents = None
    if a.parent_lines is not None and b.parent_lines is not None:
        parents = np.concatenate([a.parent_lines, b.parent_lines])
    return RawTable(a.record, cols, np.concatenate([a.lines, b.lines]), parents)


def _plain(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        return pa.concat_arrays(arr.chunks) if arr.num_chunks else pa.array([], arr.type)
    return arr


def group_start(tab: RawTable, group_by: list[str]) -> int:
    """Index of the first row of the trailing group (rows equal to the last on group_by).

    Keys are compared as their fields will read them, or looser: without the spaces
    around them (a field trims them unless told not to), a missing cell as an empty one.
    A cut between two rows the fields read as one key would make that group look split
    (:class:`~bridge.engine.chunking.Together`); keeping two groups in one chunk costs
    nothing."""
    n = len(tab)
    if n == 0 or not group_by:
        return n
    same = np.ones(n, dtype=bool)
    for name in group_by:
        col = loose_key(tab.columns[name])
        eq = pc.equal(col, col[n - 1])
        same &= np.asarray(eq.to_numpy(zero_copy_only=False), dtype=bool)
    differs = np.flatnonzero(~same)
    return int(differs[-1]) + 1 if len(differs) else 0


def loose_key(cells: pa.Array) -> pa.Array:
    """Cells of a group key as :func:`group_start` compares them."""
    return pc.utf8_trim_whitespace(pc.fill_null(cells, ""))


def cut_kinds(t: Tracciato) -> np.ndarray:
    """For each record type (by index), whether a chunk may end before one, blind to what
    follows.

    A child belongs to the closest record of its parent type before it, wherever that
    is: a chunk may end only before a record that every later child can belong to. That
    is the one parent type, when all children have the same; any record, when there are
    no children; none otherwise (the fixed-width splitter looks ahead instead).
    """
    parents = {rec.parent for rec in t.records.values() if rec.parent is not None}
    if not parents:
        return np.ones(len(t.records), dtype=bool)
    return np.array([len(parents) == 1 and name in parents for name in t.records], dtype=bool)


@dataclass
class RowBuffer:
    """Rows gathered one at a time (the tolerant paths), turned into tables on demand.

    ``last_line`` remembers the latest line of each record type across chunks, so that a
    child's parent line is right even when a chunk starts with it.
    """

    t: Tracciato
    layouts: dict[str, Layout]
    rows: dict[str, list[list[str]]] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)
    parents: dict[str, list[int]] = field(default_factory=dict)
    kinds: list[int] = field(default_factory=list)
    kind_lines: list[int] = field(default_factory=list)
    last_line: dict[str, int] = field(default_factory=dict)
    size: int = 0

    def __post_init__(self) -> None:
        self._names = list(self.t.records)

    def add(self, record: str | None, line: int, cells: list[str]) -> None:
        self.kinds.append(-1 if record is None else self._names.index(record))
        self.kind_lines.append(line)
        if record is None:
            return
        self.rows.setdefault(record, []).append(cells)
        self.lines.setdefault(record, []).append(line)
        parent = self.t.records[record].parent
        if parent is not None:
            self.parents.setdefault(record, []).append(self.last_line.get(parent, -1))
        self.last_line[record] = line
        self.size += sum(len(c) for c in cells) + len(cells)

    def take(self) -> RawChunk:
        tables = {}
        for name, rec in self.t.records.items():
            rows = self.rows.get(name, [])
            if not rows:
                tables[name] = empty_table(self.t, name)
                continue
            cols = {}
            for fname, idx in self.layouts[name]:
                if idx is None:
                    cols[fname] = pa.nulls(len(rows), pa.string())
                else:
                    cols[fname] = pa.array([r[idx] if idx < len(r) else None for r in rows],
                                           pa.string())
            parents = (np.array(self.parents[name], np.int64) if rec.parent is not None
                       else None)
            tables[name] = RawTable(name, cols, np.array(self.lines[name], np.int64), parents)
        chunk = RawChunk(tables)
        if len(self.t.records) > 1:
            chunk.kinds = np.array(self.kinds, np.int64)
            chunk.kind_lines = np.array(self.kind_lines, np.int64)
        self.rows, self.lines, self.parents = {}, {}, {}
        self.kinds, self.kind_lines, self.size = [], [], 0
        return chunk


# --- the tolerant path: Python's csv module, one row at a time -------------------------


def csv_options(d: DelimitedFormat) -> dict[str, Any]:
    """The dialect as keyword arguments of Python's csv module."""
    opts: dict[str, Any] = {"delimiter": d.delimiter, "doublequote": d.double_quote,
                            "escapechar": d.escape_char, "strict": False}
    if d.quote_char is None:
        opts["quoting"] = csv.QUOTE_NONE
    else:
        opts["quotechar"] = d.quote_char
    return opts


#: Cells a header (or the first row of a file without one) may hold, at the least: far
#: more than any export, far fewer than make pyarrow's reader take a gigabyte (50,000
#: empty columns did). A tracciato declaring many columns gets ``WIDTH_MARGIN`` more.
MAX_COLUMNS = 2_000
WIDTH_MARGIN = 100


def declared_columns(t: Tracciato) -> int:
    """The columns the widest record of ``t`` declares (up to its last column)."""
    return max((f.index or pos + 1 for rec in t.records.values()
                for pos, f in enumerate(rec.fields)), default=0)


def cell_limit(t: Tracciato) -> int:
    """The most cells a row of ``t`` is read as: past them, a header refuses the file and
    a data row is only counted (a ``wrong-column-count``), never split into cells."""
    return max(MAX_COLUMNS, declared_columns(t) + WIDTH_MARGIN)


def raise_field_limit() -> None:
    # The csv module refuses cells over 128 KiB by default; a 10 MB note is still a cell.
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)


_FIELD_LIMIT = (1 << 31) - 1


def text_lines(first: bytes, blocks: Iterator[Block]) -> Iterator[str]:
    """Lines with their line ends, from text that starts and ends at line ends."""
    yield from io.StringIO(first.decode("utf-8", "replace"), newline="")
    for b in blocks:
        yield from io.StringIO(b.data.decode("utf-8", "replace"), newline="")


def split_rows(src: TextSource, lines: Iterator[str], first_line: int, t: Tracciato,
               layouts: dict[str, Layout], disc: int | None, chunk_bytes: int | None,
               issues: list[Issue], ncols: int | None,
               report_empty: bool = True) -> Iterator[RawChunk]:
    """Rows read by the csv module: several record types, comments, or pyarrow gave up.

    ``report_empty``: a file without rows is reported here (the caller has not looked).
    """
    raise_field_limit()
    d = t.dialect
    raw: list[str] = []
    done = False
    limit = cell_limit(t)
    wide = 0  # the cells of the row read, when they were too many to hand over

    def feed() -> Iterator[str]:
        nonlocal done, wide
        for ln in lines:
            raw.append(ln)
            if len(ln) > limit and len(raw) == 1 and _too_wide(ln, d, limit):
                # The csv module would make a string of every cell: it gets one more than
                # the limit (the row is refused whatever its record type), the true count
                # is kept for the message.
                wide = ln.count(d.delimiter) + 1
                ln = d.delimiter.join(ln.split(d.delimiter, limit + 1)[:limit + 1]) + "\n"
            yield ln
        done = True

    reader = csv.reader(feed(), **csv_options(d))
    buf = RowBuffer(t, layouts)
    names = list(t.records)
    cuttable = cut_kinds(t)
    multi = len(t.records) > 1
    expected: dict[str, int] = {}
    #: Records read by position in a file with a header: at least this many cells.
    least: dict[str, int] = {}
    for r, rec in t.records.items():
        if ncols is not None and t.by_place(r):
            least[r] = max(f.index or 0 for f in rec.fields)
        elif ncols is not None:
            expected[r] = ncols
        elif multi:
            expected[r] = len(rec.fields)
    keys = [dict(layouts[t.single_record])[g] for g in t.group_by] if t.group_by else []
    last_key: tuple[str, ...] | None = None
    group = (first_line, 0)  # where the group being read starts: its line, the buffer's size
    rows = 0
    while True:
        raw.clear()
        wide = 0
        start = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            issues.append(Issue("unterminated-quote", f"the row cannot be read: {exc}",
                                line=first_line + start, value=clip(row_text("".join(raw)))))
            break
        line = first_line + start
        if row and d.comment_prefix and row[0].startswith(d.comment_prefix):
            continue
        if not row:
            # An empty line; ``;;;`` is a row of empty cells, never an empty line.
            if d.skip_blank_rows:
                continue
            row = [""] * (ncols or 1)
        if done and unterminated("".join(raw), d):
            issues.append(open_quote(line, "".join(raw)))
            break
        rows += 1
        rname = t.single_record
        if multi:
            value = row[disc] if disc is not None and disc < len(row) else ""
            found = t.record_of(value)
            if found is None:
                issues.append(Issue("unknown-record", f"no record type is chosen by {value!r}",
                                    line=line, value=clip(value)))
                buf.add(None, line, [])
                continue
            rname = found
        if rname in least:
            want = least[rname]
            short = len(row) < want
        else:
            want = expected.get(rname, len(t.records[rname].fields)) if wide else \
                expected.setdefault(rname, len(row))
            short = len(row) != want
        if wide or short:
            issues.append(wrong_count(wide or len(row), want, line, rname, "".join(raw)))
            continue
        # as group_start compares them (loose_key)
        key = tuple(row[i].strip() if i is not None and i < len(row) else "" for i in keys)
        if cuttable[names.index(rname)] and (not keys or key != last_key):  # a group starts
            if chunk_bytes and buf.size >= chunk_bytes:
                chunk = buf.take()
                chunk.issues = [*issues, *src.take_issues()]
                issues = []
                yield chunk
            group = (line, buf.size)
        buf.add(rname, line, row)
        if chunk_bytes:
            src.hold(buf.size - group[1], group[0])
        last_key = key
    chunk = buf.take()
    if rows == 0 and report_empty:
        issues.append(Issue("no-data", "the file holds header rows but no data rows")
                      if ncols is not None else Issue("empty-file", "the file holds no records"))
    chunk.issues = [*issues, *src.take_issues()]
    yield chunk


def _too_wide(line: str, d: DelimitedFormat, limit: int) -> bool:
    """Whether a line starting a row is a row of more than ``limit`` cells: only without any
    quote or escape character can its delimiters be counted as cells."""
    if (d.quote_char and d.quote_char in line) or (d.escape_char and d.escape_char in line):
        return False
    return line.count(d.delimiter) >= limit


def row_text(text: str) -> str:
    """A row's text as written, without the line end that closes it."""
    if text.endswith("\r\n"):
        return text[:-2]
    return text[:-1] if text.endswith(("\r", "\n")) else text


def wrong_count(cells: int, want: int, line: int, record: str | None, text: str) -> Issue:
    # One wording and value whichever reader met the row: chunked and whole reads agree.
    return Issue("wrong-column-count", f"{cells} cells where {want} are expected", line=line,
                 record=record, value=clip(row_text(text)))


def open_quote(line: int, text: str) -> Issue:
    return Issue("unterminated-quote", "a quoted cell opened on this line is never closed",
                 line=line, value=clip(row_text(text)))


def unterminated(text: str, d: DelimitedFormat) -> bool:
    """Whether ``text`` ends inside a quoted cell: a quote opened and never closed.

    Read as pyarrow and the tolerant csv module read it (a quote that closes a cell early
    does not stop the reading), a line added after the text is a row of its own unless
    a quote is still open.
    """
    end = next(c for c in "abcd" if c not in (d.delimiter, d.quote_char, d.escape_char))
    last: list[str] = []
    try:
        for row in csv.reader(io.StringIO(text + "\n" + end, newline=""), **csv_options(d)):
            last = row
    except csv.Error:
        return True
    return last != [end]
