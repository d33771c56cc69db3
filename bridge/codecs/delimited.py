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

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bridge.codecs import chunks, records
from bridge.codecs.raw import RawChunk
from bridge.codecs.rows import BlockReader, Rows, close, place, to_table
from bridge.codecs.text import Block, TextSource, count_lines, empty_issue
from bridge.issues import Issue
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


def read_prelude(blocks: Iterator[Block], d: DelimitedFormat) -> Prelude:
    need = d.skip_rows + d.header_rows
    buf, first, final, after = b"", 1, True, 0
    for i, b in enumerate(blocks):
        if i == 0:
            first = b.first_line
        buf += b.data
        final, after = b.final, b.next_line
        if final or count_lines(buf) > need:
            break
    if need == 0:
        return Prelude([], 0, first, buf, final, after)
    # Only a head of the text is decoded for the csv module: the header rows are short,
    # and decoding a large file here would cost more than reading its data.
    limit = 1 << 16
    while True:
        rows, consumed, line_num = _head_rows(buf[:limit], d, need, first)
        if len(rows) >= need or limit >= len(buf):
            break
        limit *= 4
    header = [r for _, r in rows[d.skip_rows:]]
    names_at = d.skip_rows + d.header_names_row - 1
    names_line = rows[names_at][0] if names_at < len(rows) else 0
    return Prelude(header, names_line, first + line_num, buf[consumed:], final, after)


def _head_rows(head: bytes, d: DelimitedFormat, need: int,
               first: int) -> tuple[list[tuple[int, list[str]]], int, int]:
    """The first ``need`` rows of ``head`` with their lines, the bytes and lines they take."""
    used = 0

    def lines() -> Iterator[str]:
        nonlocal used
        for ln in io.StringIO(head.decode("utf-8", "replace"), newline=""):
            used += len(ln.encode("utf-8"))
            yield ln

    reader = csv.reader(lines(), **chunks.csv_options(d))
    rows: list[tuple[int, list[str]]] = []
    while len(rows) < need:
        start = reader.line_num
        try:
            row = next(reader)
        except (StopIteration, csv.Error):
            break
        if not row or (d.comment_prefix and row[0].startswith(d.comment_prefix)):
            continue
        rows.append((first + start, row))
    return rows, used, reader.line_num


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
    for rname, rec in t.records.items():
        layout: chunks.Layout = []
        for pos, f in enumerate(rec.fields):
            idx: int | None = (f.index or pos + 1) - 1
            if by_name and names is not None:
                idx = names.index(f.header.strip()) if f.header.strip() in names else None
            elif names is not None and idx is not None and idx >= len(names):
                idx = None
            if idx is not None:
                used.add(idx)
            if f.type == "filler":
                continue
            if idx is None:
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
                issues.append(Issue("extra-column", f"column {i + 1} {n!r} is not declared",
                                    line=pre.names_line or None, value=n))
    fatal = d.missing_columns == "error" and any(i.code == "bad-header" for i in issues)
    return Plan(layouts, len(names) if names is not None else None, disc, issues, fatal)


def split_delimited(
    source: bytes | Any, t: Tracciato, chunk_bytes: int | None
) -> Iterator[RawChunk]:
    src = TextSource(source, t.encoding, chunk_bytes)
    blocks = src.blocks()
    pre = read_prelude(blocks, t.dialect)
    if src.raw_bytes == 0:
        chunk = chunks.empty_chunk(t)
        chunk.issues = [empty_issue()]
        yield chunk
        return
    p = plan(t, pre)
    if p.fatal:
        chunk = chunks.empty_chunk(t)
        chunk.issues = src.take_issues() + p.issues
        yield chunk
        return
    if len(t.records) > 1 or t.dialect.comment_prefix:
        lines = chunks.text_lines(pre.rest, blocks)
        yield from chunks.split_rows(src, lines, pre.data_line, t, p.layouts, p.disc,
                                     chunk_bytes, p.issues, p.ncols)
        return
    yield from _split_fast(src, blocks, pre, t, p, chunk_bytes)




def _count_first_row(rest: bytes, d: DelimitedFormat) -> int:
    chunks.raise_field_limit()
    lines = io.StringIO(rest[: 1 << 20].decode("utf-8", "replace"), newline="")
    for row in csv.reader(lines, **chunks.csv_options(d)):
        if row:
            return len(row)
    return 0


def _split_fast(src: TextSource, blocks: Iterator[Block], pre: Prelude, t: Tracciato,
                p: Plan, chunk_bytes: int | None) -> Iterator[RawChunk]:
    d = t.dialect
    ncols = p.ncols if p.ncols is not None else _count_first_row(pre.rest, d)
    if ncols == 0 or (pre.final and len(pre.rest) < 4096 and not pre.rest.strip(b"\r\n")):
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
                                     t, p.layouts, None, chunk_bytes, issues, ncols)
        return
    at = Rows(1, pre.data_line, [])
    lines, bad = place(list(table.columns), reader.invalid, at, src.lone_cr, ncols, d,
                       final=True)
    issues.extend(bad)
    held = to_table(record, p.layouts[record], table, lines, d.skip_blank_rows)
    held = close(held, at, pre.rest, pre.data_line, d, issues)
    yield RawChunk({record: held}, [*issues, *src.take_issues()])
