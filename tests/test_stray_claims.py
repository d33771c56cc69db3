"""A claim file (``.bridge-claim-ID``) left by a kill, found by a ledger restored from a
backup that does not know it as file ID's: never taken as another file, never lost, never
imported by itself; set aside in quarantine, and named by `bridge status --check`."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

import pytest

from bridge.config import load
from bridge.ledger import open_ledger
from tests.flowkit import bridge_cli, make_world, order_file
from tests.test_ahead import run, tree

pytestmark = pytest.mark.sqlite_only  # bridge killed in a child process, a SQLite backup


def ledger_file(root: Path) -> Path:
    return root / "state" / "ledger.sqlite"


def backup(root: Path, to: Path) -> None:
    """SQLite's own backup, as docs/operations.md tells an operator to take it."""
    with sqlite3.connect(ledger_file(root)) as src, sqlite3.connect(to) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def restore(root: Path, saved: Path) -> None:
    for extra in ledger_file(root).parent.glob("ledger.sqlite-*"):
        extra.unlink()
    ledger_file(root).write_bytes(saved.read_bytes())


def killed_holding(cfg: Path, root: Path, name: str, text: str) -> None:
    """`bridge run` killed right after renaming ``name`` to its private name."""
    (root / "inbox" / name).write_text(text, encoding="utf-8")
    got = run(cfg, {"BRIDGE_KILL_AT": "after-hold:1"})
    assert got.returncode == -signal.SIGKILL, got.stdout
    assert [p.name for p in (root / "inbox").iterdir()] == [".bridge-claim-2"]


def files(cfg: Path) -> list[tuple[str, int, str, list[str]]]:
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        return [(f.path, f.size, f.state, [i.code for i in ledger.issues(f.id)])
                for f in sorted(ledger.files(), key=lambda f: f.id)]
    finally:
        ledger.close()


def erp_codes(root: Path) -> list[str]:
    return sorted(line[:10].strip() for name, data in tree(root / "erp").items()
                  if name.endswith(".TXT") for line in data.decode("cp1252").splitlines())


def set_aside(cfg: Path, root: Path, stray: str, file_id: int) -> None:
    """The stray is in quarantine under a visible name, not at the source nor in the ERP,
    and `bridge status --check` names it."""
    assert (root / "quarantine" / "bridge-claim-2").read_text(encoding="utf-8") == stray
    assert (root / "quarantine" / "bridge-claim-2.report.html").exists()
    assert list((root / "inbox").iterdir()) == []
    check = bridge_cli(cfg, "status", "--check")
    assert check.returncode == 1, check.stdout
    assert (f"stray claim file: articoli: .bridge-claim-2 (file {file_id}): not imported, "
            "set aside in quarantine/bridge-claim-2") in check.stdout


def test_a_claim_file_whose_id_the_restored_ledger_lacks_is_not_taken_as_the_next_file(
        tmp_path: Path) -> None:
    """The backup knows file 1; the claim of c.csv, file 2, came after it. The next claim
    (d.csv) gets ID 2 again: c.csv's bytes must not be imported as d.csv."""
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 0
    backup(tmp_path, tmp_path / "backup.sqlite")
    stray = order_file(3, 5)
    killed_holding(cfg, tmp_path, "c.csv", stray)
    restore(tmp_path, tmp_path / "backup.sqlite")
    d = order_file(4, 2)
    (tmp_path / "inbox" / "d.csv").write_text(d, encoding="utf-8")

    got = bridge_cli(cfg, "run")
    assert got.returncode == 1, got.stdout + got.stderr
    assert bridge_cli(cfg, "run").returncode == 0
    # d.csv's rows, once, under its own name; nothing of c.csv's
    assert erp_codes(tmp_path) == ["A00010", "A00011", "A00012", "A00040", "A00041"]
    assert files(cfg) == [("a.csv", len(order_file(1).encode()), "done", []),
                          (".bridge-claim-2", len(stray.encode()), "rejected",
                           ["stray-claim"]),
                          ("d.csv", len(d.encode()), "done", [])]
    set_aside(cfg, tmp_path, stray, 2)


def test_a_claim_file_whose_id_is_another_done_file_is_not_left_unseen(
        tmp_path: Path) -> None:
    """The restored ledger says file 2 is b.csv, done; the claim file .bridge-claim-2 holds
    c.csv, taken after the backup's time by a run that was killed."""
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 0
    backup(tmp_path, tmp_path / "one.sqlite")
    (tmp_path / "inbox" / "b.csv").write_text(order_file(2, 7), encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 0
    backup(tmp_path, tmp_path / "backup.sqlite")
    restore(tmp_path, tmp_path / "one.sqlite")  # the other branch: c.csv becomes file 2
    stray = order_file(3, 5)
    killed_holding(cfg, tmp_path, "c.csv", stray)
    restore(tmp_path, tmp_path / "backup.sqlite")
    before = erp_codes(tmp_path)

    got = bridge_cli(cfg, "run")
    assert got.returncode == 1, got.stdout + got.stderr
    assert "file 2 of the ledger (b.csv) is already done" in got.stdout
    assert erp_codes(tmp_path) == before  # nothing of c.csv imported as b.csv
    assert [f[2:] for f in files(cfg)] == [("done", []), ("done", []),
                                           ("rejected", ["stray-claim"])]
    set_aside(cfg, tmp_path, stray, 3)
    assert bridge_cli(cfg, "run").returncode == 0  # seen once: the next run has nothing


def test_a_claim_file_its_ledger_knows_is_carried_on(tmp_path: Path) -> None:
    """The same kill with the ledger that made the claim: the next run takes it as c.csv."""
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 0
    killed_holding(cfg, tmp_path, "c.csv", order_file(3, 5))
    got = bridge_cli(cfg, "run")
    assert got.returncode == 0, got.stdout + got.stderr
    assert [f[:3] for f in files(cfg)] == [("a.csv", len(order_file(1).encode()), "done"),
                                           ("c.csv", len(order_file(3, 5).encode()), "done")]
    assert len(erp_codes(tmp_path)) == 3 + 5
    assert not (tmp_path / "quarantine").exists() or not any(
        (tmp_path / "quarantine").iterdir())


def test_a_claim_of_another_flow_reading_the_same_folder_is_left_to_it(tmp_path: Path) -> None:
    """A shop's drop folder read by two flows (its orders and its customers): the customers
    file held for approval under its private name was taken by the orders flow's pass for a
    stray (its ledger row is of the other flow) and quarantined, before the operator could
    approve it. Not a stray: the flow it is held by judges it, in its own pass, however
    each flow spells the folder."""
    from bridge.engine.runner import run_pass
    from tests.flowkit import CONFIG

    two = CONFIG.replace('patterns: ["*.csv"]', 'patterns: ["a*.csv"]') + \
        CONFIG.split("flows:\n", 1)[1].replace("articoli:", "listini:").replace(
            'patterns: ["*.csv"]', 'patterns: ["l*.csv"]').replace(
            "retry_backoff: 0", "retry_backoff: 0\n    approval: true").replace(
            "folder: erp", "folder: erp-listini").replace(
            "folder: inbox", "folder: ./inbox")  # the same folder, spelt another way
    root = tmp_path
    cfg = make_world(root, two)
    (root / "inbox" / "l1.csv").write_text(order_file(1), encoding="utf-8")
    (root / "inbox" / "a2.csv").write_text(order_file(2), encoding="utf-8")
    first = run_pass(load(cfg)).outcomes
    assert {o.flow: o.state for o in first} == {"listini": "held", "articoli": "done"}
    held = next(o.file_id for o in first if o.flow == "listini")
    (root / "inbox" / "a3.csv").write_text(order_file(3), encoding="utf-8")
    again = run_pass(load(cfg)).outcomes
    assert [(o.flow, o.name, o.state) for o in again] == [("articoli", "a3.csv", "done")]
    assert [p.name for p in (root / "inbox").iterdir()] == [f".bridge-claim-{held}"]
    assert not (root / "quarantine").exists()
    assert bridge_cli(cfg, "approve", str(held)).returncode == 0
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["done"]
    assert sorted(p.name for p in (root / "erp-listini").iterdir()) == ["ART00001.TXT",
                                                                         "ART00001.TXT.ok"]
