"""The byte layer shared by every format: encodings, newlines, BOMs and blocks of whole lines.

Whatever the tracciato's encoding, the codecs above this module only ever see UTF-8 bytes
cut at line ends, because pyarrow reads only UTF-8 and because line ends are the one place
where a cut never splits a character (CR and LF are single ASCII bytes in every encoding
bridge accepts). Problems with the bytes themselves (bad encoding, a BOM in the middle, NUL
bytes, an empty file) become issues here, with the line and byte offset where they start.
"""

from __future__ import annotations

import codecs
import io
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from bridge.errors import DataError
from bridge.issues import Issue

BOM = codecs.BOM_UTF8
EOF_MARKER = b"\x1a"


def count_lines(data: bytes | str) -> int:
    """Line ends in ``data``: CR LF counts once, a lone CR or LF once each."""
    if isinstance(data, str):
        return data.count("\n") + data.count("\r") - data.count("\r\n")
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def is_utf8(encoding: str) -> bool:
    return codecs.lookup(encoding).name in ("utf-8", "utf-8-sig")


def _cut(buf: bytes, final: bool) -> int:
    """Where a block of whole lines ends in ``buf`` (0: no line end yet).

    A CR as the very last byte is not a safe cut unless the input ends there: an LF may
    follow in the next read, and CR LF must stay one line end.
    """
    if final:
        return len(buf)
    lf = buf.rfind(b"\n")
    cr = buf.rfind(b"\r", 0, len(buf) - 1)
    return max(lf, cr) + 1


class GroupTooLarge(DataError):
    """One group of rows (the rows of one group key, or a record and its children) still
    open past ``limit`` bytes: a reading in chunks would hold it all at once."""

    def __init__(self, line: int, held: int, limit: int, *, one_line: bool = False) -> None:
        super().__init__(f"{held:,} bytes from line {line} on are one "
                         f"{'line' if one_line else 'group'}, not ended, over {limit:,} bytes")
        self.line, self.held, self.limit = line, held, limit
        #: No line end at all in those bytes (a file of another kind, or cut lines).
        self.one_line = one_line


@dataclass
class Block:
    """UTF-8 text of whole lines, with where it starts in the source."""

    data: bytes
    first_line: int
    offset: int
    final: bool
    #: The line after the block's last (0: not known), saving a count of its line ends.
    next_line: int = 0


@dataclass
class TextSource:
    """Reads a source as blocks of whole lines of UTF-8 text, checking the bytes on the way.

    ``issues`` gathers the byte-level issues found so far; ``take_issues`` hands them over
    so that each chunk reports those found while reading it. ``group_max``: the bytes of
    one group the splitters may hold while waiting for its end (:meth:`hold`).
    """

    source: bytes | IO[bytes]
    encoding: str
    block_bytes: int | None = None
    issues: list[Issue] = field(default_factory=list)
    raw_bytes: int = 0
    #: Whether a CR not followed by LF was seen: then quoted cells may hold lone CRs too.
    lone_cr: bool = False
    _line: int = 1
    _offset: int = 0
    _nul_reported: bool = False
    _bom_reported: bool = False
    group_max: int | None = None
    #: A one-byte code page: refuse a file that is UTF-8 (Tracciato.refuse_utf8); the line
    #: of its first letter of several bytes, and whether a byte UTF-8 refuses was seen.
    refuse_utf8: bool = True
    _utf8_at: int = 0
    _not_utf8: bool = False

    def hold(self, held: int, line: int) -> None:
        """The splitter holds ``held`` bytes of one group, from ``line`` on, waiting for its
        end: past ``group_max``, :class:`GroupTooLarge`."""
        if self.group_max is not None and held > self.group_max:
            raise GroupTooLarge(line, held, self.group_max)

    def take_issues(self) -> list[Issue]:
        # Another thread (pyarrow's reader) may append meanwhile: take only what is there.
        n = len(self.issues)
        out = self.issues[:n]
        del self.issues[:n]
        return out

    def blocks(self) -> Iterator[Block]:
        """Blocks of about ``block_bytes`` (one block when None), cut after a line end."""
        raw = self._raw_blocks()
        first = True
        for data, final in raw:
            if first:
                first = False
                if data.startswith(BOM):
                    # Even in a file declared cp1252, nobody means "ï»¿" at the start.
                    data = data[len(BOM):]
                    self._offset = len(BOM)
            if final and data.endswith(EOF_MARKER):
                data = data[:-1]
            yield self._check(data, final)

    def _raw_blocks(self) -> Iterator[tuple[bytes, bool]]:
        if isinstance(self.source, bytes | bytearray | memoryview):
            whole = bytes(self.source)
            self.raw_bytes = len(whole)
            if self.block_bytes is None or len(whole) <= self.block_bytes:
                yield whole, True
                return
            stream: IO[bytes] = io.BytesIO(whole)
        else:
            stream = self.source
        if self.block_bytes is None:
            whole = stream.read()
            self.raw_bytes = len(whole)
            yield whole, True
            return
        carry = b""
        while True:
            part = stream.read(self.block_bytes)
            self.raw_bytes += len(part)
            buf = carry + part if carry else part
            if not part:
                yield buf, True
                return
            end = _cut(buf, False)
            # A line longer than a block: keep reading until it ends, up to ``group_max``
            # (a file with no line end would otherwise be held whole, and copied again
            # at every block).
            carry = buf[end:]
            if end:
                yield buf[:end], False
            elif self.group_max is not None and len(carry) > self.group_max:
                raise GroupTooLarge(self._line, len(carry), self.group_max, one_line=True)

    def _check(self, data: bytes, final: bool) -> Block:
        line, offset = self._line, self._offset
        if not self._nul_reported and (pos := data.find(b"\x00")) >= 0:
            self._nul_reported = True
            where = line + count_lines(data[:pos])
            # Only the first is reported: a count would depend on how the file was cut.
            self.issues.append(Issue(
                "nul-byte", f"NUL byte at offset {offset + pos} (line {where}); later ones "
                "are not reported", line=where))
        # The BOM's first byte is rare in text, and looking for one byte is much faster.
        if not self._bom_reported and BOM[:1] in data and (pos := data.find(BOM)) >= 0:
            self._bom_reported = True
            where = line + count_lines(data[:pos])
            self.issues.append(Issue(
                "bom-in-middle", f"byte-order mark at offset {offset + pos} (line {where}); "
                "was this file made by joining files?", line=where))
        text = self._to_utf8(data, line, offset)
        # Each count is a pass over the block: skip those a search shows to be zero.
        lf = data.count(b"\n")
        cr = data.count(b"\r") if b"\r" in data else 0
        crlf = data.count(b"\r\n") if cr else 0
        self.lone_cr = self.lone_cr or cr > crlf
        self._line = line + lf + cr - crlf
        self._offset = offset + len(data)
        if final and self._utf8_at and not self._not_utf8:
            self.issues.append(utf8_issue(self._utf8_at, self.encoding))
        return Block(text, line, offset, final, self._line)

    def _to_utf8(self, data: bytes, line: int, offset: int) -> bytes:
        """The block as UTF-8; every line holding bytes not valid in the encoding gets a
        ``bad-encoding`` issue (its first such byte), each byte read as U+FFFD: under
        ``skip-rows`` each of those rows is left out, none reaches the ERP altered."""
        enc = self.encoding
        if is_utf8(enc):
            if _valid_utf8(data):
                return data
        else:
            if self.refuse_utf8 and not self._not_utf8 and not data.isascii():
                if not _valid_utf8(data):  # lines end in ASCII: a block cuts no letter
                    self._not_utf8 = True
                elif not self._utf8_at:
                    first = _HIGH.search(data)
                    assert first is not None
                    self._utf8_at = line + count_lines(data[:first.start()])
            try:
                return data.decode(enc).encode("utf-8")
            except UnicodeDecodeError:
                pass
        text, bad = _decode_marking(data, enc)
        name = codecs.lookup(enc).name
        for pos, where in zip(*_first_of_each_line(data, bad, line), strict=True):
            self.issues.append(Issue(
                "bad-encoding", f"byte 0x{data[pos]:02X} at offset {offset + pos} (line "
                f"{where}) is not valid {name}", line=where, value=f"0x{data[pos]:02X}"))
        return text.encode("utf-8")


_MARKS = threading.local()
#: A byte that is not ASCII.
_HIGH = re.compile(rb"[\x80-\xff]")


def _mark(exc: UnicodeError) -> tuple[str, int]:
    """The error handler of :func:`_decode_marking`: what ``replace`` does, remembered."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    _MARKS.found.append(exc.start)
    return "\ufffd", exc.end


codecs.register_error("bridge-mark-bad-bytes", _mark)


def _decode_marking(data: bytes, encoding: str) -> tuple[str, list[int]]:
    """``data`` decoded with each undecodable byte sequence as U+FFFD, and where each
    starts (in this thread: pyarrow's reader decodes in its own)."""
    found: list[int] = []
    _MARKS.found = found
    try:
        return data.decode(encoding, "bridge-mark-bad-bytes"), found
    finally:
        _MARKS.found = None


def _first_of_each_line(data: bytes, found: list[int], line: int
                        ) -> tuple[list[int], list[int]]:
    """Of the positions ``found`` (in order), the first on each line, and their lines
    (``data`` starting at ``line``; CR LF one line end, a lone CR or LF one each)."""
    import numpy as np

    if not found:
        return [], []
    raw = np.frombuffer(data, dtype=np.uint8)
    lf = np.flatnonzero(raw == 0x0A)
    cr = np.flatnonzero(raw == 0x0D)
    lone = cr[(cr + 1 >= len(raw)) | (raw[np.minimum(cr + 1, len(raw) - 1)] != 0x0A)]
    ends = np.sort(np.concatenate([lf, lone]))
    at = np.asarray(found, dtype=np.int64)
    lines = line + np.searchsorted(ends, at, side="left")
    _, first = np.unique(lines, return_index=True)
    return at[first].tolist(), lines[first].tolist()


def utf8_issue(line: int, encoding: str) -> Issue:
    """A file of one-byte code page that is all UTF-8: an error of the whole file."""
    name = codecs.lookup(encoding).name
    return Issue("encoding-mismatch", f"the file is UTF-8 (letters of several bytes from "
                 f"line {line} on, and no byte UTF-8 refuses), its tracciato says {name}: "
                 "every accented letter would arrive as two (è as Ã¨); set the tracciato's "
                 "encoding to utf-8 (or refuse_utf8: false to read it as declared)")


def _valid_utf8(data: bytes) -> bool:
    """A fast check with pyarrow's validator; the slow path then finds the bad byte."""
    import numpy as np
    import pyarrow as pa

    if len(data) >= 1 << 62:
        return False
    offsets = pa.py_buffer(np.array([0, len(data)], np.int64).tobytes())
    arr = pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(data))
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def tail_from_line(buf: bytes, first_line: int, line: int) -> bytes:
    """The text of ``buf`` (whose first line is ``first_line``) from ``line`` to the end.

    Searches backwards, since the line wanted is usually near the end of a large buffer.
    """
    skip = line - first_line
    if skip <= 0:
        return buf
    after = count_lines(buf) - skip
    ends = b"\n" if b"\r" not in buf else b"\r" if b"\n" not in buf else None
    pos = len(buf)
    while after >= 0 and pos > 0:
        if ends is None:
            pos = max(buf.rfind(b"\n", 0, pos), buf.rfind(b"\r", 0, pos))
        else:
            pos = buf.rfind(ends, 0, pos)
        if pos < 0:
            return buf
        if buf[pos] == 0x0A and pos > 0 and buf[pos - 1] == 0x0D:
            pos -= 1
        after -= 1
    end = pos + (2 if buf[pos:pos + 2] == b"\r\n" else 1)
    return buf[end:]


def empty_issue() -> Issue:
    return Issue("empty-file", "the file holds no bytes")
