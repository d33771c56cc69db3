"""skip-rows leaves out a bad row with the rest of its group: the rows sharing the
tracciato's ``group_by`` key (an order's line items), whatever the key's columns hold."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from bridge.engine.tables import drop_bad_rows
from bridge.issues import Issue
from bridge.spec import parse

LAYOUT = """
format: delimited
delimited: {{delimiter: ';'}}
group_by: [{keys}]
records:
  riga:
    fields:
      - {{name: ordine}}
      - {{name: negozio}}
      - {{name: qta, type: integer}}
"""


def table(orders: list[str | None], shops: list[str | None]) -> pd.DataFrame:
    n = len(orders)
    return pa.table({"ordine": pa.array(orders, pa.string()),
                     "negozio": pa.array(shops, pa.string()),
                     "qta": pa.array(range(n), pa.int64()),
                     "_line": pa.array(range(2, n + 2), pa.int64())}
                    ).to_pandas(types_mapper=pd.ArrowDtype)


def bad(*lines: int) -> list[Issue]:
    return [Issue("bad-integer", "not an integer", line, "riga", "qta") for line in lines]


def test_a_bad_row_takes_its_whole_group_and_only_it() -> None:
    t = parse(LAYOUT.format(keys="ordine"))
    df = table(["#1", "#1", "#2", None, None, "#3", "#1"], ["a"] * 7)
    kept = drop_bad_rows({"riga": df}, bad(3, 6), t)["riga"]
    # line 3 is order #1 (lines 2, 3 and 8), line 6 a row without an order (lines 5, 6)
    assert kept["_line"].tolist() == [4, 7]
    assert kept["ordine"].tolist() == ["#2", "#3"]


def test_a_key_of_two_columns_is_both_values() -> None:
    t = parse(LAYOUT.format(keys="ordine, negozio"))
    df = table(["#1", "#1", "#1", "#2"], ["a", "b", "a", None])
    kept = drop_bad_rows({"riga": df}, bad(2), t)["riga"]
    assert kept["_line"].tolist() == [3, 5]  # (#1, b) and (#2, missing) stay


def test_no_bad_row_keeps_everything_and_a_file_issue_keeps_nothing() -> None:
    t = parse(LAYOUT.format(keys="ordine"))
    df = table(["#1", "#2"], ["a", "a"])
    assert drop_bad_rows({"riga": df}, [], t)["riga"]["_line"].tolist() == [2, 3]
    whole = [Issue("bad-header", "no header", None)]
    assert len(drop_bad_rows({"riga": df}, whole, t)["riga"]) == 0
