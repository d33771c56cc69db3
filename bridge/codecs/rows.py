"""From what pyarrow's CSV reader returns to :class:`RawTable`s: rows placed on their lines.

pyarrow hands back columns and, through its invalid-row handler, the rows it skipped (with
their number in the read); neither carries a line number. A row takes one line plus one per
line end its quoted cells hold, so each row's line is a cumulative sum, worked out here for
the whole block at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs import chunks
from bridge.codecs.raw import RawTable
from bridge.codecs.text import BOM, count_lines, tail_from_line
from bridge.issues import Issue
from bridge.spec.model import DelimitedFormat

#: A row pyarrow skipped: its number in the read (1-based), its text and its cell count.
Invalid = tuple[int, str, int]


@dataclass
class Rows:
    """Where the next rows start: their number as pyarrow counts them, and their line."""

    row: int
    line: int
    pending: list[Invalid]
    #: Whether the last row placed was one pyarrow skipped.
    ended_invalid: bool = False
    #: The line where the last row placed starts (valid or not).
    last_start: int = 0


def place(cols: list[Any], invalid: list[Invalid], at: Rows, lone_cr: bool, ncols: int,
          d: DelimitedFormat, final: bool = False, at_end: bool | None = None,
          record: str | None = None) -> tuple[np.ndarray, list[Issue]]:
    """The line of each valid row, and issues for the invalid rows pyarrow skipped.

    Skipped rows take their place by the row number pyarrow gave them. ``final``: every
    row of the read has been seen, place all pending invalid rows; ``at_end`` (default
    ``final``): the read ends the file, where a last skipped row spanning several lines is
    a quote never closed.
    """
    at_end = final if at_end is None else at_end
    n = len(cols[0]) if cols else 0
    nl = _newlines(cols, n, lone_cr)
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
    issues = [chunks.wrong_count(actual, ncols, int(starts[p]), record, text)
              for p, (_, text, actual) in zip(pos, taken, strict=True)]
    if at_end and taken and not valid[-1] and chunks.unterminated(taken[-1][1], d):
        # The last row, swallowing the rest of the file into one cell: a quote never closed.
        issues[-1] = chunks.open_quote(issues[-1].line or 0, taken[-1][1])
    at.row = last + 1
    at.line += int(spans.sum())
    if len(valid):
        at.ended_invalid = not bool(valid[-1])
        at.last_start = int(starts[-1])
    return starts[valid], issues


def _newlines(cols: list[Any], n: int, lone_cr: bool) -> np.ndarray:
    """Line ends held by each row's cells (CR LF once; lone CRs only when the file has some)."""
    nl = np.zeros(n, np.int64)
    for c in cols:
        # Most columns hold no line end at all: a look at their bytes spares the count.
        has_lf, has_cr = _holds(c, b"\n"), lone_cr and _holds(c, b"\r")
        if has_lf:
            nl += pc.count_substring(c, "\n").to_numpy(zero_copy_only=False)
        if has_cr:
            nl += pc.count_substring(c, "\r").to_numpy(zero_copy_only=False)
            if has_lf:
                nl -= pc.count_substring(c, "\r\n").to_numpy(zero_copy_only=False)
    return nl


def _holds(col: pa.Array | pa.ChunkedArray, byte: bytes) -> bool:
    """Whether the data buffer behind a string column holds ``byte`` (False: surely not)."""
    parts = col.chunks if isinstance(col, pa.ChunkedArray) else [col]
    for part in parts:
        if not pa.types.is_string(part.type) and not pa.types.is_large_string(part.type):
            return True
        data = part.buffers()[2]
        if data is not None and byte in memoryview(data).cast("B").tobytes():
            return True
    return False


def to_table(record: str, layout: chunks.Layout, batch: pa.Table | pa.RecordBatch,
             lines: np.ndarray, d: DelimitedFormat, data: bytes, first_line: int) -> RawTable:
    """The record's cells from a read's columns, empty lines dropped if the dialect says so.

    pyarrow reads an empty line as a row of empty cells, just as it reads ``;;;``: only
    the text (``data``, whose first line is ``first_line``) tells them apart, and only
    rows of empty cells need a look at it.
    """
    cols = [plain(c) for c in batch.columns]
    if d.skip_blank_rows and cols:
        blank = blank_mask(cols)
        if blank.any():
            blank[blank] = empty_lines(data, first_line, lines[blank])
        if blank.any():
            keep = pa.array(~blank)
            cols = [pc.filter(c, keep) for c in cols]
            lines = lines[~blank]
    n = len(lines)
    out = {
        name: cols[idx] if idx is not None and idx < len(cols) else pa.nulls(n, pa.string())
        for name, idx in layout
    }
    return RawTable(record, out, lines.astype(np.int64))


def plain(c: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(c, pa.ChunkedArray):
        # A read of one pyarrow block gives one chunk: take it rather than copy it.
        return c.chunk(0) if c.num_chunks == 1 else c.combine_chunks()
    return c


def blank_mask(cols: list[pa.Array]) -> np.ndarray:
    """Rows whose every cell is empty (an empty line reads as such a row)."""
    n = len(cols[0]) if cols else 0
    rows = np.arange(n)
    # Few rows are blank: each column only looks at the rows still blank so far.
    for c in cols:
        if not len(rows):
            break
        part = c if len(rows) == n else c.take(pa.array(rows))
        empty = np.asarray(pc.equal(part, "").to_numpy(zero_copy_only=False), dtype=bool)
        rows = rows[empty]
    mask = np.zeros(n, dtype=bool)
    mask[rows] = True
    return mask


def empty_lines(data: bytes, first_line: int, lines: np.ndarray) -> np.ndarray:
    """Whether each of ``lines`` (file lines, in ``data`` from ``first_line`` on) is empty."""
    if not len(lines):
        return np.zeros(0, dtype=bool)
    text = np.frombuffer(data, np.uint8)
    lf, cr = text == 0x0A, text == 0x0D
    # A line ends at an LF, or at a CR not followed by an LF (CR LF is one line end).
    ends = lf.copy()
    ends[:-1] |= cr[:-1] & ~lf[1:]
    if len(ends):
        ends[-1] |= cr[-1]
    starts = np.concatenate([[0], np.flatnonzero(ends) + 1])
    at = starts[np.minimum(lines - first_line, len(starts) - 1)]
    inside = at < len(text)
    empty: np.ndarray = ~inside
    empty[inside] = lf[at[inside]] | cr[at[inside]]
    return empty


#: Bytes of a block of a parallel read; a text no larger is read by this thread alone.
THREADED_FROM = 1 << 20
#: A text no larger is read by pyarrow's streaming reader (``open_csv``). ``read_csv``
#: starts a thread for every read, even on one thread (pyarrow 26): in a run of small files,
#: where both cores are busy, the helper's reads of 8.6 KB took about 390 us that way and
#: 240 us streamed. The streaming reader is slower where pyarrow skips rows (a wrong number
#: of cells: 2.5 times at 64 KB of them, 5 times at 5 MB), so a larger text is not streamed.
STREAMED_UP_TO = 64 << 10


class BlockReader:
    """pyarrow's CSV reader set up for a dialect: every cell as text, bad rows collected."""

    def __init__(self, d: DelimitedFormat, ncols: int) -> None:
        import pyarrow.csv as pcsv

        self._pcsv = pcsv
        self.names = [f"c{i}" for i in range(ncols)]
        #: The rows skipped by the last read.
        self.invalid: list[Invalid] = []
        self.parse = pcsv.ParseOptions(
            delimiter=d.delimiter, quote_char=d.quote_char or False,
            double_quote=d.double_quote, escape_char=d.escape_char or False,
            newlines_in_values=True, ignore_empty_lines=False,
            invalid_row_handler=self._on_invalid)
        self.convert = pcsv.ConvertOptions(
            column_types=dict.fromkeys(self.names, pa.string()), strings_can_be_null=False,
            quoted_strings_can_be_null=False)

    def _on_invalid(self, row: Any) -> str:
        self.invalid.append((row.number, row.text, row.actual_columns))
        return "skip"

    def read(self, data: bytes, threads: bool = False) -> pa.Table | None:
        """All rows of ``data`` (whole records), or None when pyarrow cannot read it.

        One pyarrow block for the whole text: no row can straddle two, and skipped rows
        get their number, which only a single-threaded read gives. ``threads`` first tries
        a parallel read, kept if no row was skipped, for a text of more than one block of
        :data:`THREADED_FROM` bytes (a smaller one is read by one thread anyway, and waiting
        for a pool thread costs it most on a machine whose cores are all busy).
        """
        # pyarrow drops a byte-order mark that starts what it reads; a block of rows from
        # the middle of a file may start with one, which is text there: an empty first
        # line keeps it, and is taken away again below.
        lead = data.startswith(BOM)
        if lead:
            data = b"\n" + data
        opts: list[dict[str, Any]] = [
            {"use_threads": False, "block_size": min(len(data) + 1, (1 << 31) - 1)}]
        if threads and len(data) > THREADED_FROM:
            block = max(THREADED_FROM, len(data) // 8)
            opts.insert(0, {"use_threads": True, "block_size": block})
        for opt in opts:
            self.invalid.clear()
            try:
                table = self._read(data, opt)
            except (pa.ArrowInvalid, OSError):
                continue
            if self.invalid and opt["use_threads"]:
                continue
            if lead:
                self.invalid[:] = [(num - 1, text, n) for num, text, n in self.invalid]
                return table.slice(1)
            return table
        return None

    def _read(self, data: bytes, opt: dict[str, Any]) -> pa.Table:
        """One read of ``data``: a small text on one thread by pyarrow's streaming reader,
        any other by ``read_csv`` (see :data:`STREAMED_UP_TO`)."""
        options = self._pcsv.ReadOptions(column_names=self.names, **opt)
        if opt["use_threads"] or len(data) > STREAMED_UP_TO:
            return self._pcsv.read_csv(pa.BufferReader(data), read_options=options,
                                       parse_options=self.parse, convert_options=self.convert)
        table = self._pcsv.open_csv(pa.BufferReader(data), read_options=options,
                                    parse_options=self.parse,
                                    convert_options=self.convert).read_all()
        if table.num_rows == 0:  # no batch at all: one empty chunk a column, as read_csv
            table = pa.table({name: pa.array([], pa.string()) for name in self.names})
        return table


def close(held: RawTable, at: Rows, data: bytes, first_line: int, d: DelimitedFormat,
          issues: list[Issue]) -> RawTable:
    """The last rows of the file, without a last row that is a quote never closed.

    pyarrow reads a quote left open as a cell running to the end of the file; when the
    last valid row spans several lines, the csv module says whether that is what happened
    (``data`` from ``first_line`` on must hold that row).
    """
    if not len(held) or at.ended_invalid or at.line - int(held.lines[-1]) <= 1:
        return held
    line = int(held.lines[-1])
    tail = tail_from_line(data, first_line, line).decode("utf-8", "replace")
    if not chunks.unterminated(tail, d):
        return held
    issues.append(chunks.open_quote(line, tail))
    return chunks.slice_table(held, 0, len(held) - 1)
