"""Whether a file visibly ends in the middle of a record: still being written, or cut short.

A file whose size and mtime stand still may still be half uploaded: the sender may only be
pausing. :func:`incomplete` is a second, independent test that looks at the bytes: a file
whose last record is visibly not whole is not ready. It reports only what the tracciato
makes visible:

- a line end cut in half (a CR whose LF has not arrived, where line ends are CR LF);
- a last line without a line end, when the tracciato says the file ends with one
  (``final_newline: true``, the default);
- a last character cut in the middle (a multi-byte character missing its last bytes);
- a fixed-width last record shorter than ``record_length``;
- a delimited file ending inside a quoted cell, or right after an escaped line end;
- a last record that is not the closing record, when the tracciato declares one
  (a record type with ``occurs: last``, which means exactly one, at the end).

A file cut exactly at a record boundary, in a layout with no closing record, shows none of
these: that is what done files are for. A file with no records at all (zero bytes, only a
byte-order mark, an end-of-file byte or blank lines) is complete and empty.

Memory stays bounded: the rules read the head and the tail of the file, and only the scan
for open quotes reads it all, a block at a time (:mod:`bridge.codecs.quotes`).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bridge.codecs.chunks import csv_options, raise_field_limit
from bridge.codecs.text import BOM, EOF_MARKER, count_lines

if TYPE_CHECKING:
    from bridge.codecs.quotes import Units
    from bridge.spec.model import Tracciato

#: Bytes read from the end of the file for the rules that need only the last records.
TAIL_BYTES = 64 << 10
#: Bytes read at a time by the scans over the whole file.
BLOCK_BYTES = 4 << 20
#: Most bytes read from the head of the file for its header rows.
HEAD_LIMIT = 4 << 20
_LINE_ENDS = b"\r\n"


def text_codec(encoding: str) -> str:
    """The codec that turns the file's bytes into text; latin-1 when it is no text codec."""
    try:
        b"a\r\n".decode(encoding)
    except (LookupError, ValueError):
        return "latin-1"
    return encoding


def incomplete(source: bytes | Path, t: Tracciato) -> str | None:
    """None when the file looks whole; else a short plain reason why it is not.

    Never raises on the bytes, whatever they are; reading a Path may raise ``OSError``.
    """
    if isinstance(source, Path):
        with source.open("rb") as stream:
            return _judge(_Stream(stream, os.fstat(stream.fileno()).st_size), t)
    return _judge(_Bytes(bytes(source)), t)


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data, self.size = data, len(data)

    def read(self, start: int, stop: int) -> bytes:
        return self.data[start:stop]

    def blocks(self, start: int, stop: int) -> Iterator[bytes]:
        for at in range(start, stop, BLOCK_BYTES):
            yield self.data[at:min(stop, at + BLOCK_BYTES)]


class _Stream:
    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream, self.size = stream, size

    def read(self, start: int, stop: int) -> bytes:
        self.stream.seek(start)
        return self.stream.read(max(0, stop - start))

    def blocks(self, start: int, stop: int) -> Iterator[bytes]:
        self.stream.seek(start)
        at = start
        while at < stop:
            part = self.stream.read(min(BLOCK_BYTES, stop - at))
            if not part:
                return
            at += len(part)
            yield part


_Data = _Bytes | _Stream


def _judge(data: _Data, t: Tracciato) -> str | None:
    # The content is what the decoder reads: without a leading BOM or a final 0x1A.
    start = len(BOM) if data.read(0, len(BOM)) == BOM else 0
    end = data.size
    if end > start and data.read(end - 1, end) == EOF_MARKER:
        end -= 1
    tail_at = max(start, end - _tail_bytes(t))
    tail = data.read(tail_at, end)
    if _blank(data, start, tail_at, tail):
        return None
    reason = _half_line_end(tail, t) or _final_newline(tail, t) or _cut_character(tail, t)
    if reason:
        return reason
    if t.format == "fixed":
        return _fixed(tail, tail_at == start, t)
    return _delimited(data, start, end, tail, tail_at == start, t)


def _tail_bytes(t: Tracciato) -> int:
    reclen = t.fixed.record_length if t.fixed is not None else None
    # A record of n characters takes at most 4n bytes in any encoding bridge reads.
    return max(TAIL_BYTES, 8 * reclen + 16) if reclen else TAIL_BYTES


def _blank(data: _Data, start: int, tail_at: int, tail: bytes) -> bool:
    """Whether the content holds nothing but line ends (or nothing at all)."""
    if tail.strip(_LINE_ENDS):
        return False
    return not any(block.strip(_LINE_ENDS) for block in data.blocks(start, tail_at))


def _half_line_end(tail: bytes, t: Tracciato) -> str | None:
    """A last CR whose LF is missing: judged by the line end before it, or by the
    tracciato's ``newline`` when there is none (a file of lone CRs is complete)."""
    if not tail.endswith(b"\r"):
        return None
    body = tail[:-1]
    lf, cr = body.rfind(b"\n"), body.rfind(b"\r")
    crlf = (lf > cr and lf > 0 and body[lf - 1] == 0x0D) if lf >= 0 or cr >= 0 else (
        t.newline == "crlf")
    return "the file ends between the CR and the LF of a line end" if crlf else None


def _final_newline(tail: bytes, t: Tracciato) -> str | None:
    if t.final_newline and not tail.endswith((b"\n", b"\r")):
        return "the last line has no line end, and the tracciato says the file ends with one"
    return None


def _cut_character(tail: bytes, t: Tracciato) -> str | None:
    """The last bytes begin a character the file does not finish (UTF-8, double-byte...)."""
    if tail.endswith((b"\n", b"\r")):
        return None
    line = tail[max(tail.rfind(b"\n"), tail.rfind(b"\r")) + 1:]
    decoder = codecs.getincrementaldecoder(text_codec(t.encoding))("replace")
    decoder.decode(line, False)
    state = decoder.getstate()
    pending = state[0] if isinstance(state, tuple) and state else b""
    if isinstance(pending, bytes) and pending:
        return "the file ends in the middle of a character"
    return None


def _last_line(tail: bytes, whole: bool) -> bytes | None:
    """The last line of the tail that is not empty (None: its start is not in the tail)."""
    body = tail.rstrip(_LINE_ENDS)
    cut = max(body.rfind(b"\n"), body.rfind(b"\r"))
    if cut < 0 and not whole:
        return None
    return body[cut + 1:] if body else None


def _fixed(tail: bytes, whole: bool, t: Tracciato) -> str | None:
    line = _last_line(tail, whole)
    if line is None:
        return None
    text = line.decode(text_codec(t.encoding), "replace")
    reclen = t.fixed.record_length if t.fixed is not None else None
    if reclen is not None and len(text) < reclen:
        return f"the last record has {len(text)} characters, the record length is {reclen}"
    disc = t.discriminator
    value = ""
    if disc is not None and disc.start is not None and disc.length is not None:
        value = text[disc.start - 1:disc.start - 1 + disc.length]
    return _not_closing(t.record_of(value), t)


def _closing(t: Tracciato) -> list[str]:
    """The record types that end the file: ``occurs: last`` means exactly one, at the end."""
    return [name for name, rec in t.records.items() if rec.occurs == "last"]


def _not_closing(found: str | None, t: Tracciato) -> str | None:
    """The reason when the last record, of type ``found``, is not a closing record."""
    closing = _closing(t)
    if not closing or found in closing:
        return None
    what = f"a {found} record" if found else "a record of no known type"
    return f"the last record is {what}, not the closing {' or '.join(closing)} record"


def _delimited(data: _Data, start: int, end: int, tail: bytes, whole: bool,
               t: Tracciato) -> str | None:
    d = t.dialect
    closing = _closing(t)
    text: str | None = None
    if d.quote_char is not None or d.escape_char is not None:
        from bridge.codecs.quotes import QuoteScanner, Units

        def units() -> Units:
            specials = [c for c in (d.quote_char, d.delimiter, d.escape_char) if c]
            return Units(text_codec(t.encoding), specials)

        into = units()
        if not closing and whole and _plain(tail, into, d.quote_char, d.escape_char):
            return None  # the scan below finds no open cell where no cell can open
        delimiter = into.code(d.delimiter)
        assert delimiter is not None
        scanner = QuoteScanner(into.code(d.quote_char), delimiter, into.code(d.escape_char),
                               d.double_quote, keep=TAIL_BYTES if closing else 0)
        for block in data.blocks(start, end):
            scanner.feed(into.convert(block))
        scanner.feed(into.convert(b"", final=True))
        found = scanner.finish()
        if found.open_at is not None:
            # Counted only now, on a second pass: a count on every block would cost more.
            line = _line_at(data, start, end, found.open_at, units())
            return f"the file ends inside a quoted cell opened on line {line}"
        if found.escaped_end:
            return "the file ends with an escaped line end: its last record goes on"
        if found.last_records is not None:
            text = into.text(found.last_records)
    elif closing:
        # No quotes: every line end ends a record. The tail's first line may be cut.
        ends = [i for i in (tail.find(b"\n"), tail.find(b"\r")) if i >= 0]
        if whole or ends:
            cut = -1 if whole else min(ends)
            text = tail[cut + 1:].decode(text_codec(t.encoding), "replace")
    if not closing or text is None:
        return None
    rows = _csv_rows(text, t, skip_blank=d.skip_blank_rows)
    column = _discriminator_column(data, start, end, t)
    if not rows or column is None:
        return None  # the last record cannot be read, or its type cannot be told
    last = rows[-1]
    return _not_closing(t.record_of(last[column] if column < len(last) else ""), t)


def _plain(content: bytes, units: Units, *specials: str | None) -> bool:
    """Whether ``content`` (the whole text) holds none of ``specials`` (the quote and the
    escape character): then no cell is quoted and no line end escaped. Told from the bytes
    only where the file's bytes are its units (``raw``): in UTF-7, say, a quote may be
    written without its byte; there, each special is the one byte of its unit."""
    return units.raw and not any(bytes([code]) in content
                                 for code in map(units.code, specials) if code is not None)


def _line_at(data: _Data, start: int, end: int, offset: int, units: Units) -> int:
    """The line of the unit at ``offset`` (counted in units from the start of the text)."""
    line, seen, cr_end = 1, 0, False
    for block in data.blocks(start, end):
        part = units.convert(block)[:offset - seen]
        line += count_lines(part) - (1 if cr_end and part[:1] == b"\n" else 0)
        seen += len(part)
        if seen >= offset:
            break
        cr_end = part.endswith(b"\r")
    return line


def _discriminator_column(data: _Data, start: int, end: int, t: Tracciato) -> int | None:
    """The 0-based column holding the record type (None: it cannot be found)."""
    disc = t.discriminator
    if len(t.records) == 1:
        return 0
    if disc is None:
        return None
    if disc.index is not None:
        return disc.index - 1
    d = t.dialect
    if d.header_rows < d.header_names_row:
        return None
    need = d.skip_rows + d.header_names_row
    limit = TAIL_BYTES
    while True:
        head = data.read(start, min(end, start + limit))
        text = codecs.getincrementaldecoder(text_codec(t.encoding))("replace").decode(head)
        rows = _csv_rows(text, t, skip_blank=False)
        if len(rows) > need or start + limit >= end or limit >= HEAD_LIMIT:
            break
        limit *= 4
    if len(rows) < need:
        return None
    names = [c.strip() for c in rows[need - 1]]
    return names.index(disc.column) if disc.column in names else None


def _csv_rows(text: str, t: Tracciato, skip_blank: bool) -> list[list[str]]:
    """The rows of ``text`` the decoder reads: empty rows and comments left out."""
    d = t.dialect
    raise_field_limit()
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), **csv_options(d)):
            if not row or (d.comment_prefix and row[0].startswith(d.comment_prefix)):
                continue
            if skip_blank and not any(row):
                continue
            rows.append(row)
    except csv.Error:
        pass  # the rows read so far stand
    return rows
