"""A file read in a one-byte code page that is UTF-8 all through is refused: read as
declared, every accented letter would arrive as two (`è` as `Ã¨`). An article master
saved as UTF-8 while its tracciato says cp1252 sent `Trapano Ã¨ piÃ¹ forte` to both shops,
done, exit 0."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.codecs import decode, iter_decode
from bridge.codecs.text import TextSource
from bridge.spec import parse
from tests.test_samples import SAMPLES

LISTINO = """
format: delimited
encoding: cp1252
delimited: {delimiter: ';'}
records:
  riga:
    fields:
      - {name: codice}
      - {name: descrizione}
"""
T = parse(LISTINO, "prova/listino.yaml")


def rows(n: int, text: str, at: int) -> bytes:
    lines = ["codice;descrizione"] + [f"A{k:04d};{text if k == at else 'Articolo'}"
                                      for k in range(n)]
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def mismatch(data: bytes, chunk: int | None, t: object = T) -> list[tuple[int | None, str]]:
    found = [i for part in iter_decode(io.BytesIO(data), t, chunk_bytes=chunk)  # type: ignore[arg-type]
             for i in part.issues]
    return [(i.line, i.message) for i in found if i.code == "encoding-mismatch"]


@pytest.mark.parametrize("chunk", [None, 64, 4096])
def test_a_utf8_file_read_as_cp1252_is_refused_whole_and_in_chunks(chunk: int | None) -> None:
    data = rows(300, "Trapano è più forte", 150)  # line 152, many chunks in
    [(line, message)] = mismatch(data, chunk)
    assert line is None  # the whole file
    assert "from line 152 on" in message and "cp1252" in message and "Ã¨" in message


@pytest.mark.parametrize("chunk", [None, 64])
def test_a_cp1252_file_is_read_as_it_says(chunk: int | None) -> None:
    """Its own accented letters are no UTF-8; one such byte anywhere, even chunks after a
    line that reads like UTF-8 (a name the ERP holds as `Ã¨`), and it is what it says."""
    plain = rows(300, "Caffè", 150).decode("utf-8").encode("cp1252")
    assert mismatch(plain, chunk) == []
    both = rows(300, "Trapano è", 10)[:-2] + "\r\nA9999;Caffè\r\n".encode("cp1252")
    assert mismatch(both, chunk) == []
    assert decode(both, T).tables["riga"]["descrizione"].tolist()[-1] == "Caffè"
    assert mismatch(rows(300, "Trapano", 10), chunk) == []  # ASCII: either


def test_refuse_utf8_false_reads_it_as_declared() -> None:
    t = parse(LISTINO + "refuse_utf8: false\n", "prova/listino.yaml")
    data = rows(3, "più", 1)
    assert mismatch(data, None, t) == []
    assert decode(data, t).tables["riga"]["descrizione"].tolist()[1] == "piÃ¹"


def test_utf8_files_and_text_sources_of_utf8_are_not_looked_at() -> None:
    src = TextSource(rows(3, "più", 1), "utf-8")
    assert [b.data for b in src.blocks()] and src.take_issues() == []


def test_a_master_saved_as_utf8_stops_its_flows_and_sends_nothing(tmp_path: Path,
                                                                  runner: CliRunner) -> None:
    root = tmp_path / "w"
    shutil.copytree(SAMPLES, root, ignore=shutil.ignore_patterns("expected", ".bridge"))
    cfg = root / "bridge.yaml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        "ready: {window: 5, min_age: 5}", "ready: {window: 0, min_age: 0}"), encoding="utf-8")
    master = root / "erp-exports" / "articoli.csv"
    text = master.read_bytes().decode("cp1252")
    assert "Trapano avvitatore 18V" in text
    master.write_bytes(text.replace("Trapano avvitatore 18V", "Trapano è più forte")
                       .encode("utf-8"))
    got = runner.invoke(main, ["--config", str(cfg), "run", "--flow", "articoli"])
    assert got.exit_code == 2, got.output
    assert "encoding-mismatch" in got.output and "the whole file" in got.output
    assert not (root / "shop").exists() or not any((root / "shop").rglob("*.csv"))
