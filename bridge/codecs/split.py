"""Split bytes into raw tables of cells, and join raw tables back into bytes.

:func:`split` and :func:`join` are the whole surface of the format codecs: the typed
decode/encode in :mod:`bridge.codecs` sits on top of them. Cells stay text both ways.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs import chunks, delimited, fixed
from bridge.codecs.fixed import RowProblem
from bridge.codecs.raw import RawChunk, RawTable
from bridge.codecs.text import BOM, EOF_MARKER, is_utf8
from bridge.issues import Issue, clip
from bridge.spec.model import DelimitedFormat, Tracciato


def split(
    source: bytes | IO[bytes], t: Tracciato, *, chunk_bytes: int | None = None
) -> Iterator[RawChunk]:
    """The cells of each record type, one chunk for the whole input or one per ~chunk_bytes.

    Streams: a stream is read ``chunk_bytes`` at a time, line numbers go on across chunks,
    and a record group (a parent with its children, or the rows sharing ``t.group_by``)
    never straddles two chunks. Problems with the bytes or the structure come back as
    issues in the chunk where they were found; nothing here raises on bad input.
    """
    if chunk_bytes is not None and chunk_bytes <= 0:
        raise ValueError("chunk_bytes must be positive")
    if t.format == "fixed":
        return fixed.split_fixed(source, t, chunk_bytes)
    return delimited.split_delimited(source, t, chunk_bytes)


def join(tables: Sequence[RawTable], t: Tracciato) -> tuple[bytes, list[Issue]]:
    """The file's bytes from cells already rendered as text, and the problems met on the way.

    Rows of all tables are written in the order of their ``lines`` (stable), after the
    header rows of a delimited file. Characters the encoding cannot hold are written as
    ``?`` and reported as ``unencodable`` issues, never raised.
    """
    rendered: list[pa.Array] = []
    problems: list[RowProblem] = []
    where: list[tuple[int, int]] = []
    for k, tab in enumerate(tables):
        if t.format == "fixed":
            lines, probs = fixed.render(tab, t)
        else:
            lines, probs = render_delimited(tab, t), []
        base = len(where)
        problems.extend((base + r, code, msg, fld, val) for r, code, msg, fld, val in probs)
        where.extend((k, r) for r in range(len(tab)))
        rendered.append(lines.cast(pa.large_string()))
    header = header_lines(t) if t.format == "delimited" else []
    keys = (np.concatenate([np.asarray(tab.lines) for tab in tables])
            if tables else np.empty(0, np.int64))
    order = np.argsort(keys, kind="stable")
    body = (pa.concat_arrays(rendered).take(pa.array(order)) if rendered
            else pa.array([], pa.large_string()))
    out_line = np.empty(len(order), np.int64)
    out_line[order] = np.arange(len(order)) + len(header) + 1
    issues = [Issue(code, msg, line=int(out_line[r]), record=tables[where[r][0]].record,
                    field=fld, value=val) for r, code, msg, fld, val in problems]
    issues.extend(_unencodable(body, order, tables, where, t, len(header)))
    all_lines = pa.concat_arrays([pa.array(header, pa.large_string()), body])
    nl = t.newline_chars
    text = pc.binary_join(pa.LargeListArray.from_arrays([0, len(all_lines)], all_lines),
                          pa.scalar(nl, pa.large_string()))[0]
    if is_utf8(t.encoding):
        data = text.as_buffer().to_pybytes() if text.is_valid else b""
    else:
        data = text.as_py().encode(t.encoding, "replace")
    if len(all_lines) and t.final_newline:
        data += nl.encode("ascii")
    if _codec_name(t.encoding) == "utf-8-sig":
        data = BOM + data
    if t.eof_marker:
        data += EOF_MARKER
    return data, issues


def _codec_name(encoding: str) -> str:
    import codecs

    return codecs.lookup(encoding).name


def _bad_chars_pattern(encoding: str) -> str | None:
    """A regex matching one character the encoding cannot hold (None: it holds them all)."""
    if is_utf8(encoding):
        return None
    try:
        held = sorted(set(bytes(range(256)).decode(encoding, "ignore")))
    except (UnicodeDecodeError, LookupError):
        return None
    if len(bytes(range(256)).decode(encoding, "ignore")) != len(held) or len(held) < 128:
        return None
    ranges, lo, prev = [], ord(held[0]), ord(held[0])
    for c in [*held[1:], "\U0010ffff"]:
        o = ord(c)
        if o != prev + 1:
            ranges.append(f"\\x{{{lo:x}}}-\\x{{{prev:x}}}")
            lo = o
        prev = o
    return "[^" + "".join(ranges) + "]"


def _unencodable(body: pa.Array, order: np.ndarray, tables: Sequence[RawTable],
                 where: list[tuple[int, int]], t: Tracciato, nh: int) -> list[Issue]:
    pattern = _bad_chars_pattern(t.encoding)
    if pattern is not None:
        hit = pc.match_substring_regex(body, pattern).to_numpy(zero_copy_only=False)
        flagged = np.flatnonzero(hit)
    elif is_utf8(t.encoding):
        return []
    else:
        flagged = np.array([i for i, s in enumerate(body.to_pylist())
                            if not _encodes(s, t.encoding)], np.int64)
    issues = []
    for i in flagged:
        k, r = where[int(order[i])]
        tab = tables[k]
        for name, col in tab.columns.items():
            cell = col[r].as_py()
            bad = [c for c in (cell or "") if not _encodes(c, t.encoding)]
            if bad:
                issues.append(Issue(
                    "unencodable", f"{bad[0]!r} (U+{ord(bad[0]):04X}) cannot be written in "
                    f"{t.encoding}; written as '?'", line=int(i) + nh + 1, record=tab.record,
                    field=name, value=clip(cell)))
    return issues


def _encodes(s: str, encoding: str) -> bool:
    try:
        s.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True
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


def render_delimited(tab: RawTable, t: Tracciato) -> pa.Array:
    """One table's rows as lines of text (without line ends)."""
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
        return pa.array([""] * n, pa.string())
    return pc.binary_join_element_wise(*cells, d.delimiter)


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


