"""Typed decode and encode of whole files: the public face of the codecs.

``decode`` = split the bytes into cells (:mod:`bridge.codecs.split`), type every cell
(:mod:`bridge.fields`), then run the file checks (:mod:`bridge.validate`). ``encode`` is the
way back. Bad cells never raise: they come back as issues beside the typed tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bridge.errors import DataError
from bridge.issues import Issue, clip

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bridge.codecs.raw import RawChunk, RawTable
    from bridge.fields import BadCells
    from bridge.spec.model import RecordSpec, Tracciato
    from bridge.validate import FileChecker

Source = bytes | IO[bytes] | Path
LINE = "_line"
PARENT_LINE = "_parent_line"
DEFAULT_CHUNK = 5 << 20  # measured: 4 MB is slower, 6 MB nears 400 MB of RSS


class EncodeError(DataError):
    """Rows that cannot be written in the layout; ``issues`` says which and why."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        first = issues[0]
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(f"cannot write: {first.code}: {first.message}{more}")


@dataclass
class Decoded:
    """Typed tables, one per record type, and every issue found."""

    tables: dict[str, pd.DataFrame]
    issues: list[Issue] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {name: len(df) for name, df in self.tables.items()}


def decode(source: Source, t: Tracciato) -> Decoded:
    """The whole file at once: tables, issues and file checks."""
    parts = list(iter_decode(source, t, chunk_bytes=None))
    if len(parts) == 1:
        return parts[0]
    import pandas as pd

    tables = {}
    for name in t.records:
        frames = [p.tables[name] for p in parts if name in p.tables]
        if frames:
            tables[name] = pd.concat(frames, ignore_index=True)
    return Decoded(tables, [i for p in parts for i in p.issues])


def iter_decode(
    source: Source, t: Tracciato, *, chunk_bytes: int | None = DEFAULT_CHUNK
) -> Iterator[Decoded]:
    """Chunk after chunk, with bounded memory; record groups are never split.

    The file checks that need the whole file (trailer count, row counts) report in the
    last chunk's issues.
    """
    from bridge.codecs.ahead import read_ahead
    from bridge.codecs.split import split
    from bridge.validate import FileChecker

    def typed(stream: bytes | IO[bytes]) -> Iterator[Decoded]:
        parts = _typed(split(stream, t, chunk_bytes=chunk_bytes), t, FileChecker(t))
        # In chunks, the next one is decoded while the caller works on this one.
        return parts if chunk_bytes is None else read_ahead(parts)

    if isinstance(source, Path):
        with source.open("rb") as stream:
            yield from typed(stream)
    else:
        yield from typed(source)


def _typed(chunks: Iterator[RawChunk], t: Tracciato, checker: FileChecker
           ) -> Iterator[Decoded]:
    pending: Decoded | None = None
    for chunk in chunks:
        if pending is not None:
            yield pending
        pending = _type_chunk(chunk, t)
        pending.issues.extend(checker.feed(pending.tables, chunk))
    if pending is None:
        pending = Decoded({})
    pending.issues.extend(checker.finish())
    yield pending


def _type_chunk(chunk: RawChunk, t: Tracciato) -> Decoded:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bridge.fields import parse_column

    issues = list(chunk.issues)
    tables: dict[str, pd.DataFrame] = {}
    for name, raw in chunk.tables.items():
        rec = t.records[name]
        arrays: dict[str, pa.Array] = {}
        for f in rec.data_fields:
            cells = raw.columns.get(f.name)
            if cells is None:
                cells = pa.nulls(len(raw), pa.string())
            typed, bad = parse_column(cells, f)
            arrays[f.name] = typed
            issues.extend(_issues(bad, raw.lines, name, f.name))
        arrays[LINE] = pa.array(np.asarray(raw.lines, dtype=np.int64))
        if rec.parent is not None:
            parents = raw.parent_lines
            if parents is None:
                parents = np.full(len(raw), -1, dtype=np.int64)
            arrays[PARENT_LINE] = pa.array(np.asarray(parents, dtype=np.int64))
        tables[name] = pa.table(arrays).to_pandas(types_mapper=pd.ArrowDtype)
    issues.sort(key=lambda i: (i.line or 0))
    return Decoded(tables, issues)


def _issues(bad: BadCells, lines: object, record: str, field_name: str) -> list[Issue]:
    import numpy as np

    if len(bad.rows) == 0:
        return []
    at = np.asarray(lines)[bad.rows]
    return [
        Issue(code, msg, int(line), record, field_name, clip(value))
        for line, code, value, msg in zip(at, bad.codes, bad.values, bad.messages, strict=True)
    ]


def encode(tables: Mapping[str, pd.DataFrame], t: Tracciato) -> bytes:
    """The bytes of a file holding these tables, exactly as the layout says.

    Rows are put in file order by ``_line``; children without ``_line`` follow their
    parent's ``_line`` through ``_parent_line``. Raises :class:`EncodeError` when a value
    cannot be written (too long, unencodable, missing but required...).
    """
    from bridge.codecs.split import join

    raws: list[RawTable] = []
    issues: list[Issue] = []
    for name, df in tables.items():
        if name not in t.records:
            raise EncodeError([Issue("unknown-record", f"the tracciato has no record {name!r}",
                                     record=name)])
        raw, bad = _render(df, t.records[name], name, t)
        raws.append(raw)
        issues.extend(bad)
    data, join_issues = join(raws, t)
    issues.extend(join_issues)
    if issues:
        raise EncodeError(sorted(issues, key=lambda i: (i.line or 0)))
    return bytes(data)


def _render(
    df: pd.DataFrame, rec: RecordSpec, name: str, t: Tracciato
) -> tuple[RawTable, list[Issue]]:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bridge.codecs.raw import RawTable
    from bridge.fields import arrow_type, render_column

    n = len(df)
    keys = _order_keys(df, rec)
    # Line numbers for messages: the row's own line when known, else its position.
    lines = (df[LINE].to_numpy(dtype=np.int64) if LINE in df.columns
             else np.arange(1, n + 1, dtype=np.int64))
    columns: dict[str, pa.Array] = {}
    issues: list[Issue] = []
    width_of = t.format == "fixed"
    for f in rec.data_fields:
        want = arrow_type(f)
        if f.name in df.columns:
            col = df[f.name]
            # An ArrowDtype column hands over its pyarrow data as is: no conversion copy.
            values = (col.array.__arrow_array__() if isinstance(col.dtype, pd.ArrowDtype)
                      else pa.array(col, from_pandas=True))
            if values.type != want:
                try:
                    if pa.types.is_decimal(want) and pa.types.is_integer(values.type):
                        # int64 -> decimal128(18, s) is refused outright by pyarrow.
                        values = values.cast(pa.decimal128(38, want.scale))
                    values = values.cast(want)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                    code = _CAST_CODES.get(f.type, "bad-pattern")
                    raise EncodeError([Issue(
                        code, f"column {f.name!r} cannot be read as {want}: {exc}",
                        record=name, field=f.name)]) from None
        elif f.type == "constant":
            values = pa.array([f.value], pa.string()).take(np.zeros(n, dtype=np.int32))
        else:
            values = pa.nulls(n, want)
        cells, bad = render_column(values, f, f.length if width_of else None)
        columns[f.name] = cells
        issues.extend(_issues(bad, lines, name, f.name))
    return RawTable(name, columns, keys, fitted=width_of), issues


#: The issue of a column that cannot even be converted to its field's type.
_CAST_CODES = {t: f"bad-{t}" for t in ("integer", "decimal", "date", "time", "datetime",
                                        "boolean")}


def _order_keys(df: pd.DataFrame, rec: RecordSpec) -> np.ndarray:
    """A sort key per row that puts every record where it belongs in the file."""
    import numpy as np

    n = len(df)
    shift = np.int64(1 << 20)
    if LINE in df.columns:
        return df[LINE].to_numpy(dtype=np.int64) * shift
    if rec.parent is not None and PARENT_LINE in df.columns:
        parent: np.ndarray = df[PARENT_LINE].to_numpy(dtype=np.int64)
        keys: np.ndarray = parent * shift + 1 + _rank_within(parent)
        return keys
    if rec.occurs == "last":
        return np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    if rec.occurs == "first":
        return np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    return np.arange(1, n + 1, dtype=np.int64) * shift


def _rank_within(keys: np.ndarray) -> np.ndarray:
    """Each row's place among the rows with the same key, in row order (0, 1, 2...)."""
    import numpy as np

    n = len(keys)
    order = np.argsort(keys, kind="stable")
    ranked = keys[order]
    pos = np.arange(n, dtype=np.int64)
    starts = np.ones(n, dtype=bool)
    starts[1:] = ranked[1:] != ranked[:-1]
    run_start = np.maximum.accumulate(np.where(starts, pos, 0)) if n else pos
    within = np.empty(n, np.int64)
    within[order] = pos - run_start
    return within
