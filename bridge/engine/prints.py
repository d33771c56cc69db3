"""The fingerprints and keys a file's delta step gathers, chunk after chunk, kept as Arrow text.

A delta step gives, for each chunk, the fingerprint of every key whose fields changed (a dict
of the chunk) and the keys it saw (for ``gone``). Gathered over a whole file in a dict and a
set of Python strings, they were held until the ledger recorded the file: two Python objects
and a hash slot a key. A million fingerprints shaped as the sample's price list gives them
took 176 MB so (``sys.getsizeof`` of the dict and its strings); kept as the chunks' Arrow
arrays, the bytes of the text and an offset each, 60 MB.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

#: Pairs turned back into Python strings at a time, as the ledger records them.
BATCH = 50_000


class Prints:
    """The new fingerprints of a file, by business key: a key given again (in a later
    chunk) takes the fingerprint given last, as a dict's ``update`` would."""

    def __init__(self) -> None:
        self._keys: list[pa.Array] = []
        self._prints: list[pa.Array] = []
        self._given = 0

    def update(self, prints: Mapping[str, str] | Prints) -> None:
        import pyarrow as pa

        if isinstance(prints, Prints):
            self._keys += prints._keys
            self._prints += prints._prints
            self._given += prints._given
        elif prints:
            self._keys.append(pa.array(list(prints), pa.string()))
            self._prints.append(pa.array(list(prints.values()), pa.string()))
            self._given += len(prints)

    def __len__(self) -> int:
        """The pairs given, a key given twice counted twice: at least the keys there are."""
        return self._given

    def items(self) -> Iterator[tuple[str, str]]:
        """Each key once, with its last fingerprint, a batch at a time."""
        if not self._keys:  # a flow without a delta, a file with nothing changed
            return
        keys, prints = self._last()
        for at in range(0, len(keys), BATCH):
            yield from zip(keys.slice(at, BATCH).to_pylist(),
                           prints.slice(at, BATCH).to_pylist(), strict=True)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self.items())

    def as_dict(self) -> dict[str, str]:
        return dict(self.items())

    def _last(self) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
        import numpy as np
        import pyarrow as pa

        keys = pa.chunked_array(self._keys, pa.string())
        prints = pa.chunked_array(self._prints, pa.string())
        if len(self._keys) > 1:  # each chunk's keys are its own; chunks may share some
            rows = pa.table({"key": keys, "row": pa.array(np.arange(len(keys)))})
            last = rows.group_by("key", use_threads=False).aggregate([("row", "max")])
            at = pa.array(np.sort(last.column("row_max").to_numpy()))
            keys, prints = keys.take(at), prints.take(at)
        return keys, prints


class SeenKeys:
    """The keys a delta step saw in a file (``gone``: what the file still has)."""

    def __init__(self) -> None:
        self._keys: list[pa.Array] = []

    def update(self, keys: list[str]) -> None:
        import pyarrow as pa

        if keys:
            self._keys.append(pa.array(keys, pa.string()))

    def missing(self, batches: Iterable[list[str]]) -> tuple[int, list[str]]:
        """How many keys the ``batches`` give, and those of them not seen, in their order
        (the seen keys are hashed once, for all the batches)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        given = pa.chunked_array([pa.array(b, pa.string()) for b in batches], pa.string())
        if not len(given):
            return 0, []
        seen = pc.is_in(given, value_set=pa.chunked_array(self._keys, pa.string()))
        return len(given), given.filter(pc.invert(seen)).to_pylist()
