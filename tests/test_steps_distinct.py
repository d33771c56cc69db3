"""Rows of the same values through jinja once (bridge.steps.distinct): the same values and
the same failures as row by row, each distinct row run once, and the failures of a million
rows held as arrays."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.steps import distinct, limits
from bridge.steps.distinct import WHOLE, Failure, Failures, distinct_rows
from bridge.steps.expr import Expression, compile_expression, to_array
from tests.test_steps_flow import runs_of

#: Expressions jinja runs row by row (none of them has a column kernel), failing on some
#: rows (a missing value, a division by zero) and building text on others.
SOURCES = [
    "(q * p) | round2",
    "s ~ '/' ~ (q | string)",
    "q // (q - 1)",
    "(p if q else none) | default('nothing')",
    "[s, q] | join('-') if s else q // 0",
]


def both(expr: Expression, table: pa.Table) -> tuple[tuple[list[object], list[Failure]],
                                                     tuple[list[object], list[Failure]]]:
    """The values and failures once per distinct row, and row by row."""
    names = list(expr.names)
    values, failures = expr._rows(table, {}, names, limits.Budget(table.num_rows, 0), to_array)
    each, each_failures = expr._per_row(table, {}, names, limits.Budget(table.num_rows, 0))
    return (values.to_pylist(), list(failures)), (to_array(each).to_pylist(), each_failures)


@pytest.mark.parametrize("source", SOURCES)
@settings(max_examples=20, deadline=None)
@given(picks=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.integers(0, 2)),
                      min_size=distinct.DISTINCT_FROM, max_size=300))
def test_once_per_distinct_row_is_what_row_by_row_gives(
        picks: list[tuple[int, int, int]], source: str) -> None:
    qs, ps, ss = [None, 0, 1, 2], [None, Decimal("1.50"), Decimal("-0.05")], [None, "", "àb"]
    table = pa.table({"q": pa.array([qs[a] for a, _, _ in picks], pa.int64()),
                      "p": pa.array([ps[b] for _, b, _ in picks], pa.decimal128(18, 2)),
                      "s": pa.array([ss[c] for _, _, c in picks], pa.string())})
    expr = compile_expression(source, table.column_names, "test")
    once, each = both(expr, table)
    assert once == each


def test_each_distinct_row_runs_once_in_the_order_of_its_first_row(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the order of the first rows is not that of the columns' codes: (2, "b") has codes
    # (0, 0), (3, "a") (1, 1), (2, "a") (0, 1)
    table = pa.table({"q": pa.array([2, 3, 2, None, 3] * 40, pa.int64()),
                      "s": pa.array(["b", "a", "a", "a", "a"] * 40)})
    expr = compile_expression("s ~ (q // 1)", table.column_names, "test")
    seen: list[object] = []
    real = Expression.run

    def counted(self: Expression, env_vars: dict[str, object]) -> object:
        seen.append((env_vars["q"], env_vars["s"]))
        return real(self, env_vars)

    monkeypatch.setattr(Expression, "run", counted)
    monkeypatch.setattr(Expression, "_per_row", None)  # not row by row, remembering
    values, failures = expr.evaluate(table, {})
    assert seen == [(2, "b"), (3, "a"), (2, "a"), (None, "a")]
    assert values.to_pylist()[:5] == ["b2", "a3", "a2", None, "a3"]
    assert [f.row for f in failures] == [r for r in range(200) if r % 5 == 3]
    assert {f.error for f in failures} == {
        "TypeError: unsupported operand type(s) for //: 'NoneType' and 'int'"}


@pytest.mark.parametrize("column", [
    pa.array([dt.date(2024, 1, 31), None, dt.date(2024, 2, 1)] * 30),
    pa.array([True, None, False] * 30),
    pa.array([dt.datetime(2024, 1, 1, 8, 30), None, dt.datetime(2024, 1, 1, 8, 31)] * 30,
             pa.timestamp("s", tz="Europe/Rome")),
    pa.array([b"x", None, b"y"] * 30),
    pa.nulls(90),
    pa.array(["a", None, "b"] * 30).dictionary_encode(),
], ids=["date", "bool", "timestamp", "binary", "null", "dictionary"])
def test_columns_of_every_kind_keep_their_rows_apart(column: pa.Array) -> None:
    table = pa.table({"x": column, "n": pa.array([1, 2] * 45, pa.int64())})
    expr = compile_expression("(x | string) ~ n", table.column_names, "test")
    once, each = both(expr, table)
    assert once == each
    assert len(set(once[0])) == min(6, len(set(column.to_pylist())) * 2)


def test_a_budget_spent_half_way_stops_at_the_row_a_row_by_row_run_stops(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The text of the results passes the budget (1,000 characters, the rows read none
    here) at row 56: the rows are run one by one to say so, and none of them is trusted."""
    monkeypatch.setattr(limits, "TEXT_BUDGET", 1_000)
    table = pa.table({"s": pa.array(["abc"] * 600)})
    expr = compile_expression("s ~ s ~ s ~ s ~ s ~ s", table.column_names, "test")
    once, each = both(expr, table)
    assert once == each
    assert once[1] == [Failure(WHOLE, "stopped at row 56 of 600: its values add up to more "
                                      "text than the rows it reads allow")]
    assert once[0][55] == "abc" * 6 and once[0][56:] == [None] * 544


def test_more_distinct_rows_than_remembered_go_row_by_row(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import bridge.steps.expr as expr_module

    table = pa.table({"q": pa.array(list(range(100)) * 2, pa.int64())})
    expr = compile_expression("q // (q - 1)", table.column_names, "test")
    runs = runs_of(monkeypatch)
    values, failures = expr.evaluate(table, {})
    assert len(runs) == 100
    monkeypatch.setattr(expr_module, "MEMO_MAX", 99)
    runs.clear()
    again = expr.evaluate(table, {})
    assert len(runs) == 101  # row by row, remembering 99: the others (99) run each time
    assert (again[0].to_pylist(), again[1]) == (values.to_pylist(), failures)
    assert [f.row for f in failures] == [1, 101]


def test_a_key_of_many_columns_is_made_small_before_it_overflows() -> None:
    """Five columns of 65,535 values each (codes of 16 bits, with the code kept for a
    null): their codes laid side by side take 80 bits. The last row differs from the first
    in its first column only: a key that overflowed would take them for one."""
    n = 65_535
    columns = {f"c{i}": np.arange(n + 1, dtype=np.int64) % n for i in range(5)}
    columns["c0"][n] = 1
    table = pa.table(columns)
    rows = list(zip(*(c.tolist() for c in columns.values()), strict=True))
    found = distinct_rows(table, list(columns))
    assert found is not None
    firsts, inverse = found
    assert firsts.tolist() == list(range(n + 1))
    assert [rows[firsts[k]] for k in inverse] == rows


def test_failures_held_as_arrays_read_as_a_list() -> None:
    items = [Failure(0, "a"), Failure(3, "b"), Failure(4, "a"), Failure(WHOLE, "stopped")]
    held = Failures.of(items)
    assert len(held) == 4 and list(held) == items and held == items
    assert held[-1] == items[-1] and held[1:3] == items[1:3]
    assert held.past(1).tolist() == [3, 4] and held.past(9).tolist() == []
    with pytest.raises(IndexError):
        held[4]
    assert Failures.every(3, "x") == [Failure(0, "x"), Failure(1, "x"), Failure(2, "x")]
    assert not Failures() and Failures() == []
