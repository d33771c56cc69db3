"""What an output and its done-file make durable, and in which order.

An output's bytes are synced before its rename, a done-file's before its own; one sync of
the target folder after the done-file's rename makes both renames durable, and only then
does the ledger record the file as written. A power cut cannot be staged in a test, so
these tests record the order of the syncs themselves (the real ones, observed on their way
to the kernel) and what each one was of.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.ledger import open_ledger
from bridge.ledger.sqlite import SqliteLedger
from bridge.transport import TargetExists
from bridge.transport import local as local_transport
from bridge.transport.local import LocalTransport
from tests.flowkit import CONFIG, make_world, order_file
from tests.test_exactly_once import bridge_run, tree

Events = list[tuple[str, str]]


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> Events:
    """Every folder sync of a local transport, every file fsync (by the name it had when
    synced) and every ``written`` the ledger records, in the order they happen."""
    events: Events = []
    real_dir: Callable[[Path], None] = local_transport.fsync_dir
    real_fsync = os.fsync
    real_set_state = SqliteLedger.set_state

    def fsync_dir(directory: Path) -> None:
        real_dir(directory)
        events.append(("folder", Path(directory).name))

    def fsync(fd: int) -> None:
        real_fsync(fd)
        events.append(("file", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))

    def set_state(self: SqliteLedger, file_id: int, state: str, *args: object,
                  **kwargs: object) -> None:
        real_set_state(self, file_id, state, *args, **kwargs)  # type: ignore[arg-type]
        if state == "written":
            events.append(("written", str(file_id)))

    monkeypatch.setattr(local_transport, "fsync_dir", fsync_dir)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(SqliteLedger, "set_state", set_state)
    return events


def _at_target(events: Events) -> Events:
    """The syncs of the target folder ``erp`` and of the files written there, and the
    ``written`` records."""
    return [(kind, what) for kind, what in events
            if (kind == "folder" and what == "erp") or kind == "written"
            or (kind == "file" and what.startswith(".ART"))]


def test_an_output_and_its_done_file_are_synced_then_their_folder_once_then_recorded(
        tmp_path: Path, syncs: Events) -> None:
    cfg = make_world(tmp_path)
    for n in range(3):
        (tmp_path / "inbox" / f"o{n}.csv").write_text(order_file(n), encoding="utf-8")
    result = run_pass(load(cfg))
    assert [o.state for o in result.outcomes] == ["done"] * 3
    assert sorted(os.listdir(tmp_path / "erp")) == [
        f"ART0000{n}.TXT{ok}" for n in (1, 2, 3) for ok in ("", ".ok")]
    ids = [str(o.file_id) for o in result.outcomes]
    # Files are synced under their temporary names (".NAME.<16 hex>.part").
    seen = [(k, w.rsplit(".", 2)[0] if k == "file" else w) for k, w in _at_target(syncs)]
    expected: Events = []
    for n, file_id in zip((1, 2, 3), ids, strict=True):
        expected += [("file", f".ART0000{n}.TXT"), ("file", f".ART0000{n}.TXT.ok"),
                     ("folder", "erp"), ("written", file_id)]
    assert seen == expected


def test_without_a_done_file_every_output_syncs_its_folder_before_it_is_recorded(
        tmp_path: Path, syncs: Events) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("        done_file: {content: rows}\n", ""))
    for n in range(2):
        (tmp_path / "inbox" / f"o{n}.csv").write_text(order_file(n), encoding="utf-8")
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["done"] * 2
    assert sorted(os.listdir(tmp_path / "erp")) == ["ART00001.TXT", "ART00002.TXT"]
    assert [k for k, _ in _at_target(syncs)] == ["file", "folder", "written"] * 2


def test_a_rename_left_unsynced_is_synced_by_the_next_upload_there_whatever_it_finds(
        tmp_path: Path, syncs: Events) -> None:
    t = LocalTransport(tmp_path)
    t.upload(b"A\r\n", "erp", "A.TXT", durable=False)
    assert ("folder", "erp") not in syncs
    t.upload(b"1\n", "erp", "A.TXT.ok")
    assert syncs.count(("folder", "erp")) == 1
    # The next upload there finds its name taken: the folder is synced all the same.
    t.upload(b"B\r\n", "erp", "B.TXT", durable=False)
    with pytest.raises(TargetExists):
        t.upload(b"other\n", "erp", "A.TXT.ok")
    assert syncs.count(("folder", "erp")) == 2
    # No upload after it (its done-file failed): synced when the transport is closed.
    t.upload(b"C\r\n", "erp", "C.TXT", durable=False)
    assert syncs.count(("folder", "erp")) == 2
    t.close()
    assert syncs.count(("folder", "erp")) == 3
    t.close()  # nothing left to sync
    assert syncs.count(("folder", "erp")) == 3
    assert sorted(os.listdir(tmp_path / "erp")) == ["A.TXT", "A.TXT.ok", "B.TXT", "C.TXT"]


def test_a_done_file_left_without_its_output_gets_its_output_from_the_next_run(
        tmp_path: Path) -> None:
    """What a power cut between the two renames may leave: the done-file on the disk and
    the output's rename lost, the file planned and not recorded as written. Staged here
    by a kill after both renames and the output then removed: the next run writes the
    output again, byte-identical to a clean run's, and keeps the done-file it finds."""
    worlds = {}
    for name in ("clean", "cut"):
        worlds[name] = make_world(tmp_path / name)
        for n in range(2):
            (tmp_path / name / "inbox" / f"o{n}.csv").write_text(order_file(n),
                                                                   encoding="utf-8")
    assert bridge_run(worlds["clean"])[0] == 0
    code, _ = bridge_run(worlds["cut"], {"BRIDGE_KILL_AT": "before-output-commit:2"})
    assert code == -signal.SIGKILL
    erp = tmp_path / "cut" / "erp"
    assert sorted(os.listdir(erp)) == ["ART00001.TXT", "ART00001.TXT.ok", "ART00002.TXT",
                                       "ART00002.TXT.ok"]
    (erp / "ART00002.TXT").unlink()  # its rename lost; its done-file kept
    code, out = bridge_run(worlds["cut"])
    assert code == 0, out
    assert tree(erp) == tree(tmp_path / "clean" / "erp")
    assert len(tree(erp)) == 4
    cfg = load(worlds["cut"])
    ledger = open_ledger(cfg.path(cfg.ledger))
    try:
        assert [f.state for f in ledger.files()] == ["done", "done"]
        assert [o.state for f in ledger.files() for o in ledger.outputs(f.id)] == [
            "written", "written"]
    finally:
        ledger.close()
