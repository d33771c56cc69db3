"""`bridge watch` on local folders, as senders really drop files: renamed in from a folder
of their own, linked in. watch runs as a process of its own, woken by inotify; its poll
interval is long, so a file taken in time was taken because an event said it was there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.flowkit import make_world, order_file


def watching(cfg: Path) -> subprocess.Popen[str]:
    """watch started, its observer on (it says so in its log once it is), its first pass
    made."""
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "watch",
                             "--interval", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = cfg.parent / "state" / "bridge.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None and (
            not log.exists() or "bridge watch started" not in log.read_text("utf-8")):
        time.sleep(0.1)
    time.sleep(1.0)
    return proc


def until(path: Path, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    return path.exists()


def dropped(tmp_path: Path, how: str) -> str:
    """What watch says of a file dropped ``how`` into its folder after its first pass."""
    cfg = make_world(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.csv").write_text(order_file(1), encoding="utf-8")
    proc = watching(cfg)
    try:
        if how == "rename":
            os.rename(outside / "a.csv", tmp_path / "inbox" / "a.csv")
            until(tmp_path / "erp" / "ART00001.TXT")
        else:
            os.link(outside / "a.csv", tmp_path / "inbox" / "a.csv")
            until(tmp_path / "quarantine" / "a.csv.report.html")
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    return output


# inotify says 'created' for a file moved in from elsewhere (or hard-linked), and no close
# follows: watch took the name for one a writer still held open, and left it, every pass.

def test_a_file_renamed_into_a_watched_folder_is_taken(tmp_path: Path) -> None:
    assert "a.csv: done" in dropped(tmp_path, "rename")
    assert (tmp_path / "erp" / "ART00001.TXT").exists()


def test_a_file_linked_into_a_watched_folder_is_answered(tmp_path: Path) -> None:
    said = dropped(tmp_path, "link")
    assert "a.csv: rejected" in said and "hard links" in said  # never read: one more name


def test_a_file_still_being_written_waits_for_its_writer(tmp_path: Path) -> None:
    """What the events are for: a writer holding a file open, its size stable (window 0),
    is waited for until it closes it."""
    cfg = make_world(tmp_path)
    proc = watching(cfg)
    try:
        with (tmp_path / "inbox" / "a.csv").open("w", encoding="utf-8") as f:
            f.write(order_file(1)[:20])
            f.flush()
            time.sleep(3.0)  # passes woken by the writes: the file is open, it waits
            assert not (tmp_path / "erp").exists()
            f.write(order_file(1)[20:])
        taken = until(tmp_path / "erp" / "ART00001.TXT")
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert taken, output
    out = (tmp_path / "erp" / "ART00001.TXT").read_bytes().split(b"\r\n")
    assert len([line for line in out if line]) == 3, output  # every row, none cut
