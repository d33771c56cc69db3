"""Decoded tables handed out as pandas frames, each made only when something asks for it.

Decoding types every column with Arrow; the steps and the targets read those Arrow tables.
A pandas frame of a table costs about as much as typing a small file's column: for a file
of a few hundred rows, a twentieth of its whole transform. So :class:`Frames` keeps the
Arrow tables and makes a table's frame the first time it is read, once; its row counts
need no frame (:func:`rows_in`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


def has_column(table: pa.Table | pa.Schema, name: str) -> bool:
    """``name in table.schema.names``, asked of the schema's index: under a microsecond,
    where the list of names is made anew at each call (about 10 us on an export's 80
    columns, and the steps and the encoder ask hundreds of times a chunk)."""
    schema: pa.Schema = getattr(table, "schema", table)  # a table's, or a schema
    return bool(schema.get_all_field_indices(name))


class Frames(Mapping[str, "pd.DataFrame"]):
    """Read-only: record name -> its frame, made from its Arrow table when first read."""

    def __init__(self, arrow: dict[str, pa.Table]) -> None:
        self.arrow = arrow
        self._made: dict[str, pd.DataFrame] = {}

    def __getitem__(self, name: str) -> pd.DataFrame:
        frame = self._made.get(name)
        if frame is None:
            frame = self._made[name] = as_frame(self.arrow[name])
        return frame

    def __iter__(self) -> Iterator[str]:
        return iter(self.arrow)

    def __len__(self) -> int:
        return len(self.arrow)

    def __contains__(self, name: object) -> bool:
        return name in self.arrow

    def __repr__(self) -> str:
        return f"Frames({', '.join(f'{n}: {t.num_rows} rows' for n, t in self.arrow.items())})"


def rows_in(tables: Mapping[str, pd.DataFrame], name: str) -> int:
    """The rows of one table, without making its frame when it is not made yet."""
    if isinstance(tables, Frames):
        return int(tables.arrow[name].num_rows)
    return len(tables[name])


def as_frame(table: pa.Table) -> pd.DataFrame:
    """``table.to_pandas(types_mapper=pd.ArrowDtype)``: each column handed to pandas as it
    is, without pyarrow's general conversion (a third of its time on a small table)."""
    import pandas as pd

    names = table.schema.names
    if not names or len(set(names)) < len(names):
        whole: pd.DataFrame = table.to_pandas(types_mapper=pd.ArrowDtype)
        return whole
    return pd.DataFrame({n: pd.arrays.ArrowExtensionArray(c)
                         for n, c in zip(names, table.columns, strict=True)}, copy=False)
