"""Tracciati come only from folders configured or passed, and the shipped one: never from the
current directory.

The attack: a `tracciati/gestionale/ordini.yaml` left (or planted) in the folder cron starts
bridge from, with the fields of the ERP's order file moved. Read from there, it would change
what bridge writes for the ERP.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge import spec
from bridge.cli import main
from bridge.spec.loader import SHIPPED, search_roots
from tests.test_samples import EXPECTED, run_twice, sample_copy, written

LAYOUT = SHIPPED / "gestionale" / "ordini.yaml"
#: The carrier code and the filler after it, swapped.
MOVES = (("{name: codice_spedizione, start: 111,", "{name: codice_spedizione, start: 117,"),
         ("{name: riservato, type: filler, start: 115, length: 6}",
          "{name: riservato, type: filler, start: 111, length: 6}"))


def plant(folder: Path) -> Path:
    """A copy of gestionale/ordini under ``folder``/tracciati, its carrier code moved."""
    text = LAYOUT.read_text(encoding="utf-8")
    for old, new in MOVES:
        assert text.count(old) == 1
        text = text.replace(old, new)
    (folder / "tracciati" / "gestionale").mkdir(parents=True)
    planted = folder / "tracciati" / "gestionale" / "ordini.yaml"
    planted.write_text(text, encoding="utf-8")
    spec.load_file(planted)  # a valid layout: only its place keeps it out
    return planted


def test_the_working_directory_is_never_searched_the_folders_given_are(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CliRunner) -> None:
    cfg = sample_copy(tmp_path)
    cron = tmp_path / "cron"
    planted = plant(cron)
    monkeypatch.chdir(cron)
    monkeypatch.delenv("BRIDGE_TRACCIATI", raising=False)
    assert spec.loader.find("gestionale/ordini") == LAYOUT
    assert [r.resolve() for r in search_roots()] == [SHIPPED]
    assert [o.state for o in run_twice(cfg, ["ordini"]).outcomes] == ["done"]
    assert written(cfg.parent / "erp" / "ordini") == written(EXPECTED / "erp" / "ordini")
    # A folder passed (--tracciati, bridge.yaml's tracciati:) or in $BRIDGE_TRACCIATI wins.
    assert spec.loader.find("gestionale/ordini", [Path("tracciati")]) == Path(
        "tracciati/gestionale/ordini.yaml")
    shown = runner.invoke(main, ["--tracciati", "tracciati", "tracciati", "show",
                                 "gestionale/ordini"])
    assert shown.exit_code == 0 and re.search(r"codice_spedizione +117 ", shown.output)
    monkeypatch.setenv("BRIDGE_TRACCIATI", str(planted.parents[1]))
    assert spec.loader.find("gestionale/ordini") == planted
