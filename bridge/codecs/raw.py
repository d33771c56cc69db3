"""The untyped middle of a codec: cells as text, per record type, with their line numbers.

Splitting (bytes -> :class:`RawTable`) and joining (:class:`RawTable` -> bytes) are the only
things the format codecs do. Typing the cells is :mod:`bridge.fields`' job, so a codec never
guesses a type: ``00184`` stays ``00184``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from bridge.issues import Issue


@dataclass
class RawTable:
    """The rows of one record type, cells still as text.

    ``columns`` maps each data field's name to a pyarrow string array (null where the
    cell is absent, e.g. a short variable-length line or a missing column); filler fields
    are left out. ``lines`` holds the 1-based line of the file where each row starts.
    ``parent_lines`` (records with a ``parent`` only) holds the line of the parent record
    each row belongs to, or -1 for an orphan.
    """

    record: str
    columns: dict[str, pa.Array]
    lines: np.ndarray
    parent_lines: np.ndarray | None = None
    #: Every cell already has its field's exact width (as the typed encoder renders them
    #: for a fixed-width layout), so joining need not measure them again.
    fitted: bool = False

    def __len__(self) -> int:
        return len(self.lines)


@dataclass
class RawChunk:
    """What one pass of a splitter yields: a table per record type, and structural issues."""

    tables: dict[str, RawTable]
    issues: list[Issue] = field(default_factory=list)
    #: For files with several record types: the record type of every line in file order,
    #: as an index into ``list(tracciato.records)`` (-1: no record type matched), and the
    #: line number of each. Order rules (a coda only at the end...) are checked on these.
    kinds: np.ndarray | None = None
    kind_lines: np.ndarray | None = None
