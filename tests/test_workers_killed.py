"""`bridge watch --workers 2` with its workers killed (SIGKILL) in the middle of a file, again
and again: each is started again, and every file reaches the ERP once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bridge.config import load
from bridge.ledger import open_ledger
from tests.flowkit import flows_world, machine
from tests.pgserver import PgServer
from tests.test_ledger_postgres import children_of

FLOWS, FILES = 3, 10


def test_workers_killed_mid_file_are_started_again_and_each_file_goes_once(
        tmp_path: Path, pg: PgServer) -> None:
    """Each worker process kills itself (SIGKILL) the 4th time it has planned a file, its
    outputs not written yet; each one started in its place does the same, until fewer files
    are left. The files planned by a dead worker are carried on, each written once."""
    flows_world(tmp_path, FLOWS, FILES)
    cfg = machine(tmp_path, "w", pg.new_schema(f"{tmp_path}/killed"))
    want = {k: sorted(p.read_bytes() for p in (tmp_path / f"inbox{k}").iterdir())
            for k in range(FLOWS)}
    log = (tmp_path / "watch.log").open("w")
    parent = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "watch",
                               "--workers", "2", "--interval", "0.3"],
                              stdout=subprocess.DEVNULL, stderr=log,
                              env={**os.environ, "BRIDGE_KILL_AT": "after-plan:4"})

    def written() -> int:
        return sum(1 for _ in tmp_path.glob("erp*/ART*.TXT"))

    try:
        deadline = time.monotonic() + 180
        while written() < FLOWS * FILES:
            assert parent.poll() is None and time.monotonic() < deadline, written()
            time.sleep(0.2)
        time.sleep(1.0)  # a file written twice would come now
        workers = children_of(parent.pid)
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=60) == 0
        assert not any(Path(f"/proc/{p}").exists() for p in workers)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=30)
        log.close()
    said = (tmp_path / "watch.log").read_text(encoding="utf-8")
    assert said.count("died (signal 9): started again") >= 2, said
    for k in range(FLOWS):
        names = sorted(p.name for p in (tmp_path / f"erp{k}").glob("ART*.TXT"))
        assert names == [f"ART{i:05d}.TXT" for i in range(1, FILES + 1)]
        codes = sorted(line[:10].strip() for p in (tmp_path / f"erp{k}").glob("ART*.TXT")
                       for line in p.read_bytes().decode("cp1252").splitlines())
        sent = sorted(line.split(";")[0] for data in want[k]
                      for line in data.decode("utf-8").splitlines()[1:])
        assert codes == sent  # every row once
    c = load(cfg)
    ledger = open_ledger(c.ledger_location())
    try:
        rows = [(f.flow, f.path, f.state) for f in ledger.files()]
    finally:
        ledger.close()
    assert sorted(rows) == sorted((f"articoli{k}", f"o{n:03d}.csv", "done")
                                  for k in range(FLOWS) for n in range(FILES))
