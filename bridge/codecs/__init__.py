"""Typed decode and encode of whole files: the public face of the codecs.

``decode`` = split the bytes into cells (:mod:`bridge.codecs.split`), type every cell
(:mod:`bridge.fields`), then run the file checks (:mod:`bridge.validate`). ``encode_rows``
(:mod:`bridge.codecs.encoder`) is the way back. Bad cells never raise: they come back as
issues beside the typed tables, or beside the bytes written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bridge.codecs.encoder import Encoded, EncodeError, encode, encode_rows
from bridge.codecs.frames import Frames, as_frame, has_column, rows_in
from bridge.issues import MAX_ISSUES, Issue, clip
from bridge.tally import Batch, Key, Tally

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bridge.codecs.raw import RawChunk
    from bridge.fields import BadCells
    from bridge.spec.model import FieldSpec, Tracciato
    from bridge.validate import FileChecker

__all__ = ["DEFAULT_CHUNK", "LINE", "PARENT_LINE", "Decoded", "EncodeError", "Encoded",
           "Source", "as_frame", "as_table", "column_of", "decode", "empty_tables", "encode",
           "encode_rows", "iter_decode", "rows_in"]

Source = bytes | IO[bytes] | Path
LINE = "_line"
PARENT_LINE = "_parent_line"
DEFAULT_CHUNK = 5 << 20  # measured: 4 MB is slower, 6 MB nears 400 MB of RSS


@dataclass
class Decoded:
    """Typed tables, one per record type, and the issues found.

    Past the file's first ``max_issues`` issues, issues are only counted: ``left_out``
    (in the last chunk) holds their counts by (code, record, field), and one
    ``too-many-issues`` issue of the whole file says so.
    """

    tables: Mapping[str, pd.DataFrame]
    issues: list[Issue] = field(default_factory=list)
    left_out: dict[Key, int] = field(default_factory=dict)
    #: The same tables as Arrow ones, as typing made them (empty when it did not make
    #: them so): the steps read these, without turning the pandas ones back.
    arrow: dict[str, pa.Table] = field(default_factory=dict)
    #: The chunk's cells as the sender wrote them (when asked for with ``keep_raw``): what
    #: a report of its bad rows shows, without splitting the file again.
    raw: RawChunk | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {name: rows_in(self.tables, name) for name in self.tables}


def decode(source: Source, t: Tracciato, *, max_issues: int = MAX_ISSUES) -> Decoded:
    """The whole file at once: tables, issues (the first ``max_issues``) and file checks."""
    parts = list(iter_decode(source, t, chunk_bytes=None, max_issues=max_issues))
    if len(parts) == 1:
        return parts[0]
    import pandas as pd

    tables = {}
    for name in t.records:
        frames = [p.tables[name] for p in parts if name in p.tables]
        if frames:
            tables[name] = pd.concat(frames, ignore_index=True)
    return Decoded(tables, [i for p in parts for i in p.issues], parts[-1].left_out)


def iter_decode(
    source: Source, t: Tracciato, *, chunk_bytes: int | None = DEFAULT_CHUNK,
    max_issues: int = MAX_ISSUES, keep_raw: bool = False, group_max: int | None = None,
) -> Iterator[Decoded]:
    """Chunk after chunk, with bounded memory; record groups are never split.

    The file checks that need the whole file (trailer count, row counts) report in the
    last chunk's issues. Of the issues of rows, the first ``max_issues`` of the file (by
    line) are kept, whatever the chunks; the others are counted and summed up in the last
    chunk (see :mod:`bridge.tally`). ``keep_raw``: each chunk keeps its cells as text too.
    ``group_max``: the bytes of one group held at most (past them, ``GroupTooLarge``).
    """
    from bridge.codecs.ahead import read_ahead
    from bridge.codecs.split import split
    from bridge.validate import FileChecker

    def typed(stream: bytes | IO[bytes]) -> Iterator[Decoded]:
        parts = _typed(split(stream, t, chunk_bytes=chunk_bytes, group_max=group_max), t,
                       FileChecker(t), Tally(max_issues), keep_raw=keep_raw)
        # In chunks, the next one is decoded while the caller works on this one.
        return parts if chunk_bytes is None else read_ahead(parts)

    if isinstance(source, Path):
        with source.open("rb") as stream:
            yield from typed(stream)
    else:
        yield from typed(source)


#: Codes a file reports once at most, found while its bytes are read: kept outside the cap.
_ONCE = frozenset({"nul-byte", "bom-in-middle"})


def _typed(chunks: Iterator[RawChunk], t: Tracciato, checker: FileChecker, tally: Tally,
           *, keep_raw: bool = False) -> Iterator[Decoded]:
    pending: Decoded | None = None
    for chunk in chunks:
        if pending is not None:
            yield pending
        arrow: dict[str, pa.Table] = {}
        tables, batches = _type_chunk(chunk, t, arrow)
        batches += checker.feed(tables, chunk)
        whole = [i for i in chunk.issues if i.line is None or i.code in _ONCE]
        rows = [i for i in chunk.issues if not (i.line is None or i.code in _ONCE)]
        issues = whole + tally.keep([Batch.of(rows), *batches])
        issues.sort(key=lambda i: (i.line or 0))
        pending = Decoded(tables, issues, arrow=arrow, raw=chunk if keep_raw else None)
    if pending is None:
        pending = Decoded({})
    pending.issues.extend(tally.extra(checker.finish()))
    # Issues of the whole file first: whoever keeps only the first issues keeps them.
    pending.issues.sort(key=lambda i: (i.line or 0))
    summary = tally.summary()
    if summary is not None:
        pending.issues.insert(0, summary)
        pending.left_out = dict(tally.left_out)
    yield pending


def rehearse(t: Tracciato) -> str | None:
    """Why the typing and checks of ``t`` fail on a file of one empty record per type
    (None: they run). Lint runs it, so that what lints runs: a rule the model lets
    through and the checks cannot run is found before the first file."""
    import numpy as np
    import pyarrow as pa

    from bridge.codecs.raw import RawChunk, RawTable
    from bridge.validate import FileChecker

    lines: dict[str, int] = {}
    order = [n for n in t.records if t.records[n].parent is None]
    while len(order) < len(t.records):  # parents before their children (no loops: lint)
        order += [n for n, r in t.records.items()
                  if n not in order and r.parent in order]
    tables = {}
    for n in order:
        lines[n] = len(lines) + 1
        rec = t.records[n]
        parent = np.array([lines[rec.parent]], np.int64) if rec.parent else None
        tables[n] = RawTable(n, {f.name: pa.nulls(1, pa.string()) for f in rec.data_fields},
                             np.array([lines[n]], np.int64), parent)
    chunk = RawChunk(tables)
    if len(t.records) > 1:
        names = list(t.records)
        chunk.kinds = np.array([names.index(n) for n in order], np.int64)
        chunk.kind_lines = np.array([lines[n] for n in order], np.int64)
    try:
        for _ in _typed(iter([chunk]), t, FileChecker(t), Tally(MAX_ISSUES)):
            pass
    except Exception as exc:  # what the checks raise is the finding
        return f"{type(exc).__name__}: {exc}"
    return None


def empty_tables(t: Tracciato) -> dict[str, pd.DataFrame]:
    """The tables of a file of ``t`` without rows, typed as decoding types them."""
    from bridge.codecs.chunks import empty_chunk

    return dict(_type_chunk(empty_chunk(t), t)[0])


def _type_chunk(chunk: RawChunk, t: Tracciato, arrow: dict[str, pa.Table] | None = None
                ) -> tuple[Frames, list[Batch]]:
    """The chunk's typed tables (and, into ``arrow``, the same as Arrow tables), and the
    batches of cells that could not be typed. A table's pandas frame is made when it is
    first read (:class:`Frames`)."""
    import numpy as np
    import pyarrow as pa

    from bridge.fields import parse_column

    batches: list[Batch] = []
    tables: dict[str, pa.Table] = {}
    for name, raw in chunk.tables.items():
        rec = t.records[name]
        arrays: dict[str, pa.Array] = {}
        lines = np.asarray(raw.lines, dtype=np.int64)
        for f in rec.data_fields:
            cells = raw.columns.get(f.name)
            if cells is None:
                cells = pa.nulls(len(raw), pa.string())
            typed, bad = parse_column(cells, f)
            arrays[f.name] = typed
            if bad:
                batches.append(_cells(bad, lines, name, f.name))
        for f in rec.data_fields:
            if f.sign_from is not None:
                arrays[f.name], batch = _signed(arrays[f.name], arrays[f.sign_from.field],
                                                f, lines, name)
                batches.append(batch)
        arrays[LINE] = pa.array(lines)
        if rec.parent is not None:
            parents = raw.parent_lines
            if parents is None:
                parents = np.full(len(raw), -1, dtype=np.int64)
            arrays[PARENT_LINE] = pa.array(np.asarray(parents, dtype=np.int64))
        tables[name] = pa.table(arrays)
    if arrow is not None:
        arrow.update(tables)
    return Frames(tables), batches


def as_table(df: pd.DataFrame | pa.Table) -> pa.Table:
    """``pa.Table.from_pandas(df, preserve_index=False)`` without its metadata: a frame
    of ``pd.ArrowDtype`` columns hands over its Arrow data as it is (and an Arrow table
    is returned as it is)."""
    import pandas as pd
    import pyarrow as pa

    if isinstance(df, pa.Table):
        return df
    columns = list(df.items())
    if (all(isinstance(n, str) and isinstance(c.dtype, pd.ArrowDtype) for n, c in columns)
            and len({n for n, _ in columns}) == len(columns)):
        return pa.Table.from_arrays([c.array.__arrow_array__() for _, c in columns],
                                    names=[str(n) for n, _ in columns])
    return pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)


def column_of(table: pd.DataFrame | pa.Table, name: str) -> pa.Array | None:
    """A column of a pandas or an Arrow table as one Arrow array; None if there is none."""
    import pyarrow as pa

    if isinstance(table, pa.Table):
        if not has_column(table, name):
            return None
        return table.column(name).combine_chunks()
    if name not in table.columns:
        return None
    return pa.array(table[name], from_pandas=True)


def _signed(values: pa.Array, signs: pa.Array, f: FieldSpec, lines: np.ndarray, record: str
            ) -> tuple[pa.Array, Batch]:
    """The unsigned ``values`` with the sign read from another field's text (``sign_from``);
    a sign that is neither kind leaves the value missing, with a ``bad-sign`` issue."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    how = f.sign_from
    assert how is not None
    text = pc.utf8_trim_whitespace(pc.fill_null(signs.cast(pa.string()), ""))
    negative = pc.is_in(text, value_set=pa.array(how.negative, pa.string()))
    positive = pc.is_in(text, value_set=pa.array(how.positive, pa.string()))
    unknown = pc.and_(pc.invert(pc.or_(negative, positive)), pc.is_valid(values))
    out = pc.if_else(negative, pc.negate_checked(values), values)
    rows = np.flatnonzero(np.asarray(unknown.to_numpy(zero_copy_only=False), dtype=bool))
    if len(rows):
        out = pc.if_else(unknown, pa.scalar(None, values.type), out)
    at = lines[rows]
    shown = text.take(pa.array(rows)).to_pylist() if len(rows) else []
    meaning = (f"negative {', '.join(map(repr, how.negative))}, positive "
               f"{', '.join(map(repr, how.positive))}")

    def make(positions: np.ndarray) -> list[Issue]:
        return [Issue("bad-sign", f"{how.field} holds {shown[p]!r}, not a sign of {f.name} "
                      f"({meaning}): the value is left out", int(at[p]), record, f.name,
                      clip(shown[p])) for p in positions.tolist()]

    return out, Batch.alike(at, ("bad-sign", record, f.name), make)


def _cells(bad: BadCells, lines: np.ndarray, record: str, field_name: str) -> Batch:
    """The bad cells of one column as a batch: their issues are made only if kept."""
    at = lines[bad.rows]

    def make(positions: np.ndarray) -> list[Issue]:
        codes = bad.codes_at(positions)
        values, messages = bad.pick(positions)
        return [Issue(code, msg, int(line), record, field_name, clip(value))
                for line, code, value, msg in zip(at[positions].tolist(), codes, values,
                                                  messages, strict=True)]

    def count(positions: np.ndarray) -> Counter[Key]:
        return Counter({(code, record, field_name): n
                        for code, n in bad.code_counts(positions).items()})

    return Batch(at, make, count)
