"""A full work area while a file comes from a server (SFTP, FTP): the disk that is full is
bridge's own, not the server's, and the connection did not drop. The message says so, and
the connection stays in use. Real servers; a real small tmpfs as the work area (root)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bridge.config import FtpConnection, SftpConnection
from bridge.errors import TransientError
from bridge.transport.sftp import SftpTransport
from tests.sshd import Sshd, shared_sshd_fixture  # noqa: F401  (a fixture)
from tests.test_full_disk import small_disk  # noqa: F401  (a fixture)

BIG = 300_000


def said_full(exc: TransientError, name: str) -> bool:
    said = str(exc)
    return "work area" in said and "disk is full" in said and name in said


def test_an_sftp_download_into_a_full_work_area_says_whose_disk_is_full(
        shared_sshd: Sshd, tmp_path: Path, small_disk: Path) -> None:  # noqa: F811
    root = tmp_path / "remote"
    root.mkdir()
    (root / "big.csv").write_bytes(os.urandom(BIG))
    (root / "small.csv").write_bytes(b"x" * 1000)
    t = SftpTransport("shop", SftpConnection.model_validate(shared_sshd.connection(root)),
                      lambda p: p)
    try:
        t.list("")
        first = t._ssh
        with pytest.raises(TransientError) as caught:
            t.download("", "big.csv", small_disk / "1.download")
        assert said_full(caught.value, "big.csv"), caught.value
        assert os.listdir(small_disk) == []
        t.download("", "small.csv", small_disk / "2.download")  # the same session
        assert t._ssh is first
        assert (small_disk / "2.download").read_bytes() == b"x" * 1000
    finally:
        t.close()


def test_an_ftp_download_into_a_full_work_area_says_whose_disk_is_full(
        tmp_path: Path, small_disk: Path) -> None:  # noqa: F811
    pytest.importorskip("pyftpdlib")
    from bridge.transport.ftp import FtpTransport
    from tests.ftpd import PASSWORD, USER, FtpServer

    home = tmp_path / "ftp"
    home.mkdir()
    (home / "big.csv").write_bytes(os.urandom(BIG))
    (home / "small.csv").write_bytes(b"x" * 1000)
    server = FtpServer(home).start()
    try:
        conn = FtpConnection.model_validate({
            "type": "ftp", "host": "127.0.0.1", "port": server.port, "user": USER,
            "password": PASSWORD, "timeout": 5.0})
        t = FtpTransport("erp", conn, lambda p: tmp_path / p)
        try:
            with pytest.raises(TransientError) as caught:
                t.download("", "big.csv", small_disk / "1.download")
            assert said_full(caught.value, "big.csv"), caught.value
            assert os.listdir(small_disk) == []
            t.download("", "small.csv", small_disk / "2.download")
            assert (small_disk / "2.download").read_bytes() == b"x" * 1000
        finally:
            t.close()
    finally:
        server.stop()
