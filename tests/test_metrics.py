"""Metrics: `bridge watch --metrics-port` scraped while it runs, and `bridge metrics
--textfile` after a cron run; both read the ledger, so they agree with `status`."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.flowkit import bridge_cli, make_world, order_file


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text exposition, by name and labels."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def world_with_two_files(tmp_path: Path) -> Path:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1, rows=4), encoding="utf-8")
    bad = order_file(2).replace("2,05", "2,0x")
    (tmp_path / "inbox" / "b.csv").write_text(bad, encoding="utf-8")
    return cfg


def test_metrics_textfile_after_a_run(tmp_path: Path) -> None:
    cfg = world_with_two_files(tmp_path)
    assert bridge_cli(cfg, "run").returncode == 1
    prom = tmp_path / "textfile" / "bridge.prom"
    prom.parent.mkdir()
    got = bridge_cli(cfg, "metrics", "--textfile", str(prom))
    assert got.returncode == 0, got.stderr
    found = samples(prom.read_text(encoding="utf-8"))
    flow = (("flow", "articoli"),)
    assert found[("bridge_files", (("flow", "articoli"), ("state", "done")))] == 1
    assert found[("bridge_files", (("flow", "articoli"), ("state", "rejected")))] == 1
    assert found[("bridge_rows_total", (("direction", "read"), *flow))] == 7  # 4 + 3
    assert found[("bridge_rows_total", (("direction", "written"), *flow))] == 4
    assert found[("bridge_issues_total", (("code", "bad-decimal"), *flow))] == 1
    size = sum(p.stat().st_size for p in (tmp_path / "state" / "work").glob("*/source"))
    assert found[("bridge_bytes_read_total", (("connection", "local"), *flow))] == size
    written = (tmp_path / "erp" / "ART00001.TXT").stat().st_size  # the done-file is not data
    assert found[("bridge_bytes_written_total",
                  (("connection", "local"), *flow, ("target", "0")))] == written
    assert abs(found[("bridge_last_success_timestamp_seconds", flow)] - time.time()) < 300
    assert found[("bridge_last_pass_duration_seconds", ())] > 0
    printed = bridge_cli(cfg, "metrics")
    assert samples(printed.stdout) == found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_watch_serves_metrics_while_it_runs(tmp_path: Path) -> None:
    cfg = world_with_two_files(tmp_path)
    port = free_port()
    watch = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "watch",
                              "--interval", "0.2", "--metrics-port", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        want = {("bridge_files", (("flow", "articoli"), ("state", "done"))): 1.0,
                ("bridge_files", (("flow", "articoli"), ("state", "rejected"))): 1.0}
        found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                            timeout=5) as r:
                    found = samples(r.read().decode("utf-8"))
            except OSError:
                found = {}  # not listening yet
            if all(found.get(k) == v for k, v in want.items()):
                break
            time.sleep(0.2)
        assert all(found.get(k) == v for k, v in want.items()), found
    finally:
        watch.send_signal(signal.SIGTERM)
        try:
            assert watch.wait(timeout=60) == 0
        finally:
            assert watch.stderr is not None
            watch.stderr.close()


def test_a_port_in_use_is_a_configuration_error(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        got = bridge_cli(cfg, "watch", "--passes", "1", "--metrics-port", str(port))
    assert got.returncode == 2 and f"cannot serve metrics on 127.0.0.1:{port}" in got.stderr
