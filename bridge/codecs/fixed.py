"""Fixed-width files: lines sliced into fields by position, and fields padded back into lines.

Every step works on whole pyarrow arrays of lines (slice, compare, pad), never one line at a
time. Positions and lengths count characters of the decoded text, so an ``è`` written in
cp1252 (one byte) or UTF-8 (two) takes one position either way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs import chunks
from bridge.codecs.raw import RawChunk, RawTable
from bridge.codecs.text import TextSource, empty_issue
from bridge.issues import Issue, clip
from bridge.spec.model import Tracciato

#: A problem found while writing one row: (row index, code, message, field, value).
RowProblem = tuple[int, str, str, str | None, str | None]


def split_lines(data: bytes) -> pa.Array:
    """The lines of UTF-8 text (CR LF, LF or CR ends, even mixed), without their ends."""
    if not data:
        return pa.array([], pa.string())
    offsets = pa.py_buffer(np.array([0, len(data)], np.int64).tobytes())
    whole = pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(data))
    if b"\r" not in data:
        parts = pc.split_pattern(whole, "\n")
    elif b"\n" not in data:
        parts = pc.split_pattern(whole, "\r")
    elif data.count(b"\r") == data.count(b"\r\n") == data.count(b"\n"):
        parts = pc.split_pattern(whole, "\r\n")
    else:
        parts = pc.split_pattern_regex(whole, r"\r\n|\r|\n")
    lines = pc.list_flatten(parts)
    if data.endswith((b"\n", b"\r")):
        lines = lines.slice(0, len(lines) - 1)
    return lines.cast(pa.string())


def kinds_of(lines: pa.Array, t: Tracciato) -> tuple[np.ndarray, pa.Array | None]:
    """Each line's record type as an index into ``t.records`` (-1: none), and the values."""
    kinds = np.zeros(len(lines), np.int64)
    if len(t.records) == 1 or t.discriminator is None:
        return kinds, None
    start = (t.discriminator.start or 1) - 1
    values = pc.utf8_slice_codeunits(lines, start, start + (t.discriminator.length or 0))
    recs = list(t.records.values())
    # -1: no record type; the one without ``when`` (if any) takes every line unclaimed.
    kinds[:] = next((i for i, rec in enumerate(recs) if not rec.when), -1)
    for i, rec in reversed(list(enumerate(recs))):
        if not rec.when:
            continue
        hit = pc.is_in(values, value_set=pa.array(rec.when, pa.string()))
        kinds[np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)] = i
    return kinds, values


class _Splitter:
    """Turns blocks of lines into chunks, remembering each record type's last line."""

    def __init__(self, t: Tracciato) -> None:
        self.t = t
        self.names = list(t.records)
        self.last_line: dict[int, int] = {}

    def chunk(self, lines: pa.Array, nums: np.ndarray, kinds: np.ndarray,
              values: pa.Array | None) -> RawChunk:
        t = self.t
        lengths = pc.utf8_length(lines).to_numpy(zero_copy_only=False).astype(np.int64)
        keep = lengths > 0  # blank lines carry nothing; they only count as lines
        issues: list[Issue] = []
        for i in np.flatnonzero(keep & (kinds < 0)):
            v = values[int(i)].as_py() if values is not None else ""
            issues.append(Issue("unknown-record", f"no record type is chosen by {v!r}",
                                line=int(nums[i]), value=clip(lines[int(i)].as_py())))
        reclen = t.fixed.record_length if t.fixed else None
        if reclen is not None:
            for i in np.flatnonzero(keep & (lengths != reclen)):
                rec = self.names[kinds[i]] if kinds[i] >= 0 else None
                issues.append(Issue("wrong-length", f"{lengths[i]} characters where the record "
                                    f"length is {reclen}", line=int(nums[i]), record=rec))
        tables = {}
        for k, name in enumerate(self.names):
            idx = np.flatnonzero(keep & (kinds == k))
            tables[name] = self._table(name, lines.take(pa.array(idx)), nums[idx], lengths[idx],
                                       nums[keep & (kinds == self._kind(name))])
        chunk = RawChunk(tables, issues)
        if len(self.names) > 1:
            chunk.kinds, chunk.kind_lines = kinds[keep], nums[keep]
        for k in range(len(self.names)):
            seen = nums[keep & (kinds == k)]
            if len(seen):
                self.last_line[k] = int(seen[-1])
        return chunk

    def _kind(self, name: str) -> int:
        parent = self.t.records[name].parent
        return self.names.index(parent) if parent is not None else -2

    def _table(self, name: str, lines: pa.Array, nums: np.ndarray, lengths: np.ndarray,
               parent_nums: np.ndarray) -> RawTable:
        rec = self.t.records[name]
        cols = {}
        for f in rec.data_fields:
            start, width = (f.start or 1) - 1, f.length or 0
            cell = pc.utf8_slice_codeunits(lines, start, start + width)
            short = lengths <= start
            if short.any():
                cell = pc.if_else(pa.array(short), pa.scalar(None, pa.string()), cell)
            cols[f.name] = cell
        parents = None
        if rec.parent is not None:
            before = self.last_line.get(self.names.index(rec.parent))
            if before is not None:
                parent_nums = np.concatenate([[before], parent_nums])
            # A sentinel in front: a child with no parent before it finds -1 (an orphan),
            # even when the chunk holds no parent at all.
            known = np.concatenate([[-1], parent_nums]).astype(np.int64)
            parents = known[np.searchsorted(known, nums, side="right") - 1]
        return RawTable(name, cols, nums.astype(np.int64), parents)


def split_fixed(source: Any, t: Tracciato, chunk_bytes: int | None,
                group_max: int | None = None) -> Iterator[RawChunk]:
    src = TextSource(source, t.encoding, chunk_bytes, group_max=group_max,
                     refuse_utf8=t.refuse_utf8)
    splitter = _Splitter(t)
    grouped = any(rec.parent is not None for rec in t.records.values())
    carry: tuple[bytes, int] | None = None
    seen = 0
    for block in src.blocks():
        data, first = block.data, block.first_line
        if carry is not None:
            data, first = carry[0] + data, carry[1]
            carry = None
        lines = split_lines(data)
        kinds, values = kinds_of(lines, t)
        if grouped and not block.final:
            # End the chunk before the last line where it may end; the rest waits.
            cuts = np.flatnonzero(safe_cuts(kinds, t)[1:]) + 1
            cut = int(cuts[-1]) if len(cuts) else 0
            if cut == 0:
                carry = ("\n".join(lines.to_pylist()).encode("utf-8") + b"\n", first)
                src.hold(len(carry[0]), carry[1])
                continue
            rest = lines.slice(cut).to_pylist()
            carry = ("\n".join(rest).encode("utf-8") + b"\n", first + cut)
            src.hold(len(carry[0]), carry[1])
            lines, kinds = lines.slice(0, cut), kinds[:cut]
            values = values.slice(0, cut) if values is not None else None
        nums = np.arange(first, first + len(lines), dtype=np.int64)
        chunk = splitter.chunk(lines, nums, kinds, values)
        seen += sum(len(tab) for tab in chunk.tables.values())
        seen += int(np.sum(kinds < 0))
        chunk.issues = src.take_issues() + chunk.issues
        if block.final and seen == 0:
            chunk.issues.append(empty_issue() if src.raw_bytes == 0 else
                                Issue("empty-file", "the file holds no records"))
        yield chunk


def safe_cuts(kinds: np.ndarray, t: Tracciato) -> np.ndarray:
    """Whether a chunk may end before each line: no child from there on can belong to a
    parent before it, because its parent type comes again first (as far as the lines go).

    A coda between a testata and more of its righe is no place to end a chunk: the righe
    still belong to that testata, and its control total needs them all.
    """
    ok = np.ones(len(kinds), dtype=bool)
    names = list(t.records)
    for k, rec in enumerate(t.records.values()):
        if rec.parent is not None:
            ok &= _first_from(kinds == names.index(rec.parent)) < _first_from(kinds == k)
    return ok


def _first_from(hit: np.ndarray) -> np.ndarray:
    """For each position, the first position at or after it where ``hit`` holds (len: none)."""
    n = len(hit)
    at = np.where(hit, np.arange(n), n)
    out: np.ndarray = np.minimum.accumulate(at[::-1])[::-1]
    return out


def render(tab: RawTable, t: Tracciato, end: str = "") -> tuple[pa.Array, list[RowProblem]]:
    """One table's rows as fixed-width lines, each followed by ``end``; cells too wide are
    cut and reported."""
    rec = t.records[tab.record]
    filler = t.fixed.filler if t.fixed else " "
    reclen = t.fixed.record_length if t.fixed else None
    n = len(tab)
    parts: list[Any] = []
    problems: list[RowProblem] = []
    pos = 1
    for f in sorted(rec.fields, key=lambda f: f.start or 0):
        start, width = f.start or 1, f.length or 0
        if start > pos:
            parts.append(filler * (start - pos))
        col = tab.columns.get(f.name) if f.type != "filler" else None
        if col is None:
            parts.append(filler * width)
        elif tab.fitted:
            parts.append(chunks._plain(col))
        else:
            parts.append(_fit(chunks._plain(col).cast(pa.string()), f, width, filler,
                              problems))
        pos = start + width
    if reclen is not None and reclen >= pos:
        parts.append(filler * (reclen - pos + 1))
    parts.append(end)
    if all(isinstance(p, str) for p in parts):
        return repeat("".join(parts), n), problems
    return pc.binary_join_element_wise(*parts, ""), problems


def _fit(col: pa.Array, f: Any, width: int, filler: str,
         problems: list[RowProblem]) -> pa.Array:
    """Cells of exactly ``width`` characters: cut (and reported) or padded."""
    lengths = pc.utf8_length(col)
    span = pc.min_max(lengths).as_py()
    if col.null_count == 0 and span["min"] == span["max"] == width:
        return col  # already fitted, as the typed encoder renders them
    lens = pc.fill_null(lengths, 0).to_numpy(zero_copy_only=False)
    code = "cut" if f.on_too_long == "cut" else "too-long"
    for i in np.flatnonzero(lens > width):
        problems.append((int(i), code, f"{lens[i]} characters in a field of "
                         f"{width}: cut", f.name, clip(col[int(i)].as_py())))
    col = pc.utf8_slice_codeunits(col, 0, width)
    pad = pc.utf8_lpad if f.out_align == "right" else pc.utf8_rpad
    col = pad(col, width=width, padding=f.out_pad)
    return pc.fill_null(col, filler * width)


def repeat(text: str, n: int) -> pa.Array:
    """The same text n times, built by pyarrow rather than from a list of n strings."""
    return pa.array([text], pa.string()).take(pa.array(np.zeros(n, np.int32)))
