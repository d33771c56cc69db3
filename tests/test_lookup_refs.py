"""Reference tables made ready once (``bridge.steps.refs``): a few values are matched
through the keys' hashes sorted once, many through ``index_in``; both find the same rows,
whatever the hashes (two keys of one hash each find their own row)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from bridge.steps import refs
from bridge.steps.refs import HashedKeys, RefKeys, key_of, prepared

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


@pytest.fixture(params=["dict", "hashes"])
def way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """A few values matched through a dict (a small reference) or the sorted hashes."""
    monkeypatch.setattr(refs, "DICT_KEYS", 10**9 if request.param == "dict" else 0)
    return str(request.param)


@pytest.mark.parametrize("fold", [False, True], ids=["exact", "ignore-case"])
@pytest.mark.parametrize("values", [VALUES, [7, None, 8], ["SKU-2"]],
                         ids=["text", "numbers-against-text", "one"])
def test_a_few_values_and_many_find_the_same_rows(values: list[object], fold: bool,
                                                  way: str) -> None:
    ref = RefKeys(pa.array(KEYS, pa.string()), fold)
    again = values * (len(KEYS) // len(values) + 1)
    assert len(values) * 2 < len(KEYS) <= 2 * len(again)  # the hashes, then index_in
    few = ref.positions(pa.array(values))
    many = ref.positions(pa.chunked_array([pa.array(again)]))
    assert few.tolist() == oracle(values, KEYS, fold)
    assert many.tolist() == oracle(again, KEYS, fold)
    assert few.dtype == many.dtype == np.int64
    assert isinstance(ref._few_values(), refs.FirstRows if way == "dict" else HashedKeys)


def test_the_first_row_with_a_key_is_found_and_a_null_matches_nothing(way: str) -> None:
    ref = RefKeys(pa.array(KEYS, pa.string()), True)
    assert ref.positions(pa.array(["sku-1", None, "", "èlite"])).tolist() == [0, -1, 6, 7]


@pytest.mark.parametrize("coarse", [lambda s: len(s) % 3, lambda s: 0, lambda s: -len(s)],
                         ids=["three-hashes", "one-hash", "negative"])
@pytest.mark.parametrize("fold", [False, True], ids=["exact", "ignore-case"])
def test_keys_of_one_hash_each_find_their_own_first_row(
        monkeypatch: pytest.MonkeyPatch, coarse: object, fold: bool) -> None:
    monkeypatch.setattr(refs, "DICT_KEYS", 0)
    monkeypatch.setattr(refs, "_hash", coarse)  # every key shares its hash with others
    ref = RefKeys(pa.chunked_array([pa.array(KEYS[:7], pa.string()),
                                    pa.array(KEYS[7:], pa.string())]), fold)
    values = [*VALUES, "F29", "F3", "f3", "F30"]
    assert ref.positions(pa.array(values)).tolist() == oracle(values, KEYS, fold)


@pytest.mark.parametrize("few", [0, refs.FEW, 10**6], ids=["arrow", "default", "python"])
def test_more_values_than_a_few_and_a_few_find_the_same_rows(
        monkeypatch: pytest.MonkeyPatch, few: int) -> None:
    """Past FEW values the hashed keys compare the rows found in Arrow; up to it, in Python;
    both with keys sharing hashes (a coarse hash), keys repeated, and empty keys (of the
    hash a null value is given)."""
    monkeypatch.setattr(refs, "FEW", few)
    monkeypatch.setattr(refs, "_hash", lambda s: len(s) % 5)
    keys = [None if i % 97 == 0 else "" if i % 89 == 0 else f"k{i % 700}" for i in range(1000)]
    values = [None if i % 31 == 0 else f"k{(i * 7) % 900}" for i in range(200)]
    index = HashedKeys(pa.array(keys, pa.string()))
    expected = oracle(values, keys, False)
    assert index.positions(pa.array(values, pa.string())).tolist() == expected
    chunked = pa.chunked_array([pa.array(values[:77], pa.string()),  # a table's column
                                pa.array(values[77:], pa.string())])
    assert index.positions(chunked).tolist() == expected


MADE_THERE = """
import pickle, sys
import pyarrow as pa
from bridge.steps.refs import HashedKeys
if sys.argv[1] == "make":
    sys.stdout.buffer.write(pickle.dumps(HashedKeys(pa.array(["b", None, "a", "b"]))))
else:
    index = pickle.loads(sys.stdin.buffer.read())
    print(index.positions(pa.array(["b", "a", None, "c"])).tolist())
"""


def test_hashed_keys_are_made_again_in_a_process_of_other_hashes() -> None:
    def child(seed: str, role: str, given: bytes = b"") -> bytes:
        return subprocess.run([sys.executable, "-c", MADE_THERE, role], input=given,
                              env={**os.environ, "PYTHONHASHSEED": seed},
                              capture_output=True, check=True, timeout=60).stdout

    assert child("2", "find", child("1", "make")).decode().strip() == "[0, 2, -1, -1]"


def test_hashed_keys_of_nothing_find_nothing() -> None:
    assert HashedKeys(pa.array([], pa.string())).positions(pa.array(["a"])).tolist() == [-1]
    assert HashedKeys(pa.array([None], pa.string())).positions(
        pa.array(["a", None])).tolist() == [-1, -1]


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
