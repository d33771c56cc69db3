"""Delimited split and join: dialects, line numbers, chunks, round trips."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.codecs.raw import RawChunk, RawTable
from bridge.codecs.split import join, split
from bridge.spec.model import Tracciato


def one_record(names: list[str], **kw: Any) -> Tracciato:
    fields = kw.pop("fields", None) or [{"name": n} for n in names]
    return Tracciato(format="delimited", records={"r": {"fields": fields}}, **kw)


def read(path: Path, t: Tracciato, chunk_bytes: int | None = None) -> list[RawChunk]:
    with path.open("rb") as f:
        return list(split(f, t, chunk_bytes=chunk_bytes))


def cells(tab: RawTable) -> list[list[str | None]]:
    cols = [c.to_pylist() for c in tab.columns.values()]
    return [list(r) for r in zip(*cols, strict=True)]


def roundtrip(tmp_path: Path, data: bytes, t: Tracciato) -> RawTable:
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    [chunk] = read(path, t)
    assert [i.code for i in chunk.issues] == []
    tab = chunk.tables["r"]
    out, issues = join([tab], t)
    assert issues == []
    assert out == data
    return tab


@pytest.mark.parametrize("newline,nl", [("crlf", "\r\n"), ("lf", "\n"), ("cr", "\r")])
@pytest.mark.parametrize("final", [True, False])
def test_roundtrip_newlines(tmp_path: Path, newline: str, nl: str, final: bool) -> None:
    t = one_record(["a", "b"], newline=newline, final_newline=final)
    data = nl.join(["a,b", "1,x", "2,y"]) + (nl if final else "")
    tab = roundtrip(tmp_path, data.encode(), t)
    assert cells(tab) == [["1", "x"], ["2", "y"]]
    assert tab.lines.tolist() == [2, 3]


@pytest.mark.parametrize("encoding", ["cp1252", "cp850", "utf-8-sig", "iso-8859-15"])
def test_roundtrip_encodings_with_eof_marker(tmp_path: Path, encoding: str) -> None:
    t = one_record(["citta", "prezzo"], encoding=encoding, eof_marker=True,
                   delimited={"delimiter": ";"})
    text = "citta;prezzo\r\nCittà di Castello;12,50\r\nPerché è così;3\r\n"
    if encoding != "cp850":
        text += "Caffè €;1\r\n"
    data = text.encode(encoding) + b"\x1a"
    tab = roundtrip(tmp_path, data, t)
    assert cells(tab)[0] == ["Città di Castello", "12,50"]


def test_quoting_delimiters_doubled_quotes_newlines(tmp_path: Path) -> None:
    t = one_record(["id", "note", "n"])
    data = (b'id,note,n\r\n1,"a, b",x\r\n2,"he said ""hi""",y\r\n'
            b'3,"two\r\nlines",z\r\n4,plain,w\r\n')
    tab = roundtrip(tmp_path, data, t)
    assert cells(tab) == [["1", "a, b", "x"], ["2", 'he said "hi"', "y"],
                          ["3", "two\r\nlines", "z"], ["4", "plain", "w"]]
    assert tab.lines.tolist() == [2, 3, 4, 6]


def test_escape_char_and_quoting_all(tmp_path: Path) -> None:
    t = one_record(["a", "b"], newline="lf", delimited={
        "escape_char": "\\", "double_quote": False, "quoting": "all"})
    data = b'"a","b"\n"1","say \\"no\\""\n"2","back\\\\slash"\n'
    tab = roundtrip(tmp_path, data, t)
    assert cells(tab) == [["1", 'say "no"'], ["2", "back\\slash"]]


def test_sap_two_header_rows(tmp_path: Path) -> None:
    fields = [{"name": "parent", "column": "ParentKey", "titles": ["ParentKey", "DocNum"]},
              {"name": "line", "column": "LineNum", "titles": ["LineNum", "LineNum"]},
              {"name": "item", "column": "ItemCode", "titles": ["ItemCode", "ItemCode"]}]
    t = one_record([], fields=fields, delimited={"header_rows": 2})
    data = b"ParentKey,LineNum,ItemCode\r\nDocNum,LineNum,ItemCode\r\n1,0,A1\r\n1,1,B2\r\n"
    tab = roundtrip(tmp_path, data, t)
    assert cells(tab) == [["1", "0", "A1"], ["1", "1", "B2"]]
    assert tab.lines.tolist() == [3, 4]


def test_match_by_name_reorders_and_tolerates_spaces(tmp_path: Path) -> None:
    t = one_record(["b", "a"], delimited={"extra_columns": "error"})
    path = tmp_path / "f.csv"
    path.write_bytes(b"a ,b,c\n1,2,3\n")
    [chunk] = read(path, t)
    assert cells(chunk.tables["r"]) == [["2", "1"]]
    assert [(i.code, i.value) for i in chunk.issues] == [("extra-column", "c")]


def test_missing_column_error_and_empty(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,2\n")
    [chunk] = read(path, one_record(["a", "zz"]))
    assert [i.code for i in chunk.issues] == ["bad-header"]
    assert "'zz'" in chunk.issues[0].message
    assert len(chunk.tables["r"]) == 0
    [chunk] = read(path, one_record(["a", "zz"], delimited={"missing_columns": "empty"}))
    assert cells(chunk.tables["r"]) == [["1", None]]


def test_a_column_read_by_name_that_the_header_holds_twice_refuses_the_file(
        tmp_path: Path) -> None:
    """Which of the two holds the field is not known: no row is read rather than the
    first column taken silently (an export with a second `Lineitem sku` where its vendor
    was), whatever missing columns may do. A doubled column not read is no matter."""
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b,a,c,c\n1,2,3,4,5\n")
    for missing in ("error", "empty"):
        [chunk] = read(path, one_record(["b", "a"], delimited={"missing_columns": missing}))
        assert [(i.code, i.field, i.line) for i in chunk.issues] == [("bad-header", "a", 1)]
        assert "the column 'a' 2 times (columns 1, 3)" in chunk.issues[0].message
        assert len(chunk.tables["r"]) == 0
    [chunk] = read(path, one_record(["b", "a"], delimited={"match_columns": "position"}))
    assert chunk.issues == [] and cells(chunk.tables["r"]) == [["1", "2"]]


def test_position_skip_rows_comments_and_no_header(tmp_path: Path) -> None:
    fields = [{"name": "x", "index": 2}, {"name": "y", "index": 1}]
    t = one_record([], fields=fields, delimited={
        "header_rows": 0, "skip_rows": 1, "match_columns": "position", "comment_prefix": "#",
        "delimiter": "|"})
    path = tmp_path / "f.txt"
    path.write_bytes(b"EXPORT 2025\n1|00184\n# a comment\nNA|\n")
    [chunk] = read(path, t)
    assert cells(chunk.tables["r"]) == [["00184", "1"], ["", "NA"]]
    assert chunk.tables["r"].lines.tolist() == [2, 4]


def test_several_record_types(tmp_path: Path) -> None:
    t = Tracciato(format="delimited", delimited={"header_rows": 0, "delimiter": ";"},
                  discriminator={"index": 1}, records={
                      "T": {"when": "T", "fields": [{"name": "k"}, {"name": "num"}]},
                      "R": {"when": "R", "parent": "T",
                            "fields": [{"name": "k"}, {"name": "art"}, {"name": "qta"}]}})
    path = tmp_path / "f.csv"
    path.write_bytes(b"R;orphan;1\r\nT;1\r\nR;A;2\r\nR;B;3\r\nX;?\r\nT;2\r\nR;C\r\nR;D;4\r\n")
    [chunk] = read(path, t)
    r = chunk.tables["R"]
    assert cells(r) == [["R", "orphan", "1"], ["R", "A", "2"], ["R", "B", "3"], ["R", "D", "4"]]
    assert r.parent_lines is not None and r.parent_lines.tolist() == [-1, 2, 2, 6]
    assert [(i.code, i.line) for i in chunk.issues] == [("unknown-record", 5),
                                                        ("wrong-column-count", 7)]
    assert chunk.kinds is not None and chunk.kinds.tolist() == [1, 0, 1, 1, -1, 0, 1]
    out, _ = join([chunk.tables["T"], r], t)
    assert out == b"R;orphan;1\r\nT;1\r\nR;A;2\r\nR;B;3\r\nT;2\r\nR;D;4\r\n"


def _orders(n: int) -> bytes:
    rows = ["Name,Qty,Notes"]
    for i in range(n):
        note = '"line one\nline two"' if i % 3 == 0 else ""
        rows.append(f"#{1000 + i // 3},{i},{note}")
    return ("\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("chunk_bytes", [50, 300, 4096])
def test_chunks_match_whole_and_keep_groups(tmp_path: Path, chunk_bytes: int) -> None:
    t = one_record(["Name", "Qty", "Notes"], group_by=["Name"])
    path = tmp_path / "orders.csv"
    path.write_bytes(_orders(400))
    [whole] = read(path, t)
    parts = read(path, t, chunk_bytes)
    assert len(parts) > 1 or chunk_bytes > 4000
    got = [row for p in parts for row in cells(p.tables["r"])]
    lines = [ln for p in parts for ln in p.tables["r"].lines.tolist()]
    assert got == cells(whole.tables["r"])
    assert lines == whole.tables["r"].lines.tolist()
    names = [set(p.tables["r"].columns["Name"].to_pylist()) for p in parts]
    for a, b in itertools.pairwise(names):
        assert not a & b  # no order is split between chunks


def test_chunks_of_several_record_types_keep_groups(tmp_path: Path) -> None:
    t = Tracciato(format="delimited", delimited={"header_rows": 0}, discriminator={"index": 1},
                  records={"T": {"when": "T", "fields": [{"name": "k"}, {"name": "n"}]},
                           "R": {"when": "R", "parent": "T",
                                 "fields": [{"name": "k"}, {"name": "v"}]}})
    body = "".join(f"T,{i}\r\n" + "".join(f"R,{i}.{j}\r\n" for j in range(i % 4))
                   for i in range(60))
    path = tmp_path / "f.csv"
    path.write_bytes(body.encode())
    [whole] = read(path, t)
    parts = read(path, t, 40)
    assert len(parts) > 3
    for p in parts:
        r = p.tables["R"]
        assert r.parent_lines is not None and (r.parent_lines > 0).all()
        assert set(r.parent_lines.tolist()) <= set(p.tables["T"].lines.tolist())
    assert sum(len(p.tables["R"]) for p in parts) == len(whole.tables["R"])


cell_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(cell_text, cell_text, cell_text), min_size=1, max_size=8),
       st.sampled_from(["minimal", "all"]), st.sampled_from(["crlf", "lf", "cr"]))
def test_join_then_split_gives_the_cells(rows: list[tuple[str, str, str]], quoting: str,
                                         newline: str) -> None:
    import numpy as np
    import pyarrow as pa

    t = one_record(["a", "b", "c"], newline=newline,
                   delimited={"quoting": quoting, "skip_blank_rows": False})
    cols = {k: pa.array([r[i] for r in rows], pa.string()) for i, k in enumerate("abc")}
    tab = RawTable("r", cols, np.arange(1, len(rows) + 1))
    data, issues = join([tab], t)
    assert issues == []
    [chunk] = list(split(data, t))
    assert cells(chunk.tables["r"]) == [list(r) for r in rows]
