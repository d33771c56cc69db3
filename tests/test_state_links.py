"""The run lock, the operator's mark and the log are opened by name in a folder that may be
shared: a symbolic link planted under one of those names is never followed. Followed, the
lock made (or locked) its target, and the log appended lines (customers' file names) to
whatever file the link named."""

from __future__ import annotations

import os
from pathlib import Path

from tests.flowkit import CONFIG, STATE, bridge_cli, make_world, order_file


def planted(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A link ``state/NAME`` to a file of someone else's, and that file (its bytes known)."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"not bridge's\n")
    (tmp_path / "state").mkdir(exist_ok=True)
    link = tmp_path / "state" / name
    link.symlink_to(victim)
    return link, victim


def test_a_link_planted_as_the_run_lock_stops_the_run_and_is_not_followed(
        tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    link, victim = planted(tmp_path, "run.lock")
    victim.unlink()  # a link to a name that does not exist: following it made the file
    got = bridge_cli(cfg, "run")
    assert got.returncode == 2, got.stdout + got.stderr
    assert f"{link} is a symbolic link" in got.stderr and "Traceback" not in got.stderr
    assert not victim.exists()
    assert not (tmp_path / "erp").exists()  # nothing taken without the lock
    link.unlink()
    again = bridge_cli(cfg, "run")
    assert again.returncode == 0 and "a.csv: done" in again.stdout


def test_a_link_planted_as_the_operators_mark_is_not_followed(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 0
    link, victim = planted(tmp_path, "run.lock.operator")
    victim.unlink()  # following the link made the file
    got = bridge_cli(cfg, "replay", "1")  # an operator's command: it marks that it waits
    assert got.returncode == 0 and "Traceback" not in got.stderr, got.stderr
    assert not victim.exists()
    run = bridge_cli(cfg, "run")  # a run looks at the mark: passed over, not followed
    assert run.returncode == 0 and not victim.exists()
    assert link.is_symlink()


def test_a_link_planted_as_the_log_is_not_followed(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace(STATE, STATE + "log_file: state/bridge.log\n"))
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    link, victim = planted(tmp_path, "bridge.log")
    got = bridge_cli(cfg, "run")
    assert got.returncode == 0 and "a.csv: done" in got.stdout, got.stdout + got.stderr
    assert victim.read_bytes() == b"not bridge's\n"
    said = [ln for ln in got.stderr.splitlines() if "cannot write the log" in ln]
    assert len(said) == 1 and str(link) in said[0], got.stderr


def test_a_link_planted_as_the_operators_mark_never_wakes_watch(tmp_path: Path) -> None:
    """A sleeping watch looks at the operator's mark every half second: through a link to
    a file written all the time (a log), each write of that file was taken for an
    operator's command ended, and watch passed again and again."""
    from bridge.engine.runlock import OperatorDone

    _, victim = planted(tmp_path, "run.lock.operator")
    done = OperatorDone(tmp_path / "state" / "run.lock")
    for n in range(3):
        stamp = 1_000_000_000 + n * 1000
        os.utime(victim, (stamp, stamp))  # the linked file written
        assert not done(), n


def test_a_link_planted_as_the_ledger_is_refused_and_not_followed(tmp_path: Path) -> None:
    """SQLite opened the ledger by name: a link planted as `state/ledger.sqlite` (or as its
    write-ahead log) made bridge create and write a database through it, in whatever file
    the link named. The run stops (exit 2) saying so, and the link's target is untouched;
    removed, the run goes on."""
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    for name, dangling in (("ledger.sqlite", True), ("ledger.sqlite", False),
                           ("ledger.sqlite-wal", True)):
        link, victim = planted(tmp_path, name)
        if dangling:
            victim.unlink()  # a link to a name that does not exist: bridge made the file
        got = bridge_cli(cfg, "run")
        assert got.returncode == 2, got.stdout + got.stderr
        assert f"{link} is a symbolic link" in got.stderr and "Traceback" not in got.stderr
        assert (not victim.exists() if dangling
                else victim.read_bytes() == b"not bridge's\n")
        assert not (tmp_path / "erp").exists()
        link.unlink()
        victim.unlink(missing_ok=True)
    assert bridge_cli(cfg, "status").returncode == 0
    got = bridge_cli(cfg, "run")
    assert got.returncode == 0 and "a.csv: done" in got.stdout, got.stdout + got.stderr


def test_a_ledger_in_a_linked_folder_is_how_a_ledger_lives_on_another_disk(
        tmp_path: Path) -> None:
    """A folder link (the state on another disk) is the installer's, not a planted file:
    the ledger is opened through it."""
    elsewhere = tmp_path / "disk2" / "state"
    elsewhere.mkdir(parents=True)
    cfg = make_world(tmp_path)
    (tmp_path / "state").symlink_to(elsewhere, target_is_directory=True)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    got = bridge_cli(cfg, "run")
    assert got.returncode == 0 and "a.csv: done" in got.stdout, got.stdout + got.stderr
    assert (elsewhere / "ledger.sqlite").is_file()
