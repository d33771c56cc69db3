"""`suspect-encoding`: a file in another code page than its tracciato says decodes without
an error; the note says which code page it reads like, and never fires on clean files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.check import check_file
from bridge.spec import load
from tests.conftest import ROOT

SAMPLES = ROOT / "samples" / "tracciati"


def recoded(name: str, into: str, tmp_path: Path) -> Path:
    """A shipped cp1252 sample, its text written in another code page."""
    src = SAMPLES / name
    out = tmp_path / src.name
    # cp850 has no euro sign: written "?", as a converting program would
    out.write_bytes(src.read_bytes().decode("cp1252").encode(into, errors="replace"))
    return out


def test_a_cp850_file_read_as_cp1252_gets_a_note(tmp_path: Path) -> None:
    path = recoded("gestionale/ordini.txt", "cp850", tmp_path)
    t = load("gestionale/ordini")
    result = check_file(path, t)
    hints = [i for i in result.issues if i.code == "suspect-encoding"]
    assert [(i.record, i.field) for i in hints] == [("righe", "descrizione")]
    assert "reads like cp850 read as cp1252" in hints[0].message
    read, would = hints[0].message.split(" would be ")
    assert "Š" in read and "è" in would  # caffè: 0x8A in cp850, a Š in cp1252
    assert not hints[0].is_error  # a note: a flow is not refused for it
    assert [i.code for i in result.issues] == ["suspect-encoding"]  # nothing else wrong
    assert sum(result.rows.values()) == sum(check_file(SAMPLES / "gestionale" / "ordini.txt",
                                                       t).rows.values())


def test_a_utf8_file_read_as_cp1252_gets_a_note(tmp_path: Path) -> None:
    path = recoded("mexal/articoli.csv", "utf-8", tmp_path)
    more = "".join(f"A;ART-{n};{word} {n};;22;PZ;;;ART;;;;;;1,00;;\r\n"
                   for n, word in enumerate(["Città", "Perché", "Più", "Caffè"]))
    path.write_bytes(path.read_bytes() + more.encode("utf-8"))
    hints = [i for i in check_file(path, load("mexal/articoli")).issues
             if i.code == "suspect-encoding"]
    assert hints and all("reads like utf-8 read as cp1252" in i.message for i in hints)
    assert any("Ã" in (i.value or "") for i in hints)  # è read byte by byte: Ã¨


@pytest.mark.parametrize("sample", sorted(p for p in SAMPLES.glob("*/*.*")
                                          if p.suffix in (".csv", ".txt")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_shipped_sample_gets_the_note(sample: Path) -> None:
    t = load(f"{sample.parent.name}/{sample.name.split('.')[0]}")
    codes = {i.code for i in check_file(sample, t).issues}
    assert "suspect-encoding" not in codes


def test_one_odd_value_is_no_evidence(tmp_path: Path) -> None:
    """A column of codes with a single `A•`: no note (three values at least must say so)."""
    import pandas as pd

    from bridge.codecs.hints import EncodingHints

    hints = EncodingHints("cp1252")
    frame = pd.DataFrame({"codice": ["A•", "B", "C", "DÈ"]})
    assert hints.feed({"r": frame}) == []
    three = EncodingHints("cp1252")
    assert [i.field for i in three.feed({"r": pd.DataFrame(
        {"codice": ["Nard•", "Cant—", "Caffè", "Perchƒ", "Piš"]})})] == ["codice"]
