"""Bytes not valid in the file's encoding: every row holding one is told, and its issue goes
with the chunk that holds the row, however the file is cut (skip-rows leaves out the row
of each issue in the issue's chunk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.codecs import LINE, decode, iter_decode
from bridge.config import load as load_config
from bridge.engine.runner import run_pass
from bridge.spec import load
from bridge.spec.model import Tracciato
from tests.flowkit import STATE

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "tracciati"
NOON = 1_760_000_000.0


def orders(copies: int, bad_lines: set[int]) -> bytes:
    """The sample gestionale/ordini file (cp1252, fixed width, a testata and its righe)
    made ``copies`` orders long, its coda counting them; the byte 0x81 (not cp1252) put
    in the description of the righe on ``bad_lines``."""
    lines = (SAMPLES / "gestionale" / "ordini.txt").read_bytes().split(b"\r\n")
    body = [line for line in lines if line[:1] in (b"T", b"R")]
    out: list[bytes] = []
    for k in range(copies):
        for line in body:
            number = b"%010d" % (2 * k + int(line[1:11]))
            out.append(line[:1] + number + line[11:])
    for n in bad_lines:
        line = out[n - 1]
        assert line[:1] == b"R", n
        out[n - 1] = line[:40] + b"\x81" + line[41:]
    coda = next(line for line in lines if line[:1] == b"Z")
    out.append(b"Z" + b"%07d" % (len(out) + 1) + coda[8:])
    return b"\r\n".join(out) + b"\r\n"


BAD = {2, 3, 38, 39, 150, 300}


@pytest.mark.parametrize("chunk", [None, 300, 1_000, 4_096])
def test_each_bad_row_is_told_in_the_chunk_of_its_row(chunk: int | None) -> None:
    t = load("gestionale/ordini")
    data = orders(50, BAD)
    told: list[int] = []
    for part in iter_decode(data, t, chunk_bytes=chunk):
        rows = {int(n) for df in part.tables.values() for n in df[LINE]}
        bad = [i.line for i in part.issues if i.code == "bad-encoding"]
        assert all(line in rows for line in bad), (bad, sorted(rows)[:3], sorted(rows)[-3:])
        told += [line for line in bad if line is not None]
    assert told == sorted(BAD)
    assert told == [i.line for i in decode(data, t).issues if i.code == "bad-encoding"]


def grouped(escape: bool) -> Tracciato:
    """Delimited rows grouped by order: read by pyarrow, or (with an escape character)
    by Python's csv module, in chunks."""
    return Tracciato(format="delimited", encoding="cp1252", group_by=["o"],
                     delimited={"delimiter": ";", **({"escape_char": "\\"} if escape else {})},
                     records={"r": {"fields": [{"name": "o"}, {"name": "d"}]}})


@pytest.mark.parametrize("escape", [False, True], ids=["pyarrow", "csv"])
@pytest.mark.parametrize("chunk", [None, 200, 1_000])
def test_each_bad_delimited_row_is_told_in_the_chunk_of_its_row(
        chunk: int | None, escape: bool) -> None:
    t = grouped(escape)
    rows = [b"O%d;riga %d" % (i // 3, i) for i in range(600)]
    for n in BAD:
        rows[n - 2] = rows[n - 2] + b" \x81"  # line n: the header is line 1
    data = b"o;d\r\n" + b"\r\n".join(rows) + b"\r\n"
    told: list[int] = []
    for part in iter_decode(data, t, chunk_bytes=chunk):
        lines = {int(n) for df in part.tables.values() for n in df[LINE]}
        bad = [i.line for i in part.issues if i.code == "bad-encoding"]
        assert all(line in lines for line in bad), (bad, min(lines), max(lines))
        told += [line for line in bad if line is not None]
    assert told == sorted(BAD)


FLOW = STATE + """\
flows:
  ordini:
    source: {folder: inbox, patterns: ["*.TXT"], ready: {window: 0, min_age: 0}}
    tracciato: gestionale/ordini
    on_bad_rows: skip-rows
    chunk_bytes: CHUNK
    targets:
      - {folder: erp, tracciato: test/ordini8, filename: "R{{ seq | zfill(4) }}.TXT"}
"""


def world(root: Path, chunk: int, data: bytes) -> Path:
    """A flow from the gestionale/ordini layout into the same layout in UTF-8 (which
    holds U+FFFD: nothing downstream would catch a row let through)."""
    (root / "inbox").mkdir(parents=True)
    (root / "inbox" / "ORD.TXT").write_bytes(data)
    layout = (load("gestionale/ordini").model_dump_json(exclude_none=True))
    (root / "tracciati" / "test").mkdir(parents=True)
    (root / "tracciati" / "test" / "ordini8.yaml").write_text(
        layout.replace('"encoding":"cp1252"', '"encoding":"utf-8"'), encoding="utf-8")
    cfg = root / "bridge.yaml"
    cfg.write_text(FLOW.replace("CHUNK", str(chunk)), encoding="utf-8")
    return cfg


def test_skip_rows_leaves_out_every_bad_row_whole_or_in_chunks(tmp_path: Path) -> None:
    """The orders of the six bad righe (four of the 100 orders) are left out, in chunks as
    whole: the same bytes, no U+FFFD among them."""
    written: dict[int, bytes] = {}
    for chunk in (0, 1_000):
        cfg = load_config(world(tmp_path / str(chunk), chunk, orders(50, BAD)))
        [outcome] = run_pass(cfg, clock=lambda: NOON).outcomes
        assert outcome.state == "done"
        [out] = (tmp_path / str(chunk) / "erp").glob("R*.TXT")
        written[chunk] = out.read_bytes()
        assert "\ufffd" not in written[chunk].decode("utf-8")
        heads = [line for line in written[chunk].split(b"\r\n") if line[:1] == b"T"]
        assert len(heads) == 100 - 4  # the orders from lines 1, 37, 149 and 299 left out
    assert written[0] == written[1_000]


@pytest.mark.parametrize("chunk", [None, 40])
def test_a_bad_byte_in_a_cell_of_several_lines_is_told_on_its_row(chunk: int | None) -> None:
    """A quoted note of three lines, the byte on its second: the issue is on the line
    where the row starts (the line by which a row is left out), its message names the
    byte's. On a row of its own that is no row (the wrong count of cells), it stays."""
    t = grouped(escape=False)
    data = (b'o;d\r\nO1;uno\r\nO2;"nota\r\nse\x81conda\r\nterza"\r\nO3;tre\r\n'
            b"O3;x;\x81;y\r\nO4;quattro\r\n")
    issues = [i for part in iter_decode(data, t, chunk_bytes=chunk) for i in part.issues]
    assert [(i.code, i.line) for i in issues] == [
        ("bad-encoding", 3), ("wrong-column-count", 7), ("bad-encoding", 7)]
    assert "(line 4)" in issues[0].message
