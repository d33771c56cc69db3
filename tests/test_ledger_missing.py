"""A ledger deleted, or lost with its disk, is not made again empty behind the operator's
back: every file and business key would be taken for new, and orders sent again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from tests.flowkit import make_world, order_file

pytestmark = pytest.mark.sqlite_only  # the SQLite file itself is deleted


def test_a_missing_ledger_stops_the_run_and_says_how_to_restore_it(
        tmp_path: Path, runner: CliRunner) -> None:
    cfg = make_world(tmp_path)
    args = ["--config", str(cfg)]
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert runner.invoke(main, [*args, "run"]).exit_code == 0
    erp = sorted(p.name for p in (tmp_path / "erp").iterdir())
    assert erp == ["ART00001.TXT", "ART00001.TXT.ok"]
    for f in (tmp_path / "state").glob("ledger.sqlite*"):
        f.unlink()  # deleted by a cleanup script, or lost with a disk
    # The shop's next export holds the same orders again: with an empty ledger they went
    # to the ERP a second time, as ART00001 of a new numbering (refused: the name is
    # taken) or the next.
    (tmp_path / "inbox" / "b.csv").write_text(order_file(1), encoding="utf-8")
    for command in (["run"], ["status", "--check"], ["watch", "--passes", "1"]):
        got = runner.invoke(main, [*args, *command])
        assert got.exit_code == 2, (command, got.output)
        assert "is missing, but the work area" in got.output, got.output
        assert 'restore it from its backup (docs/operations.md, "Restore the ledger")' in \
            got.output
    assert sorted(p.name for p in (tmp_path / "erp").iterdir()) == erp
    assert (tmp_path / "inbox" / "b.csv").exists()
    assert not (tmp_path / "state" / "ledger.sqlite").exists()
    # Starting afresh is the operator's decision: the work area removed too
    shutil.rmtree(tmp_path / "state" / "work")
    assert runner.invoke(main, [*args, "run"]).exit_code in (0, 3)
    assert (tmp_path / "state" / "ledger.sqlite").exists()



def test_the_metrics_of_a_missing_ledger_do_not_make_it_again_empty(
        tmp_path: Path, runner: CliRunner) -> None:
    """`bridge metrics` runs after every cron pass: a ledger it made again empty would
    let the next run take every file and order already sent for new."""
    cfg = make_world(tmp_path)
    args = ["--config", str(cfg)]
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert runner.invoke(main, [*args, "run"]).exit_code == 0
    for f in (tmp_path / "state").glob("ledger.sqlite*"):
        f.unlink()
    prom = tmp_path / "bridge.prom"
    for command in (["metrics"], ["metrics", "--textfile", str(prom)]):
        got = runner.invoke(main, [*args, *command])
        assert got.exit_code == 2, (command, got.output)
        assert "is missing, but the work area" in got.output, got.output
        assert not (tmp_path / "state" / "ledger.sqlite").exists(), command
    assert not prom.exists()
    (tmp_path / "inbox" / "b.csv").write_text(order_file(1), encoding="utf-8")
    assert runner.invoke(main, [*args, "run"]).exit_code == 2
    assert sorted(p.name for p in (tmp_path / "erp").iterdir()) == [
        "ART00001.TXT", "ART00001.TXT.ok"]
