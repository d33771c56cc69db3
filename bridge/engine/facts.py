"""Business facts of a file: the rows of the tables a flow names in ``facts:`` (an order's
header with its amounts, agent and commission; a cancellation), as small JSON objects for
the ledger (:mod:`bridge.ledger.sqlite_facts`) and the commission and sales reports.

They are gathered chunk by chunk beside the business keys, in a spool of their own (a file
of the work area past a few thousand chunks), each chunk's rows of one kind as columns,
and recorded so, one block per chunk and kind, just before the file's outputs are planned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING

from bridge.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from bridge.config import FactSpec
    from bridge.engine.context import Context
    from bridge.engine.transform import Checked
    from bridge.ledger import FileRow


def fact_lines(specs: list[FactSpec], tables: Mapping[str, pd.DataFrame | pa.Table]
               ) -> Iterator[str]:
    """One line ``"kind" {field: [text, ...]}`` (two JSON texts) per table a spec names:
    the chunk's rows as columns of text (exact decimals, ISO dates), made by Arrow, not row
    by row. The columns' JSON goes to the ledger as it is, never read back and made again."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from bridge.codecs import column_of

    for k, spec in enumerate(specs):
        df = tables.get(spec.table)
        if df is None or not len(df):
            continue
        got = {name: column_of(df, source) for name, source in spec.fields.items()}
        missing = [spec.fields[n] for n, values in got.items() if values is None]
        if missing:
            raise ConfigError(f"facts[{k}]: table {spec.table!r} has no field {missing[0]!r}")
        columns = []
        for name, values in got.items():
            assert values is not None
            if pa.types.is_timestamp(values.type):
                text = json.dumps([_text(v) for v in values.to_pylist()])
            else:
                text = json_list(pc.cast(values, pa.string()))
            columns.append(f"{json.dumps(name)}: {text}")
        yield f"{json.dumps(spec.kind)} {{{', '.join(columns)}}}"


def json_list(values: pa.Array | pa.ChunkedArray) -> str:
    """``json.dumps(values.to_pylist())`` of a column of text, to the byte: made by Arrow
    when every value is printable ASCII (``"`` and ``\\`` then the only escapes), by json
    otherwise (its ``\\uXXXX`` escapes)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if not len(values):
        return "[]"
    if not pc.all(pc.ascii_is_printable(values)).as_py():  # all null: None, json's too
        return json.dumps(values.to_pylist())
    buffer = values.buffers()[2]  # the bytes of every value (and, sliced, of others)
    data = b"" if buffer is None else buffer.to_pybytes()
    if b'"' in data or b"\\" in data:
        values = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"),
                                      '"', '\\"')
    if values.null_count:
        quoted = pc.fill_null(pc.binary_join_element_wise('"', values, '"', ""), "null")
        return f"[{_joined(quoted, ', ')}]"
    sep = '", "'
    return f'["{_joined(values, sep)}"]'


def _joined(values: pa.Array, sep: str) -> str:
    import pyarrow as pa
    import pyarrow.compute as pc

    whole = pa.ListArray.from_arrays(pa.array([0, len(values)], pa.int32()), values)
    return str(pc.binary_join(whole, sep)[0].as_py())


def _text(value: object) -> str | None:
    """A value as the ledger keeps it: exact decimals and ISO dates as text."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def read_lines(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """The kind and the JSON text of the columns of each line."""
    decoder = json.JSONDecoder()
    for line in lines:
        kind, end = decoder.raw_decode(line)
        yield kind, line[end + 1:]


def record(ctx: Context, row: FileRow, checked: Checked) -> None:
    """The file's facts into the ledger (replacing any it had), not synced on their own:
    the plan's commit, which comes next and is synced, carries them to the disk."""
    if checked.facts is not None:
        ctx.ledger.record_facts(row.id, row.flow, read_lines(checked.facts), ctx.now.wall,
                                durable=False)
