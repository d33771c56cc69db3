"""Reference tables made ready for lookups once, not once per file or chunk.

A pass reads each reference table once (``bridge.engine.tables.reference``); a lookup used
to turn it into Arrow and build its keys (trimmed, joined, lower-cased) again for every file
and chunk, and to hash them again in ``index_in``: about 3 ms a lookup with a catalogue of
20,000 articles, so seconds for a pass of a few thousand small order files. Here the Arrow
table and the keys of each way of matching are kept beside the table they came from; a file
of a few rows is matched through a dict of the keys, made once; a chunk as large as the
reference or larger, through ``index_in`` as before. Both give the first row of the
reference with the key, or -1 (a null matches nothing).

The few-values way is a dict of the keys to their first rows up to :data:`DICT_KEYS` keys
(quickest: about 2 microseconds a question). Past that it is the keys' hashes, sorted, with
the row of each (8 bytes each, twice): with a master of a million articles the dict took
about 120 MB (a Python string and an int a key). A value's hash is searched for, and the
key at the row found is compared with the value, so two keys of one hash still find their
own rows; about 15 microseconds a question of a few values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.steps.work import Column

if TYPE_CHECKING:
    import pandas as pd

#: Reference tables kept ready, by the id of the table read (held, so the id stays its own):
#: a pass has a few; a table read again (its file changed) is a new entry, the oldest go.
_READY: dict[int, tuple[pd.DataFrame, Prepared]] = {}
MAX_READY = 16

_hash = hash  # a key's hash (tests make them collide)


class Prepared:
    """One reference table as Arrow, with the keys of each way it is matched on."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self._keys: dict[tuple[tuple[str, ...], bool, bool], RefKeys] = {}

    def keys(self, columns: list[str], loose: bool, ignore_case: bool) -> RefKeys:
        spec = (tuple(columns), loose, ignore_case)
        if spec not in self._keys:
            self._keys[spec] = RefKeys(key_of(self.table, columns, loose), ignore_case)
        return self._keys[spec]


class RefKeys:
    """The key of every row of a reference table, ready to be matched."""

    def __init__(self, keys: Column, ignore_case: bool) -> None:
        self.keys = keys
        self.ignore_case = ignore_case
        self.folded = _fold(keys, ignore_case)
        self._index: FirstRows | HashedKeys | None = None
        self._differing: dict[tuple[str, ...], np.ndarray] = {}

    def differing(self, table: pa.Table, columns: tuple[str, ...]) -> np.ndarray:
        """For each row of the reference ``table``: whether it is the first of a key that
        other rows share with other values in ``columns`` (an article twice in the master,
        at two VAT rates); made once per way of matching and columns taken."""
        if columns not in self._differing:
            first = self.positions(self.keys)  # each row: its key's first row (-1: no key)
            has = first >= 0
            at = pa.array(np.where(has, first, 0))
            other = np.zeros(len(first), dtype=bool)
            for name in columns:
                col = table.column(name)
                base = pc.take(col, at)
                same = pc.or_kleene(pc.equal(col, base),
                                    pc.and_(pc.is_null(col), pc.is_null(base)))
                other |= ~_numpy(pc.fill_null(same, False))
            found = np.zeros(len(first), dtype=bool)
            found[first[has & other]] = True
            self._differing[columns] = found
        return self._differing[columns]

    def positions(self, values: Column) -> np.ndarray:
        """The row of the reference whose key equals each value (the first such row), or
        -1; a dict or the hashed keys for a few values of text, ``index_in`` for many."""
        keys = self.folded
        if values.type != self.keys.type:
            values, keys = pc.cast(values, pa.string()), _fold(
                pc.cast(self.keys, pa.string()), self.ignore_case)
        values = _fold(values, self.ignore_case)
        if pa.types.is_string(values.type) and keys is self.folded and \
                2 * len(values) < len(keys):
            return self._few_values().positions(values)
        at = pc.index_in(values, value_set=keys, skip_nulls=True)
        return np.asarray(pc.fill_null(at, -1).to_numpy(zero_copy_only=False), dtype=np.int64)

    def _few_values(self) -> FirstRows | HashedKeys:
        """How a few values find their rows: made once, on the first question."""
        if self._index is None:
            self._index = (FirstRows(self.folded) if len(self.folded) <= DICT_KEYS else
                           HashedKeys(self.folded))
        return self._index


#: Keys of a reference up to which a few values are matched through a dict (about 120 bytes
#: a key, 12 MB at this many), past which through the keys' hashes sorted (16 bytes a key).
DICT_KEYS = 100_000


class FirstRows:
    """The first row of each key of a column of text, in a dict."""

    def __init__(self, keys: Column) -> None:
        first: dict[str, int] = {}
        for row, key in enumerate(keys.to_pylist()):
            if key is not None:
                first.setdefault(key, row)
        self.first = first

    def positions(self, values: Column) -> np.ndarray:
        first = self.first
        return np.fromiter((-1 if v is None else first.get(v, -1) for v in values.to_pylist()),
                           np.int64, len(values))


class HashedKeys:
    """The rows of a column of text found by the hash of their key: the hashes sorted
    (stable, so equal hashes keep their rows in order) and the row of each."""

    BATCH = 65_536  # keys turned into Python strings at a time, while hashing

    def __init__(self, keys: Column) -> None:
        self.keys = keys
        hashes = np.concatenate([_hashes(keys.slice(at, self.BATCH))
                                 for at in range(0, len(keys), self.BATCH)] or
                                [np.empty(0, np.int64)])
        rows = np.flatnonzero(_numpy(pc.is_valid(keys)))  # a null key matches nothing
        hashes = hashes[rows]
        order = np.argsort(hashes, kind="stable")
        self.hashes, self.rows = hashes[order], rows[order]

    def __reduce__(self) -> tuple[type[HashedKeys], tuple[Column]]:
        return HashedKeys, (self.keys,)  # str hashes differ between processes: made again

    def positions(self, values: Column) -> np.ndarray:
        """The first row whose key equals each value, or -1."""
        texts = values.to_pylist()
        wanted = np.fromiter((0 if v is None else _hash(v) for v in texts), np.int64, len(texts))
        low = np.searchsorted(self.hashes, wanted, "left").tolist()
        high = np.searchsorted(self.hashes, wanted, "right").tolist()
        if len(texts) <= FEW:  # each compared here: quicker than four Arrow calls
            return np.fromiter((-1 if v is None else self._first(v, lo, hi)
                                for v, lo, hi in zip(texts, low, high, strict=True)),
                               np.int64, len(texts))
        if not len(self.rows):
            return np.full(len(texts), -1, np.int64)
        found = np.where(np.less(low, high), self.rows[np.minimum(low, len(self.rows) - 1)], -1)
        found[_numpy(pc.is_null(values))] = -1
        if not (found >= 0).any():
            return found
        candidate = pc.take(self.keys, pa.array(np.maximum(found, 0)))
        same = _numpy(pc.fill_null(pc.equal(candidate, values), False))
        for i in np.flatnonzero((found >= 0) & ~same).tolist():
            # another key of the same hash came first: the first row of the run that has it
            found[i] = self._first(texts[i], low[i] + 1, high[i])
        return found

    def _first(self, value: str, low: int, high: int) -> int:
        """The first of the rows ``low:high`` of the sorted hashes whose key is ``value``."""
        return next((r for r in self.rows[low:high].tolist()
                     if self.keys[r].as_py() == value), -1)


#: Values matched one by one in Python rather than through Arrow's take and compare.
FEW = 64


def _hashes(keys: Column) -> np.ndarray:
    return np.fromiter((0 if k is None else _hash(k) for k in keys.to_pylist()), np.int64,
                       len(keys))


def prepared(frame: pd.DataFrame) -> Prepared:
    """The reference table ``frame`` made ready: once for as long as it is the one read."""
    got = _READY.get(id(frame))
    if got is None or got[0] is not frame:
        while len(_READY) >= MAX_READY:
            del _READY[next(iter(_READY))]
        got = (frame, Prepared(pa.Table.from_pandas(frame, preserve_index=False)))
        _READY[id(frame)] = got
    return got[1]


def key_of(table: pa.Table, fields: list[str], loose: bool) -> Column:
    """The column a key is matched on: the field itself, or several joined (null when any
    is null); ``loose``: text trimmed and its runs of spaces made one."""
    if len(fields) == 1 and not loose:
        return table.column(fields[0])
    parts = [pc.cast(table.column(f), pa.string()) for f in fields]
    if loose:
        parts = [pc.replace_substring_regex(pc.utf8_trim_whitespace(p), r"\s+", " ")
                 for p in parts]
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")


def _numpy(values: Column) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False))


def _fold(values: Column, ignore_case: bool) -> Column:
    if ignore_case and pa.types.is_string(values.type):
        return pc.utf8_lower(values)
    return values
