"""A row's data never makes an expression run away; an expression unbounded by itself is a
configuration error.

The attacks: a sender's quantity used as a width or a count (an 800 MB text), rows that
each stay small but add up, and an operator's nested power that would run for minutes.
Each attack runs in a subprocess with a timeout, so that a broken limit fails the test in
seconds instead of eating the machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from bridge.steps import limits
from bridge.steps.expr import compile_expression

ROOT = Path(__file__).resolve().parents[1]

#: Runs one compute step over rows given as JSON; prints what came of it.
RUN = """
import json, sys, time
import pandas as pd, pyarrow as pa
from bridge.errors import ConfigError
from bridge.steps import StepContext, apply_steps
from bridge.steps.spec import ComputeArgs
from pydantic import TypeAdapter
from bridge.steps import StepSpec

source, columns, rows = json.loads(sys.argv[1])
table = pa.table({name: [values] * rows for name, values in columns.items()})
table = table.append_column("_line", pa.array(range(2, rows + 2), pa.int64()))
steps = TypeAdapter(list[StepSpec]).validate_python([{"compute": {"fields": {"out": source}}}])
start = time.monotonic()
try:
    result = apply_steps(steps, {"t": table.to_pandas(types_mapper=pd.ArrowDtype)},
                         StepContext())
    out = {"issues": [[i.code, i.line] for i in result.issues]}
except ConfigError as exc:
    out = {"config_error": str(exc)}
out["seconds"] = time.monotonic() - start
print(json.dumps(out))
"""


def attack(source: str, columns: dict[str, object], rows: int = 1) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", RUN, json.dumps([source, columns, rows])],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, object] = json.loads(done.stdout)
    assert float(result["seconds"]) < 20  # type: ignore[arg-type]
    return result


@pytest.mark.parametrize(("source", "columns"), [
    ("nota | center(qty)", {"nota": "x", "qty": 800_000_000}),
    ("nota.ljust(qty)", {"nota": "x", "qty": 800_000_000}),
    ("nota | zfill(qty)", {"nota": "1", "qty": 800_000_000}),
    ("'%0*d' % (qty, 1)", {"qty": 800_000_000}),
    ("'{:>{w}}'.format(nota, w=qty)", {"nota": "x", "qty": 800_000_000}),
    ("nota | replace('a', nota)", {"nota": "a" * 30_000}),
    ("nota.replace('a', nota)", {"nota": "a" * 30_000}),
    (f"nota | replace('a', '{'x' * 100}')", {"nota": "a" * 30_000}),  # the column kernels
    ("nota.expandtabs(qty)", {"nota": "\t" * 1000, "qty": 100_000}),
    ("(nota | int) ** 900", {"nota": "9" * 1000}),
])
def test_a_rows_data_is_a_bad_expression_on_that_row(source: str,
                                                     columns: dict[str, object]) -> None:
    assert attack(source, columns)["issues"] == [["bad-expression", 2]]


def test_rows_within_bounds_cannot_add_up_to_a_runaway() -> None:
    # 1 MB a row was allowed; 1,000 rows of it is a gigabyte built from 6 kB of input.
    result = attack("'x' * qty", {"qty": 100_000}, rows=1_000)
    assert result["issues"] == [["bad-expression", None]]  # the whole file is refused


@pytest.mark.parametrize("source", [
    "((2 ** 1000) ** 1000) ** 1000",
    "'x' | center(800000000)",
    "('x' * 100000) ~ ('x' * 100000)",
    "(qty ** 999) ** 999",
    "range(100000) | join('x' * 100000)",
])
def test_an_unbounded_expression_is_a_configuration_error(source: str) -> None:
    result = attack(source, {"qty": 3})
    assert "has no bound" in str(result.get("config_error")), result


@pytest.mark.parametrize("source", [
    "qty * 2", "nota | upper", "'%05d' % qty", "'{:>10}'.format(nota)", "nota | center(40)",
    "(nota ~ '-') * 3", "qty ** 3", "nota | replace('a', 'bb')",
])
def test_ordinary_expressions_are_untouched(source: str) -> None:
    expr = compile_expression(source, ["nota", "qty"], "test")
    values, failures = expr.evaluate(pa.table({"nota": ["ab"], "qty": [12]}), {})
    assert failures == [] and values.to_pylist() != [None]


def test_a_long_cell_passed_through_is_not_a_limit_breach() -> None:
    # A field named as it is is taken without a loop: no bound applies to what was sent.
    expr = compile_expression("nota", ["nota"], "test")
    values, failures = expr.evaluate(pa.table({"nota": ["x" * (limits.MAX_TEXT + 1)]}), {})
    assert failures == [] and len(values[0].as_py()) == limits.MAX_TEXT + 1


def test_the_limits_in_the_docs_are_the_limits() -> None:
    text = " ".join((ROOT / "docs" / "steps.md").read_text(encoding="utf-8").split())
    for claim in (f"{limits.MAX_TEXT:,} characters", f"{limits.MAX_ITEMS:,} items",
                  f"{limits.MAX_INT_BITS:,} bits", f"exponent of {limits.MAX_POWER:,}",
                  f"({limits.TIME_BASE:.0f} s plus {limits.TIME_PER_ROW * 1000:.0f} ms a row "
                  "of the table)",
                  f"{limits.TEXT_BUDGET >> 20} Mi characters"):
        assert claim in text


def test_rows_left_to_jinja_run_under_the_budget_of_the_whole_table(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows the Arrow kernels leave to jinja (a missing quantity) run under the budget of
    the whole evaluation: every row of the table, and the text of every row it reads. A
    table the kernels take whole makes no budget: its text is not even counted."""
    made: list[tuple[int, int]] = []

    class Spy(limits.Budget):
        def __init__(self, rows: int, read: int) -> None:
            made.append((rows, read))
            super().__init__(rows, read)

    monkeypatch.setattr(limits, "Budget", Spy)
    expr = compile_expression("qty * 2 if nota == 'ab' else 0", ["nota", "qty"], "test")
    for qty, budgets in (([1, 2, 3], []), ([1, None, 3], [(3, 5)])):
        made.clear()
        table = pa.table({"nota": ["ab", "cde", None], "qty": pa.array(qty, pa.int64())})
        values, failures = expr.evaluate(table, {})
        assert values.to_pylist() == [2, 0, 0] and failures == []
        assert made == budgets
