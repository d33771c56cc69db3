"""Delimited files: bytes to cells with pyarrow's CSV reader, and cells back to lines.

The fast path hands the UTF-8 text from :mod:`bridge.codecs.text` to ``pyarrow.csv`` with
every column read as a string, so nothing is typed and an empty cell stays ``""``: the
whole text at once, or (in chunks) one block of whole records at a time, cut by
:mod:`bridge.codecs.records`. Files it cannot serve (several record types with different
cell counts, comment rows, an escape character when reading in chunks, text pyarrow
refuses) go through the tolerant path in :mod:`bridge.codecs.chunks`, built on Python's
csv module. Both give each row the line where it starts, counting the newlines that
quoted cells hold (:mod:`bridge.codecs.rows`).
"""

from __future__ import annotations

import contextlib
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bridge.codecs import chunks, records
from bridge.codecs.raw import RawChunk
from bridge.codecs.rows import BlockReader, Rows, close, place, to_table
from bridge.codecs.text import Block, TextSource, count_lines, empty_issue
from bridge.issues import Issue, clip
from bridge.spec.model import DelimitedFormat, Tracciato


@dataclass
class Prelude:
    """The rows before the data: skipped rows, then header rows; and the text after them."""

    header: list[list[str]]
    names_line: int
    data_line: int
    rest: bytes
    final: bool
    #: The line after ``rest`` (0: not known).
    next_line: int = 0
    #: Only when asked for (``peek``): whether no line after the header rows holds anything,
    #: and the cells of the first data row of a file without a header.
    empty: bool = False
    first_cells: int = 0
    #: The line of a row before the data (or the first data row) with more cells than
    #: ``limit``: not read, and the file is refused (0: none).
    too_wide: int = 0


_LINE_END = re.compile(rb"\r\n?|\n")
_EMPTY_LINES = re.compile(rb"[\r\n]+")


class _Feed:
    """The first lines of the text, for the csv module, pulling blocks only as it asks.

    The rows before the data are read whole however the text is cut into blocks (a
    header after many empty lines, a header cell holding line ends), and the text before
    ``mark`` (what has been read for good) is let go as blocks come in.
    """

    def __init__(self, blocks: Iterator[Block], delimiter: str, limit: int) -> None:
        self.blocks = blocks
        self.delimiter = delimiter.encode()
        self.limit = limit
        #: The cells of the row being read, at most (a quoted delimiter counts too).
        self.cells = 0
        self.too_wide = 0
        self.buf = b""
        self.pos = 0  # where the next line starts in buf
        self.mark = 0  # where the text still wanted starts in buf (or in kept)
        #: Text still wanted from earlier blocks, kept as it came to copy it only once.
        self.kept: list[bytes] = []
        self.line = 0  # the file's line at pos
        self.mark_line = 0
        self.row_line = 0  # the line where the row being read starts
        self.final = False
        self.after = 0
        #: The csv module is between two rows: empty lines are no rows, passed over here.
        self.between = True
        #: Empty lines passed over are dropped from the text wanted.
        self.drop_empty = True

    def lines(self) -> Iterator[str]:
        while True:
            if self.between:
                if not self.skip_empty():
                    return
                self.between = False
                self.row_line = self.line
                self.cells = 1
            elif self.pos == len(self.buf) and not self.pull():
                return
            end = _LINE_END.search(self.buf, self.pos)
            stop = end.end() if end is not None else len(self.buf)
            text = self.buf[self.pos:stop]
            # Counted on the bytes, before the csv module makes a string of every cell.
            self.cells += text.count(self.delimiter)
            if self.cells > self.limit:
                self.too_wide = max(self.row_line, 1)
                return
            self.pos = stop
            self.line += 1
            yield text.decode("utf-8", "replace")

    def skip_empty(self) -> bool:
        """Pass over empty lines, all of a run at once; whether any text follows."""
        while self.pos < len(self.buf) or self.pull():
            run = _EMPTY_LINES.match(self.buf, self.pos)
            if run is None:
                return True
            self.line += count_lines(self.buf[self.pos:run.end()])
            self.pos = run.end()
            if self.drop_empty:
                self.take()
        return False

    def take(self) -> None:
        """What has been read so far is read for good."""
        self.kept.clear()
        self.mark, self.mark_line = self.pos, self.line

    def rest(self) -> bytes:
        """The text from ``mark`` on."""
        return b"".join([*self.kept, self.buf[self.mark:]])

    def pull(self) -> bool:
        """Whether there is more text: the next block that holds any."""
        while not self.final:
            b = next(self.blocks, None)
            if b is None:
                self.final = True
                break
            if not self.line:
                self.line = self.mark_line = b.first_line
            if self.mark < self.pos:
                self.kept.append(self.buf[self.mark:self.pos])
            self.buf = self.buf[self.pos:] + b.data
            self.pos = self.mark = 0
            self.final, self.after = b.final, b.next_line
            if b.data:
                return True
        return False


def read_prelude(blocks: Iterator[Block], d: DelimitedFormat, peek: bool = False,
                 limit: int = chunks.MAX_COLUMNS) -> Prelude:
    """The rows before the data and the text after them; ``peek``: look at the data too
    (whether there is any, and the cells of its first row), leaving it in the text. A row
    of more than ``limit`` cells stops the reading (``too_wide``)."""
    chunks.raise_field_limit()
    need = d.skip_rows + d.header_rows
    feed = _Feed(blocks, d.delimiter, limit)
    reader = csv.reader(feed.lines(), **chunks.csv_options(d))
    rows: list[tuple[int, list[str]]] = []
    while len(rows) < need:
        feed.between = True
        try:
            row = next(reader)
        except (StopIteration, csv.Error):
            break
        feed.take()
        if not (d.comment_prefix and row and row[0].startswith(d.comment_prefix)):
            rows.append((feed.row_line, row))
    empty, first_cells = False, 0
    if peek:
        # Empty lines before the data are dropped, unless the dialect makes them rows.
        feed.between, feed.drop_empty = True, d.skip_blank_rows
        empty = not feed.skip_empty()
        if not empty and not d.header_rows:
            with contextlib.suppress(StopIteration, csv.Error):
                first_cells = len(next(reader))
    elif not feed.buf:
        feed.pull()
    header = [r for _, r in rows[d.skip_rows:]]
    names_at = d.skip_rows + d.header_names_row - 1
    names_line = rows[names_at][0] if names_at < len(rows) else 0
    return Prelude(header, names_line, max(feed.mark_line, 1), feed.rest(), feed.final,
                   feed.after, empty, first_cells, feed.too_wide)


@dataclass
class Plan:
    """Where each record's fields are read, and what the header said about it."""

    layouts: dict[str, chunks.Layout]
    ncols: int | None
    disc: int | None
    issues: list[Issue]
    fatal: bool


def plan(t: Tracciato, pre: Prelude) -> Plan:
    d = t.dialect
    names = None
    if d.header_rows and len(pre.header) >= d.header_names_row:
        names = [c.strip() for c in pre.header[d.header_names_row - 1]]
    by_name = d.match_columns == "name" and names is not None
    layouts: dict[str, chunks.Layout] = {}
    issues: list[Issue] = []
    used: set[int] = set()
    doubled = False
    for rname, rec in t.records.items():
        layout: chunks.Layout = []
        for pos, f in enumerate(rec.fields):
            idx: int | None = (f.index or pos + 1) - 1
            if by_name and names is not None and not t.by_place(rname):
                idx = names.index(f.header.strip()) if f.header.strip() in names else None
                if f.type != "filler" and (twice := _doubled(names, f.header.strip())):
                    doubled = True  # which of them holds the field is not known: refused
                    issues.append(Issue(
                        "bad-header", f"the header has the column {f.header!r} "
                        f"{len(twice)} times (columns {', '.join(map(str, twice))}): which "
                        "of them holds the field is not known", line=pre.names_line or None,
                        record=rname, field=f.name, value=f.header))
            elif names is not None and idx is not None and idx >= len(names):
                idx = None
            if idx is not None:
                used.add(idx)
            if f.type == "filler":
                continue
            if idx is None and d.missing_columns == "optional" and not f.required:
                pass  # an optional column this export lacks: read as missing values
            elif idx is None:
                code_ok = d.missing_columns == "empty"
                issues.append(Issue(
                    "bad-header", f"the header has no column {f.header!r}"
                    + (": its cells are left empty" if code_ok else ""),
                    line=pre.names_line or None, record=rname, field=f.name, value=f.header))
            layout.append((f.name, idx))
        layouts[rname] = layout
    disc = None
    if t.discriminator is not None and len(t.records) > 1:
        if t.discriminator.index is not None:
            disc = t.discriminator.index - 1
        elif names is not None and t.discriminator.column in names:
            disc = names.index(t.discriminator.column)
    if names is not None and d.extra_columns == "error":
        for i, n in enumerate(names):
            if i not in used and i != disc:
                issues.append(Issue("extra-column", f"column {i + 1} {clip(n)!r} is not "
                                    "declared", line=pre.names_line or None, value=clip(n)))
    fatal = doubled or (d.missing_columns != "empty"
                        and any(i.code == "bad-header" for i in issues))
    return Plan(layouts, len(names) if names is not None else None, disc, issues, fatal)


def _doubled(names: list[str], name: str) -> list[int]:
    """The columns (1-based) of a name the header holds more than once; else none."""
    at = [i + 1 for i, n in enumerate(names) if n == name]
    return at if len(at) > 1 else []


def split_delimited(
    source: bytes | Any, t: Tracciato, chunk_bytes: int | None, group_max: int | None = None
) -> Iterator[RawChunk]:
    src = TextSource(source, t.encoding, chunk_bytes, group_max=group_max,
                     refuse_utf8=t.refuse_utf8)
    blocks = src.blocks()
    # The rows of one record type are read by pyarrow, which needs the number of columns
    # and cannot tell a file of empty lines from one without lines: both come from a look
    # at the data first.
    fast = len(t.records) == 1 and not t.dialect.comment_prefix
    limit = chunks.cell_limit(t)
    pre = read_prelude(blocks, t.dialect, peek=fast, limit=limit)
    if src.raw_bytes == 0:
        chunk = chunks.empty_chunk(t)
        chunk.issues = [empty_issue()]
        yield chunk
        return
    p = plan(t, pre) if not pre.too_wide else Plan({}, None, None, [Issue(
        "too-many-columns", f"more than {limit:,} cells in one row where the tracciato "
        f"declares {chunks.declared_columns(t)}: the file is not read", line=pre.too_wide)],
        True)
    if p.fatal:
        # The bytes after the header are still checked, as a whole read would have.
        for _ in blocks:
            pass
        chunk = chunks.empty_chunk(t)
        chunk.issues = src.take_issues() + p.issues
        yield chunk
        return
    if not fast:
        lines = chunks.text_lines(pre.rest, blocks)
        yield from chunks.split_rows(src, lines, pre.data_line, t, p.layouts, p.disc,
                                     chunk_bytes, p.issues, p.ncols)
        return
    yield from _split_fast(src, blocks, pre, t, p, chunk_bytes)


def _split_fast(src: TextSource, blocks: Iterator[Block], pre: Prelude, t: Tracciato,
                p: Plan, chunk_bytes: int | None) -> Iterator[RawChunk]:
    d = t.dialect
    ncols = p.ncols if p.ncols is not None else pre.first_cells
    if pre.empty or ncols == 0:
        chunk = chunks.empty_chunk(t)
        code = ("no-data", "the file holds header rows but no data rows") if pre.header \
            else ("empty-file", "the file holds no records")
        chunk.issues = [*src.take_issues(), *p.issues, Issue(*code)]
        yield chunk
        return
    issues = [*p.issues]
    record = t.single_record
    if chunk_bytes is not None and d.escape_char is None:
        first = Block(pre.rest, pre.data_line, 0, pre.final, pre.next_line)
        yield from records.stream(src, first, blocks, t, p.layouts[record], ncols,
                                  chunk_bytes, issues)
        return
    # The whole text at once, or an escape character, which quote counting cannot see
    # past: then the csv module reads the file chunk by chunk.
    reader = BlockReader(d, ncols)
    table = reader.read(pre.rest, threads=True) if chunk_bytes is None else None
    if table is None:
        yield from chunks.split_rows(src, chunks.text_lines(pre.rest, blocks), pre.data_line,
                                     t, p.layouts, None, chunk_bytes, issues, ncols,
                                     report_empty=False)
        return
    at = Rows(1, pre.data_line, [])
    lines, bad = place(list(table.columns), reader.invalid, at, src.lone_cr, ncols, d,
                       final=True, record=record)
    issues.extend(bad)
    held = to_table(record, p.layouts[record], table, lines, d, pre.rest, pre.data_line)
    held = close(held, at, pre.rest, pre.data_line, d, issues)
    yield RawChunk({record: held}, [*issues, *src.take_issues()])
