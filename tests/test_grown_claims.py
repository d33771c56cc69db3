"""A sender that keeps writing into a file after bridge took it (its handle still open on
the file bridge renamed to its private name): what bridge took is imported once, the bytes
written after are set apart and said to be the rest, never archived unseen, and never
called "not imported" as a whole (an operator putting the whole file back would send the
rows taken twice)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from bridge.config import load
from bridge.ledger import open_ledger
from tests.flowkit import CONFIG, bridge_cli, make_world, order_file
from tests.test_ahead import tree

pytestmark = pytest.mark.sqlite_only  # bridge run in child processes, on its SQLite ledger

LATE = "A00099;scritta dopo;1,00;1\n"
#: Without a dedupe, so that a file put back whole would send its rows again.
PLAIN = CONFIG.replace("    steps:\n      - dedupe: {key: [codice]}   # an article code "
                       "already sent is not sent again\n", "")


def ledger_rows(cfg: Path) -> list[tuple[int, str, int, str, list[tuple[str, str]]]]:
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        return [(f.id, f.path, f.size, f.state, [(i.code, i.message) for i in ledger.issues(f.id)])
                for f in sorted(ledger.files(), key=lambda f: f.id)]
    finally:
        ledger.close()


def erp_codes(root: Path) -> list[str]:
    return sorted(line[:10].strip() for name, data in tree(root / "erp").items()
                  if name.endswith(".TXT") for line in data.decode("cp1252").splitlines())


def append_to_claim(root: Path) -> None:
    (claim,) = (root / "inbox").iterdir()
    assert claim.name == ".bridge-claim-1"
    with claim.open("a", encoding="utf-8") as f:
        f.write(LATE)


def set_apart_truthfully(cfg: Path, root: Path) -> None:
    """a.csv's three rows in the ERP once; the whole file as the sender left it in
    quarantine, recorded as file 2 whose issue says which part file 1 imported, and that
    only the rest was not."""
    taken = order_file(1)
    assert erp_codes(root) == ["A00010", "A00011", "A00012"]
    assert (root / "quarantine" / "a.csv").read_text(encoding="utf-8") == taken + LATE
    assert not (root / "archive").exists() or not any(
        p.is_file() for p in (root / "archive").rglob("*"))
    rows = ledger_rows(cfg)
    assert [r[:4] for r in rows] == [(1, "a.csv", len(taken.encode()), "done"),
                                     (2, "a.csv", len((taken + LATE).encode()), "rejected")]
    ((code, message),) = rows[1][4]
    assert code == "changed-after-taken"
    assert (f"its first {len(taken.encode())} bytes (lines 1-4) are file 1, imported: 3 "
            "row(s) written (ART00001.TXT)") in message, message
    assert (f"the {len(LATE.encode())} bytes written after them (from line 5) were not "
            "imported") in message, message
    assert "do not put this file back whole" in message, message
    check = bridge_cli(cfg, "status", "--check")
    assert check.returncode == 1, check.stdout
    assert ("changed after it was taken: articoli: a.csv (file 2): the part bridge took is "
            "imported as another file, the rest is not: set aside in quarantine/a.csv "
            "(bridge show 2 says which part)") in check.stdout, check.stdout
    assert "stray claim" not in check.stdout


def test_a_held_file_the_sender_wrote_more_into_is_imported_once_and_the_rest_set_apart(
        tmp_path: Path) -> None:
    """Held for approval under its private name, the file grows: it was quarantined as a
    stray claim "not imported" while its taken part was then imported on approval."""
    cfg = make_world(tmp_path, PLAIN.replace("retry_backoff: 0",
                                             "retry_backoff: 0\n    approval: true"))
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 1  # held
    append_to_claim(tmp_path)
    bridge_cli(cfg, "run")
    assert bridge_cli(cfg, "approve", "1").returncode == 0
    got = bridge_cli(cfg, "run")
    assert got.returncode == 0, got.stdout + got.stderr
    set_apart_truthfully(cfg, tmp_path)


def test_a_file_that_grew_while_its_outputs_were_written_is_not_archived_unseen(
        tmp_path: Path) -> None:
    """Killed once the ERP has the file's rows, the sender writing on meanwhile: the next
    run archived the grown file as done, the rows written after the fetch with it, and
    nobody was told."""
    cfg = make_world(tmp_path, PLAIN)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    killed = bridge_cli(cfg, "run", env={"BRIDGE_KILL_AT": "before-written:1"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    append_to_claim(tmp_path)
    got = bridge_cli(cfg, "run")
    assert got.returncode == 0, got.stdout + got.stderr  # a.csv is done; check names the rest
    assert ("a.csv: done; -> ART00001.TXT (3 rows); changed after bridge took it: the rest "
            "set apart as file 2 in quarantine/a.csv") in got.stdout, got.stdout
    set_apart_truthfully(cfg, tmp_path)


def test_a_held_file_the_sender_wrote_again_is_set_apart_as_not_those_bytes(
        tmp_path: Path) -> None:
    """The sender writes the held file over (same size, other rows): file 1 is imported from
    bridge's copy of what it took; the file found is set apart, said to be other bytes."""
    import os

    cfg = make_world(tmp_path, PLAIN.replace("retry_backoff: 0",
                                             "retry_backoff: 0\n    approval: true"))
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 1  # held
    claim = tmp_path / "inbox" / ".bridge-claim-1"
    other = order_file(1).replace("A0001", "B0001")
    assert len(other) == len(order_file(1))
    claim.write_text(other, encoding="utf-8")
    os.utime(claim, (claim.stat().st_atime, claim.stat().st_mtime + 5))
    assert bridge_cli(cfg, "approve", "1").returncode == 0
    got = bridge_cli(cfg, "run")
    assert got.returncode == 0, got.stdout + got.stderr
    assert erp_codes(tmp_path) == ["A00010", "A00011", "A00012"]
    assert (tmp_path / "quarantine" / "a.csv").read_text(encoding="utf-8") == other
    ((code, message),) = ledger_rows(cfg)[1][4]
    assert code == "changed-after-taken"
    assert "a.csv was written again after bridge took it" in message, message
    assert "this file, 135 bytes, is not those bytes and was not imported" in message, message


@pytest.mark.parametrize("point", ["changed-recorded", "changed-moved"])
def test_a_run_killed_as_it_set_the_rest_apart_records_it_once(tmp_path: Path,
                                                               point: str) -> None:
    """Killed once the rest is recorded, before it is moved (or once it is moved, before
    its record says where): the next run finishes it, under the same record."""
    cfg = make_world(tmp_path, PLAIN)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    killed = bridge_cli(cfg, "run", env={"BRIDGE_KILL_AT": "before-written:1"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    append_to_claim(tmp_path)
    killed = bridge_cli(cfg, "run", env={"BRIDGE_KILL_AT": f"{point}:1"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    got = bridge_cli(cfg, "run")
    assert got.returncode == 0, got.stdout + got.stderr
    set_apart_truthfully(cfg, tmp_path)


def test_a_run_killed_once_the_rest_was_set_apart_says_so_not_removed(
        tmp_path: Path) -> None:
    """Killed once the rest was moved and its record said where, before file 1 was done:
    the next run found file 1's held file gone, no rest left half-recorded, and so said
    file 1 was 'not archived: gone from the source before it was archived (removed by
    someone else)', though bridge itself had set it apart."""
    cfg = make_world(tmp_path, PLAIN)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    killed = bridge_cli(cfg, "run", env={"BRIDGE_KILL_AT": "before-written:1"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    append_to_claim(tmp_path)
    killed = bridge_cli(cfg, "run", env={"BRIDGE_KILL_AT": "after-archive:1"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    got = bridge_cli(cfg, "run")
    assert got.returncode == 0, got.stdout + got.stderr
    set_apart_truthfully(cfg, tmp_path)
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        done = ledger.events(1)[-1]
    finally:
        ledger.close()
    assert done.state == "done"
    assert done.detail is not None and "removed by someone else" not in done.detail, done
    assert "the rest set apart as file 2 in quarantine/a.csv" in done.detail, done
