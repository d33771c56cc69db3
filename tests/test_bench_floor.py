"""The small files' floor (bench/small_floor.py): it does the whole of the exchange it stands
for, so that a run's ratio to it compares like with like. And the large master's bench
(bench/bench_reference.py): its runs send what they say they send."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.flowkit import make_world, order_file

FLOOR = Path(__file__).resolve().parents[1] / "bench" / "small_floor.py"


def test_the_floor_writes_every_file_once_with_its_done_file_and_archives_it(
        tmp_path: Path) -> None:
    make_world(tmp_path)
    sent = {}
    for n in range(3):
        text = order_file(n, rows=4 + n)
        (tmp_path / "inbox" / f"o{n}.csv").write_text(text, encoding="utf-8")
        sent[f"o{n}"] = text.encode("utf-8")
    got = subprocess.run([sys.executable, str(FLOOR), str(tmp_path)], capture_output=True,
                         text=True, timeout=120, check=False)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout.splitlines()[-1])["files"] == 3
    assert list((tmp_path / "inbox").iterdir()) == []
    assert {p.name: p.read_bytes() for p in (tmp_path / "archive").iterdir()} == {
        f"{stem}.csv": data for stem, data in sent.items()}
    erp = tmp_path / "erp"
    assert sorted(p.name for p in erp.iterdir()) == sorted(
        name for stem in sent for name in (f"{stem}.txt", f"{stem}.txt.ok"))
    for stem, data in sent.items():
        rows = list(csv.reader(data.decode("utf-8").splitlines(), delimiter=";"))
        written = (erp / f"{stem}.txt").read_text(encoding="utf-8").splitlines()
        assert list(csv.reader(written)) == rows  # the same cells, pyarrow's quoting aside
        assert (erp / f"{stem}.txt.ok").read_text(encoding="ascii") == f"{len(rows) - 1}\n"
    with sqlite3.connect(tmp_path / "floor.sqlite") as db:
        recorded = db.execute("SELECT name, sha256, rows, state FROM files").fetchall()
    assert sorted(recorded) == sorted(
        (f"{stem}.csv", hashlib.sha256(data).hexdigest(), data.count(b"\n") - 1, "written")
        for stem, data in sent.items())


def test_the_floor_refuses_to_run_without_its_world(tmp_path: Path) -> None:
    got = subprocess.run([sys.executable, str(FLOOR)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert got.returncode == 2
    assert "small_floor.py WORLD" in got.stderr
    got = subprocess.run([sys.executable, str(FLOOR), str(tmp_path / "nowhere")],
                         capture_output=True, text=True, timeout=60, check=False)
    assert got.returncode == 2
    assert got.stderr == f"small_floor.py: {tmp_path / 'nowhere'} has no inbox folder\n"
    assert not (tmp_path / "nowhere").exists()  # nothing made where there was nothing


def test_the_reference_bench_sends_every_article_then_the_changed_ones(
        tmp_path: Path) -> None:
    bench = FLOOR.with_name("bench_reference.py")
    out = tmp_path / "reference.json"
    got = subprocess.run([sys.executable, str(bench), "--articles", "300", "--changed", "0.1",
                          "--json", str(out)], capture_output=True, text=True, timeout=300,
                         check=False)
    assert got.returncode == 0, got.stdout + got.stderr
    runs = json.loads(out.read_text(encoding="utf-8"))["runs"]
    # Two shops' files: every article twice, then the tenth whose price moved, twice.
    assert [(r["states"], r["rows_written"]) for r in runs] == [(["done"], 600),
                                                                  (["done"], 60)]
    assert all(r["peak_rss_mb"] > 0 for r in runs)
    assert "run 2 (10% changed): done (exit 0), 60 rows written" in got.stdout
