"""KeysOnce: the keys of a file read in chunks, in memory that grows by a few bytes a key.

The memory it holds is most of what a chunked run keeps that grows with the file (a 3M-row
export's orders): these tests hold it to its bytes a key, and show that narrowing the lines
loses nothing (a line past 32 bits, parts of mixed widths, the first line of a key)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bridge.once import KeysOnce


def _held(keys: KeysOnce) -> int:
    return sum(h.nbytes + lines.nbytes for runs in keys.seen.values() for h, lines in runs)


def _texts(start: int, n: int) -> np.ndarray:
    return np.array([f"#{i}" for i in range(start, start + n)], dtype=object)


def test_keys_with_lines_take_twelve_bytes_each() -> None:
    keys = KeysOnce()
    for part in range(4):
        text = _texts(part * 25_000, 25_000)
        lines = np.arange(part * 25_000, (part + 1) * 25_000, dtype=np.int64) + 2
        keys.again("numero", text, lines)
        keys.keep()
    assert len(keys) == 100_000
    assert _held(keys) == 100_000 * 12


def test_keys_without_lines_take_nine_bytes_each() -> None:
    keys = KeysOnce()
    for part in range(4):
        keys.again("sent", _texts(part * 25_000, 25_000), np.full(25_000, -1, dtype=np.int8))
        keys.keep()
    assert _held(keys) == 100_000 * 9
    hashes = pd.util.hash_array(np.array(["#5", "#99999", "#100000"], dtype=object),
                                categorize=False)
    assert keys.taken("sent", hashes).tolist() == [True, True, False]


def test_first_lines_survive_narrowing_and_widening() -> None:
    keys = KeysOnce()
    keys.again("k", np.array(["a", "b"], dtype=object), np.array([2, 3], dtype=np.int64))
    keys.keep()
    big = 3_000_000_000  # past 32 bits: kept in 64, and the keys before with it
    keys.again("k", np.array(["c", "d"], dtype=object), np.array([big, big + 1]))
    keys.keep()
    assert [lines.dtype for _, lines in keys.seen["k"]] == [np.int64]
    rows, first = keys.again("k", np.array(["x", "d", "a", "c", "d"], dtype=object),
                             np.array([big + 5, big + 6, big + 7, big + 8, big + 9]))
    assert rows.tolist() == [1, 2, 3, 4]
    assert first.tolist() == [big + 1, 2, big, big + 1]
    assert first.dtype == np.int64


def test_a_key_twice_in_one_part_names_its_first_line() -> None:
    keys = KeysOnce()
    rows, first = keys.again("k", np.array(["a", "b", "a", None, None], dtype=object),
                             np.array([10, 11, 12, 13, 14]))
    assert rows.tolist() == [2]
    assert first.tolist() == [10]


def test_keys_are_found_in_every_run_kept_apart() -> None:
    """Parts of 8, 4, 2 and 1 keys stay four sorted runs (a run is merged with the one
    before only once it is as large): a key of each is found, with the line that gave it,
    and asked by ``taken``; a part as large as the run before is merged into it."""
    keys = KeysOnce()
    start = 0
    for size in (8, 4, 2, 1):
        keys.again("k", _texts(start, size), np.arange(start, start + size) + 100)
        keys.keep()
        start += size
    assert [len(h) for h, _ in keys.seen["k"]] == [8, 4, 2, 1]
    asked = np.array(["#0", "#9", "#13", "#14", "#15"], dtype=object)
    rows, first = keys.again("k", asked, np.arange(5) + 1000)
    assert rows.tolist() == [0, 1, 2, 3] and first.tolist() == [100, 109, 113, 114]
    hashes = pd.util.hash_array(asked, categorize=False)
    assert keys.taken("k", hashes).tolist() == [True, True, True, True, False]
    keys.keep()  # "#15", new, is taken: its run of 1 merges with every run, one by one
    assert [len(h) for h, _ in keys.seen["k"]] == [16]
    assert len(keys) == 16 and _held(keys) == 16 * 12
