"""The SFTP transport against a real OpenSSH sshd: the port's methods, host keys, auth,
timeouts and reconnects, and `bridge connections`."""

from __future__ import annotations

import base64
import contextlib
import errno
import logging
import os
import posixpath
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge import hostkeys
from bridge.cli import main
from bridge.config import SftpConnection
from bridge.errors import ConfigError, TransientError
from bridge.sftpserver import SftpServer
from bridge.transport import UnsafeName, sftp_pipe
from bridge.transport.base import TargetExists
from bridge.transport.sftp import SftpTransport
from tests.flowkit.fence import refused_then_published
from tests.sshd import (
    Sshd,
    _children,
    alive,
    running,
    shared_sshd_fixture,  # noqa: F401  (a fixture)
    sshd_fixture,  # noqa: F401  (a fixture)
    write_key,
)

Connect = Callable[..., SftpTransport]


@pytest.fixture
def transport() -> Iterator[Connect]:
    """Opens transports to a server, and closes every one after the test, passed or failed:
    a connection left open would fail a later test, through its ResourceWarning."""
    with contextlib.ExitStack() as opened:

        def connect(server: Sshd, root: Path, **extra: object) -> SftpTransport:
            conn = SftpConnection.model_validate(server.connection(root, **extra))
            t = SftpTransport("shop", conn, lambda p: p)
            opened.callback(t.close)
            return t

        yield connect


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SftpTransport, "backoff", (0.05, 0.1))


@pytest.fixture
def remote(shared_sshd: Sshd, tmp_path: Path,
           transport: Connect) -> Iterator[tuple[SftpTransport, Path]]:
    root = tmp_path / "remote"
    root.mkdir()
    yield transport(shared_sshd, root), root


# -- the port -------------------------------------------------------------------------------


def test_list_returns_regular_files_with_size_and_mtime(remote: tuple[SftpTransport, Path]
                                                        ) -> None:
    t, root = remote
    (root / "in").mkdir()
    (root / "in" / "a.csv").write_bytes(b"x" * 10)
    (root / "in" / "ordine 2 è.csv").write_bytes(b"yy")
    (root / "in" / "sub").mkdir()
    os.utime(root / "in" / "a.csv", (1_700_000_000, 1_700_000_000))
    entries = {e.name: e for e in t.list("in")}
    assert set(entries) == {"a.csv", "ordine 2 è.csv"}  # no folders
    assert entries["a.csv"].size == 10
    assert entries["a.csv"].mtime == 1_700_000_000
    assert t.list("missing") == []  # a folder not made yet is empty, not an error...
    # ...and is_folder tells it from an empty one (a file is no folder either)
    assert (t.is_folder("in"), t.is_folder("missing"), t.is_folder("in/a.csv")) == (
        True, False, False)


def test_connection_uses_nodelay_and_aes_gcm(remote: tuple[SftpTransport, Path]) -> None:
    t, _ = remote
    t.list("")
    assert t._ssh is not None
    sock = t._ssh.sock
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    assert t._ssh.local_cipher == "aes128-gcm@openssh.com"
    first = t._ssh
    t.stat("", "nothing")
    assert t._ssh is first  # one connection for the whole pass


#: Around one 32 KB request, one 255 KB request (OpenSSH's limit), 1 MB, and a big file.
SIZES = [0, 1, 10_000, 32767, 32768, 32769, 261119, 261120, 261121, (1 << 20) - 1, 1 << 20,
         (1 << 20) + 1, 2_500_001, 5_000_000]


@pytest.mark.parametrize("size", SIZES)
def test_download_is_byte_exact(remote: tuple[SftpTransport, Path], tmp_path: Path,
                                size: int) -> None:
    t, root = remote
    data = os.urandom(size)
    (root / "big file è.bin").write_bytes(data)
    dest = tmp_path / "local.bin"
    t.download("", "big file è.bin", dest)
    assert dest.read_bytes() == data
    assert not dest.with_name("local.bin.part").exists()


@pytest.mark.parametrize("size", SIZES)
def test_upload_is_byte_exact(remote: tuple[SftpTransport, Path], tmp_path: Path,
                              size: int) -> None:
    t, root = remote
    data = os.urandom(size)
    (tmp_path / "src.bin").write_bytes(data)
    t.upload(tmp_path / "src.bin", "out", "file è.bin")
    assert (root / "out" / "file è.bin").read_bytes() == data
    assert [p.name for p in (root / "out").iterdir()] == ["file è.bin"]


def test_requests_use_the_servers_limits(remote: tuple[SftpTransport, Path]) -> None:
    t, _ = remote
    t.list("")
    assert t._pipe is not None
    assert t._pipe.read_size == t._pipe.write_size == 261120  # limits@openssh.com


@pytest.mark.parametrize("read_size", [4096, 1 << 20])
def test_short_answers_and_small_requests_stay_byte_exact(
        remote: tuple[SftpTransport, Path], tmp_path: Path, read_size: int) -> None:
    # 1 MB reads are cut to 255 KB by OpenSSH: every answer is short and the rest is asked
    # again; 4 KB reads keep 512 requests in flight.
    t, root = remote
    data = os.urandom(3_000_001)
    (root / "f.bin").write_bytes(data)
    t.list("")
    assert t._pipe is not None
    t._pipe.read_size = t._pipe.write_size = read_size
    t.download("", "f.bin", tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == data
    if read_size < 65536:
        t.upload(tmp_path / "f.bin", "out", "g.bin")
        assert (root / "out" / "g.bin").read_bytes() == data


def test_a_server_without_limits_gets_32k_requests(shared_sshd: Sshd, tmp_path: Path,
                                                   transport: Connect,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bridge.transport.sftp.Pipe.ask_limits", lambda self: None)
    root = tmp_path / "remote"
    root.mkdir()
    data = os.urandom(700_001)
    (tmp_path / "src").write_bytes(data)
    t = transport(shared_sshd, root)
    try:
        t.upload(tmp_path / "src", "", "a.bin")
        t.download("", "a.bin", tmp_path / "back")
        assert t._pipe is not None and t._pipe.read_size == 32768
    finally:
        t.close()
    assert (tmp_path / "back").read_bytes() == data


def test_failures_leave_the_session_usable(remote: tuple[SftpTransport, Path],
                                           tmp_path: Path) -> None:
    t, root = remote
    (root / "in").mkdir()
    (root / "in" / "a.txt").write_bytes(b"a" * 100_000)
    (root / "in" / "secret").write_bytes(b"s")
    (root / "in" / "secret").chmod(0)
    (root / "ro").mkdir(mode=0o500)
    (tmp_path / "src").write_bytes(b"x" * 100_000)
    t.list("in")
    first = t._ssh
    with pytest.raises(TransientError, match="missing"):
        t.download("in", "missing", tmp_path / "m")
    assert not (tmp_path / "m.part").exists() and not (tmp_path / "m").exists()
    if os.geteuid() != 0:  # root reads and writes whatever the modes say
        with pytest.raises(TransientError, match="secret"):
            t.download("in", "secret", tmp_path / "s")
        with pytest.raises(TransientError, match="ro"):
            t.upload(tmp_path / "src", "ro", "b.txt")
    t.download("in", "a.txt", tmp_path / "a.txt")
    assert (tmp_path / "a.txt").read_bytes() == b"a" * 100_000
    assert t._ssh is first  # answers all taken: no reconnect was needed
    (root / "ro").chmod(0o700)


def test_a_full_local_disk_mid_download_drains_the_answers(
        remote: tuple[SftpTransport, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    t, root = remote
    data = os.urandom(5_000_000)
    (root / "big.bin").write_bytes(data)
    real = sftp_pipe._pwrite
    calls = []

    def pwrite(fd: int, view: memoryview, offset: int) -> None:
        calls.append(offset)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, view, offset)

    t.list("")
    first = t._ssh
    monkeypatch.setattr(sftp_pipe, "_pwrite", pwrite)
    with pytest.raises(TransientError, match="No space left"):
        t.download("", "big.bin", tmp_path / "big.bin")
    assert not (tmp_path / "big.bin.part").exists() and not (tmp_path / "big.bin").exists()
    monkeypatch.setattr(sftp_pipe, "_pwrite", real)
    t.download("", "big.bin", tmp_path / "big.bin")  # on the same session, still in step
    assert t._ssh is first
    assert (tmp_path / "big.bin").read_bytes() == data


def test_upload_makes_folders_renames_and_never_overwrites(remote: tuple[SftpTransport, Path],
                                                           tmp_path: Path) -> None:
    t, root = remote
    src = tmp_path / "src"
    src.write_bytes(b"first\r\n")
    t.upload(src, "out/2024/01", "ART 0001 è.TXT")
    final = root / "out" / "2024" / "01" / "ART 0001 è.TXT"
    assert final.read_bytes() == b"first\r\n"
    src.write_bytes(b"second\r\n")
    with pytest.raises(TargetExists, match="exists already"):
        t.upload(src, "out/2024/01", "ART 0001 è.TXT")
    assert final.read_bytes() == b"first\r\n"
    assert sorted(p.name for p in final.parent.iterdir()) == ["ART 0001 è.TXT"]  # no temp left


@pytest.mark.parametrize("link", [True, False], ids=["hardlink", "rename"])
def test_bytes_are_uploaded_as_a_file_is(remote: tuple[SftpTransport, Path], link: bool
                                         ) -> None:
    """A done-file's few bytes go up with no local file made for them, the same way: byte
    exact, a taken name left alone, no temporary name left behind."""
    t, root = remote
    t.upload(b"first", "out", "first.txt")  # the server's extensions known
    t._hardlink = link
    t.upload(b"1234\n", "out", "ART 0001.TXT.ok", mode=0o640)
    final = root / "out" / "ART 0001.TXT.ok"
    assert final.read_bytes() == b"1234\n" and final.stat().st_mode & 0o777 == 0o640
    with pytest.raises(TargetExists, match="exists already"):
        t.upload(b"other\n", "out", "ART 0001.TXT.ok")
    assert final.read_bytes() == b"1234\n"
    assert sorted(p.name for p in final.parent.iterdir()) == ["ART 0001.TXT.ok", "first.txt"]


@pytest.mark.parametrize("link", [True, False], ids=["hardlink", "rename"])
def test_a_fence_that_refuses_publishes_nothing(remote: tuple[SftpTransport, Path],
                                                tmp_path: Path, link: bool) -> None:
    """Over a hard link (OpenSSH) and over a rename alike, the fence is asked once the
    file is written whole, and a refusal publishes nothing and leaves nothing behind."""
    t, root = remote
    src = tmp_path / "src"
    src.write_bytes(b"ours" * 30_000)
    t.upload(src, "out", "first.txt")  # the folder is made, the server's extensions known
    assert t._hardlink
    t._hardlink = link
    refused_then_published(t, root / "out", src, "ART 0001.TXT")
    assert t._hardlink == link


def test_plain_rename_fallback_refuses_an_existing_name(remote: tuple[SftpTransport, Path],
                                                        tmp_path: Path) -> None:
    t, root = remote
    t._posix_rename = False  # as on a server without posix-rename@openssh.com
    src = tmp_path / "src"
    src.write_bytes(b"new")
    t.upload(src, "out", "a.txt")
    assert (root / "out" / "a.txt").read_bytes() == b"new"
    (root / "out" / "b.txt").write_bytes(b"theirs")
    (root / "out" / ".b.txt.part").write_bytes(b"ours")
    assert t._sftp is not None
    with pytest.raises(TargetExists):
        t._rename(t._sftp, str(root / "out" / ".b.txt.part"), str(root / "out" / "b.txt"))
    assert (root / "out" / "b.txt").read_bytes() == b"theirs"


def test_uploads_link_and_a_taken_name_is_left_alone(remote: tuple[SftpTransport, Path],
                                                      tmp_path: Path) -> None:
    t, root = remote
    src = tmp_path / "src"
    src.write_bytes(b"ours" * 3000)
    t.upload(src, "out", "a.txt")
    assert t._hardlink  # OpenSSH names hardlink@openssh.com in its version reply
    assert (root / "out" / "a.txt").read_bytes() == b"ours" * 3000
    (root / "out" / "b.txt").write_bytes(b"theirs")
    with pytest.raises(TargetExists, match=r"b\.txt exists already"):
        t.upload(src, "out", "b.txt")
    assert (root / "out" / "b.txt").read_bytes() == b"theirs"
    assert sorted(p.name for p in (root / "out").iterdir()) == ["a.txt", "b.txt"]
    assert t._hardlink and t._ssh is not None and t._ssh.is_active()


def test_a_server_without_hardlink_gets_stat_and_rename(shared_sshd: Sshd, tmp_path: Path,
                                                        transport: Connect,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bridge.transport.sftp_connect.version_extensions", lambda data: {})
    sent = []
    real = sftp_pipe.Pipe.put
    monkeypatch.setattr(sftp_pipe.Pipe, "put",
                        lambda self, *a, **kw: sent.append(a[1]) or real(self, *a, **kw))
    root = tmp_path / "remote"
    root.mkdir()
    src = tmp_path / "src"
    src.write_bytes(b"new")
    t = transport(shared_sshd, root)
    try:
        t.upload(src, "out", "a.txt")
        assert not t._hardlink and sent  # each try under a new unguessable temporary name
        assert all(re.fullmatch(rb"\.a\.txt\.[0-9a-f]{16}\.part", posixpath.basename(p))
                   and posixpath.dirname(p) == str(root / "out").encode() for p in sent)
        (root / "out" / "b.txt").write_bytes(b"theirs")
        with pytest.raises(TargetExists):
            t.upload(src, "out", "b.txt")
    finally:
        t.close()
    assert (root / "out" / "a.txt").read_bytes() == b"new"
    assert (root / "out" / "b.txt").read_bytes() == b"theirs"
    assert sorted(p.name for p in (root / "out").iterdir()) == ["a.txt", "b.txt"]


def test_a_refused_link_sends_the_file_again_and_renames(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The embedded server names hardlink@openssh.com but refuses every link.
    tried = []
    real = sftp_pipe.Pipe.put_linked
    monkeypatch.setattr(sftp_pipe.Pipe, "put_linked",
                        lambda self, *a, **kw: tried.append(a[2]) or real(self, *a, **kw))
    with SftpServer(tmp_path / "root", user="shop") as srv:
        known = tmp_path / "known_hosts"
        known.write_text(srv.known_hosts_line(), encoding="ascii")
        conn = SftpConnection.model_validate({
            "type": "sftp", "host": "127.0.0.1", "port": srv.port, "user": "shop",
            "key_file": str(srv.write_client_key(tmp_path / "id")), "known_hosts": str(known),
            "root": "/", "timeout": 5.0})
        t = SftpTransport("erp", conn, lambda p: p)
        try:
            data = os.urandom(300_000)
            (tmp_path / "src").write_bytes(data)
            (tmp_path / "root" / "in").mkdir(parents=True, exist_ok=True)
            t.upload(tmp_path / "src", "in", "a.bin")
            assert not t._hardlink and tried == [b"/in/a.bin"]  # tried once, then renamed
            t.upload(tmp_path / "src", "in", "b.bin")
            with pytest.raises(TargetExists):
                t.upload(tmp_path / "src", "in", "b.bin")
        finally:
            t.close()
        folder = tmp_path / "root" / "in"
        assert sorted(p.name for p in folder.iterdir()) == ["a.bin", "b.bin"]
        assert (folder / "a.bin").read_bytes() == data == (folder / "b.bin").read_bytes()


def test_a_failed_write_never_shows_under_the_final_name(
        remote: tuple[SftpTransport, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    t, root = remote
    real_store, real_calls = sftp_pipe.Pipe._store, sftp_pipe.Pipe._calls
    sent: list[int] = []

    def store(self: sftp_pipe.Pipe, src: object, handle: bytes,
              before: list[tuple[int, bytes]], then: list[tuple[int, bytes]]) -> object:
        sent.extend(kind for kind, _ in then)  # sent behind the writes, before their answers
        _failure, after = real_store(self, src, handle, before, then)  # type: ignore[arg-type]
        return OSError(errno.EIO, "write failed"), after

    def calls(self: sftp_pipe.Pipe, requests: list[tuple[int, bytes]]) -> object:
        sent.extend(kind for kind, _ in requests)
        return real_calls(self, requests)

    (tmp_path / "src").write_bytes(b"x" * 1000)
    t.list("")
    monkeypatch.setattr(sftp_pipe.Pipe, "_store", store)
    monkeypatch.setattr(sftp_pipe.Pipe, "_calls", calls)
    with pytest.raises(TransientError, match="write failed"):
        t.upload(tmp_path / "src", "", "a.txt")
    assert sftp_pipe.EXTENDED not in sent  # nothing was linked to the final name
    assert list(root.iterdir()) == []  # and the temporary file is gone


def test_version_extensions_are_parsed_up_to_garbage() -> None:
    def s(b: bytes) -> bytes:
        return len(b).to_bytes(4, "big") + b

    data = (3).to_bytes(4, "big") + s(b"hardlink@openssh.com") + s(b"1") + s(b"x")
    assert sftp_pipe.version_extensions(data) == {b"hardlink@openssh.com": b"1"}
    assert sftp_pipe.version_extensions(data[:4] + s(b"a") + (99).to_bytes(4, "big") + b"1") == {}
    assert sftp_pipe.version_extensions((3).to_bytes(4, "big")) == {}


def test_move_creates_folders_and_refuses_to_overwrite(remote: tuple[SftpTransport, Path]
                                                       ) -> None:
    t, root = remote
    (root / "in").mkdir()
    (root / "in" / "a.csv").write_bytes(b"a")
    (root / "in" / "b.csv").write_bytes(b"b")
    t.move("in", "a.csv", "archive/2024/05/02", "a.csv")
    assert (root / "archive" / "2024" / "05" / "02" / "a.csv").read_bytes() == b"a"
    with pytest.raises(TargetExists):
        t.move("in", "b.csv", "archive/2024/05/02", "a.csv")
    assert (root / "in" / "b.csv").exists()
    t.delete("in", "b.csv")
    t.delete("in", "b.csv")  # gone already: not an error
    assert t.stat("in", "b.csv") is None
    assert t.list("in") == []


@pytest.mark.parametrize("name", ["../x", "a/b", "..", "", "x\ny", "x\x00"])
def test_names_that_leave_the_folder_are_refused(remote: tuple[SftpTransport, Path],
                                                 tmp_path: Path, name: str) -> None:
    t, root = remote
    src = tmp_path / "src"
    src.write_bytes(b"x")
    with pytest.raises(UnsafeName):
        t.upload(src, "in", name)
    with pytest.raises(UnsafeName):
        t.download("in", name, tmp_path / "dest")
    with pytest.raises(UnsafeName):
        t.move("in", "ok", "archive", name)
    assert not (root.parent / "x").exists()


def test_a_target_folder_that_is_a_file_is_a_transient_failure(
        remote: tuple[SftpTransport, Path], tmp_path: Path) -> None:
    t, root = remote
    (root / "erp").write_bytes(b"not a folder")
    src = tmp_path / "src"
    src.write_bytes(b"x")
    with pytest.raises(TransientError, match="cannot write") as err:
        t.upload(src, "erp", "a.txt")
    assert not isinstance(err.value, TargetExists)
    assert t.list("") == [t.stat("", "erp")]  # the session is still usable


names = st.text(st.sampled_from("abcXYZ019 _-.èàùçßøÅ€"), min_size=1, max_size=30).filter(
    lambda s: s not in (".", "..") and not s.startswith("."))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=names, data=st.binary(max_size=70_000))
def test_upload_then_download_round_trips(remote: tuple[SftpTransport, Path], tmp_path: Path,
                                          name: str, data: bytes) -> None:
    t, _ = remote
    src = tmp_path / "rt-src"
    src.write_bytes(data)
    t.delete("rt", name)
    t.upload(src, "rt", name)
    back = tmp_path / "rt-back"
    t.download("rt", name, back)
    assert back.read_bytes() == data
    assert name in {e.name for e in t.list("rt")}


# -- auth -----------------------------------------------------------------------------------


def test_an_encrypted_key_needs_its_passphrase(shared_sshd: Sshd, tmp_path: Path,
                                               transport: Connect) -> None:
    key = tmp_path / "id_enc"
    public = write_key(key, b"correct horse")
    auth = shared_sshd.home / "authorized_keys"
    auth.write_text(auth.read_text() + public + "\n")
    ok = transport(shared_sshd, tmp_path, key_file=str(key), key_passphrase="correct horse")
    assert ok.stat("", "id_enc") is not None
    ok.close()
    with pytest.raises(ConfigError, match="encrypted: set key_passphrase"):
        transport(shared_sshd, tmp_path, key_file=str(key)).list("")
    with pytest.raises(ConfigError, match="cannot load the key") as err:
        transport(shared_sshd, tmp_path, key_file=str(key), key_passphrase="wrong").list("")
    assert "wrong" not in str(err.value)


def test_a_key_the_server_does_not_know_is_refused(shared_sshd: Sshd, tmp_path: Path,
                                                   transport: Connect) -> None:
    write_key(tmp_path / "other")
    with pytest.raises(ConfigError, match="refused the key"):
        transport(shared_sshd, tmp_path, key_file=str(tmp_path / "other")).list("")


def test_a_refused_password_never_shows(sshd: Sshd, tmp_path: Path, transport: Connect,
                                        caplog: pytest.LogCaptureFixture) -> None:
    sshd.stop()
    sshd.password_auth = True
    sshd.write_config()
    sshd.start()
    caplog.set_level(logging.DEBUG)
    t = transport(sshd, tmp_path, key_file=None, password="s3cret-Pw")
    with pytest.raises(ConfigError, match="refused the password") as err:
        t.list("")
    assert "s3cret-Pw" not in str(err.value)
    assert "s3cret-Pw" not in caplog.text
    assert "s3cret-Pw" not in repr(t.conn)


# -- host keys ------------------------------------------------------------------------------


def ssh_keygen_fingerprint(public_key: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(public_key)], capture_output=True,
                         text=True, check=True).stdout
    return out.split()[1]


def test_fingerprint_is_the_one_ssh_keygen_prints(shared_sshd: Sshd, tmp_path: Path) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    pub = tmp_path / "host.pub"
    pub.write_text(shared_sshd.host_public + "\n")
    blob = shared_sshd.host_blob()
    assert hostkeys.fingerprint(blob) == ssh_keygen_fingerprint(pub)


def test_hashed_known_hosts_entries_are_honoured(shared_sshd: Sshd, tmp_path: Path,
                                                 transport: Connect) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")
    known = tmp_path / "known_hosts"
    known.write_text(shared_sshd.host_key_line() + "\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(known)], capture_output=True, check=True)
    assert known.read_text().startswith("|1|")
    t = transport(shared_sshd, tmp_path, known_hosts=str(known))
    assert t.stat("", "known_hosts") is not None


def test_a_pinned_fingerprint_is_checked(shared_sshd: Sshd, tmp_path: Path,
                                         transport: Connect) -> None:
    blob = shared_sshd.host_blob()
    fp = hostkeys.fingerprint(blob)
    good = transport(shared_sshd, tmp_path, known_hosts=None, host_key_fingerprint=fp)
    assert good.list("") == []
    good.close()
    with pytest.raises(ConfigError, match="HOST KEY MISMATCH") as err:
        transport(shared_sshd, tmp_path, host_key_fingerprint="SHA256:" + "A" * 43).list("")
    assert fp in str(err.value)


def test_skipping_the_check_works_and_warns_each_time(shared_sshd: Sshd, tmp_path: Path,
                                                      transport: Connect,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    t = transport(shared_sshd, tmp_path, known_hosts=str(empty),
                  insecure_skip_host_key_check=True)
    with caplog.at_level(logging.WARNING, logger="bridge.transport.sftp"):
        assert t.stat("", "empty_known_hosts") is not None
    t.close()
    assert "host key NOT checked" in caplog.text


def write_config(tmp_path: Path, server: Sshd, known: Path) -> Path:
    cfg = tmp_path / "bridge.yaml"
    cfg.write_text(yaml.safe_dump({
        "connections": {"shop": server.connection(tmp_path, known_hosts=str(known))},
        "flows": {"f": {"source": {"connection": "shop", "folder": "in"}, "tracciato": "x/y",
                        "targets": [{"folder": "out", "filename": "x"}]}},
    }, allow_unicode=True), encoding="utf-8")
    return cfg


def test_unknown_then_trusted_then_changed_then_trusted_again(sshd: Sshd,
                                                              tmp_path: Path) -> None:
    from bridge.config import load
    from bridge.transport import connect

    known = tmp_path / "kh" / "known_hosts"
    cfg = write_config(tmp_path, sshd, known)
    blob = sshd.host_blob()
    fp = hostkeys.fingerprint(blob)

    with pytest.raises(ConfigError) as err:
        connect(load(cfg), "shop").list("")
    assert fp in str(err.value)
    assert "unknown host key" in str(err.value)
    assert "bridge connections trust shop" in str(err.value)

    cli = CliRunner()
    no = cli.invoke(main, ["-c", str(cfg), "connections", "trust", "shop"], input="n\n")
    assert no.exit_code == 1, no.output
    assert fp in no.output
    assert not known.exists()
    yes = cli.invoke(main, ["-c", str(cfg), "connections", "trust", "shop", "--yes"])
    assert yes.exit_code == 0, yes.output
    assert known.read_text().strip() == sshd.host_key_line()
    with contextlib.closing(connect(load(cfg), "shop")) as t:
        assert t.list("") != []  # bridge.yaml and kh/ are there

    sshd.stop()
    sshd.new_host_key()
    sshd.start()
    new_fp = hostkeys.fingerprint(sshd.host_blob())
    with pytest.raises(ConfigError) as err:
        connect(load(cfg), "shop").list("")
    assert "HOST KEY CHANGED" in str(err.value)
    assert new_fp in str(err.value) and fp in str(err.value)

    assert "bridge connections trust shop --replace" in str(err.value)
    again = cli.invoke(main, ["-c", str(cfg), "connections", "trust", "shop", "--replace"],
                       input="y\n")
    assert again.exit_code == 0, again.output
    assert "NOT the key on record" in again.output
    assert known.read_text().strip() == sshd.host_key_line()  # the old key is replaced
    checked = cli.invoke(main, ["-c", str(cfg), "connections", "check", "shop"])
    assert checked.exit_code == 0, checked.output
    assert new_fp in checked.output
    assert "aes128-gcm@openssh.com" in checked.output


def test_check_of_an_unknown_key_exits_2_with_the_fingerprint(sshd: Sshd,
                                                              tmp_path: Path) -> None:
    cfg = write_config(tmp_path, sshd, tmp_path / "none")
    res = CliRunner().invoke(main, ["-c", str(cfg), "connections", "check", "shop"])
    assert res.exit_code == 2
    assert hostkeys.fingerprint(sshd.host_blob()) \
        in res.output


# -- failures of the connection -------------------------------------------------------------


@pytest.mark.usefixtures("fast_retries")
def test_a_dropped_connection_is_opened_again(sshd: Sshd, tmp_path: Path,
                                              transport: Connect) -> None:
    (tmp_path / "a.csv").write_bytes(b"a")
    t = transport(sshd, tmp_path)
    assert [e.name for e in t.list("")] == ["a.csv"]
    first = t._ssh
    sshd.kill()
    sshd.start()
    assert [e.name for e in t.list("")] == ["a.csv"]
    assert t._ssh is not first


def test_a_dead_server_gives_up_within_the_backoff_then_fails_fast(sshd: Sshd, tmp_path: Path,
                                                                   transport: Connect) -> None:
    t = transport(sshd, tmp_path)
    sshd.kill()
    started = time.monotonic()
    with pytest.raises(TransientError, match=r"gave up after 5 tries") as err:
        t.list("")
    took = time.monotonic() - started
    assert 7.5 / 2 <= took < 10.5  # 0.5 + 1 + 2 + 4 s, jittered down to half at most
    assert "Connection refused" in str(err.value)
    started = time.monotonic()
    with pytest.raises(TransientError):
        t.stat("", "x")
    assert time.monotonic() - started < 0.1  # down for the rest of the pass


@pytest.mark.usefixtures("fast_retries")
def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # accepts connections in the backlog, never says a word
        port = silent.getsockname()[1]
        conn = SftpConnection(type="sftp", host="127.0.0.1", port=port, user="u",
                              password="p", timeout=0.5)
        t = SftpTransport("mute", conn, lambda p: p)
        started = time.monotonic()
        with pytest.raises(TransientError, match="handshake failed"):
            t.list("")
        assert time.monotonic() - started < 5
        t.close()


def test_running_helper_stops_its_sessions(tmp_path: Path, transport: Connect) -> None:
    with running(tmp_path / "srv") as server:
        t = transport(server, tmp_path)
        t.list("")
        assert server.proc is not None
        sessions = _children(server.proc.pid)
        assert sessions  # the session of `t`
    assert server.proc is None
    assert [(pid, Path(f"/proc/{pid}/stat").read_text()) for pid in sessions if alive(pid)] == []


# -- known_hosts, without a server ----------------------------------------------------------


def test_known_hosts_patterns_markers_and_replacement(tmp_path: Path) -> None:
    a, b = b"\x00\x00\x00\x0bssh-ed25519" + b"A" * 36, b"\x00\x00\x00\x0bssh-ed25519" + b"B" * 36
    b64a, b64b = base64.b64encode(a).decode(), base64.b64encode(b).decode()
    known = tmp_path / "known_hosts"
    known.write_text(f"# a comment\n*.example.com,!bad.example.com ssh-ed25519 {b64a}\n"
                     f"@revoked [10.0.0.1]:2222 ssh-ed25519 {b64b}\n"
                     f"other.host ssh-ed25519 {b64b} kept\n")
    assert hostkeys.verify(known, "sftp.example.com", 22, a).status == "known"
    assert hostkeys.verify(known, "bad.example.com", 22, a).status == "unknown"
    assert hostkeys.verify(known, "sftp.example.com", 22, b).status == "changed"
    assert hostkeys.verify(known, "10.0.0.1", 2222, b).status == "revoked"
    assert hostkeys.verify(known, "10.0.0.1", 22, b).status == "unknown"  # port matters
    hostkeys.add(known, "other.host", 22, a, replace=True)
    lines = known.read_text().splitlines()
    assert lines[-1] == f"other.host ssh-ed25519 {b64a}"
    assert not any("kept" in ln for ln in lines) and len(lines) == 4
    assert oct(known.stat().st_mode & 0o777) == "0o600"
    assert hostkeys.normalise_fingerprint("  xyz=") == "SHA256:xyz"


def test_what_an_earlier_pass_left_under_the_temporary_name_is_removed(
        shared_sshd: Sshd, tmp_path: Path) -> None:
    """The server gone in the middle of an upload, and the tries run out: the hidden
    temporary file stayed in the ERP's folder for good, since every try took a new random
    name that no later pass knew (an ERP that imports its whole folder would find it). The
    name is keyed now, the same for every try of the output, whatever the pass: the next
    pass removes what is there, and publishes the file."""
    from pathlib import PurePosixPath

    from bridge.files import TempNames

    root = tmp_path / "remote"
    (root / "out").mkdir(parents=True)
    src = tmp_path / "work" / "7" / "0.out"
    src.parent.mkdir(parents=True)
    src.write_bytes(b"ours" * 3000)
    key = tmp_path / "work" / "names.key"
    conn = SftpConnection.model_validate(shared_sshd.connection(root))
    dead = TempNames(key).of_upload(PurePosixPath(str(root / "out" / "a.txt")), src)
    Path(str(dead)).write_bytes(b"ou")  # what the try that died left
    for name in ("a.txt", "b.txt"):  # the first removes it; the second has none to remove
        t = SftpTransport("shop", conn, lambda p: p, names=TempNames(key))  # a later pass
        try:
            t.upload(src, "out", name)
        finally:
            t.close()
    assert sorted(p.name for p in (root / "out").iterdir()) == ["a.txt", "b.txt"]
    assert (root / "out" / "a.txt").read_bytes() == b"ours" * 3000
