"""bridge.codecs.rows.BlockReader: one read of a text of whole records, as pyarrow's
``read_csv`` gives it, whichever of pyarrow's readers does the work."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.codecs.rows import STREAMED_UP_TO, BlockReader
from bridge.spec.model import DelimitedFormat

DIALECT = DelimitedFormat(delimiter=";", quote_char='"', escape_char="\\")


def reference(data: bytes, ncols: int) -> tuple[dict[str, Any], list[int], list[Any]]:
    """``read_csv`` on one thread, with the options of BlockReader: the cells, the chunks
    of each column, and the rows it skipped."""
    skipped: list[Any] = []

    def on_invalid(row: Any) -> str:
        skipped.append((row.number, row.text, row.actual_columns))
        return "skip"

    names = [f"c{i}" for i in range(ncols)]
    table = pcsv.read_csv(
        pa.BufferReader(data),
        read_options=pcsv.ReadOptions(column_names=names, use_threads=False,
                                      block_size=len(data) + 1),
        parse_options=pcsv.ParseOptions(delimiter=";", quote_char='"', escape_char="\\",
                                         newlines_in_values=True, ignore_empty_lines=False,
                                         invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                            strings_can_be_null=False,
                                            quoted_strings_can_be_null=False))
    return table.to_pydict(), [c.num_chunks for c in table.columns], skipped


def read(data: bytes, ncols: int) -> tuple[dict[str, Any], list[int], list[Any]] | None:
    reader = BlockReader(DIALECT, ncols)
    got = reader.read(data)
    if got is None:
        return None
    return got.to_pydict(), [c.num_chunks for c in got.columns], reader.invalid


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='ab;"\\\r\n é', max_size=60), ncols=st.integers(1, 3))
def test_a_small_read_gives_what_read_csv_gives(text: str, ncols: int) -> None:
    """Ragged rows (skipped, each with its number), quoted line ends, escapes, blank
    lines, no rows at all: the same table, in as many chunks, and the same skipped rows."""
    data = text.encode()
    try:
        want = reference(data, ncols)
    except pa.ArrowInvalid:
        assert read(data, ncols) is None  # what pyarrow cannot read at all
        return
    assert read(data, ncols) == want


def test_a_text_of_skipped_rows_only_reads_as_no_rows() -> None:
    reader = BlockReader(DIALECT, 2)
    got = reader.read(b"a;b;c\nd\n")
    assert got is not None and got.num_rows == 0
    assert [c.num_chunks for c in got.columns] == [1, 1] and got.schema.names == ["c0", "c1"]
    assert [number for number, _, _ in reader.invalid] == [1, 2]


@pytest.mark.parametrize("size", [STREAMED_UP_TO, STREAMED_UP_TO + 1])
def test_a_larger_text_is_not_streamed(size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a text of up to STREAMED_UP_TO bytes goes to the streaming reader (slower
    where rows are skipped); the row comes back either way."""
    data = b"a;" + b"b" * (size - 3) + b"\n"
    assert len(data) == size
    streamed: list[int] = []
    real = pcsv.open_csv

    def spied(source: Any, **kw: Any) -> Any:
        streamed.append(size)
        return real(source, **kw)

    monkeypatch.setattr(pcsv, "open_csv", spied)
    reader = BlockReader(DIALECT, 2)
    got = reader.read(data)
    assert got is not None and got.num_rows == 1 and got.column("c0").to_pylist() == ["a"]
    assert streamed == ([size] if size <= STREAMED_UP_TO else [])
