"""A log file that cannot be written (a folder where it should be, a full disk) must not stop
the work it describes, nor bring a traceback to the terminal: the run goes on, and says once
that its log is not written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.flowkit import CONFIG, STATE, bridge_cli, make_world, order_file


def world(tmp_path: Path, how: str) -> Path:
    if how == "a folder":
        where = tmp_path / "logs" / "bridge.log"
        where.mkdir(parents=True)  # EISDIR at the first line
    else:
        where = Path("/dev/full")  # opens, and every write is ENOSPC
        if not where.exists():
            pytest.skip("no /dev/full here")
    return make_world(tmp_path, CONFIG.replace(STATE, STATE + f"log_file: {where}\n"))


@pytest.mark.parametrize("how", ["a folder", "a full disk"])
def test_run_goes_on_when_its_log_cannot_be_written(tmp_path: Path, how: str) -> None:
    cfg = world(tmp_path, how)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    got = bridge_cli(cfg, "run")
    assert got.returncode == 0, got.stderr
    assert "a.csv: done" in got.stdout
    assert (tmp_path / "erp" / "ART00001.TXT").exists()
    assert "Traceback" not in got.stderr and "Logging error" not in got.stderr, got.stderr
    said = [ln for ln in got.stderr.splitlines() if "cannot write the log" in ln]
    assert len(said) == 1, got.stderr  # said once, not at every line


@pytest.mark.parametrize("how", ["a folder", "a full disk"])
def test_watch_goes_on_when_its_log_cannot_be_written(tmp_path: Path, how: str) -> None:
    cfg = world(tmp_path, how)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    got = bridge_cli(cfg, "watch", "--passes", "2", "--interval", "0.1")
    assert got.returncode == 0, got.stderr
    assert "a.csv: done" in got.stderr and "stopped after 2 passes" in got.stderr
    assert "Traceback" not in got.stderr and "Logging error" not in got.stderr, got.stderr
    assert (tmp_path / "erp" / "ART00001.TXT").exists()
