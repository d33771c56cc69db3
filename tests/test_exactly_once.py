"""Exactly once, proven: `bridge run` killed with SIGKILL at many moments, then restarted.

At the end every input has exactly one output, byte-identical to a clean run's, the ledger
agrees, and nothing is left under a temporary name.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.config import load
from bridge.ledger import open_ledger
from tests.flowkit import CONFIG, make_world, order_file

FILES = 200
#: The world's flow, keeping each article it sends as a business fact.
WITH_FACTS = CONFIG.replace("    retry_backoff: 0\n", "    retry_backoff: 0\n    facts: [{table: "
                            "articolo, kind: item, fields: {code: codice, qty: qty}}]\n")
POINTS = ["after-claim", "after-hold", "mid-write", "after-rename", "before-output-commit",
          "after-plan", "before-written", "after-archive"]


def bridge_run(cfg: Path, env: dict[str, str] | None = None, kill_after: float | None = None
               ) -> tuple[int, str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "--config", str(cfg), "run"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    )
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate(timeout=120)
    return proc.returncode, out


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.mark.slow
def test_sigkill_at_any_moment_loses_nothing_and_writes_nothing_twice(tmp_path: Path) -> None:
    worlds = {}
    for name in ("clean", "crash"):
        worlds[name] = make_world(tmp_path / name, WITH_FACTS)
        for n in range(FILES):
            (tmp_path / name / "inbox" / f"o{n:04d}.csv").write_text(order_file(n, 2),
                                                                     encoding="utf-8")
    code, out = bridge_run(worlds["clean"])
    assert code == 0, out
    clean = tree(tmp_path / "clean" / "erp")
    assert len(clean) == 2 * FILES  # a data file and its done-file per input

    rng = random.Random(20261129)
    kills = 0
    deadline = time.monotonic() + 240
    plan = [(p, rng.randint(1, 6)) for p in POINTS for _ in range(3)]
    rng.shuffle(plan)
    for point, nth in plan:  # a kill at each named moment, on the n-th time it is reached
        code, _ = bridge_run(worlds["crash"], {"BRIDGE_KILL_AT": f"{point}:{nth}"})
        kills += code == -signal.SIGKILL
    for _ in range(15):  # and at moments nobody chose
        code, _ = bridge_run(worlds["crash"], kill_after=rng.uniform(0.8, 1.6))
        kills += code == -signal.SIGKILL
    assert kills >= 20
    for _ in range(5):  # then runs to the end
        code, out = bridge_run(worlds["crash"])
        assert code == 0, out
        if "nothing to do" in out:
            break
        assert time.monotonic() < deadline

    crash_root = tmp_path / "crash"
    assert tree(crash_root / "erp") == clean
    assert list((crash_root / "inbox").iterdir()) == []
    assert len(list((crash_root / "archive").rglob("*.csv"))) == FILES
    leftovers = [p for p in crash_root.rglob("*") if p.name.endswith((".part", ".download"))]
    assert leftovers == []
    cfg = load(worlds["crash"])
    ledger = open_ledger(cfg.path(cfg.ledger))
    files = ledger.files()
    assert sorted(f.path for f in files if f.state == "done") == sorted(
        f"o{n:04d}.csv" for n in range(FILES))
    assert all(f.state == "done" for f in files)
    written = [o for f in files for o in ledger.outputs(f.id)]
    assert sorted(o.name for o in written) == sorted(n for n in clean if n.endswith(".TXT"))
    assert all(o.state == "written" for o in written)
    # Each article's fact once, as the clean run has them: none lost, none twice.
    facts = sorted(str(f.data) for f in ledger.facts(["item"]))
    clean_cfg = load(worlds["clean"])
    clean_ledger = open_ledger(clean_cfg.path(clean_cfg.ledger))
    assert facts == sorted(str(f.data) for f in clean_ledger.facts(["item"]))
    assert len(facts) == len(set(facts)) > 0
    clean_ledger.close()
    shutil.rmtree(crash_root / "state" / "work", ignore_errors=True)


#: The world's flow writing every file to two targets, each with its done-file.
TWO_TARGETS = CONFIG + """\
      - folder: erp2
        tracciato: test/out
        filename: "DUE{{ seq | zfill(5) }}.TXT"
        done_file: {content: rows}
"""


@pytest.mark.parametrize("point", ["before-output-commit:2", "before-written:1",
                                   "after-archive:1"])
def test_state_changes_merged_in_one_transaction_survive_a_kill_between(
        tmp_path: Path, point: str) -> None:
    """The last output is recorded in the transaction that makes its file written, the
    figures in the plan's, where the file is kept in the one that makes it done: a kill
    just before each leaves the file to finish, and nothing is written twice."""
    worlds = {}
    for name in ("clean", "crash"):
        worlds[name] = make_world(tmp_path / name, TWO_TARGETS)
        (tmp_path / name / "inbox" / "o0001.csv").write_text(order_file(1, 3), encoding="utf-8")
    assert bridge_run(worlds["clean"])[0] == 0
    code, _ = bridge_run(worlds["crash"], {"BRIDGE_KILL_AT": point})
    assert code == -signal.SIGKILL
    cfg = load(worlds["crash"])
    ledger = open_ledger(cfg.path(cfg.ledger))
    (f,) = ledger.files()
    states = [o.state for o in ledger.outputs(f.id)]
    if point == "after-archive:1":
        assert (f.state, f.kept_at, states) == ("written", None, ["written", "written"])
    else:  # the first output recorded on its own, the last not yet
        assert (f.state, states) == ("checked", ["written", "planned"])
    assert ledger.figures(f.id).rows_out == 3
    ledger.close()

    code, out = bridge_run(worlds["crash"])
    assert code == 0, out
    for folder in ("erp", "erp2"):
        assert tree(tmp_path / "crash" / folder) == tree(tmp_path / "clean" / folder)
        assert len(tree(tmp_path / "crash" / folder)) == 2
    ledger = open_ledger(cfg.path(cfg.ledger))
    (f,) = ledger.files()
    assert f.state == "done"
    # Killed once archived, the rerun finds it in the archive, and records where.
    assert f.kept_at is not None and f.kept_at.startswith("archive/")
    assert [(o.state, o.rows) for o in ledger.outputs(f.id)] == [("written", 3)] * 2
    figures = ledger.figures(f.id)
    assert (figures.rows_in, figures.rows_out) == (3, 3)
    ledger.close()
