"""`bridge watch` says when a flow's failure is over: it logged every failure as it came
(a target folder it cannot write, a source folder gone), then nothing when the flow worked
again, and a person reading the log could not tell the failure was over."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.flowkit import make_world, order_file


def watching(cfg: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "watch",
                             "--interval", "0.5"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def until(said: Path, what: str, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if said.exists() and what in said.read_text("utf-8"):
            return True
        time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
    return output


def test_a_target_that_can_be_written_again_is_said_once(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "erp").write_text("a file where the target folder should be", "utf-8")
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    log = tmp_path / "state" / "bridge.log"
    proc = watching(cfg)
    try:
        assert until(log, "waits behind file 1")  # the flow fails, said
        (tmp_path / "erp").unlink()
        assert until(log, "a.csv: done")
        assert until(log, "works again")
        (tmp_path / "inbox" / "b.csv").write_text(order_file(2), encoding="utf-8")
        assert until(log, "b.csv: done")
    finally:
        output = stop(proc)
    assert output.count("flow articoli works again") == 1, output
    assert output.index("waits behind file 1") < output.index("works again"), output


def test_a_source_folder_back_is_said_once(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    log = tmp_path / "state" / "bridge.log"
    proc = watching(cfg)
    try:
        assert until(log, "a.csv: done")  # checked, and working
        (tmp_path / "inbox").rename(tmp_path / "inbox.away")
        assert until(log, "does not exist")
        (tmp_path / "inbox.away").rename(tmp_path / "inbox")
        assert until(log, "works again")
        (tmp_path / "inbox" / "b.csv").write_text(order_file(2), encoding="utf-8")
        assert until(log, "b.csv: done")
    finally:
        output = stop(proc)
    assert output.count("works again") == 1, output
    assert output.count("does not exist") == 1, output


def test_a_flow_that_never_failed_is_not_said_to_work_again(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    log = tmp_path / "state" / "bridge.log"
    proc = watching(cfg)
    try:
        assert until(log, "a.csv: done")
        time.sleep(1.5)  # a few passes more
    finally:
        output = stop(proc)
    assert "works again" not in output, output


def test_a_pass_cut_short_for_an_operator_says_no_flow_works_again(tmp_path: Path,
                                                                  caplog: Any) -> None:
    """A pass that lets an operator's command in stops at a flow's first file, before its
    source is listed: the flow's failure (its source folder gone) was not met again, and
    the pass was taken for one without failure: "works again", while it still failed."""
    from bridge.config import load
    from bridge.engine.runner import run_pass
    from bridge.engine.watch import _mended
    from bridge.ledger import open_ledger

    cfg = load(make_world(tmp_path))
    assert run_pass(cfg).exit_code == 0  # the flow checked good: not checked again
    (tmp_path / "inbox").rmdir()
    failing: dict[str, str] = {}
    gone = run_pass(cfg)
    said = gone.errors + gone.config_errors
    assert said and said[0].startswith("articoli:"), said
    _mended(cfg, gone, failing)
    assert "articoli" in failing
    ledger = open_ledger(tmp_path / "state" / "ledger.sqlite")
    try:  # a file a pass left (claimed, a run stopped): the next pass resumes it first
        ledger.claim("articoli", "a.csv", 10, 1.0, None, time.time())
    finally:
        ledger.close()
    cut = run_pass(cfg, should_stop=lambda: True)  # an operator's command waits
    with caplog.at_level("INFO", logger="bridge.watch"):
        _mended(cfg, cut, failing)
    assert "works again" not in caplog.text, caplog.text
    assert "articoli" in failing
