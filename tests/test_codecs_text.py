"""The byte layer: encodings, BOMs, line ends and blocks of whole lines."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bridge.codecs.text import TextSource, count_lines, tail_from_line


def _blocks(path: Path, encoding: str, block: int | None) -> tuple[bytes, list[int], list]:
    with path.open("rb") as f:
        src = TextSource(f, encoding, block)
        blocks = list(src.blocks())
    return b"".join(b.data for b in blocks), [b.first_line for b in blocks], src.issues


@pytest.mark.parametrize("nl", ["\r\n", "\n", "\r"])
def test_blocks_cut_at_line_ends_and_count_lines(tmp_path: Path, nl: str) -> None:
    text = nl.join(f"riga {i} caffè €" for i in range(200)) + nl
    path = tmp_path / "f.txt"
    path.write_bytes(text.encode("utf-8"))
    whole, firsts, issues = _blocks(path, "utf-8", 37)
    assert whole == text.encode("utf-8")
    assert issues == []
    assert len(firsts) > 5
    # each block starts where the text before it ends, in lines
    with path.open("rb") as f:
        for b in TextSource(f, "utf-8", 37).blocks():
            assert b.first_line == count_lines(text.encode()[: b.offset]) + 1
            b.data.decode("utf-8")  # never a cut character


def test_bom_and_eof_marker_are_stripped(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"\xef\xbb\xbfa;b\r\n1;2\r\n\x1a")
    whole, _, issues = _blocks(path, "utf-8-sig", None)
    assert whole == b"a;b\r\n1;2\r\n"
    assert issues == []


@pytest.mark.parametrize("encoding", ["cp1252", "iso-8859-15", "cp850", "iso-8859-1"])
def test_single_byte_encodings_become_utf8(tmp_path: Path, encoding: str) -> None:
    text = "città;perché;Ä\r\n" if encoding in ("cp850", "iso-8859-1") else "città;€;è\r\n"
    path = tmp_path / "f.txt"
    path.write_bytes(text.encode(encoding))
    whole, _, issues = _blocks(path, encoding, None)
    assert whole.decode("utf-8") == text
    assert issues == []


def test_bad_utf8_gives_an_issue_a_line_with_line_and_offset(tmp_path: Path) -> None:
    """Every line holding a bad byte is told (its first one): under skip-rows each of
    those rows is left out, none is written with U+FFFD in place of its byte."""
    data = b"a,b\n1,2\n" + "caff\xe8,3\n".encode("cp1252") + b"x\xe9\xe9,4\r\n\ry\xff\n"
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    whole, _, issues = _blocks(path, "utf-8", None)
    assert [(i.code, i.line, i.value) for i in issues] == [
        ("bad-encoding", 3, "0xE8"), ("bad-encoding", 4, "0xE9"), ("bad-encoding", 6, "0xFF")]
    assert "byte 0xE8 at offset 12 (line 3)" in issues[0].message
    assert "byte 0xE9 at offset 17 (line 4)" in issues[1].message
    assert whole.decode("utf-8").count("\ufffd") == 4  # the rest is still read


def test_bad_byte_in_a_later_block_counts_lines_from_the_start() -> None:
    data = b"ok\n" * 100 + b"\x81bad\n"
    src = TextSource(io.BytesIO(data), "cp1252", 64)
    list(src.blocks())
    assert [(i.code, i.line) for i in src.issues] == [("bad-encoding", 101)]
    assert "offset 300" in src.issues[0].message


def test_nul_and_bom_in_middle(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a\nb\x00\n\xef\xbb\xbfc\n")
    _, _, issues = _blocks(path, "utf-8", None)
    assert [(i.code, i.line) for i in issues] == [("nul-byte", 2), ("bom-in-middle", 3)]


def test_tail_from_line() -> None:
    buf = b"a\r\nb\r\nc\r\nd"
    assert tail_from_line(buf, 1, 3) == b"c\r\nd"
    assert tail_from_line(buf, 10, 11) == b"b\r\nc\r\nd"
    assert tail_from_line(b"x\ry\rz\r", 1, 2) == b"y\rz\r"
