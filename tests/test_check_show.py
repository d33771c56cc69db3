"""`bridge check --show N`: the first records of each type as typed values, so that a
wrong scale, sign or code page is seen at once, where "clean" alone would hide it."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bridge.cli import main
from tests.conftest import ROOT

ORDINI = ROOT / "samples" / "tracciati" / "gestionale" / "ordini.txt"


def test_show_prints_decimals_with_their_scale_signs_and_dates() -> None:
    got = CliRunner().invoke(main, ["check", str(ORDINI), "-t", "gestionale/ordini",
                                    "--show", "4"])
    assert got.exit_code == 0, got.output
    lines = got.output.splitlines()
    assert lines[-1] == "clean: no issues"  # the summary stays last
    assert "righe: the first 4 of 4" in lines and "testata: the first 2 of 2" in lines
    buono = next(line for line in lines if "BUONO-5" in line)
    # implied decimals read with their scale (quantity 3, money 2), the sign of a discount
    assert buono.split()[0] == "4"  # the source line
    assert "1.000" in buono.split() and "-5.00" in buono.split()
    caffe = next(line for line in lines if "CAF-250" in line)
    assert "Caffè macinato 250 g" in caffe and "2.000" in caffe.split() and \
        "12.9000" in caffe.split()  # the unit price with the 4 decimals of its field
    assert any("2025-10-07" in line.split() for line in lines)
    # numbers are right-aligned under their heading
    heading = lines[lines.index("righe: the first 4 of 4") + 1]
    assert heading.index("importo") + len("importo") == caffe.index("25.80") + len("25.80")


def test_show_in_json_keeps_the_scale_as_text() -> None:
    got = CliRunner().invoke(main, ["check", str(ORDINI), "-t", "gestionale/ordini",
                                    "--show", "1", "--format", "json"])
    assert got.exit_code == 0, got.output
    records = json.loads(got.output)["records"]
    assert sorted(records) == ["coda", "righe", "testata"]
    riga = records["righe"][0]
    assert riga["line"] == 2 and riga["quantita"] == "2.000" and riga["importo"] == "25.80"
    assert riga["descrizione"] == "Caffè macinato 250 g"
    assert records["testata"][0]["data_ordine"] == "2025-10-07"


def test_without_show_nothing_is_printed_but_the_check() -> None:
    got = CliRunner().invoke(main, ["check", str(ORDINI), "-t", "gestionale/ordini"])
    assert got.output.splitlines() == [
        f"{ORDINI} (gestionale/ordini): 2 testata, 4 righe, 1 coda",
        "clean: no issues"]
    as_json = json.loads(CliRunner().invoke(main, ["check", str(ORDINI), "-t",
                                                   "gestionale/ordini", "--format",
                                                   "json"]).output)
    assert "records" not in as_json
