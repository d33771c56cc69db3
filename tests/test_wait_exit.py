"""A file that waits for another file's approval (a cancellation whose order is held) is
news for a person, not a failure: `bridge run` and `bridge retry` exit 1 (a file held), as
cron and monitoring read it, never 3 (a connection or disk failed), which paged someone at
night for a normal wait."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.ledger import open_ledger
from tests.test_cancel_held import held_then_refunded

WAITS = "may be sent by file 1, which waits for an operator's approval"


def test_run_exits_1_for_a_file_that_waits_for_an_approval(tmp_path: Path,
                                                           runner: CliRunner) -> None:
    cfg, second = held_then_refunded(tmp_path)
    assert second.state == "retrying" and second.waits, second
    assert second.exit_code == 1, second  # held in all but name
    got = runner.invoke(main, ["--config", str(cfg), "run", "--log-json", "--flow", "ordini"])
    assert got.exit_code == 1, got.output
    [line] = [json.loads(x) for x in got.stdout.splitlines() if WAITS in x]
    assert (line["file"], line["level"], line["error"]) == ("orders_export_2.csv",
                                                              "warning", None), line
    again = runner.invoke(main, ["--config", str(cfg), "run", "-q", "--flow", "ordini"])
    assert (again.exit_code, again.stdout) == (0, ""), again.output  # its next try to come
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ledger.get(2).reason.startswith("waits for another file: ")
        assert ledger.get(2).state == "retrying"
    finally:
        ledger.close()


def test_retry_of_a_file_that_waits_for_an_approval_exits_1(tmp_path: Path,
                                                            runner: CliRunner) -> None:
    cfg, _ = held_then_refunded(tmp_path)
    got = runner.invoke(main, ["--config", str(cfg), "retry", "2"])
    assert got.exit_code == 1, got.output
    assert WAITS in got.output and "retrying" in got.output, got.output
    status = runner.invoke(main, ["--config", str(cfg), "status", "--check"])
    # The person is needed for file 1 (held since the test's noon, long ago), not file 2.
    assert status.exit_code == 1, status.output
    assert "held too long: ordini: file 1 " in status.output, status.output
    assert "orders_export_2" not in status.output, status.output
    approved = runner.invoke(main, ["--config", str(cfg), "approve", "1"])
    assert approved.exit_code == 0, approved.output
    again = runner.invoke(main, ["--config", str(cfg), "retry", "2"])
    assert again.exit_code == 1, again.output  # file 1 not written yet: file 2 still waits
