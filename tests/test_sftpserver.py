"""The embedded SFTP server, driven by a plain paramiko client: keys, confinement, renames,
and a stop() that leaves no thread, connection or socket behind."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from bridge.sftpserver import SftpServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SftpServer]:
    with SftpServer(tmp_path / "root", user="shop") as srv:
        yield srv


def connect(srv: SftpServer, tmp_path: Path, user: str = "shop",
            key: paramiko.PKey | None = None) -> tuple[paramiko.Transport, paramiko.SFTPClient]:
    if key is None:
        key = paramiko.Ed25519Key.from_private_key_file(
            str(srv.write_client_key(tmp_path / "id_ed25519")))
    transport = paramiko.Transport(("127.0.0.1", srv.port))
    try:
        transport.connect(username=user, pkey=key)
        return transport, paramiko.SFTPClient.from_transport(transport)  # type: ignore[return-value]
    except BaseException:
        transport.close()
        raise


def test_host_key_matches_known_hosts_line_and_fingerprint(server: SftpServer,
                                                           tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(server.known_hosts_line(), encoding="ascii")
    keys = paramiko.HostKeys(str(known))
    expected = keys.lookup(f"[127.0.0.1]:{server.port}")
    assert expected is not None and "ssh-ed25519" in expected
    transport, _sftp = connect(server, tmp_path)
    try:
        seen = transport.get_remote_server_key()
        assert seen == expected["ssh-ed25519"]
        assert server.fingerprint.startswith("SHA256:")
        assert server.fingerprint == "SHA256:" + seen.fingerprint.split(":", 1)[1]
    finally:
        transport.close()


def test_every_server_has_a_fresh_host_key(tmp_path: Path) -> None:
    a, b = SftpServer(tmp_path / "a"), SftpServer(tmp_path / "b")
    assert a.fingerprint != b.fingerprint


def test_list_get_put_and_posix_rename(server: SftpServer, tmp_path: Path) -> None:
    (server.root / "inbox").mkdir()
    (server.root / "inbox" / "ordini 1 è.csv").write_bytes(b"a;b\r\n1;2\r\n")
    transport, sftp = connect(server, tmp_path)
    try:
        assert sftp.normalize(".") == "/"
        attrs = sftp.listdir_attr("inbox")
        assert [(a.filename, a.st_size) for a in attrs] == [("ordini 1 è.csv", 10)]
        assert sftp.open("inbox/ordini 1 è.csv").read() == b"a;b\r\n1;2\r\n"
        sftp.putfo(io.BytesIO(b"new"), "inbox/.out.part")
        (server.root / "inbox" / "out.txt").write_bytes(b"old")
        sftp.posix_rename("inbox/.out.part", "inbox/out.txt")
        assert (server.root / "inbox" / "out.txt").read_bytes() == b"new"
        assert not (server.root / "inbox" / ".out.part").exists()
        sftp.mkdir("archive")
        sftp.rename("inbox/out.txt", "archive/out.txt")
        assert (server.root / "archive" / "out.txt").is_file()
        sftp.remove("archive/out.txt")
        assert sftp.listdir("archive") == []
    finally:
        transport.close()


@pytest.mark.parametrize("escape", ["../outside.txt", "../../outside.txt",
                                    "/../outside.txt", "inbox/../../outside.txt"])
def test_the_user_cannot_leave_the_folder(tmp_path: Path, escape: str) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_bytes(b"secret")
    with SftpServer(tmp_path / "jail" / "root", user="shop") as srv:
        (srv.root / "inbox").mkdir()
        transport, sftp = connect(srv, tmp_path)
        try:
            # The jail is two levels below the secret: every escape lands inside the root.
            with pytest.raises(FileNotFoundError):
                sftp.open(escape).read()
            sftp.putfo(io.BytesIO(b"x"), escape)
            assert secret.read_bytes() == b"secret"
            assert (srv.root / "outside.txt").read_bytes() == b"x"
            assert set(sftp.listdir("../..")) == {p.name for p in srv.root.iterdir()}
            with pytest.raises(OSError, match="links are not allowed"):
                sftp.symlink(str(tmp_path), "out")
            assert not (srv.root / "out").exists()
        finally:
            transport.close()


def test_wrong_user_and_wrong_key_are_refused(server: SftpServer, tmp_path: Path) -> None:
    with pytest.raises(paramiko.AuthenticationException):
        connect(server, tmp_path, user="root")
    stranger = paramiko.Ed25519Key.from_private_key_file(
        str(SftpServer(tmp_path / "x").write_client_key(tmp_path / "other")))
    with pytest.raises(paramiko.AuthenticationException):
        connect(server, tmp_path, key=stranger)


def test_stop_closes_sessions_listener_and_thread(tmp_path: Path) -> None:
    before = set(threading.enumerate())
    srv = SftpServer(tmp_path / "root").start()
    clients: list[tuple[paramiko.Transport, paramiko.SFTPClient]] = []
    try:
        port = srv.port
        for _ in range(3):
            clients.append(connect(srv, tmp_path, user="bridge"))
        for _, sftp in clients:
            assert sftp.listdir(".") == []
        assert srv.connections == 3
        started = time.perf_counter()
        srv.stop()
        took = time.perf_counter() - started
        assert took < 2.0
        assert srv.connections == 0
        for transport, sftp in clients:
            # The server hung up on every open session: the next request fails at once.
            with pytest.raises((OSError, EOFError, paramiko.SSHException)):
                sftp.listdir(".")
            transport.close()
        # Threads end on their own, soon; a busy machine may take seconds to run them.
        deadline = time.monotonic() + 30
        while set(threading.enumerate()) - before and time.monotonic() < deadline:
            time.sleep(0.02)
        assert set(threading.enumerate()) - before == set()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
        srv.stop()  # a second stop does nothing
    finally:  # whatever failed above, nothing is left running for the tests after this one
        for transport, _ in clients:
            transport.close()
        srv.stop()


def test_start_twice_is_refused(server: SftpServer) -> None:
    with pytest.raises(RuntimeError, match="already running"):
        server.start()
