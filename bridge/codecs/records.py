"""Cutting delimited text into blocks of whole records, for reading one block at a time.

A block of whole lines is not yet a block of whole records: a quoted cell may hold line
ends, and a cut there would hand pyarrow two halves of one row. In a file that follows
RFC 4180 (quotes open and close cells, and are doubled inside them) a line end ends a
record exactly when the quote characters before it are even in number, so the cut is found
by counting quotes back from the end of a block, with ``bytes.count`` and ``rfind`` (both
run in C), never by walking the text in Python.

A quote character that does not follow the rules (``12" monitor`` in a cell that is not
quoted) spoils the count. The splitter notices it when a block's last row swallows the block's
last line end, or when no cut is found for a long stretch, and lets the csv module read the
rest of the file (see :mod:`bridge.codecs.delimited`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from bridge.codecs import chunks
from bridge.codecs.raw import RawChunk
from bridge.codecs.rows import BlockReader, Rows, close, place, to_table
from bridge.codecs.text import Block, TextSource, count_lines, tail_from_line
from bridge.issues import Issue
from bridge.spec.model import Tracciato

#: Bytes of one record (whole block sizes at least) after which a missing cut is taken for
#: a stray quote rather than a long record, and the csv module reads on.
STALL_BYTES = 64 << 20


def record_end(buf: bytes, quote: bytes | None, start: int = 0) -> int:
    """Where the last whole record of ``buf`` ends (0: none ends there).

    ``buf`` starts at the start of a record and ends at a line end; a cut is wanted only
    at or after ``start``. CR LF stays one line end: a cut never falls between them.
    """
    has_cr = b"\r" in buf
    total = buf.count(quote) if quote else 0
    after = 0  # quote characters from the candidate cut to the end of buf
    end = len(buf)
    while end > start:
        nl = buf.rfind(b"\n", start, end)
        if has_cr:
            cr = buf.rfind(b"\r", max(start, nl), end)
            if cr > nl and cr + 1 < len(buf) and buf[cr + 1] == 0x0A:
                # The CR of a CR LF whose LF lies at or beyond ``end``: not a line end.
                end = cr
                continue
            nl = max(nl, cr)
        if nl < start:
            return 0
        cut = nl + 1
        if not quote:
            return cut
        after += buf.count(quote, cut, end)
        if (total - after) % 2 == 0:
            return cut
        # Inside a quoted cell: no line end before the previous quote can change that.
        q = buf.rfind(quote, start, cut)
        if q < 0:
            return 0
        after += buf.count(quote, q, cut)
        end = q
    return 0


@dataclass
class RecordBlocks:
    """Blocks of whole records from blocks of whole lines, for one ``read_csv`` each.

    Iterating yields :class:`Block`s; when a record runs on for more than ``limit`` bytes
    without a cut (a stray quote, most likely) it stops early with ``stalled`` set, and
    ``carry``/``line`` with ``rest`` hold the text not yet handed out.
    """

    first: Block
    rest: Iterator[Block]
    quote: bytes | None
    limit: int
    carry: bytes = b""
    line: int = 0
    offset: int = 0
    stalled: bool = False
    _scanned: int = field(default=0, repr=False)

    def __iter__(self) -> Iterator[Block]:
        self.line, self.offset = self.first.first_line, self.first.offset
        pending: Iterator[Block] = iter([self.first])
        while True:
            block = next(pending, None) or next(self.rest, None)
            if block is None:
                if self.carry:
                    yield self._take(len(self.carry), final=True)
                return
            buf = self.carry + block.data if self.carry else block.data
            self.carry = buf
            if block.final:
                if buf:
                    yield self._take(len(buf), final=True)
                return
            known = block.next_line
            # Only the new text can hold the cut when the carry had none (and the quotes
            # counted from the start of the carry still decide it).
            cut = record_end(buf, self.quote, max(0, self._scanned - 1))
            if cut == 0:
                self._scanned = len(buf)
                if len(buf) > self.limit:
                    self.stalled = True
                    return
                continue
            yield self._take(cut, final=False, next_line=known)

    def _take(self, cut: int, final: bool, next_line: int = 0) -> Block:
        """The carry up to ``cut``; ``next_line`` is the line after the whole carry."""
        data, self.carry = self.carry[:cut], self.carry[cut:]
        self._scanned = 0
        start = self.line
        # Counting the line ends of what is left over is cheaper than of what is taken.
        self.line = (next_line - count_lines(self.carry) if next_line
                     else start + count_lines(data))
        self.offset += len(data)
        return Block(data, start, self.offset - len(data), final, self.line)


def stream(src: TextSource, first: Block, blocks: Iterator[Block], t: Tracciato,
           layout: chunks.Layout, ncols: int, chunk_bytes: int,
           issues: list[Issue]) -> Iterator[RawChunk]:
    """Chunks of one record type read by pyarrow a block of whole records at a time.

    Memory stays at about a block: pyarrow never reads ahead, and no block is kept once
    read. A block whose last row runs past the cut (a stray quote fooled the count), a
    record longer than many blocks, or text pyarrow refuses hands the rest of the file,
    from the first row not yet read, to the csv module.
    """
    d = t.dialect
    quote = d.quote_char.encode("utf-8") if d.quote_char else None
    pieces = RecordBlocks(first, blocks, quote, max(8 * chunk_bytes, STALL_BYTES))
    reader = BlockReader(d, ncols)
    record = t.single_record
    at = Rows(1, first.first_line, [])
    held = chunks.empty_table(t, record)
    tail: Block | None = None  # the last block that gave valid rows
    rest: tuple[bytes, int] | None = None  # text for the csv module, and its first line
    for piece in pieces:
        table = reader.read(piece.data, threads=True)
        if table is None:
            rest = (piece.data + pieces.carry, piece.first_line)
            break
        at.row, at.pending = 1, []
        lines, bad = place(list(table.columns), reader.invalid, at, src.lone_cr, ncols, d,
                           final=True, at_end=piece.final, record=record)
        cut_ok = piece.final or (at.line == pieces.line and not (
            at.ended_invalid and chunks.unterminated(_text(reader, -1), d)))
        if not cut_ok:
            # The last row is not whole: keep what came before it, re-read from it on.
            start = at.last_start
            bad = [i for i in bad if (i.line or 0) < start]
            keep = int((lines < start).sum())
            table, lines = table.slice(0, keep), lines[:keep]
            rest = (tail_from_line(piece.data, piece.first_line, start) + pieces.carry, start)
        issues.extend(bad)
        tab = to_table(record, layout, table, lines, d, piece.data, piece.first_line)
        if len(tab):
            tail = piece
        tab = chunks.concat_tables(held, tab)
        if rest is not None:
            cut = len(tab)
        elif piece.final:
            cut = 0  # the file's last rows: a quote left open unmakes the last (``close``)
        else:
            cut = chunks.group_start(tab, t.group_by)
        held = chunks.slice_table(tab, cut)
        if rest is None and not piece.final and len(held):
            src.hold(sum(c.nbytes for c in held.columns.values()), int(held.lines[0]))
        if cut:
            # Issues on the lines of the rows held back go with them: a chunk's issues
            # come after those of the chunks before it (the cap on issues counts on it).
            after = int(held.lines[0]) if len(held) else None
            later = [i for i in issues if after is not None and (i.line or 0) >= after]
            now = [i for i in issues if not (after is not None and (i.line or 0) >= after)]
            yield RawChunk({record: chunks.slice_table(tab, 0, cut)},
                           [*now, *src.take_issues()])
            issues = later
        if rest is not None:
            break
    if rest is None and pieces.stalled:
        rest = (pieces.carry, pieces.line)
    if rest is not None:
        if len(held):
            yield RawChunk({record: held}, [*issues, *src.take_issues()])
            issues = []
        yield from chunks.split_rows(src, chunks.text_lines(rest[0], pieces.rest), rest[1], t,
                                     {record: layout}, None, chunk_bytes, issues, ncols,
                                     report_empty=False)
        return
    if tail is not None:
        held = close(held, at, tail.data, tail.first_line, d, issues)
    yield RawChunk({record: held}, [*issues, *src.take_issues()])


def _text(reader: BlockReader, index: int) -> str:
    return reader.invalid[index][1] if reader.invalid else ""
