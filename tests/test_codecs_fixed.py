"""Fixed-width split and join: record types, parents, lengths, chunks, round trips."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.codecs.raw import RawChunk, RawTable
from bridge.codecs.split import join, split
from bridge.spec.model import Tracciato


def f(name: str, start: int, length: int, **kw: Any) -> dict[str, Any]:
    return {"name": name, "start": start, "length": length, **kw}


def trz(**kw: Any) -> Tracciato:
    return Tracciato(
        format="fixed", encoding="cp1252", fixed={"record_length": 20},
        discriminator={"start": 1, "length": 1}, records={
            "T": {"when": "T", "fields": [f("tipo", 1, 1), f("num", 2, 5), f("cliente", 8, 10)]},
            "R": {"when": "R", "parent": "T",
                  "fields": [f("tipo", 1, 1), f("art", 2, 6), f("fill", 8, 2, type="filler"),
                             f("qta", 10, 4)]},
            "Z": {"when": "Z", "fields": [f("tipo", 1, 1), f("n", 2, 6)]}}, **kw)


def file_of(groups: int) -> list[str]:
    lines = []
    for g in range(groups):
        lines.append(f"T{g:05d} Città {g:03d}".ljust(20))
        lines.extend(("R" + f"€{g:03d}{r}".ljust(6) + f"  {r:04d}").ljust(20)
                     for r in range(g % 3))
    lines.append("Z000042".ljust(20))
    return lines


def read(path: Path, t: Tracciato, chunk_bytes: int | None = None) -> list[RawChunk]:
    with path.open("rb") as fh:
        return list(split(fh, t, chunk_bytes=chunk_bytes))


@pytest.mark.parametrize("nl,newline", [("\r\n", "crlf"), ("\n", "lf"), ("\r", "cr")])
def test_trz_split_and_roundtrip(tmp_path: Path, nl: str, newline: str) -> None:
    t = trz(newline=newline, eof_marker=True)
    data = (nl.join(file_of(4)) + nl).encode("cp1252") + b"\x1a"
    path = tmp_path / "f.txt"
    path.write_bytes(data)
    [chunk] = read(path, t)
    assert chunk.issues == []
    tt, r = chunk.tables["T"], chunk.tables["R"]
    assert tt.columns["cliente"].to_pylist()[1] == "Città 001 "
    assert r.columns["art"].to_pylist()[0] == "€0010 "
    assert "fill" not in r.columns
    assert r.lines.tolist() == [3, 5, 6]
    assert r.parent_lines is not None and r.parent_lines.tolist() == [2, 4, 4]
    assert chunk.kinds is not None and chunk.kinds.tolist() == [0, 0, 1, 0, 1, 1, 0, 2]
    out, issues = join([chunk.tables[k] for k in ("Z", "R", "T")], t)
    assert issues == []
    assert out == data


def test_unknown_record_wrong_length_and_orphans(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"R00001  0001        \r\nT00001 ACME\r\nX junk\r\n")
    [chunk] = read(path, trz())
    assert [(i.code, i.line) for i in chunk.issues] == [
        ("unknown-record", 3), ("wrong-length", 2), ("wrong-length", 3)]
    r = chunk.tables["R"]
    assert r.parent_lines is not None and r.parent_lines.tolist() == [-1]
    assert chunk.tables["T"].columns["cliente"].to_pylist() == ["ACME"]


def test_variable_length_short_fields_are_null(tmp_path: Path) -> None:
    t = Tracciato(format="fixed", newline="lf", records={"r": {"fields": [
        f("a", 1, 3), f("b", 4, 3), f("c", 7, 3)]}})
    path = tmp_path / "f.txt"
    path.write_bytes("abcdèf\nab\nabcdefghi\n".encode())
    [chunk] = read(path, t)
    tab = chunk.tables["r"]
    assert tab.columns["a"].to_pylist() == ["abc", "ab", "abc"]
    assert tab.columns["b"].to_pylist() == ["dèf", None, "def"]
    assert tab.columns["c"].to_pylist() == [None, None, "ghi"]


@pytest.mark.parametrize("chunk_bytes", [30, 100, 1000])
def test_chunks_match_whole_and_never_split_a_group(tmp_path: Path, chunk_bytes: int) -> None:
    t = trz()
    path = tmp_path / "f.txt"
    path.write_bytes(("\r\n".join(file_of(50)) + "\r\n").encode("cp1252"))
    [whole] = read(path, t)
    parts = read(path, t, chunk_bytes)
    assert len(parts) > 1
    for name in ("T", "R", "Z"):
        lines = np.concatenate([p.tables[name].lines for p in parts])
        assert lines.tolist() == whole.tables[name].lines.tolist()
        got = [v for p in parts for v in p.tables[name].columns["tipo"].to_pylist()]
        assert got == whole.tables[name].columns["tipo"].to_pylist()
    for p in parts:
        r = p.tables["R"]
        assert r.parent_lines is not None
        assert set(r.parent_lines.tolist()) <= set(p.tables["T"].lines.tolist())


def test_join_pads_fills_gaps_and_reports(tmp_path: Path) -> None:
    t = Tracciato(format="fixed", encoding="cp1252", fixed={"record_length": 12, "filler": "."},
                  records={"r": {"fields": [f("code", 1, 3), f("qty", 6, 4, type="integer")]}})
    tab = RawTable("r", {"code": pa.array(["AB", "ABCDE", "€x", None]),
                         "qty": pa.array(["7", "12", "1", "2"])}, np.array([1, 2, 3, 4]))
    out, issues = join([tab], t)
    assert out.decode("cp1252").split("\r\n") == [
        "AB ..0007...", "ABC..0012...", "€x ..0001...", ".....0002...", ""]
    assert [(i.code, i.line, i.field) for i in issues] == [("too-long", 2, "code")]
    t2 = t.model_copy(update={"encoding": "iso-8859-1"})
    out, issues = join([tab], t2)
    assert b"?x " in out
    assert [(i.code, i.line, i.field, i.value) for i in issues] == [
        ("too-long", 2, "code", "ABCDE"), ("unencodable", 3, "code", "€x")]


text20 = st.text(st.characters(codec="cp1252", exclude_characters="\r\n"), max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(text20, text20), min_size=1, max_size=10))
def test_join_then_split_gives_the_cells(rows: list[tuple[str, str]]) -> None:
    t = Tracciato(format="fixed", encoding="cp1252", fixed={"record_length": 14},
                  records={"r": {"fields": [f("a", 1, 6), f("b", 9, 6)]}})
    cols = {"a": pa.array([r[0].ljust(6) for r in rows]),
            "b": pa.array([r[1].ljust(6) for r in rows])}
    data, issues = join([RawTable("r", cols, np.arange(1, len(rows) + 1))], t)
    assert issues == []
    [chunk] = list(split(data, t))
    tab = chunk.tables["r"]
    assert tab.columns["a"].to_pylist() == cols["a"].to_pylist()
    assert tab.columns["b"].to_pylist() == cols["b"].to_pylist()
