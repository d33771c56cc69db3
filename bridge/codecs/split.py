"""Split bytes into raw tables of cells, and join raw tables back into bytes.

:func:`split` and :func:`join` are the whole surface of the format codecs: the typed
decode/encode in :mod:`bridge.codecs` sits on top of them. Cells stay text both ways.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterator, Sequence
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs import chunks, delimited, fixed
from bridge.codecs.fixed import RowProblem
from bridge.codecs.guards import ascii_compatible, bad_chars_pattern, encodes
from bridge.codecs.raw import RawChunk, RawTable
from bridge.codecs.text import BOM, EOF_MARKER, is_utf8
from bridge.issues import Issue, clip
from bridge.spec.model import DelimitedFormat, Tracciato


def split(
    source: bytes | IO[bytes], t: Tracciato, *, chunk_bytes: int | None = None,
    group_max: int | None = None
) -> Iterator[RawChunk]:
    """The cells of each record type, one chunk for the whole input or one per ~chunk_bytes.

    Streams: a stream is read ``chunk_bytes`` at a time, line numbers go on across chunks,
    and a record group (a parent with its children, or the rows sharing ``t.group_by``)
    never straddles two chunks. Problems with the bytes or the structure come back as
    issues in the chunk where they were found; nothing here raises on bad input, but for
    a group still open past ``group_max`` bytes (:class:`~bridge.codecs.text.GroupTooLarge`).
    """
    if chunk_bytes is not None and chunk_bytes <= 0:
        raise ValueError("chunk_bytes must be positive")
    if t.format == "fixed":
        return _with_their_rows(fixed.split_fixed(source, t, chunk_bytes, group_max))
    return _with_their_rows(delimited.split_delimited(source, t, chunk_bytes, group_max))


#: Issues found while a block of bytes is read, before its rows are cut into chunks.
BYTE_CODES = frozenset({"nul-byte", "bom-in-middle", "bad-encoding"})


def _with_their_rows(chunks: Iterator[RawChunk]) -> Iterator[RawChunk]:
    """Each issue of the bytes moved to the chunk that holds its line's row. A splitter
    that ends a chunk within a block hands it the issues of the whole block, and those of
    the rows it keeps for the next chunk (the rest of a group) with them: ``skip-rows``
    would find no row to leave out in the one chunk, and the row without its issue in the
    other. So a chunk with such an issue past its last row is held until the next one is
    cut (any other goes on at once)."""
    held: RawChunk | None = None
    held_last: int | None = None
    for chunk in chunks:
        if held is not None:
            last, after = held_last, _row_line(chunk, 0)
            later = [i for i in held.issues if i.code in BYTE_CODES and i.line is not None
                     and (last is None or i.line > last) and (after is None or i.line >= after)]
            if later:
                moved = {id(i) for i in later}
                held.issues = [i for i in held.issues if id(i) not in moved]
                chunk.issues = [*later, *chunk.issues]
            yield _on_their_rows(held)
            held = None
        last = _row_line(chunk, -1)
        if any(i.code in BYTE_CODES and i.line is not None and (last is None or i.line > last)
               for i in chunk.issues):
            held, held_last = chunk, last
        else:
            yield _on_their_rows(chunk)
    if held is not None:
        yield _on_their_rows(held)


def _on_their_rows(chunk: RawChunk) -> RawChunk:
    """Each issue of the bytes on a later line of a row that spans several (a quoted cell
    holding line ends) given the line where its row starts, the line by which a row is
    left out; its message keeps the line of the byte. Not where another issue lies
    between the two (a line that is no row of its own, such as a row of the wrong count
    of cells)."""
    found = [i for i in chunk.issues if i.code in BYTE_CODES and i.line is not None]
    if not found:
        return chunk
    starts = np.unique(np.concatenate(
        [np.asarray(t.lines, dtype=np.int64) for t in chunk.tables.values()] or
        [np.zeros(0, dtype=np.int64)]))
    others = sorted({i.line for i in chunk.issues
                     if i.line is not None and i.code not in BYTE_CODES})
    moved: dict[int, Issue] = {}
    for issue in found:
        line = int(issue.line or 0)
        k = int(np.searchsorted(starts, line, side="right")) - 1
        if k < 0 or starts[k] == line:
            continue
        start = int(starts[k])
        if bisect.bisect_right(others, line) > bisect.bisect_right(others, start):
            continue  # another issue on a line in (start, line]
        moved[id(issue)] = dataclasses.replace(issue, line=start)
    if moved:
        chunk.issues = [moved.get(id(i), i) for i in chunk.issues]
    return chunk


def _row_line(chunk: RawChunk, end: int) -> int | None:
    """The line of the chunk's first (``end`` 0) or last (-1) row; None without rows."""
    lines = [int(table.lines[end]) for table in chunk.tables.values() if len(table)]
    if not lines:
        return None
    return min(lines) if end == 0 else max(lines)


def join(tables: Sequence[RawTable], t: Tracciato, *,
         lines_of: Sequence[np.ndarray] | None = None, head: bool = True, tail: bool = True
         ) -> tuple[bytes, list[Issue]]:
    """The file's bytes from cells already rendered as text, and the problems met on the way.

    Rows of all tables are written in the order of their ``lines`` (stable), after the
    header rows of a delimited file. Characters the encoding cannot hold are written as
    ``?`` and reported as ``unencodable`` issues, never raised. An issue's line is the
    line of the file written, or, with ``lines_of`` (one array per table), the row's
    entry there (-1: no line).

    A file written in parts (:mod:`bridge.engine.stream`) joins each part with ``head``
    only for the first (header rows, BOM) and never ``tail`` (the last line end kept, no
    end-of-file byte): the writer finishes the file with :func:`file_tail`.
    """
    nl = t.newline_chars
    rendered: list[pa.Array] = []
    problems: list[RowProblem] = []
    base = 0
    for tab in tables:
        # Each line is rendered with its line end, so the lines laid end to end are the
        # file: no join of the whole text afterwards.
        if t.format == "fixed":
            lines, probs = fixed.render(tab, t, end=nl)
        else:
            lines, probs = render_delimited(tab, t, end=nl), []
        problems.extend((base + r, code, msg, fld, val) for r, code, msg, fld, val in probs)
        base += len(tab)
        rendered.append(lines.cast(pa.large_string()))
    header = [h + nl for h in header_lines(t)] if t.format == "delimited" and head else []
    keys = (np.concatenate([np.asarray(tab.lines) for tab in tables])
            if tables else np.empty(0, np.int64))
    order = np.argsort(keys, kind="stable")
    body = (pa.concat_arrays(rendered) if len(rendered) > 1 else rendered[0] if rendered
            else pa.array([], pa.large_string()))
    if len(order) and not np.array_equal(order, np.arange(len(order))):
        body = body.take(pa.array(order))
    # Row r of the tables (all of them, one after another) is line out_line[r] of the file.
    out_line = np.empty(len(order), np.int64)
    out_line[order] = np.arange(len(order)) + len(header) + 1
    sizes = [len(tab) for tab in tables]
    table_of = np.repeat(np.arange(len(tables)), sizes)
    starts = np.cumsum([0, *sizes])

    def line_of(r: int) -> int | None:
        if lines_of is None:
            return int(out_line[r])
        k = int(table_of[r])
        line = int(lines_of[k][r - starts[k]])
        return None if line < 0 else line

    issues = [Issue(code, msg, line=line_of(r), record=tables[table_of[r]].record,
                    field=fld, value=val) for r, code, msg, fld, val in problems]
    body, bad = _encoded(body, t.encoding)
    for i in bad:
        r = int(order[i])
        k = int(table_of[r])
        issues.extend(_unencodable(tables[k], int(r - starts[k]), line_of(r), t.encoding))
    # utf-8-sig would put its BOM before the header: the BOM is added once, below.
    head_codec = "utf-8" if is_utf8(t.encoding) else t.encoding
    data = "".join(header).encode(head_codec, "replace") + _text_bytes(body)
    if tail and data and not t.final_newline:
        data = data[:-len(nl)]
    if head and _codec_name(t.encoding) == "utf-8-sig":
        data = BOM + data
    if tail and t.eof_marker:
        data += EOF_MARKER
    return data, issues


def file_tail(t: Tracciato) -> tuple[bytes, bytes]:
    """How a file joined in parts ends: the line end its last part carries (to be left
    off when the layout has no final newline) and the bytes that close it."""
    nl = t.newline_chars.encode("ascii")
    return (b"" if t.final_newline else nl), (EOF_MARKER if t.eof_marker else b"")


def _text_bytes(arr: pa.Array) -> bytes:
    """The values of a (large) string or binary array laid end to end, as one copy."""
    if not len(arr):
        return b""
    offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = arr.buffers()[2]
    if data is None:
        return b""
    out: bytes = data[int(offsets[0]):int(offsets[-1])].to_pybytes()
    return out


def _encoded(body: pa.Array, encoding: str) -> tuple[pa.Array, np.ndarray]:
    """The lines as bytes in ``encoding``, and the rows holding a character it lacks.

    Lines of plain ASCII (most of them, in an ERP file) are the same bytes in every
    encoding bridge writes, so only the others go through Python's codec, as one text.
    """
    none = np.empty(0, np.int64)
    if is_utf8(encoding):
        return body, none
    pattern = bad_chars_pattern(encoding)
    if pattern is None:
        # Not a one-byte-per-character codec: each line through Python's codec.
        texts = body.to_pylist()
        bad = np.array([i for i, s in enumerate(texts) if not encodes(s, encoding)],
                       np.int64)
        return pa.array([s.encode(encoding, "replace") for s in texts], pa.large_binary()), bad
    if ascii_compatible(encoding):
        ascii_ = pc.string_is_ascii(body).to_numpy(zero_copy_only=False)
        others = np.flatnonzero(~np.asarray(ascii_, dtype=bool))
    else:
        others = np.arange(len(body))
    if not len(others):
        return body, none
    every = len(others) == len(body)
    lines = body if every else body.take(pa.array(others))
    # One byte per character (a '?' for one it lacks): the encoded text splits back into
    # lines at the running sum of their lengths in characters.
    text = _text_bytes(lines).decode("utf-8")
    try:
        data = text.encode(encoding)  # the usual case: every character has its byte
        bad = none
    except UnicodeEncodeError:
        hit = pc.match_substring_regex(lines, pattern).to_numpy(zero_copy_only=False)
        bad = others[np.asarray(hit, dtype=bool)]
        data = text.encode(encoding, "replace")
    offsets = np.zeros(len(lines) + 1, np.int64)
    np.cumsum(pc.utf8_length(lines).to_numpy(zero_copy_only=False), out=offsets[1:])
    if offsets[-1] != len(data):
        encoded = pa.array([s.encode(encoding, "replace") for s in lines.to_pylist()],
                           pa.large_binary())
    else:
        encoded = pa.LargeBinaryArray.from_buffers(
            pa.large_binary(), len(lines), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    if every:
        return encoded, bad
    mask = np.zeros(len(body), dtype=bool)
    mask[others] = True
    return pc.replace_with_mask(body.cast(pa.large_binary()), pa.array(mask), encoded), bad


def _codec_name(encoding: str) -> str:
    import codecs

    return codecs.lookup(encoding).name


def _unencodable(tab: RawTable, row: int, line: int | None,
                 encoding: str) -> list[Issue]:
    """An issue for each cell of the row that holds a character the encoding lacks."""
    issues = []
    for name, col in tab.columns.items():
        cell = col[row].as_py()
        bad = [c for c in (cell or "") if not encodes(c, encoding)]
        if bad:
            issues.append(Issue(
                "unencodable", f"{bad[0]!r} (U+{ord(bad[0]):04X}) cannot be written in "
                f"{encoding}; written as '?'", line=line, record=tab.record,
                field=name, value=clip(cell)))
    return issues


def quote_column(col: pa.Array, d: DelimitedFormat, force: bool) -> pa.Array:
    """Cells as written: quoted when the dialect needs it, quotes doubled or escaped."""
    col = pc.fill_null(col, "")
    q, esc = d.quote_char, d.escape_char
    if q is None:
        if esc is None:
            return col
        for ch in dict.fromkeys([esc, d.delimiter, "\r", "\n"]):
            col = pc.replace_substring(col, ch, esc + ch)
        return col
    specials = [d.delimiter, q, "\r", "\n"] + ([esc] if esc else [])
    pattern = "|".join(_re_escape(s) for s in specials)
    if esc is not None:
        col = pc.replace_substring(col, esc, esc + esc)
    col = pc.replace_substring(col, q, (q + q) if d.double_quote or esc is None else esc + q)
    quoted = pc.binary_join_element_wise(q, col, q, "")
    if force:
        return quoted
    need = pc.match_substring_regex(col, pattern)
    return pc.if_else(need, quoted, col)


def _re_escape(s: str) -> str:
    return "".join("\\" + c if not c.isalnum() else c for c in s)


def render_delimited(tab: RawTable, t: Tracciato, end: str = "") -> pa.Array:
    """One table's rows as lines of text, each followed by ``end``."""
    d = t.dialect
    rec = t.records[tab.record]
    n = len(tab)
    cells = []
    for f in _column_order(rec.fields):
        col = tab.columns.get(f.name) if f.type != "filler" else None
        if col is None:
            col = pa.nulls(n, pa.string())
        force = d.quoting == "all" or (d.quoting == "nonnumeric" and not f.is_numeric)
        cells.append(quote_column(chunks._plain(col).cast(pa.string()), d, force))
    if not cells:
        return fixed.repeat(end, n)
    parts: list[Any] = []
    for c in cells:
        parts += [c, d.delimiter]
    parts[-1] = end
    return pc.binary_join_element_wise(*parts, "")


def header_lines(t: Tracciato) -> list[str]:
    d = t.dialect
    rec = next(iter(t.records.values()))
    out = []
    for r in range(1, d.header_rows + 1):
        names = []
        for f in _column_order(rec.fields):
            title = f.header if r == d.header_names_row else (
                f.titles[r - 1] if len(f.titles) >= r else f.header)
            names.append(title)
        col = quote_column(pa.array(names, pa.string()), d, d.quoting == "all")
        out.append(d.delimiter.join(col.to_pylist()))
    return out


def _column_order(fields: list[Any]) -> list[Any]:
    if all(f.index is not None for f in fields):
        return sorted(fields, key=lambda f: f.index)
    return list(fields)


