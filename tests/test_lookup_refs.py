"""Reference tables made ready once (``bridge.steps.refs``): a few values are matched
through a dict made once, many through ``index_in``; both find the same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bridge.steps.refs import RefKeys, key_of, prepared

KEYS = ["SKU-1", "sku-1", None, "Perù ", "SKU-2", "SKU-1", "", "ÈLITE", "a\x1fb", "7",
        *(f"F{i}" for i in range(30))]
VALUES = ["SKU-1", "sku-1", None, "perù ", "nope", "", "èlite", "SKU-2", "ÈLITE", "7",
          "Perù "]


def oracle(values: list[object], keys: list[str | None], fold: bool) -> list[int]:
    """What the lookup found before: index_in over the whole reference, each time."""
    v, k = pa.array(values), pa.array(keys, pa.string())
    if v.type != k.type:
        v = pc.cast(v, pa.string())
    if fold:
        v, k = pc.utf8_lower(v), pc.utf8_lower(k)
    return pc.fill_null(pc.index_in(v, value_set=k, skip_nulls=True), -1).to_pylist()


@pytest.mark.parametrize("fold", [False, True], ids=["exact", "ignore-case"])
@pytest.mark.parametrize("values", [VALUES, [7, None, 8], ["SKU-2"]],
                         ids=["text", "numbers-against-text", "one"])
def test_a_few_values_and_many_find_the_same_rows(values: list[object], fold: bool) -> None:
    ref = RefKeys(pa.array(KEYS, pa.string()), fold)
    again = values * (len(KEYS) // len(values) + 1)
    assert len(values) * 2 < len(KEYS) <= 2 * len(again)  # the dict, then index_in
    few = ref.positions(pa.array(values))
    many = ref.positions(pa.chunked_array([pa.array(again)]))
    assert few.tolist() == oracle(values, KEYS, fold)
    assert many.tolist() == oracle(again, KEYS, fold)
    assert few.dtype == many.dtype == np.int64


def test_the_first_row_with_a_key_is_found_and_a_null_matches_nothing() -> None:
    ref = RefKeys(pa.array(KEYS, pa.string()), True)
    assert ref.positions(pa.array(["sku-1", None, "", "èlite"])).tolist() == [0, -1, 6, 7]


def test_a_reference_is_made_ready_once_for_as_long_as_it_is_the_one_read() -> None:
    frame = pd.DataFrame({"codice": pd.array(["A", "B"], dtype=pd.ArrowDtype(pa.string())),
                          "iva": pd.array(["22", "4"], dtype=pd.ArrowDtype(pa.string()))})
    ready = prepared(frame)
    assert prepared(frame) is ready  # a second file, a second chunk: the same
    keys = ready.keys(["codice"], True, True)
    assert ready.keys(["codice"], True, True) is keys
    assert ready.keys(["codice"], False, False) is not keys
    assert ready.table.column_names == ["codice", "iva"]
    read_again = frame.copy()  # its file changed: read again, made ready again
    assert prepared(read_again) is not ready
    assert prepared(read_again).table.equals(ready.table)


def test_keys_of_several_fields_are_joined_and_trimmed_when_loose() -> None:
    table = pa.table({"cap": ["20121", None, " 00100"], "via": ["Via  Roma 1 ", "x", "Via Po"]})
    assert key_of(table, ["cap", "via"], True).to_pylist() == [
        "20121\x1fVia Roma 1", None, "00100\x1fVia Po"]
    assert key_of(table, ["via"], False).to_pylist() == ["Via  Roma 1 ", "x", "Via Po"]
