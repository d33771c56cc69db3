"""An operator's decision reaches a sleeping `bridge watch` at once: a file approved (or
retried) waited for watch's next pass, up to its whole interval (minutes, where remote
folders are polled seldom), and the files of a pass that let the operator in waited as long.
The command touches its mark beside the run lock as it ends; watch looks at it while it
sleeps."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.flowkit import CONFIG, bridge_cli, make_world, order_file

HELD = CONFIG.replace("retry_backoff: 0", "retry_backoff: 0\n    approval: true")


def until(path: Path, what: str | None = None, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and (what is None or what in path.read_text("utf-8")):
            return True
        time.sleep(0.1)
    return False


def test_an_approval_is_written_without_waiting_for_the_next_pass(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, HELD)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    log = tmp_path / "state" / "bridge.log"
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "watch",
                             "--interval", "600"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        assert until(log, "a.csv: held")
        got = bridge_cli(cfg, "approve", "1")
        assert got.returncode == 0, got.stdout + got.stderr
        # Well before the next pass (600 s away): the approval woke watch.
        assert until(tmp_path / "erp" / "ART00001.TXT", seconds=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, output
