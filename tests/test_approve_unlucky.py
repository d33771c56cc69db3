"""An operator's approval in unlucky moments: the flow of the held file no longer configured
(renamed, removed), through the CLI as an operator types it."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.ledger import open_ledger
from tests.flowkit import CONFIG, make_world, order_file

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
