"""Writing: lines laid end to end, one-byte encodings, record order, fitted cells."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.codecs.encoder import rank_within
from bridge.codecs.raw import RawTable
from bridge.codecs.split import join
from bridge.spec.model import Tracciato


def one_record(names: list[str], **kw: Any) -> Tracciato:
    return Tracciato(format="delimited", records={"r": {"fields": [{"name": n} for n in names]}},
                     **kw)


def table(rows: list[tuple[str, str]], record: str = "r",
          names: tuple[str, str] = ("a", "b")) -> RawTable:
    cols = {names[0]: pa.array([r[0] for r in rows], pa.string()),
            names[1]: pa.array([r[1] for r in rows], pa.string())}
    return RawTable(record, cols, np.arange(1, len(rows) + 1, dtype=np.int64))


_latin = st.text(alphabet=st.sampled_from(list("ab ,èé€Œ\u0100\u4e2d")), max_size=8)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_latin, _latin), min_size=1, max_size=10),
       st.sampled_from(["cp1252", "iso-8859-15", "cp850", "cp500", "shift_jis"]))
def test_join_encodes_like_python(rows: list[tuple[str, str]], encoding: str) -> None:
    t = one_record(["a", "b"], encoding=encoding,
                   delimited={"header_rows": 0, "quoting": "all"})
    data, issues = join([table(rows)], t)
    text = "".join(f'"{a}","{b}"\r\n' for a, b in rows)
    assert data == text.encode(encoding, "replace")
    bad = [(n, name) for n, row in enumerate(rows, start=1)
           for name, cell in zip(("a", "b"), row, strict=True)
           if cell.encode(encoding, "replace") != cell.encode(encoding, "ignore")]
    assert [(i.line, i.field) for i in issues] == bad
    assert {i.code for i in issues} <= {"unencodable"}


def test_join_of_ascii_lines_and_others_in_cp1252() -> None:
    t = one_record(["a", "b"], encoding="cp1252", delimited={"header_rows": 0},
                   final_newline=False, newline="lf")
    rows = [("plain", "1"), ("Città", "€ 2"), ("x", "中"), ("last", "3")]
    data, issues = join([table(rows)], t)
    assert data == "plain,1\nCittà,€ 2\nx,?\nlast,3".encode("cp1252")
    assert [(i.code, i.line, i.field, i.value) for i in issues] == [
        ("unencodable", 3, "b", "中")]


def test_join_puts_rows_of_several_tables_in_line_order() -> None:
    t = Tracciato(format="fixed", newline="lf", discriminator={"start": 1, "length": 1},
                  records={"T": {"when": "T", "fields": [
                      {"name": "k", "start": 1, "length": 1},
                      {"name": "n", "start": 2, "length": 3, "align": "right", "pad": "0"}]},
                      "R": {"when": "R", "parent": "T", "fields": [
                          {"name": "k", "start": 1, "length": 1},
                          {"name": "v", "start": 2, "length": 4}]}})
    heads = RawTable("T", {"k": pa.array(["T", "T"]), "n": pa.array(["1", "22"])},
                     np.array([1, 4]))
    lines = RawTable("R", {"k": pa.array(["R"] * 3), "v": pa.array(["ab", "cdefg", "h"])},
                     np.array([2, 3, 5]))
    data, issues = join([lines, heads], t)
    assert data == b"T001\nRab  \nRcdef\nT022\nRh   \n"
    assert [(i.code, i.line, i.field) for i in issues] == [("too-long", 3, "v")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 5), max_size=40))
def test_rank_within_counts_like_pandas(keys: list[int]) -> None:
    arr = np.array(keys, dtype=np.int64)
    expected = pd.Series(arr).groupby(arr).cumcount().to_numpy()
    assert rank_within(arr).tolist() == expected.tolist()


def test_an_ebcdic_file_written_is_read_back_as_it_was() -> None:
    """cp500 (EBCDIC, as IBM i writes it) writes ASCII as other bytes, a line end as one:
    docs/tracciati.md says such a file is read and written."""
    from bridge.codecs import decode

    t = one_record(["a", "b"], encoding="cp500", delimited={"header_rows": 0})
    rows = [("Città", "£ 2"), ("plain", "1"), ("l'ape", "x,y")]
    data, issues = join([table(rows)], t)
    assert issues == [] and b"\n" not in data and data.decode("cp500").count("\r\n") == 3
    got = decode(data, t)
    assert got.issues == []
    assert list(zip(got.tables["r"]["a"], got.tables["r"]["b"], strict=True)) == rows
