"""The business steps on their own: exact VAT and percentages, code tables, totals,
fields taken out of text, checks, and extra lines of a group."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bridge.errors import ConfigError
from bridge.steps import StepContext, StepResult, StepSpec, apply_steps
from bridge.steps.business import divide_half_up, from_unscaled, unscaled

CENT = Decimal("0.01")


def run(steps: str, tables: dict[str, dict[str, list[Any]]],
        types: dict[str, pa.DataType] | None = None) -> StepResult:
    frames = {}
    for name, columns in tables.items():
        arrays = {c: pa.array(v, (types or {}).get(c)) for c, v in columns.items()}
        frames[name] = pa.table(arrays).to_pandas(types_mapper=pd.ArrowDtype)
    parsed = TypeAdapter(list[StepSpec]).validate_python(yaml.safe_load(steps))
    return apply_steps(parsed, frames, StepContext())


def money(*values: str | None) -> list[Decimal | None]:
    return [None if v is None else Decimal(v) for v in values]


DEC = pa.decimal128(18, 2)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-10**11, 10**11), min_size=1, max_size=20),
       st.sampled_from(["22", "10", "5", "4", "0", "21.5"]))
def test_vat_is_exactly_decimal_half_up(cents: list[int], rate: str) -> None:
    gross = [Decimal(c).scaleb(-2) for c in cents]
    out = run("- vat: {rate: r, gross: g, net: n, tax: t}",
              {"x": {"g": gross, "r": [Decimal(rate)] * len(gross)}},
              {"g": DEC, "r": pa.decimal128(5, 2)}).tables["x"]
    want = [(g / (1 + Decimal(rate) / 100)).quantize(CENT, ROUND_HALF_UP) for g in gross]
    assert out["n"].tolist() == want
    assert out["t"].tolist() == [g - n for g, n in zip(gross, want, strict=True)]


def test_vat_ties_round_away_from_zero_and_nulls_stay_null() -> None:
    # A tie (5 / 10 = 0.5) goes away from zero, on both sides.
    out = run("- vat: {rate: r, gross: g, net: n, tax: t}",
              {"x": {"g": money("1.22", "-1.22", None, "0.01"), "r": [22, 22, 22, None]}},
              {"g": DEC, "r": pa.int64()}).tables["x"]
    assert out["n"].tolist()[:2] == money("1.00", "-1.00")
    assert pd.isna(out["n"].iloc[2]) and pd.isna(out["n"].iloc[3])
    assert divide_half_up(pa.array([5, -5, 15]).to_numpy(), pa.array([10, 10, 10]).to_numpy(
    )).tolist() == [1, -1, 2]


def test_unscaled_round_trips_with_offsets() -> None:
    arr = pa.array(money("1.23", None, "-4.56", "7.00"), DEC).slice(1)
    units, scale, valid = unscaled(arr)
    assert (units.tolist(), scale, valid.tolist()) == ([0, -456, 700], 2, [False, True, True])
    assert from_unscaled(units, 2, valid).to_pylist() == money(None, "-4.56", "7.00")


def test_percent_is_a_commission_half_up() -> None:
    out = run("- percent: {base: b, rate: r, into: c}",
              {"x": {"b": money("305.74", "42.38", "100.00"), "r": money("5.00", "3.50", None)}},
              {"b": DEC, "r": pa.decimal128(5, 2)}).tables["x"]
    assert out["c"].tolist()[:2] == money("15.29", "1.48")
    assert pd.isna(out["c"].iloc[2])


def test_percent_of_a_rate_of_many_decimals_is_exact() -> None:
    """A rate made by a division (``provvigione / 3``) has 28 decimals: its scale's factor
    (10 ** 30) passes 64 bits. It was an internal error on every pass; now it is computed
    on Python integers, rounded half up."""
    rate = pa.decimal128(38, 28)
    out = run("- percent: {base: b, rate: r, into: c}",
              {"x": {"b": money("305.74", "100.00"),
                     "r": [Decimal(5) / 3, Decimal("0.0000000000000000000000000001")]}},
              {"b": DEC, "r": rate}).tables["x"]
    assert out["c"].tolist() == money("5.10", "0.00")  # 305.74 * 1.666...% = 5.0957
    # and a base of 28 decimals, brought to the amount's 2 (a divisor of 10 ** 26)
    out = run("- percent: {base: b, rate: r, into: c}",
              {"x": {"b": [Decimal(100) / 3], "r": money("5.00")}},
              {"b": rate, "r": pa.decimal128(5, 2)}).tables["x"]
    assert out["c"].tolist() == money("1.67")  # 33.333... * 5% = 1.6666...


def test_translate_maps_codes_and_reports_the_unknown() -> None:
    steps = """
- translate: {field: pay, into: code, values: {Carta: CC, Bonifico: BB, 22: X}}
"""
    result = run(steps, {"x": {"pay": ["Carta", None, "Satispay", "Bonifico", "22"]}})
    code = result.tables["x"]["code"]
    assert (code.iloc[0], code.iloc[3]) == ("CC", "BB") and pd.isna(code.iloc[1])
    assert [i.code for i in result.issues] == ["no-match"]
    assert result.issues[0].value == "Satispay"
    assert result.tables["x"]["code"].iloc[4] == "X"
    default = run("- translate: {field: pay, values: {Carta: CC}, missing: default, "
                  "default: ZZ}", {"x": {"pay": ["Carta", "Altro"]}})
    assert default.tables["x"]["pay"].tolist() == ["CC", "ZZ"] and default.issues == []
    held = run("- translate: {field: pay, values: {Carta: CC}, missing: hold}",
               {"x": {"pay": ["Altro"]}})
    assert held.held and held.issues == []


def test_totals_sum_children_onto_parents() -> None:
    steps = """
- group:
    by: [o]
    header: {into: head, fields: {o: o}}
    lines: {into: rows, fields: {v: v}}
    extra_lines:
      - {when: "s > 0", fields: {v: "s"}}
- totals: {table: rows, into: head, fields: {total: {sum: v}}}
"""
    result = run(steps, {"x": {"o": [1, 1, 2, 3], "v": money("1.10", "2.20", "3.30", "0.01"),
                               "s": money("5.00", "5.00", "0.00", "1.00")}},
                 {"v": DEC, "s": DEC})
    assert result.tables["head"]["total"].tolist() == money("8.30", "3.30", "1.01")
    rows = result.tables["rows"]
    assert rows["v"].tolist() == money("1.10", "2.20", "3.30", "0.01", "5.00", "1.00")
    # Extra lines follow their group's last row.
    assert rows["_line"].tolist() == [1, 2, 3, 4, 2, 4]


def test_totals_of_one_step_each_keep_their_sum_and_type() -> None:
    """Several totals in one step, summed in one grouping: the same field twice, a whole
    number beside money, and a parent left without children (a zero of each type)."""
    steps = """
- group:
    by: [o]
    header: {into: head, fields: {o: o}}
    lines: {into: rows, fields: {v: v, q: q}}
- filter: {table: rows, keep: "v > 1"}
- totals: {table: rows, into: head, fields: {total: {sum: v}, again: {sum: v}, pieces: {sum: q}}}
"""
    result = run(steps, {"x": {"o": [1, 1, 2, 3], "v": money("1.10", "2.20", "3.30", "0.01"),
                               "q": [1, 2, 3, 4]}}, {"v": DEC})
    head = result.tables["head"]
    assert head["total"].tolist() == head["again"].tolist() == money("3.30", "3.30", "0.00")
    assert head["pieces"].tolist() == [3, 3, 0]
    arrow = result.arrow["head"]
    assert pa.types.is_integer(arrow.schema.field("pieces").type)
    assert arrow.schema.field("total").type == arrow.schema.field("again").type
    assert pa.types.is_decimal(arrow.schema.field("total").type)


def test_extract_and_check_identifiers() -> None:
    steps = r"""
- extract: {field: notes, pattern: 'partita_iva:\s*(?P<piva>\d+)'}
- check:
    rules:
      - {field: piva, valid: partita_iva}
      - {that: "n < 10", field: n, code: above-maximum, message: too many}
"""
    result = run(steps, {"x": {"notes": ["partita_iva: 01234567897", "x", None,
                                         "a\npartita_iva: 01234567890"], "n": [1, 2, 3, 11]}})
    assert result.tables["x"]["piva"].tolist()[0] == "01234567897"
    assert pd.isna(result.tables["x"]["piva"].iloc[1])
    assert sorted((i.code, i.value) for i in result.issues) == [
        ("above-maximum", "11"), ("bad-partita-iva", "01234567890")]


def test_mistakes_in_the_steps_are_configuration_errors() -> None:
    adapter = TypeAdapter(list[StepSpec])
    with pytest.raises(ValidationError, match="named groups"):
        adapter.validate_python([{"extract": {"field": "a", "pattern": "x"}}])
    with pytest.raises(ValidationError, match="unknown issue code"):
        adapter.validate_python([{"check": {"rules": [
            {"that": "a", "field": "a", "code": "nope"}]}}])
    with pytest.raises(ConfigError, match="not numbers"):
        run("- vat: {rate: r, gross: g, net: n}", {"x": {"g": ["a"], "r": [22]}})


def test_conditions_and_none_tests_agree_with_jinja() -> None:
    from bridge.steps.expr import compile_expression

    table = pa.table({"a": pa.array([3, -2, 5], pa.int64()),
                      "s": pa.array(["x", None, "y"], pa.string())})
    for source, want in [("a if a > 0 else 0", [3, 0, 5]),
                         ("s is none", [False, True, False]),
                         ("not (s is none)", [True, False, True])]:
        expr = compile_expression(source, table.column_names, "test")
        values, failures = expr.evaluate(table, {})
        assert values.to_pylist() == want and failures == []
    flags = run("- translate: {field: f, into: t, values: {true: '1', false: '0'}}",
                {"x": {"f": [True, False]}})
    assert flags.tables["x"]["t"].tolist() == ["1", "0"]


NEW_KERNELS = ["s | digits", "q | decimal", "p | decimal", "s if s else 'x'",
               "p if q > 3 else none", "q if q else 0", "s is none", "(s | digits) ~ ''",
               # missing values in a condition's test, in a branch that is the result, in
               # a branch that is not (its rows go through jinja), under `is none`
               "p if s else none", "s if q else s", "s if q > 0 else 'z'",
               "(s if q else 'z') ~ '!'", "(p if s else p) + 1", "q is none and p is none",
               "s if s else (q if q else 0) | string",
               # texts laid end to end and defaults, as the sample's extra lines write them
               "('Sconto ' ~ (s | d(''))) | truncate(4)", "s ~ s ~ '-'", "s | default('x', true)",
               "s | d('')", "('a' ~ (s | digits)) | upper", "s ~ (q | string)",
               # membership, operands given by and/or (missing ones too), abs, a whole
               # number beside a decimal branch, products past 38 digits of precision
               "s in ['ab', '7', '']", "s not in ['a b']", "q in [1, 2, -3]",
               "s or 'none'", "s or s", "q or q", "s and s", "(s or 'x') | truncate(2)",
               "p | abs", "0 if q else p", "(q | decimal) * p", "p * p * p",
               "s | truncate(3)", "s | upper", "s | replace('a', '')",
               "q if s and q > 0 else -q",
               # (in)equalities where a value may be missing: None equals only None
               "s == 'ab'", "s != 'ab'", "q == q", "s != s", "p == p",
               "q if s and s == (s or 'x') else -q", "p if not (s != 'a') else p",
               "q if (s or s) == 'a b' or q != 3 else 0",
               # a column of nothing but missing values beside one of text
               "n or s", "s or n", "n == s", "s if n == s else n", "n | upper",
               "n | truncate(3)", "(n | replace('a', 'b')) or s"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(-1000, 1000)),
                          st.one_of(st.none(), st.integers(-10**6, 10**6).map(
                              lambda c: Decimal(c).scaleb(-2))),
                          st.one_of(st.none(), st.text(alphabet="ab 7#9é٣", max_size=5))),
                min_size=1, max_size=8),
       st.sampled_from(NEW_KERNELS))
def test_new_kernels_agree_with_jinja(rows: list[tuple[Any, ...]], source: str) -> None:
    from bridge.steps.expr import compile_expression

    table = pa.table({"q": pa.array([r[0] for r in rows], pa.int64()),
                      "p": pa.array([r[1] for r in rows], DEC),
                      "s": pa.array([r[2] for r in rows], pa.string()),
                      "n": pa.nulls(len(rows))})
    expr = compile_expression(source, table.column_names, "test")
    fast, fast_failures = expr.evaluate(table, {})
    slow, slow_failures = expr._per_row(table, {}, list(expr.names))
    assert fast.to_pylist() == slow
    assert [f.row for f in fast_failures] == [f.row for f in slow_failures]


MOMENTS = st.one_of(st.none(), st.datetimes(min_value=datetime(1990, 1, 1),
                                            max_value=datetime(2060, 12, 31)))


@settings(max_examples=60, deadline=None)
@given(st.lists(MOMENTS, min_size=1, max_size=8),
       st.sampled_from([None, "UTC", "Europe/Rome", "America/Los_Angeles"]))
def test_the_date_of_a_moment_agrees_with_jinja(moments: list[datetime | None],
                                                zone: str | None) -> None:
    """`created_at | date` on whole columns: the day in the column's own time zone, as
    jinja's ``value.date()`` gives it; missing moments go through jinja."""
    from bridge.steps.expr import compile_expression

    table = pa.table({"t": pa.array(moments, pa.timestamp("us", tz=zone)),
                      "d": pa.array([m.date() if m else None for m in moments])})
    for source in ("t | date", "d | date", "(t | date) == d"):
        expr = compile_expression(source, table.column_names, "test")
        fast, fast_failures = expr.evaluate(table, {})
        slow, slow_failures = expr._per_row(table, {}, list(expr.names))
        assert fast.to_pylist() == slow, source
        assert [f.row for f in fast_failures] == [f.row for f in slow_failures]


def test_the_kernels_take_the_samples_discount_line_whole() -> None:
    """The sample's `('Sconto ' ~ (discount_code | d(''))) | truncate(40)`: on the column,
    missing codes included, no row through jinja."""
    from unittest import mock

    from bridge.steps.expr import Expression, compile_expression

    table = pa.table({"code": pa.array(["ESTATE10", None, "", "X" * 50])})
    expr = compile_expression("('Sconto ' ~ (code | d(''))) | truncate(40)",
                              table.column_names, "test")
    with mock.patch.object(Expression, "_per_row", side_effect=AssertionError("per row")):
        values, failures = expr.evaluate(table, {})
    assert values.to_pylist() == ["Sconto ESTATE10", "Sconto ", "Sconto ",
                                  ("Sconto " + "X" * 50)[:40]] and failures == []


def test_the_kernels_take_conditions_with_missing_tests_whole() -> None:
    """The sample's `codice_cliente if codice_sede else none` on rows mostly without a head
    office: computed on the column, no row through jinja."""
    from unittest import mock

    from bridge.steps.expr import Expression, compile_expression

    table = pa.table({"cliente": pa.array(["C1", "C2", None, "C4"]),
                      "sede": pa.array([None, "S1", None, ""])})
    expr = compile_expression("cliente if sede else none", table.column_names, "test")
    with mock.patch.object(Expression, "_per_row", side_effect=AssertionError("per row")):
        values, failures = expr.evaluate(table, {})
    assert values.to_pylist() == [None, "C2", None, None] and failures == []


def test_delta_sends_only_what_changed_since_the_last_send() -> None:
    steps = TypeAdapter(list[StepSpec]).validate_python(yaml.safe_load(
        "- delta: {key: [sku], fields: [price, ean]}"))
    frame = pa.table({"sku": ["A", "B", "C"], "price": pa.array(money("1.00", "2.00", "3.00"),
                                                                  DEC),
                      "ean": ["1", None, "3"]}).to_pandas(types_mapper=pd.ArrowDtype)
    first = apply_steps(steps, {"x": frame}, StepContext())
    assert len(first.tables["x"]) == 3 and set(first.fingerprints) == {"A", "B", "C"}
    memory = dict(first.fingerprints)
    changed = frame.copy()
    changed.loc[1, "price"] = Decimal("2.50")
    second = apply_steps(steps, {"x": changed}, StepContext(
        last_sent=lambda keys: {k: memory[k] for k in keys if k in memory}))
    assert second.tables["x"]["sku"].tolist() == ["B"] and second.unchanged == 2
    assert list(second.fingerprints) == ["B"]
    full = apply_steps(steps, {"x": changed}, StepContext(
        last_sent=lambda keys: memory, full=True))
    assert len(full.tables["x"]) == 3


def test_the_date_past_2037_in_a_zone_with_summer_time_goes_through_jinja() -> None:
    """Found by the property test: Arrow applies no summer time past 2037, Python does:
    2038-04-01 07:00 UTC is April 1 in Los Angeles (00:00 PDT), not March 31."""
    from bridge.steps.expr import compile_expression

    moments = [datetime(2038, 4, 1, 7, 0), datetime(2025, 7, 1, 6, 30)]
    table = pa.table({"t": pa.array(moments, pa.timestamp("us", tz="America/Los_Angeles"))})
    expr = compile_expression("t | date", table.column_names, "test")
    values, failures = expr.evaluate(table, {})
    assert values.to_pylist() == [date(2038, 4, 1), date(2025, 6, 30)] and failures == []
