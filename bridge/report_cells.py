"""The sender's own cells of the rows a report is about, and how a report's cells are made.

A report (:mod:`bridge.report`) shows, beside each issue, the row it is about as the
sender wrote it. :class:`RawRows` gathers those rows from the chunks of a splitting of the
file: the report's own splitting, or the reading of the flow itself (which keeps each
chunk's cells as text for the moment it takes to find the chunk's bad rows), so that a
large file is not split a second time for a few bad rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.display import defuse_cells

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from bridge.codecs.raw import RawChunk
    from bridge.issues import Issue
    from bridge.spec.model import Tracciato

#: Characters of one cell shown in a report; a longer cell is cut, with a mark.
CELL_LIMIT = 1_000
#: Room above ``CELL_LIMIT`` for the mark, so that cutting a cell twice cuts it once.
_MARK_ROOM = 50
#: Bytes of cells run through a function of each cell together (:func:`_each_cell`): far
#: below the 2 GiB of text one Arrow string array can hold.
_BATCH_BYTES = 64 << 20


def sender_columns(t: Tracciato) -> tuple[list[str], dict[tuple[str, str], int]]:
    """The sender's column titles, and where each record's field goes among them.

    With several record types, the columns are the union of their fields in tracciato
    order; fields with the same title share one column.
    """
    headers: list[str] = []
    index: dict[str, int] = {}
    where: dict[tuple[str, str], int] = {}
    for rname, rec in t.records.items():
        for f in rec.data_fields:
            title = f.header if t.format == "delimited" else f.name
            if title not in index:
                index[title] = len(headers)
                headers.append(title)
            where[(rname, f.name)] = index[title]
    return headers, where


@dataclass
class Found:
    """The sender's rows that have issues: their lines (sorted), record types and cells."""

    lines: np.ndarray
    records: pa.Array
    columns: list[pa.Array]  # one per sender column, already defused, "" where absent

    @classmethod
    def empty(cls, width: int) -> Found:
        import numpy as np
        import pyarrow as pa

        return cls(np.empty(0, np.int64), pa.array([], pa.string()),
                   [pa.array([], pa.string())] * width)

    def index_of(self, lines: np.ndarray) -> np.ndarray:
        """For each line, the index of its row here, or -1 when no row starts there."""
        import numpy as np

        if not len(self.lines):
            return np.full(len(lines), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.lines, lines), len(self.lines) - 1)
        hit = (self.lines[pos] == lines) & (lines >= 0)
        return np.where(hit, pos, -1).astype(np.int64)


class RawRows:
    """The raw cells of the rows starting on wanted lines, gathered chunk by chunk from a
    splitting of the file (each chunk's rows are taken, cut to :data:`CELL_LIMIT`, and the
    chunk let go): memory follows the number of rows kept, not the size of the file.

    A wanted line is *settled* once the chunk that holds it was fed: its row is kept, or it
    has none (a line the splitter could not make a row of). At most ``limit`` rows are
    kept: past them (:attr:`full`), nothing more is settled."""

    def __init__(self, t: Tracciato, limit: int | None = None) -> None:
        self.headers, self.where = sender_columns(t)
        self.width = len(self.headers)
        self.limit = limit
        self.kept = 0
        self.full = False
        self.settled: list[np.ndarray] = []
        self.lines: list[np.ndarray] = []
        self.records: list[pa.Array] = []
        self.columns: list[list[pa.Array]] = [[] for _ in range(self.width)]

    def feed(self, chunk: RawChunk, wanted: np.ndarray) -> None:
        """The rows of ``chunk`` starting on one of the ``wanted`` lines, kept."""
        import numpy as np
        import pyarrow as pa

        if self.full:
            return
        starts = {n: np.asarray(raw.lines, dtype=np.int64) for n, raw in chunk.tables.items()}
        span = np.concatenate([*starts.values(), np.array(
            [i.line for i in chunk.issues if i.line], dtype=np.int64)])
        if not len(span):
            return
        inside = wanted[(wanted >= span.min()) & (wanted <= span.max())]
        picks = {n: np.flatnonzero(np.isin(at, inside)) for n, at in starts.items()}
        count = sum(len(p) for p in picks.values())
        if self.limit is not None and self.kept + count > self.limit:
            self.full = True
            return
        self.kept += count
        self.settled.append(inside)
        for rname, picked in picks.items():
            if not len(picked):
                continue
            raw, take = chunk.tables[rname], pa.array(picked)
            self.lines.append(starts[rname][picked])
            self.records.append(pa.repeat(pa.scalar(rname, pa.string()), len(picked)))
            got = {self.where[(rname, f)]: c for f, c in raw.columns.items()
                   if (rname, f) in self.where}
            cut = _each_cell([got[col].take(take) if col in got else
                              pa.nulls(len(picked), pa.string()) for col in range(self.width)],
                             _clipped)
            for col in range(self.width):
                self.columns[col].append(cut[col])

    def feed_issues(self, chunk: RawChunk, issues: list[Issue]) -> None:
        """The rows of ``chunk`` that ``issues`` find an error on, kept."""
        import numpy as np

        lines = [i.line for i in issues if i.is_error and i.line]
        if lines:
            self.feed(chunk, np.unique(np.array(lines, dtype=np.int64)))

    def has(self, lines: np.ndarray) -> bool:
        """Whether every one of ``lines`` is settled: the rows found for them here are the
        rows a splitting of the whole file finds."""
        import numpy as np

        settled = np.concatenate(self.settled) if self.settled else np.empty(0, np.int64)
        return bool(np.isin(lines, settled).all())

    def found(self) -> Found:
        """The rows kept, in the order of their lines, their cells defused."""
        import numpy as np
        import pyarrow as pa

        if not self.lines:
            return Found.empty(self.width)
        all_lines = np.concatenate(self.lines)
        order = pa.array(np.argsort(all_lines, kind="stable"))
        return Found(
            all_lines[order.to_numpy()],
            pa.concat_arrays(self.records).take(order),
            _each_cell([pa.concat_arrays(c).take(order) for c in self.columns], defuse_cells),
        )


def _each_cell(columns: list[pa.Array], fn: Callable[[pa.Array], pa.Array]
               ) -> list[pa.Array]:
    """``fn``, a function of each cell alone, over equal-length columns as text: run on
    many columns' cells at once (one pass of its kernels, not one per column: a sender's
    file may have 80), up to :data:`_BATCH_BYTES` at a time."""
    out: list[pa.Array] = []
    batch: list[pa.Array] = []
    size = 0
    for cells in map(_plain, columns):
        if batch and size + cells.nbytes > _BATCH_BYTES:
            out += _run_cells(batch, fn)
            batch, size = [], 0
        batch.append(cells)
        size += cells.nbytes
    return (out + _run_cells(batch, fn)) if batch else out


def _run_cells(batch: list[pa.Array], fn: Callable[[pa.Array], pa.Array]) -> list[pa.Array]:
    import pyarrow as pa

    if len(batch) == 1:
        return [fn(batch[0])]
    n = len(batch[0])
    done = fn(pa.concat_arrays(batch))
    return [done.slice(k * n, n) for k in range(len(batch))]


def _plain(cells: pa.Array | pa.ChunkedArray) -> pa.Array:
    import pyarrow as pa

    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    return cells.cast(pa.string())


def _clipped(cells: pa.Array) -> pa.Array:
    """The cells, each longer than ``CELL_LIMIT`` characters cut there with a mark saying
    how long it was: one cell of a file must not make a report of its own size."""
    import pyarrow as pa
    import pyarrow.compute as pc

    length = pc.utf8_length(cells)
    long = pc.greater(length, CELL_LIMIT + _MARK_ROOM)
    if not pc.any(long).as_py():
        return cells
    mark = pc.binary_join_element_wise("… [cut: ", pc.cast(length, pa.string()),
                                       " characters in all]", "")
    cut = pc.binary_join_element_wise(pc.utf8_slice_codeunits(cells, 0, CELL_LIMIT), mark, "")
    return pc.if_else(long, cut, cells)
