"""Business facts of a file: the rows of the tables a flow names in ``facts:`` (an order's
header with its amounts, agent and commission; a cancellation), as small JSON objects for
the ledger (:mod:`bridge.ledger.sqlite_facts`) and the commission and sales reports.

They are gathered chunk by chunk beside the business keys, in the same spool (a file of
the work area past a few thousand), and recorded when the file's outputs are planned.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from bridge.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from bridge.config import FactSpec
    from bridge.engine.context import Context
    from bridge.engine.transform import Checked
    from bridge.ledger import FileRow


def fact_lines(specs: list[FactSpec], tables: dict[str, pd.DataFrame]) -> Iterator[str]:
    """One JSON line ``[kind, {field: text}]`` per row of each table a spec names."""
    import pyarrow as pa

    for k, spec in enumerate(specs):
        df = tables.get(spec.table)
        if df is None or not len(df):
            continue
        missing = [f for f in spec.fields.values() if f not in df.columns]
        if missing:
            raise ConfigError(f"facts[{k}]: table {spec.table!r} has no field {missing[0]!r}")
        columns = {name: pa.array(df[field], from_pandas=True).to_pylist()
                   for name, field in spec.fields.items()}
        for i in range(len(df)):
            data = {name: _text(values[i]) for name, values in columns.items()}
            yield json.dumps([spec.kind, {n: v for n, v in data.items() if v is not None}])


def _text(value: object) -> str | None:
    """A value as the ledger keeps it: exact decimals and ISO dates as text."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | int | float | bool | str):
        return str(value)
    return str(value)


def read_lines(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, str]]]:
    for line in lines:
        kind, data = json.loads(line)
        yield kind, data


def record(ctx: Context, row: FileRow, checked: Checked) -> None:
    """The file's facts into the ledger (replacing any it had)."""
    if checked.facts is not None:
        ctx.ledger.record_facts(row.id, row.flow, read_lines(checked.facts), ctx.now.wall)
