"""Under ``ready.rule: done-file``, a sender's done-file that is a folder (``a.csv.ok/``,
made by a script's ``mkdir`` for a ``touch``) made its file wait for ever, unsaid: only a
regular done-file counts, rightly, and a folder in the source was not even listed. Such a
done-file is now recorded once as ``not-a-file``, as one that is a link or a FIFO is, its
file waiting, as it must, until a real done-file comes: on a local folder, over SFTP and
over FTP (MLSD and LIST alike). A folder that is no done-file stays unsaid."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import run_pass
from tests.flowkit import CONFIG, bridge_cli, make_world, order_file
from tests.sshd import (
    Sshd,
    sshd_fixture,  # noqa: F401  (a fixture)
)
from tests.test_not_files import rejected
from tests.test_sftp_flows import World

pytest.importorskip("pyftpdlib")

from tests.ftpd import PASSWORD, USER
from tests.test_ftp import FLOW
from tests.test_ftp_not_files import serving


def sender(inbox: Path) -> None:
    """a.csv with a done-file that is a folder, b.csv with a real one, and a folder under a
    name the flow takes that is no done-file."""
    (inbox / "a.csv").write_text(order_file(1), encoding="utf-8")
    (inbox / "a.csv.ok").mkdir()
    (inbox / "b.csv").write_text(order_file(2), encoding="utf-8")
    (inbox / "b.csv.ok").write_bytes(b"")
    (inbox / "sub.csv").mkdir()


def mended(inbox: Path) -> None:
    (inbox / "a.csv.ok").rmdir()  # the sender puts a real done-file in its place
    (inbox / "a.csv.ok").write_bytes(b"")


def test_a_done_file_that_is_a_folder_is_said_once(tmp_path: Path, runner: CliRunner) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("ready: {window: 0, min_age: 0}",
                                              "ready: {rule: done-file}"))
    inbox = tmp_path / "inbox"
    sender(inbox)
    first = bridge_cli(cfg, "run")
    second = bridge_cli(cfg, "run")
    check = runner.invoke(main, ["--config", str(cfg), "status", "--check"])
    said = first.stdout + first.stderr
    assert first.returncode == 1, said
    assert "a.csv.ok is a folder, not a file" in said, said
    assert "sub.csv" not in said, said
    again = second.stdout + second.stderr
    assert second.returncode == 0 and ".ok" not in again, again  # said once
    assert rejected(tmp_path / "state" / "ledger.sqlite") == {"a.csv.ok": ["not-a-file"]}
    assert check.exit_code == 1, check.output
    assert "not a file: articoli: a.csv.ok" in check.output, check.output
    assert len(list((tmp_path / "erp").glob("ART*.TXT"))) == 1  # b.csv alone
    mended(inbox)
    third = bridge_cli(cfg, "run")
    assert third.returncode == 0, third.stdout + third.stderr
    assert len(list((tmp_path / "erp").glob("ART*.TXT"))) == 2  # a.csv, taken now


def test_a_done_file_that_is_a_folder_on_sftp_is_said_once(sshd: Sshd, tmp_path: Path
                                                             ) -> None:
    world = World(tmp_path, sshd, ready="{rule: done-file}")
    sender(world.inbox)
    first = world.run()
    said = {o.name: (o.state, o.message) for o in first.outcomes}
    assert sorted(said) == ["a.csv.ok", "b.csv"], said
    assert said["b.csv"][0] == "done", said
    assert said["a.csv.ok"][0] == "rejected" and "is a folder" in said["a.csv.ok"][1], said
    assert world.run().outcomes == []  # once
    assert rejected(tmp_path / "state" / "ledger.sqlite") == {"a.csv.ok": ["not-a-file"]}
    mended(world.inbox)
    assert [(o.name, o.state) for o in world.run().outcomes] == [("a.csv", "done")]


@pytest.mark.parametrize("mlsd", [True, False], ids=["mlsd", "list"])
def test_a_done_file_that_is_a_folder_on_ftp_is_said_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlsd: bool) -> None:
    monkeypatch.setenv("BRIDGE_TEST_FTP_PASSWORD", PASSWORD)
    home = tmp_path / "ftp"
    (home / "inbox").mkdir(parents=True)
    sender(home / "inbox")
    with serving(home, mlsd=mlsd) as server:
        cfg = load(make_world(tmp_path / "bridge", FLOW.format(
            port=server.port, user=USER, ready="rule: done-file")))
        first = run_pass(cfg)
        second = run_pass(cfg)
        mended(home / "inbox")
        third = run_pass(cfg)
    said = {o.name: (o.state, o.message) for o in first.outcomes}
    assert sorted(said) == ["a.csv.ok", "b.csv"], said
    assert said["b.csv"][0] == "done", said
    assert said["a.csv.ok"][0] == "rejected" and "is a folder" in said["a.csv.ok"][1], said
    assert second.outcomes == []  # once
    assert rejected(tmp_path / "bridge" / "state" / "ledger.sqlite") == {
        "a.csv.ok": ["not-a-file"]}
    assert [(o.name, o.state) for o in third.outcomes] == [("a.csv", "done")]
    assert os.path.isdir(home / "inbox" / "sub.csv")  # left, unsaid
