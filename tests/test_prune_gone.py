"""`bridge prune` lists only what is there to delete: a work copy or a refused file that an
operator (or a crash between the delete and the ledger's note of it) removed already is not
said to be deleted, nor to be deleted by the real run."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.flowkit import CONFIG, bridge_cli, make_world, order_file
from tests.test_hardening_engine import clock_at

DAY = 86400.0


def test_prune_does_not_list_what_is_gone_already(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0", """retry_backoff: 0
    retention: {work: 30d, reports: 90d, archive: 365d}"""))
    clock = tmp_path / "clock"
    t0 = 1_800_000_000.0
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    bad = order_file(2).replace("2,05", "2,0x")
    (tmp_path / "inbox" / "b.csv").write_text(bad, encoding="utf-8")
    assert bridge_cli(cfg, "run", env=clock_at(clock, t0)).returncode == 1
    work = tmp_path / "state" / "work"
    shutil.rmtree(work / "1")  # removed by hand
    for p in (tmp_path / "quarantine").iterdir():  # and the refused file with its reports
        p.unlink()
    dry = bridge_cli(cfg, "prune", "--dry-run", env=clock_at(clock, t0 + 91 * DAY))
    assert dry.returncode == 0, dry.stderr
    assert "file 2: work:" in dry.stdout  # still there: it would go
    assert "file 1: work:" not in dry.stdout, dry.stdout
    assert "quarantine/b.csv" not in dry.stdout, dry.stdout
    assert "nothing left at the source" not in dry.stdout, dry.stdout
    # What the real run does to what is gone is not called a deletion either.
    done = bridge_cli(cfg, "prune", env=clock_at(clock, t0 + 91 * DAY))
    assert done.returncode == 0, done.stderr
    assert "file 2: work:" in done.stdout and "file 1: work:" not in done.stdout
    assert not (work / "2").exists()
    assert "nothing left at the source" not in done.stdout, done.stdout
    # The values the ledger quoted from the refused file are what remained: they go, said so.
    assert "file 2: reports:" in dry.stdout and "file 2: reports:" in done.stdout
    assert "2,0x" not in bridge_cli(cfg, "show", "2").stdout
    again = bridge_cli(cfg, "prune", "--dry-run", env=clock_at(clock, t0 + 91 * DAY))
    assert again.stdout.strip() == "nothing to prune", again.stdout
