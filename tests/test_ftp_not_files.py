"""Entries of an FTP source folder that are not files, on a server that lists with MLSD.

MLSD servers list what a name points to: pyftpdlib (as many) says ``type=file`` of a FIFO
and of a link (even one leading out of the user's root), so bridge took them: a FIFO read
hung the server for every client, a link out of the root was retried as gone, pass after
pass. Others say ``type=OS.unix=slink`` of a link, which was skipped unsaid. Each is now
listed as what it is and recorded once as ``not-a-file``, as a LIST-only server's are."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("pyftpdlib")

from bridge.config import FtpConnection, load
from bridge.engine.runner import run_pass
from bridge.transport.ftp import FtpTransport
from tests.flowkit import bridge_cli, make_world, order_file
from tests.flowkit.spy import Spying
from tests.ftpd import PASSWORD, USER, FtpServer
from tests.test_ftp import FLOW
from tests.test_not_files import rejected


@contextlib.contextmanager
def serving(home: Path, **kw: object) -> Iterator[FtpServer]:
    server = FtpServer(home, **kw).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def odd_folder(root: Path) -> Path:
    """An FTP home whose ``inbox`` holds a file, a link to it, a link out of the home, a
    dangling link and a FIFO, all under names a flow takes."""
    home = root / "ftp"
    inbox = home / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "a.csv").write_text(order_file(1, 2), encoding="utf-8")
    (root / "outside.csv").write_text(order_file(9, 2), encoding="utf-8")
    (inbox / "link.csv").symlink_to(inbox / "a.csv")
    (inbox / "out.csv").symlink_to(root / "outside.csv")
    (inbox / "dangling.csv").symlink_to(root / "nowhere.csv")
    os.mkfifo(inbox / "feed.csv")
    return home


@pytest.mark.parametrize("mlsd", [True, False], ids=["mlsd", "list"])
def test_links_and_fifos_are_listed_as_what_they_are(tmp_path: Path, mlsd: bool) -> None:
    home = odd_folder(tmp_path)
    conn = FtpConnection.model_validate({
        "type": "ftp", "host": "127.0.0.1", "port": 0, "user": USER, "password": PASSWORD,
        "timeout": 5.0})
    with serving(home, mlsd=mlsd) as server:
        conn = conn.model_copy(update={"port": server.port})
        transport = FtpTransport("shop", conn, lambda p: tmp_path / p)
        try:
            got = sorted((e.name, e.kind) for e in transport.list("inbox"))
        finally:
            transport.close()
    assert got == [("a.csv", None), ("dangling.csv", "a symbolic link"),
                   ("feed.csv", "a FIFO"), ("link.csv", "a symbolic link"),
                   ("out.csv", "a symbolic link")]


def test_an_mlsd_server_that_refuses_list_is_listed_by_mlsd(tmp_path: Path) -> None:
    home = tmp_path / "ftp"
    (home / "inbox").mkdir(parents=True)
    (home / "inbox" / "a.csv").write_text(order_file(1, 2), encoding="utf-8")
    conn = FtpConnection.model_validate({
        "type": "ftp", "host": "127.0.0.1", "port": 0, "user": USER, "password": PASSWORD,
        "timeout": 5.0})
    with serving(home, listing=False) as server:
        transport = FtpTransport("shop", conn.model_copy(update={"port": server.port}),
                                 lambda p: tmp_path / p)
        try:
            assert [(e.name, e.kind) for e in transport.list("inbox")] == [("a.csv", None)]
            assert transport.list("missing") == []  # a folder not there: nothing
            assert transport.stat("inbox", "a.csv") is not None  # the session goes on
        finally:
            transport.close()


def test_an_mlsd_servers_links_and_fifos_are_said_once(tmp_path: Path) -> None:
    home = odd_folder(tmp_path)
    env = {"BRIDGE_TEST_FTP_PASSWORD": PASSWORD}
    with serving(home) as server:
        cfg = make_world(tmp_path / "bridge", FLOW.format(port=server.port, user=USER,
                                                          ready="window: 0, min_age: 0"))
        # A FIFO read would hang the server: the run would not end in its time.
        first = bridge_cli(cfg, "run", env=env, timeout=90)
        second = bridge_cli(cfg, "run", env=env, timeout=90)
    said = first.stdout + first.stderr
    assert first.returncode == 1, said
    for name, what in (("link.csv", "symbolic link"), ("out.csv", "symbolic link"),
                       ("dangling.csv", "symbolic link"), ("feed.csv", "FIFO")):
        assert f"{name} is {what}" in said or f"{name} is a {what}" in said, (name, said)
    assert "gone" not in said and "retry" not in said, said
    again = second.stdout + second.stderr
    assert second.returncode == 0, again  # said once
    assert rejected(tmp_path / "bridge" / "state" / "ledger.sqlite") == {
        n: ["not-a-file"] for n in ("dangling.csv", "feed.csv", "link.csv", "out.csv")}
    assert len(list((tmp_path / "bridge" / "erp").glob("ART*.TXT"))) == 1  # a.csv alone
    assert (home / "inbox" / "link.csv").is_symlink()  # left where it is
    assert (home / "inbox" / "feed.csv").exists()


def test_a_file_swapped_for_a_link_as_it_is_read_is_said_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a LIST-only server (here one that refuses to send it, too), a file swapped for
    a link right before it is read was refused (unreadable-file) and remembered as SIZE
    and MDTM saw it, through the link; the next listing showed the link itself, and it was
    refused a second time, as not-a-file. Once now."""
    monkeypatch.setenv("BRIDGE_TEST_FTP_PASSWORD", PASSWORD)
    home = tmp_path / "ftp"
    (home / "inbox").mkdir(parents=True)
    (home / "inbox" / "a.csv").write_text(order_file(1, 2), encoding="utf-8")
    (home / "other.csv").write_text(order_file(9, 2), encoding="utf-8")
    swapped: list[Path] = []

    def hook(connection: str, op: str, n: int, args: tuple[object, ...]) -> None:
        if op == "download" and not swapped:  # listed, claimed: now it is a link
            held = home / str(args[0]) / str(args[1])
            held.unlink()
            held.symlink_to(home / "other.csv")
            swapped.append(held)

    with serving(home, mlsd=False, unreadable="inbox") as server:
        cfg = load(make_world(tmp_path / "bridge", FLOW.format(
            port=server.port, user=USER, ready="window: 0, min_age: 0")))
        first = run_pass(cfg, connect=Spying(hook))
        second = run_pass(cfg)
        third = run_pass(cfg)
    assert swapped, [(o.name, o.state, o.message) for o in first.outcomes]
    assert [(o.name, o.state) for o in first.outcomes] == [("a.csv", "rejected")]
    assert "symbolic link" in first.outcomes[0].message, first.outcomes[0].message
    assert [(o.name, o.state, o.message) for o in second.outcomes + third.outcomes] == []
    assert (home / "inbox" / "a.csv").is_symlink()  # left where it is


@pytest.mark.parametrize(("fact", "want"), [
    ("file", None), ("File", None), ("dir", ""), ("cdir", ""), ("pdir", ""),
    ("OS.unix=slink:/srv/ftp/a.csv", "a symbolic link"), ("OS.unix=symlink", "a symbolic link"),
    ("OS.unix=slink", "a symbolic link"), ("os.unix=fifo", "a FIFO"),
    ("OS.unix=socket", "a socket"), ("OS.unix=chr-4/1", "a device"),
    ("OS.unix=blk-8/0", "a device"), ("OS.unix=door", "not a regular file"),
    ("", "not a regular file"),
])
def test_mlsd_type_facts(fact: str, want: str | None) -> None:
    """A type fact that is neither a file nor a folder is told, never skipped unsaid."""
    from bridge.transport.ftp_lines import mlsd_kind

    assert mlsd_kind(fact) == want


@pytest.mark.parametrize("mlsd", [True, False], ids=["mlsd", "list"])
@pytest.mark.parametrize("swap", ["link", "fifo"])
def test_a_file_swapped_after_it_was_listed_is_refused_unread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlsd: bool, swap: str) -> None:
    """Listed as a file, claimed, then swapped for a link or a FIFO right before it is
    read: the server followed the link (another file's bytes were taken for the sender's)
    or opened the FIFO (and hung, for every client). bridge asks what the name is first
    (STAT, on the control connection): refused (unreadable-file), never read."""
    monkeypatch.setenv("BRIDGE_TEST_FTP_PASSWORD", PASSWORD)
    home = tmp_path / "ftp"
    (home / "inbox").mkdir(parents=True)
    (home / "inbox" / "a.csv").write_text(order_file(1, 2), encoding="utf-8")
    (home / "other.csv").write_text(order_file(9, 2), encoding="utf-8")
    swapped: list[Path] = []

    def hook(connection: str, op: str, n: int, args: tuple[object, ...]) -> None:
        if op == "download" and not swapped:
            held = home / str(args[0]) / str(args[1])
            held.unlink()
            if swap == "link":
                held.symlink_to(home / "other.csv")
            else:
                os.mkfifo(held)
            swapped.append(held)

    with serving(home, mlsd=mlsd) as server:
        cfg = load(make_world(tmp_path / "bridge", FLOW.format(
            port=server.port, user=USER, ready="window: 0, min_age: 0")))
        first = run_pass(cfg, connect=Spying(hook))
        second = run_pass(cfg)
    assert swapped
    said = [(o.name, o.state, o.message) for o in first.outcomes]
    assert [(o.name, o.state) for o in first.outcomes] == [("a.csv", "rejected")], said
    assert rejected(tmp_path / "bridge" / "state" / "ledger.sqlite") == {
        "a.csv": ["unreadable-file"]}, said
    assert second.outcomes == []  # once
    assert not (tmp_path / "bridge" / "erp").exists() or not list(
        (tmp_path / "bridge" / "erp").iterdir())  # nothing of other.csv went anywhere


def test_a_file_read_in_place_that_the_server_will_not_send_is_said_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``archive: leave``: a file the server lists and refuses to send came out as a bug
    of bridge (internal error, exit 4), pass after pass. Recorded once now."""
    monkeypatch.setenv("BRIDGE_TEST_FTP_PASSWORD", PASSWORD)
    home = tmp_path / "ftp"
    (home / "inbox").mkdir(parents=True)
    (home / "inbox" / "a.csv").write_text(order_file(1, 2), encoding="utf-8")
    with serving(home, mlsd=False, unreadable="inbox") as server:
        cfg = load(make_world(tmp_path / "bridge", FLOW.format(
            port=server.port, user=USER, ready="window: 0, min_age: 0").replace(
            "    retry_backoff: 0\n", "    retry_backoff: 0\n    archive: leave\n")))
        first = run_pass(cfg)
        second = run_pass(cfg)
    assert first.internal_errors == [], first
    assert [(o.name, o.state) for o in first.outcomes] == [("a.csv", "rejected")], first
    assert "refuses to send" in first.outcomes[0].message
    assert second.outcomes == [] and second.internal_errors == [], second
    assert rejected(tmp_path / "bridge" / "state" / "ledger.sqlite") == {
        "a.csv": ["unreadable-file"]}
