"""The fingerprints and keys a file's delta step gathers, chunk after chunk, kept as Arrow text.

A delta step gives, for each chunk, the fingerprint of every key whose fields changed (a dict
of the chunk) and the keys it saw (for ``gone``). Gathered over a whole file in a dict and a
set of Python strings, they were held until the ledger recorded the file: two Python objects
and a hash slot a key. A million fingerprints shaped as the sample's price list gives them
took 176 MB so (``sys.getsizeof`` of the dict and its strings); kept as the chunks' Arrow
arrays, the bytes of the text and an offset each, 60 MB.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

#: Pairs turned back into Python strings at a time, as the ledger records them.
BATCH = 50_000
#: Pairs kept in memory, over more than one chunk, before they go to a file of the work area.
SPOOL_FROM = 50_000


class Prints:
    """The new fingerprints of a file, by business key: a key given again (in a later
    chunk) takes the fingerprint given last, as a dict's ``update`` would."""

    def __init__(self, folder: Path | None = None) -> None:
        self._keys: list[pa.Array] = []
        self._prints: list[pa.Array] = []
        self._given = 0
        #: Where the pairs of a large file go, past :data:`SPOOL_FROM` over several chunks
        #: (None: always in memory): an order flow's delta gives one an order, and held in
        #: memory they grew with the file (about 50 MB at 3M rows).
        self.folder = folder
        self.path: Path | None = None
        self._out: IO[bytes] | None = None
        self._writer: Any = None

    def update(self, prints: Mapping[str, str] | Prints) -> None:
        import pyarrow as pa

        if isinstance(prints, Prints):
            for keys, values in prints._arrays():
                self._add(keys, values)
        elif prints:
            self._add(pa.array(list(prints), pa.string()),
                      pa.array(list(prints.values()), pa.string()))

    def _add(self, keys: pa.Array, values: pa.Array) -> None:
        self._keys.append(keys)
        self._prints.append(values)
        self._given += len(keys)
        if self.folder is not None and (self._writer is not None or (
                len(self._keys) > 1 and self._given >= SPOOL_FROM)):
            self._spill()

    def _spill(self) -> None:
        """The pairs in memory written to the file (made by the first spill)."""
        import pyarrow as pa

        if self._writer is None:
            import secrets

            assert self.folder is not None
            self.path = self.folder / f".prints-{secrets.token_hex(8)}"
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         0o600)
            self._out = os.fdopen(fd, "wb")
            self._writer = pa.ipc.new_stream(self._out, _schema())
        for keys, values in zip(self._keys, self._prints, strict=True):
            self._writer.write_batch(pa.record_batch([keys, values], schema=_schema()))
        self._keys, self._prints = [], []

    def _arrays(self) -> Iterator[tuple[pa.Array, pa.Array]]:
        """The pairs given, chunk by chunk, in order: those of the file first."""
        import pyarrow as pa

        if self.path is not None:
            self._close()
            with pa.OSFile(str(self.path)) as src:
                for batch in pa.ipc.open_stream(src):
                    yield batch.column(0), batch.column(1)
        yield from zip(self._keys, self._prints, strict=True)

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._out is not None:
            self._out.close()
            self._out = None

    def remove(self) -> None:
        """Forgotten: the file removed (the ledger has them, or they are gathered again)."""
        self._keys, self._prints, self._given = [], [], 0
        with contextlib.suppress(OSError):  # a full disk fails the last flush too
            self._close()
        self._writer = self._out = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None

    def __len__(self) -> int:
        """The pairs given, a key given twice counted twice: at least the keys there are."""
        return self._given

    def items(self) -> Iterator[tuple[str, str]]:
        """Each key once, with its last fingerprint, a batch at a time."""
        if not self._given:  # a flow without a delta, a file with nothing changed
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

        arrays = list(self._arrays())
        keys = pa.chunked_array([k for k, _ in arrays], pa.string())
        prints = pa.chunked_array([v for _, v in arrays], pa.string())
        if len(arrays) > 1:  # each chunk's keys are its own; chunks may share some
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


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([("key", pa.string()), ("print", pa.string())])
