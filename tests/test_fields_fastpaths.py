"""The shortcuts of typing and rendering give what the plain pyarrow kernels give."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.fields import render as render_mod
from bridge.fields import render_column
from bridge.spec.model import FieldSpec


def _render_both(values: pa.Array, field: FieldSpec, width: int | None) -> tuple[Any, Any]:
    fast = render_column(values, field, width)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(render_mod, "_int_digits", lambda *a: None)
        slow = render_column(values, field, width)
    return fast, slow


_styles: list[dict[str, Any]] = [
    {}, {"implied_decimals": True}, {"sign": "overpunch"}, {"sign": "trailing"},
    {"sign": "leading_separate"}, {"thousands_separator": ".", "decimal_separator": ","},
    {"sign": "none"},
]


@settings(max_examples=120, deadline=None)
@given(unscaled=st.lists(st.one_of(st.none(), st.integers(-10**17, 10**17)), min_size=1,
                         max_size=12),
       value_scale=st.integers(0, 4), scale=st.integers(0, 3),
       precision=st.sampled_from([18, 38]), style=st.sampled_from(range(len(_styles))),
       width=st.sampled_from([None, 8, 22]))
def test_number_rendering_by_int64_equals_the_text_path(
        unscaled: list[int | None], value_scale: int, scale: int, precision: int,
        style: int, width: int | None) -> None:
    values = pa.array([None if u is None else Decimal(u).scaleb(-value_scale)
                       for u in unscaled], pa.decimal128(precision, value_scale))
    spec: dict[str, Any] = {"name": "x", "type": "decimal", "scale": scale, **_styles[style]}
    if width:
        spec.update(align="right", pad="0")
    field = FieldSpec(**spec)
    (fast, fast_bad), (slow, slow_bad) = _render_both(values, field, width)
    assert fast.equals(slow)
    assert fast_bad.rows.tolist() == slow_bad.rows.tolist()
    assert fast_bad.codes == slow_bad.codes
    assert fast_bad.messages == slow_bad.messages


def test_integers_and_values_too_wide_for_int64() -> None:
    ints = pa.array([0, -5, None, 2**62], pa.int64())
    field = FieldSpec(name="n", type="integer", align="right", pad="0")
    (fast, _), (slow, _) = _render_both(ints, field, 20)
    assert fast.equals(slow)
    assert fast.to_pylist()[:2] == ["0" * 20, "-" + "0" * 18 + "5"]
    wide = pa.array([Decimal(10) ** 30, Decimal("-1.5")], pa.decimal128(38, 1))
    out, bad = render_column(wide, FieldSpec(name="d", type="decimal", scale=1))
    assert out.to_pylist() == ["1" + "0" * 30 + ".0", "-1.5"]
    assert not bad
