"""Reading ahead in a thread: same items, same order, errors raised, clean stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.codecs import iter_decode
from bridge.codecs.ahead import read_ahead
from bridge.spec.model import Tracciato


def _workers() -> int:
    return sum(t.name == "bridge-read-ahead" for t in threading.enumerate())


def test_items_come_in_order() -> None:
    assert list(read_ahead(iter(range(50)))) == list(range(50))
    assert list(read_ahead(iter([]))) == []
    assert _workers() == 0


def test_an_error_of_the_producer_is_raised_where_its_item_was_due() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad block")

    got = []
    with pytest.raises(ValueError, match="bad block"):
        for item in read_ahead(produce()):
            got.append(item)
    assert got == [1, 2]
    assert _workers() == 0


def test_stopping_early_stops_and_closes_the_producer() -> None:
    made: list[int] = []
    closed: list[bool] = []

    def produce() -> Iterator[int]:
        try:
            for i in range(1000):
                made.append(i)
                yield i
        finally:
            closed.append(True)

    ahead = read_ahead(produce())
    assert next(ahead) == 0
    ahead.close()
    assert closed == [True]
    assert len(made) <= 3  # the item taken, the one waiting, the one being made
    assert _workers() == 0


def test_iter_decode_in_chunks_equals_the_whole_decode(tmp_path: Path) -> None:
    t = Tracciato(format="delimited", group_by=["k"], records={"r": {"fields": [
        {"name": "k"}, {"name": "n", "type": "integer"}]}})
    path = tmp_path / "f.csv"
    path.write_bytes(b"k,n\n" + b"".join(b"%d,%d\n" % (i // 3, i) for i in range(3000))
                     + b"x,notanumber\n")
    parts = list(iter_decode(path, t, chunk_bytes=2000))
    assert len(parts) > 3
    [whole] = list(iter_decode(path, t, chunk_bytes=None))
    ns = [v for p in parts for v in p.tables["r"]["n"].tolist()]
    assert ns == whole.tables["r"]["n"].tolist()
    assert [(i.code, i.line) for p in parts for i in p.issues] == [("bad-integer", 3002)]
    assert _workers() == 0
