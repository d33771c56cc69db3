"""Uploads over SFTP are synced to the server's disk before they get their final name,
where the server offers it (fsync@openssh.com, OpenSSH since 6.5): a power cut on the
server cannot leave an output that the ledger calls written empty or short under its final
name. Shown by OpenSSH's own sftp-server, logging every request it serves, in order."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.config import SftpConnection
from bridge.transport.sftp import SftpTransport
from tests.sshd import running

NAMES = ("a.txt", "b.txt", "c.txt")


@contextlib.contextmanager
def logged(home: Path, denied: str = "") -> Iterator[tuple[SftpTransport, Path, Path]]:
    """A transport to an sshd whose sftp-server logs its requests (refusing those named
    in ``denied``); with the root the transport writes under, and the log."""
    log, root = home / "sftp.log", home / "remote"
    root.mkdir(parents=True)
    with running(home / "sshd", sftp_log=log, sftp_denied=denied) as server:
        t = SftpTransport("erp", SftpConnection.model_validate(server.connection(root)),
                          lambda p: p)
        try:
            yield t, root, log
        finally:
            t.close()


def served(log: Path) -> list[str]:
    """The requests the server served, in order, as it logged them."""
    return [line.strip() for line in log.read_text(errors="replace").splitlines()]


def first(lines: list[str], pattern: str) -> int:
    found = [i for i, line in enumerate(lines) if re.search(pattern, line)]
    assert found, f"no request matches {pattern!r} in:\n" + "\n".join(lines)
    return found[0]


@pytest.mark.parametrize("link", [True, False], ids=["hardlink", "rename"])
@pytest.mark.parametrize("kind", ["file", "bytes"])
def test_an_upload_is_synced_before_its_final_name_shows_it(tmp_path: Path, link: bool,
                                                            kind: str) -> None:
    data = b"1234\n" * 10_000
    with logged(tmp_path) as (t, root, log):
        t.upload(b"first\n", "out", "first.txt")  # the server's extensions known
        assert t._pipe is not None and t._pipe.sync
        t._hardlink = link
        src: Path | bytes = data
        if kind == "file":
            src = tmp_path / "src"
            src.write_bytes(data)
        t.upload(src, "out", "ORD00001.TXT", mode=0o640)
        t.close()
        assert (root / "out" / "ORD00001.TXT").read_bytes() == data
        lines = served(log)
    tmp = r'"[^"]*/out/\.ORD00001\.TXT\.[^"/]*"'
    opened = first(lines, rf"^open {tmp} flags WRITE,CREATE,EXCL")
    synced = first(lines, rf"^fsync {tmp}")
    closed = first(lines, rf"^close {tmp}")
    named = first(lines, r'new "[^"]*/out/ORD00001\.TXT"')
    assert opened < synced < closed < named
    assert lines[named].startswith("hardlink" if link else "posix-rename")


def test_a_server_that_does_not_offer_it_is_not_asked(tmp_path: Path) -> None:
    with logged(tmp_path, denied="fsync") as (t, root, log):
        for name in NAMES:
            t.upload(name.encode(), "out", name)
        assert t._pipe is not None and not t._pipe.sync
        t.close()
        assert [(root / "out" / n).read_bytes() for n in NAMES] == [n.encode() for n in NAMES]
        assert not [line for line in served(log) if line.startswith("fsync")]


def test_a_server_that_refuses_to_sync_still_gets_every_file(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Offered, then refused (a file system that cannot sync, say): said once, the file
    written all the same, and the next ones not asked: no flow waits on it for good."""
    with logged(tmp_path, denied="fsync") as (t, root, log), \
            caplog.at_level(logging.WARNING, logger="bridge"):
        t.upload(b"first\n", "out", "first.txt")
        assert t._pipe is not None
        t._pipe.sync = True  # as a server that offers it
        for name in NAMES:
            t.upload(name.encode(), "out", name)
        assert not t._pipe.sync
        t.close()
        assert [(root / "out" / n).read_bytes() for n in NAMES] == [n.encode() for n in NAMES]
        said = [r.getMessage() for r in caplog.records if "refused to sync" in r.getMessage()]
        assert len(said) == 1 and "a.txt" not in said[0]
        assert sum("Refusing denylisted fsync" in line for line in served(log)) == 2
