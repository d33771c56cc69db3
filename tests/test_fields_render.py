"""Rendering typed values back to text, and render-then-parse round trips."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.fields import BadCells, arrow_type, parse_column, render_column
from bridge.fields.dates import strftime
from bridge.fields.numbers import PUNCH_NEGATIVE, PUNCH_POSITIVE
from bridge.spec.model import FieldSpec

D = Decimal
IT = {"type": "decimal", "decimal_separator": ",", "thousands_separator": "."}
ROME = "Europe/Rome"


def spec(**kw: Any) -> FieldSpec:
    return FieldSpec(name="f", **kw)


def render(cells: list[Any], typ: pa.DataType | None = None, width: int | None = None,
           **kw: Any) -> tuple[list[str], BadCells]:
    field = spec(**kw)
    arr = pa.array(cells, typ or arrow_type(field))
    text, bad = render_column(arr, field, width)
    assert text.type == pa.string()
    assert text.null_count == 0
    return text.to_pylist(), bad


# --- numbers ---------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "kw", "width", "want"), [
    (D("1234.56"), IT, None, "1.234,56"),
    (D("-0.5"), IT, None, "-0,50"),
    (D("1234567.8"), IT, None, "1.234.567,80"),
    (D("123"), IT, None, "123,00"),
    (D("0"), IT, None, "0,00"),
    (D("-12.5"), {**IT, "sign": "trailing"}, None, "12,50-"),
    (D("12.5"), {**IT, "sign": "trailing"}, None, "12,50"),
    (D("12.5"), {"type": "decimal", "sign": "leading_separate"}, None, "+12.50"),
    (D("-12.5"), {"type": "decimal", "sign": "trailing_separate"}, None, "12.50-"),
    (D("12.5"), {"type": "decimal", "sign": "trailing_separate"}, None, "12.50+"),
    (D("1234"), {"type": "decimal", "scale": 0, "thousands_separator": "'"}, None, "1'234"),
    (D("12.34"), {"type": "decimal", "implied_decimals": True}, None, "1234"),
    (D("0.05"), {"type": "decimal", "implied_decimals": True}, None, "5"),
    (D("12.34"), {"type": "decimal", "implied_decimals": True}, 7, "0001234"),
    (D("-12.34"), {"type": "decimal", "implied_decimals": True}, 8, "-0001234"),
    (D("-12.34"), {"type": "decimal", "implied_decimals": True, "sign": "trailing"}, 8,
     "0001234-"),
    (D("-100"), {"type": "decimal", "implied_decimals": True, "sign": "overpunch"}, 7,
     "001000}"),
    (D("123.45"), {"type": "decimal", "implied_decimals": True, "sign": "overpunch"}, None,
     "1234E"),
    (D("12.5"), {"type": "decimal", "sign": "leading_separate"}, 8, "+0012.50"),
    (D("-12.5"), {"type": "decimal", "pad": " "}, 8, "  -12.50"),
    (D("-12.5"), {"type": "decimal", "pad": " ", "align": "left"}, 8, "-12.50  "),
    (D("-12.5"), {"type": "decimal", "sign": "none"}, None, "below-minimum"),
    (D("123456.78"), {"type": "decimal"}, 6, "too-long"),
])
def test_decimal(value: Decimal, kw: dict[str, Any], width: int | None, want: str) -> None:
    text, bad = render([value], width=width, **kw)
    if want in ("too-many-decimals", "below-minimum", "too-long"):
        assert bad.codes == [want]
        if width is not None:
            assert len(text[0]) == width
    else:
        assert not bad
        assert text == [want]


@pytest.mark.parametrize("digit", range(10))
def test_overpunch_table(digit: int) -> None:
    field: dict[str, Any] = {"type": "decimal", "implied_decimals": True, "sign": "overpunch"}
    magnitude = D(120 + digit) / 100
    text, _ = render([magnitude, -magnitude], **field)
    assert text == ["12" + PUNCH_POSITIVE[digit], "12" + PUNCH_NEGATIVE[digit]]


def test_sums_are_exact() -> None:
    a = pa.array([D("0.1")], pa.decimal128(18, 2))
    b = pa.array([D("0.2")], pa.decimal128(18, 2))
    text, bad = render_column(pc.add(a, b), spec(type="decimal"))
    assert text.to_pylist() == ["0.30"] and not bad


def test_more_decimals_than_the_scale() -> None:
    values = pa.array([D("1.230"), D("1.005"), D("-2.000")], pa.decimal128(10, 3))
    text, bad = render_column(values, spec(type="decimal"))
    assert text.to_pylist()[0::2] == ["1.23", "-2.00"]
    assert bad.codes == ["too-many-decimals"] and bad.rows.tolist() == [1]
    assert bad.values == ["1.005"]


@pytest.mark.parametrize(("values", "kw", "want"), [
    # pyarrow writes these as "1E-8" and "0E-10"; the digits must stay plain
    (pa.array([D("0.00000001"), D("-0.00000001")], pa.decimal128(18, 8)),
     {"scale": 8, "decimal_separator": ","}, ["0,00000001", "-0,00000001"]),
    (pa.array([D("0")], pa.decimal128(18, 10)), {"scale": 10}, ["0.0000000000"]),
    (pa.array([D("1E+3")], pa.decimal128(5, -2)), {}, ["1000.00"]),
    (pa.array([D("1.5")], pa.decimal256(40, 1)), {}, ["1.50"]),
    (pa.array([D("12345678901234567890123.45")], pa.decimal128(38, 2)), {},
     ["12345678901234567890123.45"]),
])
def test_any_decimal_type(values: pa.Array, kw: dict[str, Any], want: list[str]) -> None:
    text, bad = render_column(values, spec(type="decimal", **kw))
    assert text.to_pylist() == want and not bad


def test_integer_values_in_a_decimal_field_and_back() -> None:
    text, bad = render([7, -3], pa.int64(), type="decimal", decimal_separator=",")
    assert text == ["7,00", "-3,00"] and not bad
    text, bad = render([D("7.00"), D("7.50")], pa.decimal128(5, 2), type="integer")
    assert text[0] == "7" and bad.codes == ["too-many-decimals"]


@pytest.mark.parametrize(("value", "kw", "width", "want"), [
    (1234567, {"thousands_separator": ".", "decimal_separator": ","}, None, "1.234.567"),
    (-1234, {"thousands_separator": "'"}, None, "-1'234"),
    (123, {"thousands_separator": "'"}, None, "123"),
    (184, {}, 5, "00184"),
    (-184, {}, 6, "-00184"),
    (-184, {"sign": "trailing"}, 6, "00184-"),
    (-184, {"sign": "overpunch"}, 6, "00018M"),
    (9223372036854775807, {}, None, "9223372036854775807"),
])
def test_integer(value: int, kw: dict[str, Any], width: int | None, want: str) -> None:
    text, bad = render([value], width=width, type="integer", **kw)
    assert (text, bad.codes) == ([want], [])


def test_unsigned_integers() -> None:
    text, _ = render_column(pa.array([2**64 - 1], pa.uint64()), spec(type="integer"))
    assert text.to_pylist() == ["18446744073709551615"]


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError, match="never a float"):
        render_column(pa.array([0.1]), spec(type="decimal"))


# --- nulls, widths, strings ------------------------------------------------------------

def test_nulls_render_empty_or_padded() -> None:
    assert render([None], type="decimal")[0] == [""]
    assert render([None], type="decimal", width=5)[0] == ["00000"]
    assert render([None], width=4)[0] == ["    "]
    text, bad = render([None, "a"], required=True)
    assert text == ["", "a"]
    assert bad.codes == ["missing-required"] and bad.rows.tolist() == [0]


def test_too_long_is_cut_to_width() -> None:
    text, bad = render(["Via Roma 1", "Via"], width=5)
    assert text == ["Via R", "Via  "]
    assert bad.codes == ["too-long"] and bad.values == ["Via Roma 1"]


def test_strings() -> None:
    assert render(["00184"], width=7)[0] == ["00184  "]
    assert render(["Roma"], case="upper")[0] == ["ROMA"]
    assert render(["ab"], width=4, pad="*", align="right")[0] == ["**ab"]
    text, bad = render(["D", None, "X"], type="constant", value="D")
    assert text == ["D", "D", "X"] and bad.codes == ["bad-constant"]
    text, bad = render(["MI", "XX", None], type="enum", values=["MI"])
    assert text == ["MI", "XX", ""] and bad.codes == ["not-in-enum"]


def test_filler_is_refused() -> None:
    with pytest.raises(ValueError, match="filler"):
        render_column(pa.array(["x"]), spec(type="filler"))


def test_chunked_input() -> None:
    text, _ = render_column(pa.chunked_array([[1], [2]]), spec(type="integer"))
    assert text.to_pylist() == ["1", "2"]


# --- dates and booleans ----------------------------------------------------------------

def test_dates_and_times() -> None:
    day = dt.date(2025, 10, 7)
    assert render([day, None], type="date", format="%d/%m/%Y")[0] == ["07/10/2025", ""]
    assert render([day], type="date", format="%Y%m%d", width=8)[0] == ["20251007"]
    assert render([dt.time(9, 5)], type="time", format="%H:%M")[0] == ["09:05"]
    moment = dt.datetime(2025, 10, 7, 7, 50, 26)
    naive = render([moment], type="datetime", format="%Y-%m-%d %H:%M:%S")[0]
    assert naive == ["2025-10-07 07:50:26"]
    utc = pa.array([moment], pa.timestamp("s", "UTC"))
    text, _ = render_column(utc, spec(type="datetime", format="%Y-%m-%d %H:%M:%S %z",
                                      timezone=ROME))
    assert text.to_pylist() == ["2025-10-07 09:50:26 +0200"]
    text, _ = render_column(utc, spec(type="datetime", format="%d/%m/%Y %H:%M"))
    assert text.to_pylist() == ["07/10/2025 07:50"]
    millis = pa.array([moment], pa.timestamp("ms"))
    text, _ = render_column(millis, spec(type="datetime", format="%Y-%m-%d %H:%M:%S %z"))
    assert text.to_pylist() == ["2025-10-07 07:50:26 +0000"]


def test_booleans_use_the_first_words() -> None:
    text, _ = render([True, False, None], type="boolean", true_values=["S", "SI"],
                     false_values=["N"])
    assert text == ["S", "N", ""]


# --- round trips -----------------------------------------------------------------------

SIGNS = ["none", "leading", "trailing", "leading_separate", "trailing_separate", "overpunch"]


@st.composite
def number_fields(draw: st.DrawFn, kind: str) -> FieldSpec:
    sign = draw(st.sampled_from(SIGNS))
    implied = kind == "decimal" and sign in ("none", "leading", "trailing", "overpunch") and \
        draw(st.booleans())
    dec = draw(st.sampled_from([".", ","]))
    thousands = None
    if not implied and sign != "overpunch":
        thousands = draw(st.sampled_from([None, "'", " ", "." if dec == "," else ","]))
    return spec(type=kind, scale=draw(st.integers(0, 12)), sign=sign, implied_decimals=implied,
                decimal_separator=dec, thousands_separator=thousands)


def check_round_trip(values: pa.Array, field: FieldSpec, width: int | None) -> None:
    text, bad = render_column(values, field, width)
    assert not bad, bad.messages
    if width is not None:
        assert set(pc.utf8_length(text).to_pylist()) <= {width}
    back, bad = parse_column(text, field)
    assert not bad, (text.to_pylist(), bad.messages)
    assert back.to_pylist() == values.to_pylist()


FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(field=number_fields("integer"), data=st.data(), wide=st.booleans())
def test_integer_round_trip(field: FieldSpec, data: st.DataObject, wide: bool) -> None:
    low = 0 if field.sign == "none" else -(10**18)
    width = 30 if wide and field.thousands_separator is None else None
    # A null in a zero-padded field is written as zeros, so nulls only without a width.
    cell = st.integers(low, 10**18)
    ints = data.draw(st.lists(cell if width else st.one_of(st.none(), cell), max_size=12))
    check_round_trip(pa.array(ints, pa.int64()), field, width)


@FAST
@given(field=number_fields("decimal"), data=st.data(), wide=st.booleans())
def test_decimal_round_trip(field: FieldSpec, data: st.DataObject, wide: bool) -> None:
    bound = D(10) ** (18 - field.scale) - 1
    low = 0 if field.sign == "none" else -bound
    width = 30 if wide and field.thousands_separator is None else None
    cell = st.integers(int(low), int(bound))
    units = data.draw(st.lists(cell if width else st.one_of(st.none(), cell), max_size=12))
    values = pa.array([None if u is None else D(u).scaleb(-field.scale) for u in units],
                      pa.decimal128(18, field.scale))
    check_round_trip(values, field, width)


@FAST
@given(days=st.lists(st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31)), max_size=12),
       fmt=st.sampled_from(["%d/%m/%Y", "%Y%m%d", "%Y-%m-%d", "%d.%m.%Y"]))
def test_date_round_trip(days: list[dt.date], fmt: str) -> None:
    check_round_trip(pa.array(days, pa.date32()), spec(type="date", format=fmt), None)


@FAST
@given(moments=st.lists(st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 1, 1)),
                        max_size=12),
       fmt=st.sampled_from(["%Y-%m-%d %H:%M:%S %z", "%d/%m/%Y %H:%M:%S %z"]),
       zone=st.sampled_from([None, ROME, "America/New_York"]))
def test_datetime_round_trip(moments: list[dt.datetime], fmt: str, zone: str | None) -> None:
    field = spec(type="datetime", format=fmt, timezone=zone)
    values = pa.array([m.replace(microsecond=0) for m in moments], pa.timestamp("s", "UTC"))
    check_round_trip(values.cast(arrow_type(field)), field, None)


@FAST
@given(flags=st.lists(st.one_of(st.none(), st.booleans()), max_size=12),
       words=st.sampled_from([(["S"], ["N"]), (["Y"], ["N"]), (["1"], ["0"]),
                              (["true"], ["false"])]))
def test_boolean_round_trip(flags: list[bool | None], words: tuple[list[str], list[str]]) -> None:
    field = spec(type="boolean", true_values=words[0], false_values=words[1])
    check_round_trip(pa.array(flags, pa.bool_()), field, None)


@pytest.mark.parametrize("kw", [
    {"type": "string"}, {"type": "integer"}, {"type": "decimal", "sign": "overpunch"},
    {"type": "date", "format": "%d/%m/%Y"}, {"type": "time", "format": "%H:%M"},
    {"type": "datetime", "format": "%Y-%m-%d %H:%M:%S %z", "timezone": ROME},
    {"type": "boolean"}, {"type": "enum", "values": ["A"]}, {"type": "constant", "value": "A"},
    {"type": "ean13"},
])
@pytest.mark.parametrize("size", [0, 2])
def test_empty_and_null_columns(kw: dict[str, Any], size: int) -> None:
    field = spec(**kw)
    text, bad = render_column(pa.nulls(size, arrow_type(field)), field, 3)
    want = "A  " if field.type == "constant" else 3 * field.out_pad
    assert text.to_pylist() == [want] * size
    assert not bad


@FAST
@given(moments=st.lists(st.one_of(st.none(), st.datetimes(dt.datetime(1, 1, 1))), max_size=12),
       fmt=st.sampled_from(["%d/%m/%Y", "%Y%m%d", "%y-%m-%d %H:%M:%S", "%H%M%S", "T%d.%m.",
                            "%%d %Y"]))
def test_fast_strftime_matches_pyarrow(moments: list[dt.datetime | None], fmt: str) -> None:
    values = pa.array(moments, pa.timestamp("s"))
    assert strftime(values, fmt).to_pylist() == pc.strftime(values, format=fmt).to_pylist()
