"""Delimited files read a block of whole records at a time: cuts, stray quotes, line numbers."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.codecs import records
from bridge.codecs.raw import RawChunk
from bridge.codecs.records import record_end
from bridge.codecs.split import split
from bridge.spec.model import Tracciato


def one_record(names: list[str], **kw: Any) -> Tracciato:
    return Tracciato(format="delimited", records={"r": {"fields": [{"name": n} for n in names]}},
                     **kw)


def read(path: Path, t: Tracciato, chunk_bytes: int | None = None) -> list[RawChunk]:
    with path.open("rb") as f:
        return list(split(f, t, chunk_bytes=chunk_bytes))


def rows_of(parts: list[RawChunk]) -> list[tuple[int, list[str | None]]]:
    out = []
    for p in parts:
        tab = p.tables["r"]
        cols = [c.to_pylist() for c in tab.columns.values()]
        out += [(int(ln), list(r)) for ln, r in zip(tab.lines, zip(*cols, strict=True),
                                                       strict=True)]
    return out


def issues_of(parts: list[RawChunk]) -> list[tuple[str, int | None]]:
    return [(i.code, i.line) for p in parts for i in p.issues]


# --- record_end ------------------------------------------------------------------------


@pytest.mark.parametrize("buf,cut", [
    (b'a,b\n1,2\n', 8),                      # plain lines: the last line end
    (b'a,"b\n1",2\n', 10),                   # the quoted line end is not a cut
    (b'a,b\n1,"x\ny\n', 4),                  # an open quote at the end: back to line 1
    (b'a,"b\n', 0),                          # no record ends in the buffer
    (b'a,"x""\ny"\n', 10),                   # a doubled quote inside a quoted cell
    (b'a,""\n"q\n', 5),                      # an empty quoted cell, then an open one
    (b'a,b\r\n1,"2\r\n', 5),                 # CR LF: never cut between CR and LF
    (b'a,b\r1,2\r', 8),                      # CR-only line ends
    (b'a,"1\r2"\rb,c\r', 12),                # a lone CR in a quoted cell, CR-only file
])
def test_record_end(buf: bytes, cut: int) -> None:
    assert record_end(buf, b'"') == cut
    head = buf[:cut]
    if cut:  # what is before the cut reads as whole records
        rows = list(csv.reader(io.StringIO(head.decode(), newline=""), strict=True))
        assert rows


def test_record_end_without_quote_char_takes_the_last_line_end() -> None:
    assert record_end(b'a,"b\n1,2\n', None) == 9
    assert record_end(b'a,"b\r\n1,2\r\n', None) == 11


def test_record_end_from_a_start() -> None:
    # Cuts before ``start`` are not wanted, even though one exists there.
    assert record_end(b'a\n"b\nc\n', b'"', start=3) == 0
    assert record_end(b'a\n"b\nc"\n', b'"', start=3) == 8


# --- streaming: quoted line ends at every block edge ----------------------------------


def _note_file(rows: int) -> bytes:
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["Name", "Qty", "Notes"])
    for i in range(rows):
        note = ['', 'a, b', 'say "hi"\nbye', '"\n"', '\n\n'][i % 5]
        w.writerow([f"#{1000 + i // 2}", str(i), note])
    return out.getvalue().encode()


def test_every_block_size_gives_the_whole_file(tmp_path: Path) -> None:
    t = one_record(["Name", "Qty", "Notes"])
    path = tmp_path / "notes.csv"
    path.write_bytes(_note_file(40))
    whole = rows_of(read(path, t))
    assert len(whole) == 40
    assert whole[2] == (4, ["#1001", "2", 'say "hi"\nbye'])
    # Every size from tiny to larger than the file puts some cut at every byte.
    for size in range(1, 120):
        parts = read(path, t, size)
        assert rows_of(parts) == whole, size
        assert issues_of(parts) == []


def test_a_quoted_newline_exactly_at_the_block_end(tmp_path: Path) -> None:
    t = one_record(["a", "b"])
    head = b'a,b\n1,"x\n'
    data = head + b'y"\n2,z\n'
    path = tmp_path / "edge.csv"
    path.write_bytes(data)
    # The first block read ends right after the line end inside the quotes.
    parts = read(path, t, len(head))
    assert rows_of(parts) == [(2, ["1", "x\ny"]), (4, ["2", "z"])]


def _quoted(cell: str) -> str:
    # The csv module leaves a lone CR unquoted when its line end is LF: quote it here.
    if any(c in cell for c in ',"\r\n'):
        return '"' + cell.replace('"', '""') + '"'
    return cell


_cell = st.text(alphabet=st.sampled_from(list('ab,"\n\r ')), max_size=6)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.tuples(_cell, _cell), min_size=1, max_size=12),
       size=st.integers(1, 64), crlf=st.booleans())
def test_chunked_read_equals_the_rows_written(tmp_path_factory: pytest.TempPathFactory,
                                              rows: list[tuple[str, str]], size: int,
                                              crlf: bool) -> None:
    t = one_record(["a", "b"], newline="crlf" if crlf else "lf")
    nl = "\r\n" if crlf else "\n"
    text = "".join(",".join(_quoted(c) for c in row) + nl for row in [("a", "b"), *rows])
    path = tmp_path_factory.mktemp("h") / "h.csv"
    path.write_bytes(text.encode())
    whole = read(path, t)
    parts = read(path, t, size)
    assert rows_of(parts) == rows_of(whole)
    # A row of two empty cells is written ",": a row, not an empty line.
    assert [r for _, r in rows_of(parts)] == [list(r) for r in rows]
    assert issues_of(parts) == issues_of(whole) == []


# --- stray quotes: the count is fooled, the csv module takes over ---------------------


def test_stray_quote_then_a_quoted_newline(tmp_path: Path) -> None:
    # The quote of 12" is not a cell's quote: after it the count is off by one, and
    # the first cut it allows falls inside the quoted note.
    t = one_record(["a", "b", "c"])
    lines = ["a,b,c", '1,12" monitor,x']
    lines += [f'{i},"note\n{i}",y' for i in range(2, 30)]
    path = tmp_path / "stray.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    whole = rows_of(read(path, t))
    assert whole[0] == (2, ["1", '12" monitor', "x"])
    assert whole[-1] == (57, ["29", "note\n29", "y"])
    for size in (8, 20, 40, 100):
        parts = read(path, t, size)
        assert rows_of(parts) == whole, size
        assert issues_of(parts) == []


def test_stray_quote_with_no_cut_after_it(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # No other quote follows: no cut is ever found, and after STALL_BYTES the csv
    # module reads the rest rather than hold the whole file.
    monkeypatch.setattr(records, "STALL_BYTES", 64)
    t = one_record(["a", "b"])
    lines = ["a,b", '1,5" pipe', *[f"{i},plain" for i in range(2, 200)]]
    path = tmp_path / "stall.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    parts = read(path, t, 16)
    got = rows_of(parts)
    assert got == rows_of(read(path, t))
    assert got[0] == (2, ["1", '5" pipe'])
    assert got[-1] == (200, ["199", "plain"])
    assert len(parts) > 1


def test_bad_rows_and_an_open_quote_at_the_end_in_blocks(tmp_path: Path) -> None:
    t = one_record(["a", "b", "c"])
    data = b'a,b,c\n1,2,3\n4,5\n' + b"".join(b"%d,x,y\n" % i for i in range(6, 40)) \
        + b'7,"never closed,9\n8,9,10\n'
    path = tmp_path / "bad.csv"
    path.write_bytes(data)
    whole = read(path, t)
    for size in (16, 64, 200):
        parts = read(path, t, size)
        assert rows_of(parts) == rows_of(whole), size
        assert sorted(issues_of(parts)) == sorted(issues_of(whole)), size
    assert ("wrong-column-count", 3) in issues_of(whole)
    assert ("unterminated-quote", 38) in issues_of(whole)
