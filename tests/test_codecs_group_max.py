"""A group that never ends is not held whole: past ``group_max`` bytes of one group (rows
of one group key, or a record and its children), every splitter stops with GroupTooLarge,
and a file of ordinary groups splits as before under the same small limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.codecs.raw import RawChunk
from bridge.codecs.split import split
from bridge.codecs.text import GroupTooLarge
from bridge.spec.model import Tracciato
from tests.test_codecs_fixed import file_of, trz

CHUNK, LIMIT = 1_000, 4_000


def keyed(**dialect: Any) -> Tracciato:
    return Tracciato(format="delimited", group_by=["k"], delimited=dialect,
                     records={"r": {"fields": [{"name": "k"}, {"name": "v"}]}})


#: The csv module's path (an escape character) and pyarrow's block path.
PATHS = [pytest.param({}, id="pyarrow"), pytest.param({"escape_char": "\\"}, id="csv-module")]


def read(path: Path, t: Tracciato, group_max: int | None) -> list[RawChunk]:
    with path.open("rb") as fh:
        return list(split(fh, t, chunk_bytes=CHUNK, group_max=group_max))


def rows(keys: list[str]) -> bytes:
    return ("k,v\n" + "".join(f"{k},value number {i:06d}\n" for i, k in enumerate(keys))
            ).encode()


@pytest.mark.parametrize("dialect", PATHS)
def test_one_endless_group_stops_past_group_max(tmp_path: Path,
                                                dialect: dict[str, str]) -> None:
    path = tmp_path / "one.csv"
    path.write_bytes(rows(["A1"] * 3 + ["B2"] * 2000))  # B2 from line 5 to the end
    with pytest.raises(GroupTooLarge) as got:
        read(path, keyed(**dialect), LIMIT)
    assert got.value.line == 5 and got.value.limit == LIMIT
    assert LIMIT < got.value.held <= LIMIT + 2 * CHUNK
    # Without a limit the same file is read, the endless group held as one chunk.
    parts = read(path, keyed(**dialect), None)
    in_parts = [p.tables["r"].columns["k"].to_pylist().count("B2") for p in parts]
    assert [n for n in in_parts if n] == [2000]


@pytest.mark.parametrize("dialect", PATHS)
def test_ordinary_and_large_groups_under_the_limit_split_as_before(
        tmp_path: Path, dialect: dict[str, str]) -> None:
    path = tmp_path / "many.csv"
    # Groups of 1 to 4 rows, then one of 100 rows (about 3 KB: more than a chunk, under
    # the limit), then small ones again.
    keys = [f"K{i // 3 + i % 2}" for i in range(600)] + ["BIG"] * 100 + \
        [f"Z{i // 2}" for i in range(200)]
    path.write_bytes(rows(keys))
    limited, free = read(path, keyed(**dialect), LIMIT), read(path, keyed(**dialect), None)
    got = [k for p in limited for k in p.tables["r"].columns["k"].to_pylist()]
    assert got == keys
    assert [len(p.tables["r"]) for p in limited] == [len(p.tables["r"]) for p in free]
    assert len(limited) > 10
    assert any(p.tables["r"].columns["k"].to_pylist().count("BIG") == 100 for p in limited)


def test_a_parent_with_endless_children_stops_past_group_max(tmp_path: Path) -> None:
    t = trz()
    lines = ["T00001 Roma".ljust(20), *[("R" + f"A{r:05d}" + f"  {r % 10000:04d}").ljust(20)
                                       for r in range(1000)], "Z000001".ljust(20)]
    path = tmp_path / "one.txt"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    with pytest.raises(GroupTooLarge) as got:
        read(path, t, LIMIT)
    assert got.value.line == 1 and LIMIT < got.value.held <= LIMIT + 2 * CHUNK
    ordinary = tmp_path / "many.txt"
    ordinary.write_bytes(("\r\n".join(file_of(300)) + "\r\n").encode("cp1252"))
    parts = read(ordinary, t, LIMIT)
    assert len(parts) > 5
    assert sum(len(p.tables["R"]) for p in parts) == sum(g % 3 for g in range(300))


class Counted:
    """A binary stream over ``data`` that counts the bytes handed out."""

    def __init__(self, data: bytes) -> None:
        self.data, self.given = data, 0

    def read(self, n: int = -1) -> bytes:
        n = len(self.data) - self.given if n < 0 else n
        out = self.data[self.given:self.given + n]
        self.given += len(out)
        return out


LONG = LIMIT * 50  # bytes of the line that never ends


@pytest.mark.parametrize("t", [pytest.param(keyed(), id="pyarrow"),
                               pytest.param(keyed(escape_char="\\"), id="csv-module"),
                               pytest.param(trz(), id="fixed")])
def test_a_line_without_end_stops_past_group_max_having_read_no_more(t: Tracciato) -> None:
    """A file whose line ends were lost (or a file of another kind) is one endless line:
    it was held whole, and copied again at every block (a 150 MB line: 886 MB at its
    peak). Past ``group_max`` bytes of one line the reading stops, with no more read."""
    head = b"k,v\n" if t.format == "delimited" else b"T00001 Roma".ljust(20) + b"\r\n"
    stream = Counted(head + b"A1," + b"x" * LONG + b"\n")
    with pytest.raises(GroupTooLarge) as got:
        list(split(stream, t, chunk_bytes=CHUNK, group_max=LIMIT))
    assert got.value.one_line and got.value.line == 2 and got.value.limit == LIMIT
    assert LIMIT < got.value.held <= LIMIT + CHUNK
    assert stream.given <= LIMIT + 2 * CHUNK
    assert "one line, not ended" in str(got.value)
