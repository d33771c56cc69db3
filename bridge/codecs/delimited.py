"""Delimited files: bytes to cells with pyarrow's CSV reader, and cells back to lines.

The fast path hands the UTF-8 text from :mod:`bridge.codecs.text` to ``pyarrow.csv`` with
every column read as a string, so nothing is typed and an empty cell stays ``""``. Files it
cannot serve (several record types with different cell counts, comment rows, a row too large
for a block) go through the tolerant path in :mod:`bridge.codecs.chunks`, built on Python's
csv module. Both give each row the line where it starts, counting the newlines that quoted
cells hold.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs import chunks
from bridge.codecs.raw import RawChunk, RawTable
from bridge.codecs.text import (
    Block,
    TextSource,
    Utf8Reader,
    count_lines,
    empty_issue,
    tail_from_line,
)
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


def read_prelude(blocks: Iterator[Block], d: DelimitedFormat) -> Prelude:
    need = d.skip_rows + d.header_rows
    buf, first, final = b"", 1, True
    for i, b in enumerate(blocks):
        if i == 0:
            first = b.first_line
        buf += b.data
        final = b.final
        if final or count_lines(buf) > need:
            break
    if need == 0:
        return Prelude([], 0, first, buf, final)
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
    return Prelude(header, names_line, first + line_num, buf[consumed:], final)


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




@dataclass
class _Rows:
    """Where the next rows start: their number as pyarrow counts them, and their line."""

    row: int
    line: int
    pending: list[tuple[int, str, int]]
    ended_invalid: bool = False


def _place(cols: list[Any], invalid: list[tuple[int, str, int]], at: _Rows,
           lone_cr: bool, ncols: int, d: DelimitedFormat,
           final: bool = False) -> tuple[np.ndarray, list[Issue]]:
    """The line of each valid row, and issues for the invalid rows pyarrow skipped.

    A row takes one line plus one per newline its cells hold; skipped rows take their
    place by the row number pyarrow gave them.
    """
    n = len(cols[0]) if cols else 0
    nl = np.zeros(n, np.int64)
    for c in cols:
        nl += pc.count_substring(c, "\n").to_numpy(zero_copy_only=False)
        if lone_cr:
            nl += pc.count_substring(c, "\r").to_numpy(zero_copy_only=False)
            nl -= pc.count_substring(c, "\r\n").to_numpy(zero_copy_only=False)
    pending = sorted(invalid + at.pending)
    last = at.row + n - 1
    taken = []
    while pending and (final or pending[0][0] <= last):
        taken.append(pending.pop(0))
        last += 1
    at.pending = pending
    valid = np.ones(n + len(taken), dtype=bool)
    pos = np.array([num - at.row for num, _, _ in taken], np.int64)
    valid[pos] = False
    spans = np.empty(len(valid), np.int64)
    spans[valid] = nl + 1
    spans[pos] = [1 + count_lines(text) for _, text, _ in taken]
    starts = at.line + np.cumsum(spans) - spans
    issues = [
        Issue("wrong-column-count", f"{actual} cells where the header has {ncols}",
              line=int(starts[p]), value=clip(text))
        for p, (_, text, actual) in zip(pos, taken, strict=True)
    ]
    if final and taken and count_lines(taken[-1][1]) > 0:
        # The last row, swallowing the rest of the file into one cell: a quote never closed.
        text = taken[-1][1]
        if chunks.unterminated(text, d):
            issues[-1] = Issue("unterminated-quote", "a quoted cell opened on this line is "
                               "never closed", line=issues[-1].line, value=clip(text))
    at.row = last + 1
    at.line += int(spans.sum())
    at.ended_invalid = bool(taken) and final
    return starts[valid], issues


def _table(t: Tracciato, p: Plan, batch: pa.Table | pa.RecordBatch, lines: np.ndarray,
           skip_blank: bool) -> RawTable:
    cols = [_plain(c) for c in batch.columns]
    if skip_blank and cols:
        blank = blank_mask(cols)
        if blank.any():
            keep = pa.array(~blank)
            cols = [pc.filter(c, keep) for c in cols]
            lines = lines[~blank]
    n = len(lines)
    rname = t.single_record
    out = {
        name: cols[idx] if idx is not None and idx < len(cols) else pa.nulls(n, pa.string())
        for name, idx in p.layouts[rname]
    }
    return RawTable(rname, out, lines.astype(np.int64))


def _plain(c: pa.Array | pa.ChunkedArray) -> pa.Array:
    return c.combine_chunks() if isinstance(c, pa.ChunkedArray) else c


def blank_mask(cols: list[pa.Array]) -> np.ndarray:
    """Rows whose every cell is empty (a blank line reads as such a row)."""
    mask = np.ones(len(cols[0]) if cols else 0, dtype=bool)
    for c in cols:
        mask &= np.asarray(pc.equal(c, "").to_numpy(zero_copy_only=False), dtype=bool)
    return mask


def _count_first_row(rest: bytes, d: DelimitedFormat) -> int:
    chunks.raise_field_limit()
    lines = io.StringIO(rest[: 1 << 20].decode("utf-8", "replace"), newline="")
    for row in csv.reader(lines, **chunks.csv_options(d)):
        if row:
            return len(row)
    return 0


def _split_fast(src: TextSource, blocks: Iterator[Block], pre: Prelude, t: Tracciato,
                p: Plan, chunk_bytes: int | None) -> Iterator[RawChunk]:
    import pyarrow.csv as pcsv

    d = t.dialect
    ncols = p.ncols if p.ncols is not None else _count_first_row(pre.rest, d)
    if ncols == 0 or (pre.final and len(pre.rest) < 4096 and not pre.rest.strip(b"\r\n")):
        chunk = chunks.empty_chunk(t)
        code = ("no-data", "the file holds header rows but no data rows") if pre.header \
            else ("empty-file", "the file holds no records")
        chunk.issues = [*src.take_issues(), *p.issues, Issue(*code)]
        yield chunk
        return
    names = [f"c{i}" for i in range(ncols)]
    invalid: list[tuple[int, str, int]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.text, row.actual_columns))
        return "skip"

    parse = pcsv.ParseOptions(
        delimiter=d.delimiter, quote_char=d.quote_char or False, double_quote=d.double_quote,
        escape_char=d.escape_char or False, newlines_in_values=True, ignore_empty_lines=False,
        invalid_row_handler=on_invalid)
    conv = pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                               strings_can_be_null=False, quoted_strings_can_be_null=False)
    at = _Rows(1, pre.data_line, [])
    issues = [*p.issues]
    first = Block(pre.rest, pre.data_line, 0, pre.final)
    reader = None
    if chunk_bytes is None:
        table = _read_whole(pcsv, pre.rest, names, parse, conv, invalid)
        if table is None:
            yield from chunks.split_rows(src, chunks.text_lines(pre.rest, iter(())),
                                         pre.data_line, t, p.layouts, None, None, issues,
                                         ncols)
            return
        batches: Iterator[Any] = iter([table])
    else:
        reader = Utf8Reader(first, blocks)
        batches = _open_stream(pcsv, reader, names, parse, conv, chunk_bytes)
    held: RawTable | None = None
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            break
        except (pa.ArrowInvalid, OSError):
            # A row larger than a block, or text pyarrow cannot parse: the csv module
            # takes over from the first line not yet handed out.
            assert reader is not None
            text, rest = reader.text_from(at.line)
            if held is not None:
                yield RawChunk({held.record: held}, [*issues, *src.take_issues()])
                issues = []
            yield from chunks.split_rows(src, chunks.text_lines(text, rest), at.line, t,
                                         p.layouts, None, chunk_bytes, issues, ncols)
            return
        found, invalid[:] = list(invalid), []
        lines, bad = _place(list(batch.columns), found, at, src.lone_cr, ncols, d)
        issues.extend(bad)
        tab = _table(t, p, batch, lines, d.skip_blank_rows)
        if reader is not None:
            reader.forget_before(at.line)
        if held is not None:
            tab = chunks.concat_tables(held, tab)
        cut = chunks.group_start(tab, t.group_by) if chunk_bytes is not None else 0
        held = chunks.slice_table(tab, cut)
        if cut:
            yield RawChunk({tab.record: chunks.slice_table(tab, 0, cut)},
                           [*issues, *src.take_issues()])
            issues = []
    _, bad = _place([], invalid, at, src.lone_cr, ncols, d, final=True)
    issues.extend(bad)
    if held is None:
        held = chunks.empty_table(t, t.single_record)
    if len(held) and not at.ended_invalid and at.line - int(held.lines[-1]) > 1:
        tail = (reader.text_from(int(held.lines[-1]))[0] if reader is not None
                else tail_from_line(pre.rest, pre.data_line, int(held.lines[-1])))
        if chunks.unterminated(tail.decode("utf-8", "replace"), d):
            issues.append(Issue("unterminated-quote", "a quoted cell opened on this line is "
                                "never closed", line=int(held.lines[-1])))
            held = chunks.slice_table(held, 0, len(held) - 1)
    yield RawChunk({held.record: held}, [*issues, *src.take_issues()])


def _open_stream(pcsv: Any, reader: Utf8Reader, names: list[str], parse: Any, conv: Any,
                 chunk_bytes: int) -> Iterator[Any]:
    # Opening reads the first block already: its failure is handled like a later one's.
    stream = pcsv.open_csv(reader, read_options=pcsv.ReadOptions(
        column_names=names, use_threads=False, block_size=max(chunk_bytes, 1 << 16)),
        parse_options=parse, convert_options=conv)
    yield from stream


def _read_whole(pcsv: Any, data: bytes, names: list[str], parse: Any, conv: Any,
                invalid: list[tuple[int, str, int]]) -> pa.Table | None:
    opts: dict[str, Any] = {"use_threads": True}
    for _ in range(3):
        invalid.clear()
        try:
            table = pcsv.read_csv(pa.BufferReader(data), read_options=pcsv.ReadOptions(
                column_names=names, **opts), parse_options=parse, convert_options=conv)
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc) or "block_size" in opts:
                return None
            opts = {"use_threads": False, "block_size": min(len(data) + 1, (1 << 31) - 1)}
            continue
        if invalid and invalid[0][0] is None:
            # Row numbers come only from a single-threaded read; needed to place them.
            opts["use_threads"] = False
            continue
        return table
    return None
