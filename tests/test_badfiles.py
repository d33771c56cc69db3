"""A corpus of broken files: each gives issues, never an exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.codecs.raw import RawChunk
from bridge.codecs.split import split
from bridge.spec.model import Tracciato

CSV = Tracciato(format="delimited", newline="lf",
                records={"r": {"fields": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}})
FIXED = Tracciato(format="fixed", fixed={"record_length": 6},
                  records={"r": {"fields": [{"name": "a", "start": 1, "length": 3},
                                            {"name": "b", "start": 4, "length": 3}]}})


def run(tmp_path: Path, data: bytes, t: Tracciato = CSV,
        chunk_bytes: int | None = None) -> list[RawChunk]:
    path = tmp_path / "bad.dat"
    path.write_bytes(data)
    with path.open("rb") as f:
        return list(split(f, t, chunk_bytes=chunk_bytes))


def codes(chunks: list[RawChunk]) -> list[tuple[str, int | None]]:
    return [(i.code, i.line) for c in chunks for i in c.issues]


@pytest.mark.parametrize("chunk_bytes", [None, 16])
def test_cp1252_read_as_utf8(tmp_path: Path, chunk_bytes: int | None) -> None:
    data = "a,b,c\n1,2,3\nCittà,perché,€\n".encode("cp1252")
    chunks = run(tmp_path, data, chunk_bytes=chunk_bytes)
    [issue] = [i for c in chunks for i in c.issues]
    assert (issue.code, issue.line) == ("bad-encoding", 3)
    assert "0xE0 at offset 16 (line 3)" in issue.message
    rows = [v for c in chunks for v in c.tables["r"].columns["a"].to_pylist()]
    assert rows == ["1", "Citt\ufffd"]


@pytest.mark.parametrize("chunk_bytes", [None, 8])
def test_ragged_rows(tmp_path: Path, chunk_bytes: int | None) -> None:
    chunks = run(tmp_path, b'a,b,c\n1,2\n"x\ny",2,3\n4,5,6,7\n8,9,10\n', chunk_bytes=chunk_bytes)
    assert codes(chunks) == [("wrong-column-count", 2), ("wrong-column-count", 5)]
    lines = [ln for c in chunks for ln in c.tables["r"].lines.tolist()]
    assert lines == [3, 6]


@pytest.mark.parametrize("chunk_bytes", [None, 8])
def test_unterminated_quote(tmp_path: Path, chunk_bytes: int | None) -> None:
    chunks = run(tmp_path, b'a,b,c\n1,2,3\n4,"never closed,6\n7,8,9\n', chunk_bytes=chunk_bytes)
    assert codes(chunks) == [("unterminated-quote", 3)]
    assert [ln for c in chunks for ln in c.tables["r"].lines.tolist()] == [2]


def test_bom_in_the_middle(tmp_path: Path) -> None:
    chunks = run(tmp_path, b"\xef\xbb\xbfa,b,c\n1,2,3\n\xef\xbb\xbfa,b,c\n")
    assert codes(chunks) == [("bom-in-middle", 3)]


@pytest.mark.parametrize("t", [CSV, FIXED])
def test_empty_file(tmp_path: Path, t: Tracciato) -> None:
    chunks = run(tmp_path, b"", t)
    assert codes(chunks) == [("empty-file", None)]
    assert all(len(tab) == 0 for tab in chunks[0].tables.values())


def test_header_only(tmp_path: Path) -> None:
    assert codes(run(tmp_path, b"a,b,c\r\n")) == [("no-data", None)]


@pytest.mark.parametrize("chunk_bytes", [None, 1 << 20])
def test_ten_megabyte_field(tmp_path: Path, chunk_bytes: int | None) -> None:
    big = "x" * (10 << 20)
    chunks = run(tmp_path, f'a,b,c\n1,"{big}",3\n4,5,6\n'.encode(), chunk_bytes=chunk_bytes)
    assert codes(chunks) == []
    cols = [c.tables["r"].columns["b"].to_pylist() for c in chunks]
    assert [len(v) for col in cols for v in col] == [10 << 20, 1]
    assert [ln for c in chunks for ln in c.tables["r"].lines.tolist()] == [2, 3]


@pytest.mark.parametrize("t", [CSV, FIXED])
def test_nul_bytes(tmp_path: Path, t: Tracciato) -> None:
    data = b"a,b,c\n1,\x002,3\n" if t is CSV else b"abcdef\nab\x00def\n"
    assert ("nul-byte", 2) in codes(run(tmp_path, data, t))


def test_fixed_garbage(tmp_path: Path) -> None:
    chunks = run(tmp_path, b"\xff\xfe\x00\x01binary\n\n\n", FIXED)
    assert {c for c, _ in codes(chunks)} >= {"bad-encoding", "nul-byte", "wrong-length"}
