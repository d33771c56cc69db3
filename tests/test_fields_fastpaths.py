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


def test_small_zero_padded_numbers_with_gaps_equal_the_text_path() -> None:
    """The fixed-width fast path (digits only, zero-padded) for the values an ERP file holds:
    small numbers, some cells empty, every sign style, narrow and wide fields. Seeded cases,
    because hypothesis seldom draws values this small mixed with nulls."""
    import random

    rng = random.Random(3)
    styles: list[dict[str, Any]] = [
        {}, {"sign": "overpunch"}, {"sign": "trailing"}, {"sign": "leading_separate"},
        {"sign": "trailing_separate"}, {"sign": "none"}, {"sign": "leading"},
    ]
    for _ in range(400):
        style = rng.choice(styles)
        kind = rng.choice(["decimal", "integer"])
        width = rng.choice([2, 3, 5, 8, 12, 19])
        value_scale, scale = rng.randint(0, 3), rng.randint(0, 3)
        values = [None if rng.random() < 0.2 else
                  Decimal(rng.randint(-10 ** rng.randint(0, 9), 10 ** rng.randint(0, 9)))
                  .scaleb(-value_scale) for _ in range(rng.randint(1, 8))]
        array = (pa.array(values, pa.decimal128(18, value_scale)) if kind == "decimal" else
                 pa.array([None if v is None else int(v) for v in values], pa.int64()))
        field = FieldSpec(name="x", type=kind, scale=scale, implied_decimals=True, **style)
        (fast, fast_bad), (slow, slow_bad) = _render_both(array, field, width)
        assert fast.equals(slow), (field, values, width)
        assert fast_bad.rows.tolist() == slow_bad.rows.tolist()
        assert fast_bad.codes == slow_bad.codes and fast_bad.messages == slow_bad.messages


def test_frames_handed_over_equal_pyarrows_own_conversions() -> None:
    import datetime as dt

    import numpy as np
    import pandas as pd
    import pandas.testing as pdt

    from bridge.codecs import as_frame, as_table

    table = pa.table({
        "text": pa.array(["a", None, "è"]),
        "amount": pa.array([Decimal("1.50"), None, Decimal("-2.00")], pa.decimal128(12, 2)),
        "qty": pa.array([1, None, 3], pa.int64()),
        "day": pa.array([dt.date(2026, 1, 2), None, dt.date(2026, 12, 3)]),
        "flag": pa.array([True, None, False]),
        "kind": pa.array(["x", "y", "x"]).dictionary_encode(),
        "_line": pa.chunked_array([[1, 2], [3]], pa.int64()),
    })
    frame = as_frame(table)
    pdt.assert_frame_equal(frame, table.to_pandas(types_mapper=pd.ArrowDtype))
    back = as_table(frame)
    assert back.equals(pa.Table.from_pandas(frame, preserve_index=False)
                       .replace_schema_metadata(None))
    assert back.schema.metadata is None
    # Not all Arrow columns, names that are not text: pyarrow's own conversion.
    plain = pd.DataFrame({"_": np.zeros(2, np.int8), 3: ["a", "b"]})
    assert as_table(plain).column_names == ["_", "3"]
    assert as_frame(pa.table({"a": [1], "b": [2]}).rename_columns(["a", "a"])).shape == (1, 2)
