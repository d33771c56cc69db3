"""An operator's approval in unlucky moments: the flow of the held file no longer configured
(renamed, removed), through the CLI as an operator types it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.ledger import open_ledger
from tests.flowkit import CONFIG, bridge_cli, make_world, order_file

HELD = CONFIG.replace("retry_backoff: 0", "retry_backoff: 0\n    approval: true")


def test_a_held_file_of_a_flow_no_longer_configured_is_not_approved_into_limbo(
        tmp_path: Path, runner: CliRunner) -> None:
    cfg = make_world(tmp_path, HELD)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["held"]
    # The flow is renamed: no run will ever carry a file of "articoli" on.
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("  articoli:", "  articoli-web:"),
                   encoding="utf-8")
    got = runner.invoke(main, ["--config", str(cfg), "approve", "1"])
    assert got.exit_code == 2, got.output
    assert "articoli" in got.output and "not configured" in got.output
    ledger = open_ledger(tmp_path / "state" / "ledger.sqlite")
    try:
        assert ledger.get(1).state == "held"  # still where `bridge pending` shows it
    finally:
        ledger.close()
    pending = runner.invoke(main, ["--config", str(cfg), "pending"])
    assert "a.csv" in pending.output


def test_a_held_file_removed_from_the_source_is_not_said_archived(tmp_path: Path,
                                                                 runner: CliRunner) -> None:
    """Approved, then its claim at the source deleted by someone: the file goes from
    bridge's copy, and the ledger no longer says it was archived, which it never was."""
    cfg = make_world(tmp_path, HELD)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["held"]
    assert runner.invoke(main, ["--config", str(cfg), "approve", "1"]).exit_code == 0
    [claim] = (tmp_path / "inbox").iterdir()
    claim.unlink()
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["done"]
    story = runner.invoke(main, ["--config", str(cfg), "show", "1"]).output
    assert "already archived" not in story and "archived to" not in story, story
    assert "not archived" in story, story
    assert not (tmp_path / "archive").exists()


def test_a_file_archived_by_a_run_killed_then_is_found_in_the_archive(tmp_path: Path,
                                                                     runner: CliRunner
                                                                     ) -> None:
    """A run killed right after the archive's move: the next one finds the file there and
    records where it is (its retention deletes it in time), instead of 'already archived'
    with no place."""
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    killed = bridge_cli(cfg, "run", env={"BRIDGE_KILL_AT": "after-archive:1"})
    assert killed.returncode == -9, killed.stderr
    [archived] = (tmp_path / "archive").rglob("a.csv")
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["done"]
    where = archived.relative_to(tmp_path).as_posix()
    story = runner.invoke(main, ["--config", str(cfg), "show", "1"]).output
    assert f"archived to {where}" in story, story
    ledger = open_ledger(tmp_path / "state" / "ledger.sqlite")
    try:
        assert ledger.get(1).kept_at == where
    finally:
        ledger.close()
