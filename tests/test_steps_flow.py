"""Steps end to end (Shopify orders into gestionale/ordini), and the column kernels agreeing
with jinja row by row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from bridge import spec
from bridge.steps import StepContext, StepSpec, apply_steps
from bridge.steps.expr import compile_expression

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "tracciati" / "shopify" / "ordini.csv"

FLOW = """
- filter: {keep: "financial_status != 'refunded'", by: [name]}
- dedupe: {key: [name]}
- compute: {fields: {importo: "lineitem_quantity * lineitem_price",
                     numero: "name | replace('#', '') | int"}}
- lookup:
    reference: clienti
    match: [{field: email, on: email}]
    take: {codice_cliente: codice}
    missing: default
    default: {codice_cliente: WEB0001}
- group:
    by: [name]
    header:
      into: testata
      fields: {numero_ordine: numero, data_ordine: created_at, riferimento: name,
               codice_cliente: codice_cliente, codice_pagamento: "'BB'", valuta: currency}
    lines:
      into: righe
      fields: {numero_ordine: numero, codice_articolo: lineitem_sku,
               descrizione: "lineitem_name | truncate(40)",
               quantita: "lineitem_quantity | decimal", prezzo_unitario: lineitem_price,
               importo: importo}
    number_lines: numero_riga
    totals: {totale: {sum: importo}}
- trailer: {into: coda, count: numero_record, fields: {data_creazione: now}}
"""


def test_shopify_orders_become_gestionale_records(tmp_path: Path) -> None:
    codecs = pytest.importorskip("bridge.codecs")
    if not SAMPLE.is_file():
        pytest.skip("no Shopify sample")
    source = tmp_path / "orders_export.csv"
    source.write_bytes(SAMPLE.read_bytes())
    decoded = codecs.decode(source, spec.load("shopify/ordini"))
    clienti = pd.DataFrame({"email": ["giulia.rossi@example.it"], "codice": ["C0001"]})
    steps = TypeAdapter(list[StepSpec]).validate_python(yaml.safe_load(FLOW))
    result = apply_steps(steps, decoded.tables, StepContext(
        reference={"clienti": clienti}.__getitem__, already_sent=lambda keys: {"#1002"},
        variables={"now": dt.datetime(2025, 10, 9, 12, 0)}))
    assert result.skipped_keys == ["#1002"] and result.sent_keys == ["#1001"]
    assert [i.code for i in result.issues] == ["already-sent"]

    target = spec.load("gestionale/ordini")
    out = codecs.encode(result.tables, target)
    lines = out.decode("cp1252").split("\r\n")
    assert [ln[:1] for ln in lines] == ["T", "R", "R", "Z", ""]
    assert lines[0].startswith("T000000100120251007C0001")
    assert lines[3].startswith("Z000000420251009")
    written = tmp_path / "ordini.txt"
    written.write_bytes(out)
    back = codecs.decode(written, target)
    assert back.issues == []
    testata, righe = back.tables["testata"], back.tables["righe"]
    assert testata["totale"].tolist() == [Decimal("59.80")]
    assert sum(righe["importo"].tolist()) == testata["totale"].iloc[0]


# The kernels and jinja must agree on every row; rows with a null go through jinja anyway.
EXPRESSIONS = [
    "q * p", "p + q - 1", "-p * 2.5", "p * 1.22 | round2", "(p * 1.125) | round2",
    "q > 3 and s != 'x'", "not (s == 'ab')", "s | upper", "s | lower | replace('a', 'b')",
    "s | truncate(2)", "s ~ 'x'", "p >= q", "(s | replace('a', '')) == ''",
    # a branch guarded by its test: a missing value there is never taken
    "q * p - (p if p is not none else 0)", "0 if q is none else q * 2",
    "q + p if q is not none and p is not none else p", "s | upper if s else 'none'",
    "(q * 2 if not (q is none) else 1) + 1", "1 if q is none or p is none else q * p",
    # `or` inside another expression: a missing left operand gives the right one
    "'k|' ~ (s or 'z')", "'k|' ~ ((s | lower) or (s | upper) or 'z')", "(s or s) ~ 'x'",
    "'k|' ~ ((s and s) or 'z')", "'k|' ~ ((s ~ 'y') or 'z')",
]
TEXT = st.one_of(st.none(), st.text(alphabet="abAB xß7#", max_size=5))
CENTS = st.one_of(st.none(), st.integers(-10**8, 10**8).map(lambda c: Decimal(c).scaleb(-2)))
INTS = st.one_of(st.none(), st.integers(-1000, 1000))


@pytest.mark.parametrize("source", EXPRESSIONS)
@settings(max_examples=25, deadline=None)
@given(rows=st.lists(st.tuples(INTS, CENTS, TEXT), min_size=1, max_size=8))
def test_column_kernels_agree_with_jinja(rows: list[tuple[object, ...]], source: str) -> None:
    table = pa.table({
        "q": pa.array([r[0] for r in rows], pa.int64()),
        "p": pa.array([r[1] for r in rows], pa.decimal128(18, 2)),
        "s": pa.array([r[2] for r in rows], pa.string()),
    })
    expr = compile_expression(source, table.column_names, "test")
    fast, fast_failures = expr.evaluate(table, {})
    slow, slow_failures = expr._per_row(table, {}, [n for n in expr.names])
    assert fast.to_pylist() == slow
    assert [f.row for f in fast_failures] == [f.row for f in slow_failures]


def jinja_rows_of(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the rows an expression sends through jinja (one item per batch)."""
    from bridge.steps.expr import Expression

    jinja_rows: list[int] = []
    real = Expression._per_row

    def counted(self: Expression, rows: pa.Table, *args: object) -> object:
        jinja_rows.append(rows.num_rows)
        return real(self, rows, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Expression, "_per_row", counted)
    return jinja_rows


def test_a_guarded_branch_runs_on_columns_where_the_value_is_missing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`d if d is not none else 0` takes its value only where d is present: the rows where
    d is missing need no jinja (the sample's line amount less its discount)."""
    source = "q * p - (d if d is not none else 0)"
    table = pa.table({"q": pa.array([1, 2, 3], pa.int64()),
                      "p": pa.array([Decimal("1.50")] * 3, pa.decimal128(18, 2)),
                      "d": pa.array([None, Decimal("0.25"), None], pa.decimal128(18, 2))})
    jinja_rows = jinja_rows_of(monkeypatch)
    values, failures = compile_expression(source, table.column_names, "test").evaluate(
        table, {})
    assert values.to_pylist() == [Decimal("1.50"), Decimal("2.75"), Decimal("4.50")]
    assert (failures, jinja_rows) == ([], [])
    # and where the test does not prove it, the missing rows still go through jinja
    compile_expression("q * p - (d if q else 0)", table.column_names, "test").evaluate(
        table, {})
    assert jinja_rows == [2]


def test_a_key_made_of_the_first_value_given_runs_on_columns(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample orders flow keys a new customer by its e-mail, else VAT number, else tax
    code: most orders give one of them only. A missing operand of `or` gives the next, in
    the kernels as in jinja, so no row goes through jinja (a million orders took 3.3 s
    there); where the last one is missing too, jinja writes "None", and its rows go there."""
    source = ("'cliente|' ~ ((email | lower) or partita_iva or (codice_fiscale | upper) "
              "or riferimento)")
    table = pa.table({"email": ["A@x.it", None, None, ""],
                      "partita_iva": [None, "01234567890", None, None],
                      "codice_fiscale": [None, None, "rssmra80a01h501u", None],
                      "riferimento": ["#1", "#2", "#3", "#4"]})
    jinja_rows = jinja_rows_of(monkeypatch)
    values, failures = compile_expression(source, table.column_names, "test").evaluate(
        table, {})
    assert values.to_pylist() == ["cliente|a@x.it", "cliente|01234567890",
                                  "cliente|RSSMRA80A01H501U", "cliente|#4"]
    assert (failures, jinja_rows) == ([], [])
    last = table.set_column(3, "riferimento", pa.array(["#1", "#2", None, None]))
    values, _ = compile_expression(source, table.column_names, "test").evaluate(last, {})
    assert values.to_pylist()[2:] == ["cliente|RSSMRA80A01H501U", "cliente|None"]
    assert jinja_rows == [2]


def runs_of(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the rows jinja runs an expression on (one item per run)."""
    from bridge.steps.expr import Expression

    runs: list[int] = []
    real = Expression.run

    def counted(self: Expression, env_vars: dict[str, object]) -> object:
        runs.append(1)
        return real(self, env_vars)

    monkeypatch.setattr(Expression, "run", counted)
    return runs


def test_rows_of_the_same_values_run_through_jinja_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A stale reference table leaves a looked-up price missing on every row of a million:
    jinja runs once per distinct row, and every row gets its value and its failure, the
    same as when every row is run."""
    import bridge.steps.expr as expr_module

    n = 3_000
    table = pa.table({"q": pa.array([1, 2, None] * (n // 3), pa.int64()),
                      "p": pa.array([None, Decimal("1.50"), None] * (n // 3),
                                    pa.decimal128(18, 2))})
    expr = compile_expression("(q * p) | round2", table.column_names, "test")
    runs = runs_of(monkeypatch)
    values, failures = expr.evaluate(table, {})
    assert len(runs) == 2  # (1, None) and (None, None); the rows (2, 1.50) on columns
    assert values.to_pylist()[:3] == [None, Decimal("3.00"), None]
    assert [f.row for f in failures] == [r for r in range(n) if r % 3 != 1]
    assert {f.error for f in failures} == {
        "TypeError: unsupported operand type(s) for *: 'int' and 'NoneType'",
        "TypeError: unsupported operand type(s) for *: 'NoneType' and 'NoneType'"}
    monkeypatch.setattr(expr_module, "MEMO_MAX", 0)  # nothing remembered: every row run
    runs.clear()
    every, every_failures = expr.evaluate(table, {})
    assert len(runs) == 2 * n // 3
    assert (every.to_pylist(), every_failures) == (values.to_pylist(), failures)


def test_rows_are_run_each_where_equal_values_may_differ(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Not remembered: an expression that is not a function of its values (``random``),
    and floats, whose 0.0 and -0.0 are equal and read apart."""
    table = pa.table({"s": pa.array(["ab"] * 40), "x": pa.array([0.0, -0.0] * 20)})
    drawn, shown, upper = (compile_expression(source, table.column_names, "test")
                           for source in ("s | random", "x | string", "s | upper"))
    runs = runs_of(monkeypatch)
    values, _ = drawn._per_row(table, {}, ["s"])
    assert len(runs) == 40 and set(values) <= {"a", "b"}
    runs.clear()
    values, _ = shown._per_row(table, {}, ["x"])
    assert len(runs) == 40 and values == ["0.0", "-0.0"] * 20
    runs.clear()
    values, _ = upper._per_row(table, {}, ["s"])
    assert len(runs) == 1 and values == ["AB"] * 40
