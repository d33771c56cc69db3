"""The FTP/FTPS transport against a real pyftpdlib server in a child process on 127.0.0.1."""

from __future__ import annotations

import contextlib
import ftplib
import logging
import os
import re
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("pyftpdlib")

from bridge import faults
from bridge.config import FtpConnection, load
from bridge.engine.runner import run_pass
from bridge.errors import ConfigError, TransientError
from bridge.ledger import open_ledger
from bridge.transport import Refused, TargetExists, UnsafeName
from bridge.transport.ftp import (
    FtpTransport,
    _parse_list_line,
    _parse_other_line,
    _unwire,
    _wire,
)
from tests.flowkit import make_world, order_file
from tests.flowkit.fence import refused_then_published
from tests.ftpd import PASSWORD, USER, FtpServer, make_ca

# How long a test waits for something another thread or process does: long enough for a
# machine busy with other jobs, short enough that a test that hangs still ends.
WAIT = 30.0
ODD_NAMES = ["ordini di maggio.csv", "perché è così.csv", "Ünïcødé 漢字.csv", "a  b .csv"]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "ftp").mkdir()
    return tmp_path / "ftp"


@contextlib.contextmanager
def serving(home: Path, **kw: object) -> Iterator[FtpServer]:
    server = FtpServer(home, **kw).start()  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["mlsd", "list"])
def server(request: pytest.FixtureRequest, home: Path) -> Iterator[FtpServer]:
    """Served twice: with MLSD/MLST, and as an older server that only has LIST."""
    with serving(home, mlsd=request.param == "mlsd") as server:
        yield server


@pytest.fixture
def plain(home: Path) -> Iterator[FtpServer]:
    with serving(home) as server:
        yield server


Connect = Callable[..., FtpTransport]


@pytest.fixture
def ftp() -> Iterator[Connect]:
    """Opens transports to a server, and closes every one after the test, passed or failed:
    a socket left open would fail a later test, through its ResourceWarning."""
    with contextlib.ExitStack() as opened:

        def connect(server: FtpServer, base: Path, **kw: object) -> FtpTransport:
            conn = FtpConnection.model_validate({
                "type": "ftp", "host": "127.0.0.1", "port": server.port, "user": USER,
                "password": PASSWORD, "timeout": 5.0, **kw})
            transport = FtpTransport("erp", conn, lambda p: base / p)
            opened.callback(transport.close)
            return transport

        yield connect


def test_bytes_are_uploaded_as_a_file_is(server: FtpServer, home: Path, tmp_path: Path,
                                         ftp: Connect) -> None:
    """A done-file's few bytes go up with no local file made for them: byte exact, a taken
    name left alone, no temporary name left behind."""
    t = ftp(server, tmp_path)
    t.upload(b"1234\r\n", "out", "ART0001.TXT.ok")
    final = home / "out" / "ART0001.TXT.ok"
    assert final.read_bytes() == b"1234\r\n"
    with pytest.raises(TargetExists):
        t.upload(b"other", "out", "ART0001.TXT.ok")
    assert final.read_bytes() == b"1234\r\n" and os.listdir(home / "out") == [final.name]


def test_the_port_contract(server: FtpServer, home: Path, tmp_path: Path,
                            ftp: Connect) -> None:
    t = ftp(server, tmp_path)
    src = tmp_path / "a.csv"
    src.write_bytes(b"codice;qty\r\nA1;2\r\n" * 1000)
    assert t.list("inbox") == []  # no folder yet: nothing to take
    assert not t.is_folder("inbox")  # and bridge can tell it is missing
    t.upload(src, "inbox", "a.csv")
    assert t.is_folder("inbox") and not t.is_folder("inbox/a.csv")
    assert (home / "inbox" / "a.csv").read_bytes() == src.read_bytes()
    [entry] = t.list("inbox")
    assert (entry.name, entry.size) == ("a.csv", src.stat().st_size)
    assert abs(entry.mtime - time.time()) < 120  # UTC, not the server's zone
    assert t.stat("inbox", "a.csv") == entry
    assert t.stat("inbox", "nope.csv") is None
    (home / "inbox" / "sub").mkdir()
    assert t.stat("inbox", "sub") is None and [e.name for e in t.list("inbox")] == ["a.csv"]

    t.download("inbox", "a.csv", tmp_path / "got")
    assert (tmp_path / "got").read_bytes() == src.read_bytes()
    assert not (tmp_path / "got.part").exists()

    other = tmp_path / "other.csv"
    other.write_bytes(b"something else\r\n")
    with pytest.raises(TargetExists):
        t.upload(other, "inbox", "a.csv")
    assert (home / "inbox" / "a.csv").read_bytes() == src.read_bytes()
    assert sorted(os.listdir(home / "inbox")) == ["a.csv", "sub"]  # no temp left behind

    t.move("inbox", "a.csv", "archive/2024/05/31", "a.csv")
    assert (home / "archive" / "2024" / "05" / "31" / "a.csv").read_bytes() == src.read_bytes()
    assert t.list("inbox") == []
    t.upload(other, "inbox", "a.csv")
    with pytest.raises(TargetExists):
        t.move("inbox", "a.csv", "archive/2024/05/31", "a.csv")
    assert (home / "archive/2024/05/31/a.csv").read_bytes() == src.read_bytes()
    t.delete("inbox", "a.csv")
    t.delete("inbox", "a.csv")  # gone already: fine
    assert t.list("inbox") == []
    t.mkdir("x/y/z")
    assert (home / "x" / "y" / "z").is_dir()
    t.close()
    t.close()


def test_names_with_spaces_and_accents(server: FtpServer, home: Path, tmp_path: Path,
                                       ftp: Connect) -> None:
    t = ftp(server, tmp_path)
    for i, name in enumerate(ODD_NAMES):
        src = tmp_path / f"src{i}"
        src.write_bytes(name.encode("utf-8"))
        t.upload(src, "in box", name)
        assert (home / "in box" / name).read_bytes() == name.encode("utf-8")
    assert sorted(e.name for e in t.list("in box")) == sorted(ODD_NAMES)
    for name in ODD_NAMES:
        t.download("in box", name, tmp_path / "got")
        assert (tmp_path / "got").read_bytes() == name.encode("utf-8")
        t.move("in box", name, "archivio è", name)
    assert sorted(os.listdir(home / "archivio è")) == sorted(ODD_NAMES)
    for name in ODD_NAMES:
        t.delete("archivio è", name)
    assert t.list("archivio è") == []


@pytest.mark.parametrize("bad", ["../x", "..", "a/b", "/etc/passwd", "x\r\nDELE y", ""])
def test_names_that_leave_the_folder_are_refused(plain: FtpServer, home: Path, tmp_path: Path,
                                                 ftp: Connect, bad: str) -> None:
    t = ftp(plain, tmp_path)
    src = tmp_path / "s"
    src.write_bytes(b"x")
    (home / "inbox").mkdir()
    (home / "y").write_bytes(b"keep")
    for call in (lambda: t.stat("inbox", bad), lambda: t.download("inbox", bad, tmp_path / "d"),
                 lambda: t.upload(src, "inbox", bad), lambda: t.delete("inbox", bad),
                 lambda: t.move("inbox", "y", "inbox", bad)):
        with pytest.raises(UnsafeName):
            call()
    assert sorted(p.name for p in home.rglob("*")) == ["inbox", "y"]


def test_a_lister_never_sees_the_final_name_during_an_upload(plain: FtpServer, home: Path,
                                                              tmp_path: Path,
                                                              ftp: Connect) -> None:
    writer, lister = ftp(plain, tmp_path), ftp(plain, tmp_path)
    fifo = tmp_path / "slow"
    os.mkfifo(fifo)
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            writer.upload(fifo, "out", "ORD1.TXT")
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    thread = threading.Thread(target=upload, daemon=True)  # never keeps pytest from exiting
    thread.start()
    # Opened read-write, which never blocks on Linux, and written in pieces that fit in the
    # pipe's buffer: a broken upload fails the test instead of hanging it.
    try:
        with os.fdopen(os.open(fifo, os.O_RDWR), "wb", buffering=0) as slow:
            slow.write(b"x" * 60_000)
            deadline = time.monotonic() + WAIT
            while not any(re.fullmatch(r"\.ORD1\.TXT\.[0-9a-f]{16}\.part", e.name)
                          for e in lister.list("out")):
                assert time.monotonic() < deadline and thread.is_alive(), errors
                time.sleep(0.02)
            assert "ORD1.TXT" not in {e.name for e in lister.list("out")}
            assert lister.stat("out", "ORD1.TXT") is None
            slow.write(b"y" * 60_000)
    finally:
        thread.join(WAIT)
        if thread.is_alive():  # stuck opening the pipe: a writer that ends at once frees it
            os.close(os.open(fifo, os.O_RDWR))
    assert not thread.is_alive() and errors == []
    assert [e.name for e in lister.list("out")] == ["ORD1.TXT"]
    assert (home / "out" / "ORD1.TXT").read_bytes() == b"x" * 60_000 + b"y" * 60_000


def test_a_folder_made_while_it_is_listed_is_listed(server: FtpServer, home: Path,
                                                    tmp_path: Path, ftp: Connect,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Another client makes the folder right after the server answered that it is not there
    (an upload making its folder, say): the listing is of the folder, not an error."""
    real = ftplib.FTP.ntransfercmd

    def made_meanwhile(self: ftplib.FTP, cmd: str,
                       rest: int | str | None = None) -> tuple[socket.socket, int | None]:
        try:
            return real(self, cmd, rest)
        except ftplib.error_perm:
            if cmd.startswith(("MLSD ", "LIST ")) and not (home / "out").exists():
                (home / "out").mkdir()
                (home / "out" / "a.csv").write_bytes(b"1")
            raise

    t = ftp(server, tmp_path)
    monkeypatch.setattr(ftplib.FTP, "ntransfercmd", made_meanwhile)
    assert [(e.name, e.size) for e in t.list("out")] == [("a.csv", 1)]
    assert t.list("nowhere") == []  # and a folder that is not there is still no error


def test_listing_a_missing_folder_leaves_the_session_usable(server: FtpServer, home: Path,
                                                            tmp_path: Path,
                                                            ftp: Connect) -> None:
    """A refused LIST leaves the session in ASCII mode, where servers refuse SIZE: a stat
    after it must still see the file, and a move must still refuse to overwrite it."""
    (home / "in").mkdir()
    (home / "in" / "a.csv").write_bytes(b"123")
    (home / "in" / "b.csv").write_bytes(b"4")
    t = ftp(server, tmp_path)
    assert t.list("nowhere") == []
    assert t.stat("in", "a.csv") is not None
    assert t.list("nowhere") == []
    with pytest.raises(TargetExists):
        t.move("in", "b.csv", "in", "a.csv")
    assert (home / "in" / "a.csv").read_bytes() == b"123"


def test_ftps_verifies_the_certificate(ca: tuple[Path, Path], home: Path, tmp_path: Path,
                                       ftp: Connect, caplog: pytest.LogCaptureFixture) -> None:
    ca_file, server_pem = ca
    with serving(home, cert=server_pem) as server:
        t = ftp(server, tmp_path, type="ftps", ca_file=str(ca_file))
        src = tmp_path / "a.txt"
        src.write_bytes(b"riservato\r\n" * 100)
        t.upload(src, "out", "a è.txt")
        assert [e.name for e in t.list("out")] == ["a è.txt"]
        t.download("out", "a è.txt", tmp_path / "got")
        assert (tmp_path / "got").read_bytes() == src.read_bytes()
        t.close()

        with pytest.raises(ConfigError, match=r"not trusted.*ca_file"):
            ftp(server, tmp_path, type="ftps").list("out")
        with pytest.raises(ConfigError, match="login refused"):  # plain FTP: refused by server
            ftp(server, tmp_path).list("out")
        with caplog.at_level(logging.WARNING, logger="bridge.transport.ftp"):
            loose = ftp(server, tmp_path, type="ftps", insecure_skip_tls_verify=True)
            assert [e.name for e in loose.list("out")] == ["a è.txt"]
            loose.close()
        assert "TLS certificate check is OFF" in caplog.text


def test_wrong_password_is_a_config_error(plain: FtpServer, tmp_path: Path,
                                          ftp: Connect) -> None:
    with pytest.raises(ConfigError, match="login refused") as info:
        ftp(plain, tmp_path, password="wrong").list("")
    assert "wrong" not in str(info.value)


def test_a_hung_or_gone_server_fails_in_bounded_time(plain: FtpServer, tmp_path: Path,
                                                     ftp: Connect) -> None:
    t = ftp(plain, tmp_path, timeout=0.5)
    assert t.list("") == []
    plain.pause()
    try:
        start = time.monotonic()
        with pytest.raises(TransientError, match="cannot stat"):
            t.stat("", "a.csv")
        assert time.monotonic() - start < 4
    finally:
        plain.resume()
    plain.kill()
    start = time.monotonic()
    with pytest.raises(TransientError, match="cannot list"):
        t.list("")
    assert time.monotonic() - start < 2


def test_active_mode(plain: FtpServer, home: Path, tmp_path: Path, ftp: Connect) -> None:
    t = ftp(plain, tmp_path, passive=False)
    src = tmp_path / "a"
    src.write_bytes(b"attivo\r\n" * 1000)
    t.upload(src, "", "a.txt")
    assert [(e.name, e.size) for e in t.list("")] == [("a.txt", 8000)]
    t.download("", "a.txt", tmp_path / "got")
    assert (tmp_path / "got").read_bytes() == src.read_bytes()


def test_a_dropped_connection_is_opened_again(plain: FtpServer, home: Path, tmp_path: Path,
                                              ftp: Connect) -> None:
    t = ftp(plain, tmp_path)
    assert t.list("") == []
    plain.kill()
    plain.start()  # same port: the session the transport holds is dead
    (home / "a.csv").write_bytes(b"1")
    assert [e.name for e in t.list("")] == ["a.csv"]


# -- flows: FTP source, local target -------------------------------------------------------

FLOW = """
ledger: state/ledger.sqlite
work_dir: state/work
lock_file: state/run.lock
tracciati: [tracciati]
connections:
  shop: {{type: ftp, host: 127.0.0.1, port: {port}, user: {user},
          password: "${{BRIDGE_TEST_FTP_PASSWORD}}", timeout: 5}}
flows:
  articoli:
    source:
      connection: shop
      folder: inbox
      patterns: ["*.csv"]
      ready: {{{ready}}}
    tracciato: test/in
    retry_backoff: 0
    targets:
      - folder: erp
        tracciato: test/out
        filename: "ART{{{{ seq | zfill(5) }}}}.TXT"
        done_file: {{content: rows}}
"""


@pytest.fixture
def world(plain: FtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BRIDGE_TEST_FTP_PASSWORD", PASSWORD)
    (plain.home / "inbox").mkdir()
    return make_world(tmp_path / "bridge",
                      FLOW.format(port=plain.port, user=USER, ready="window: 0, min_age: 0"))


def codici(erp: Path) -> list[str]:
    """The article codes written, one per output row, in output order."""
    return [line[:10].decode("cp1252").strip() for p in sorted(erp.glob("*.TXT"))
            for line in p.read_bytes().split(b"\r\n") if line]


def expected(ns: range, rows: int = 2) -> list[str]:
    return [f"A{n:04d}{i}" for n in ns for i in range(rows)]


def test_a_flow_from_an_ftp_source(world: Path, plain: FtpServer) -> None:
    for n in range(3):
        (plain.home / "inbox" / f"o{n}.csv").write_text(order_file(n, 2), encoding="utf-8")
    bad = order_file(9, 2).replace("9,05", "9,0x")
    (plain.home / "inbox" / "bad.csv").write_text(bad, encoding="utf-8")
    result = run_pass(load(world))
    assert [(o.name, o.state) for o in result.outcomes] == [
        ("bad.csv", "rejected"), ("o0.csv", "done"), ("o1.csv", "done"), ("o2.csv", "done")]
    # The rejected file and its report end in quarantine on the FTP server.
    assert sorted(os.listdir(plain.home / "quarantine")) == [
        "bad.csv", "bad.csv.issues.csv", "bad.csv.report.html"]
    assert (plain.home / "quarantine" / "bad.csv").read_text(encoding="utf-8") == bad
    erp = world.parent / "erp"
    assert codici(erp) == expected(range(3))
    assert sorted(p.name for p in erp.iterdir())[:2] == ["ART00001.TXT", "ART00001.TXT.ok"]
    assert os.listdir(plain.home / "inbox") == []
    assert sorted(p.name for p in (plain.home / "archive").rglob("*.csv")) == [
        "o0.csv", "o1.csv", "o2.csv"]
    assert run_pass(load(world)).outcomes == []


def test_a_fifo_on_a_list_only_server_is_said_once(home: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Its LIST line says what it is: recorded once (not-a-file), never asked for."""
    monkeypatch.setenv("BRIDGE_TEST_FTP_PASSWORD", PASSWORD)
    (home / "inbox").mkdir()
    (home / "inbox" / "a.csv").write_text(order_file(1, 2), encoding="utf-8")
    os.mkfifo(home / "inbox" / "feed.csv")
    with serving(home, mlsd=False) as server:
        cfg = make_world(tmp_path / "bridge", FLOW.format(port=server.port, user=USER,
                                                          ready="window: 0, min_age: 0"))
        first = run_pass(load(cfg))
        again = run_pass(load(cfg))
    assert sorted((o.name, o.state) for o in first.outcomes) == [
        ("a.csv", "done"), ("feed.csv", "rejected")]
    assert "a FIFO" in next(o.message for o in first.outcomes if o.name == "feed.csv")
    assert again.outcomes == []
    assert (home / "inbox" / "feed.csv").exists()


def test_done_file_readiness_over_ftp(plain: FtpServer, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_TEST_FTP_PASSWORD", PASSWORD)
    (plain.home / "inbox").mkdir()
    cfg = make_world(tmp_path / "bridge",
                     FLOW.format(port=plain.port, user=USER, ready="rule: done-file"))
    (plain.home / "inbox" / "o1.csv").write_text(order_file(1, 2), encoding="utf-8")
    assert run_pass(load(cfg)).outcomes == []  # no done-file yet
    (plain.home / "inbox" / "o1.csv.ok").write_bytes(b"")
    result = run_pass(load(cfg))
    assert [(o.name, o.state) for o in result.outcomes] == [("o1.csv", "done")]
    assert codici(tmp_path / "bridge" / "erp") == expected(range(1, 2))
    assert os.listdir(plain.home / "inbox") == []  # file archived, done-file removed


def test_server_killed_mid_pass_then_restarted(world: Path, plain: FtpServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    files = 5
    for n in range(files):
        (plain.home / "inbox" / f"o{n}.csv").write_text(order_file(n, 2), encoding="utf-8")
    seen = 0
    real_point = faults.point

    def kill_on_second_file(name: str) -> None:
        nonlocal seen
        if name == "before-written":
            seen += 1
            if seen == 2:  # second file's output is written locally; the archive is next
                plain.kill()
        real_point(name)

    monkeypatch.setattr(faults, "point", kill_on_second_file)
    first = run_pass(load(world))
    assert [(o.name, o.state) for o in first.outcomes] == [("o0.csv", "done"),
                                                           ("o1.csv", "retrying")]
    assert first.exit_code == 3
    monkeypatch.setattr(faults, "point", real_point)

    plain.start()
    second = run_pass(load(world))
    assert sorted((o.name, o.state) for o in second.outcomes) == [
        (f"o{n}.csv", "done") for n in range(1, files)]
    erp = world.parent / "erp"
    assert sorted(codici(erp)) == sorted(expected(range(files)))  # all there, none twice
    assert len(list(erp.glob("*.TXT"))) == files
    assert os.listdir(plain.home / "inbox") == []
    assert len(list((plain.home / "archive").rglob("*.csv"))) == files
    ledger = open_ledger(world.parent / "state" / "ledger.sqlite")
    try:
        assert sorted(r.state for r in ledger.files(flow="articoli")) == ["done"] * files
    finally:
        ledger.close()


# -- hardening: clear passwords, refused reads, modes, temporary names ----------------------


def test_plain_ftp_warns_on_every_connection_and_never_shows_the_password(
        plain: FtpServer, ca: tuple[Path, Path], home: Path, tmp_path: Path, ftp: Connect,
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="bridge.transport.ftp"):
        t = ftp(plain, tmp_path)
        t.list("")
        t.close()
        t.list("")  # a new connection: warned again
    said = [r.getMessage() for r in caplog.records if "in clear" in r.getMessage()]
    assert len(said) == 2 and "plain FTP" in said[0] and "ftp://127.0.0.1" in said[0]
    assert PASSWORD not in caplog.text
    caplog.clear()
    ca_file, server_pem = ca
    with serving(home, cert=server_pem) as tls, \
            caplog.at_level(logging.WARNING, logger="bridge.transport.ftp"):
        ftp(tls, tmp_path, type="ftps", ca_file=str(ca_file)).list("")
    assert "in clear" not in caplog.text  # FTPS sends nothing in clear: no warning


def test_a_file_listed_but_never_sent_is_refused(home: Path, tmp_path: Path,
                                                 ftp: Connect) -> None:
    (home / "locked").mkdir()
    (home / "locked" / "a.csv").write_bytes(b"codice;qty\r\n")
    with serving(home, unreadable="locked") as server:
        t = ftp(server, tmp_path)
        assert [e.name for e in t.list("locked")] == ["a.csv"]
        with pytest.raises(Refused, match=r"refuses to send locked/a\.csv"):
            t.download("locked", "a.csv", tmp_path / "got")
        assert list(tmp_path.glob("*got*")) == []  # no temporary file left
        # A 550 for a file that is not there is a vanished file, to retry: never Refused.
        with pytest.raises(TransientError) as gone:
            t.download("locked", "missing.csv", tmp_path / "got")
        assert not isinstance(gone.value, Refused)
        t.upload(_small(tmp_path), "out", "b.csv")  # the session goes on
        assert (home / "out" / "b.csv").read_bytes() == b"x\r\n"


def _small(tmp_path: Path) -> Path:
    src = tmp_path / "small"
    src.write_bytes(b"x\r\n")
    return src


@pytest.mark.parametrize("chmod", [True, False], ids=["SITE CHMOD", "no SITE CHMOD"])
def test_upload_gives_the_mode_asked_where_the_server_can(
        home: Path, tmp_path: Path, ftp: Connect, caplog: pytest.LogCaptureFixture,
        chmod: bool) -> None:
    with serving(home, chmod=chmod) as server, \
            caplog.at_level(logging.DEBUG, logger="bridge.transport.ftp"):
        t = ftp(server, tmp_path)
        t.upload(_small(tmp_path), "out", "A.TXT", mode=0o640)
        t.upload(_small(tmp_path), "out", "B.TXT")
    got = stat.S_IMODE((home / "out" / "A.TXT").stat().st_mode)
    default = stat.S_IMODE((home / "out" / "B.TXT").stat().st_mode)
    if chmod:
        assert got == 0o640 and "SITE CHMOD refused" not in caplog.text
    else:  # ignored: the file is written with the server's mode, and a debug line says so
        assert got == default and "SITE CHMOD refused" in caplog.text
    assert sorted(os.listdir(home / "out")) == ["A.TXT", "B.TXT"]


def test_a_failed_upload_removes_its_temporary_file(plain: FtpServer, home: Path,
                                                    tmp_path: Path, ftp: Connect,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    t = ftp(plain, tmp_path)
    t.mkdir("out")
    monkeypatch.setattr(faults, "_raise", "mid-write:1")
    monkeypatch.setattr(faults, "_counts", {})
    with pytest.raises(faults.InjectedFault):
        t.upload(_small(tmp_path), "out", "A.TXT")
    assert os.listdir(home / "out") == []  # the temporary file, written whole, is gone


def test_a_fence_that_refuses_publishes_nothing(plain: FtpServer, home: Path, tmp_path: Path,
                                                ftp: Connect) -> None:
    t = ftp(plain, tmp_path)
    t.mkdir("out")
    refused_then_published(t, home / "out", _small(tmp_path), "A.TXT")


# -- pure helpers ---------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "want"), [
    ("-rw-r--r--   1 erp  erp   1234 Jan 02 10:30 ordini di maggio.csv",
     ("ordini di maggio.csv", 1234)),
    ("-rw-r--r-- 1 0 0 77 Dec 31  2023  spazio davanti.csv", (" spazio davanti.csv", 77)),
    ("-rw-------  1 owner 5 Feb  3 2024 nogroup.txt", ("nogroup.txt", 5)),
    ("drwxr-xr-x   2 erp  erp   4096 Jan 02 10:30 archive", None),
    ("lrwxrwxrwx   1 erp  erp     10 Jan 02 10:30 link -> a.csv", None),
    ("01-31-24  10:30AM                 5120 ORD 1.TXT", ("ORD 1.TXT", 5120)),
    ("01-31-2024  01:05PM       <DIR>          archive", None),
    ("total 12", None),
])
def test_list_lines(line: str, want: tuple[str, int] | None) -> None:
    parsed = _parse_list_line(line)
    assert (parsed[:2] if parsed else None) == want


@pytest.mark.parametrize(("line", "want"), [
    ("lrwxrwxrwx   1 erp  erp     10 Jan 02 10:30 link -> a.csv", ("link", "a symbolic link")),
    ("lrwxrwxrwx 1 0 0 7 Dec 31  2023 a -> b.csv -> c", ("a", "a symbolic link")),
    ("prw-r--r--   1 erp  erp      0 Jan 02 10:30 feed.csv", ("feed.csv", "a FIFO")),
    ("srwxr-xr-x   1 erp  erp      0 Jan 02 10:30 sock.csv", ("sock.csv", "a socket")),
    ("-rw-r--r--   1 erp  erp   1234 Jan 02 10:30 ordini.csv", None),
    ("drwxr-xr-x   2 erp  erp   4096 Jan 02 10:30 archive", None),
])
def test_list_lines_of_links_and_fifos(line: str, want: tuple[str, str] | None) -> None:
    """Listed to be told (issue not-a-file), never taken: a LIST-only server's links and
    FIFOs were passed over unsaid."""
    parsed = _parse_other_line(line)
    assert ((parsed[0], parsed[3]) if parsed else None) == want


def test_a_link_and_a_fifo_on_a_list_only_server_are_listed_as_what_they_are(
        home: Path, tmp_path: Path, ftp: Connect) -> None:
    (home / "in").mkdir()
    (home / "in" / "a.csv").write_bytes(b"codice;qty\r\n")
    (home / "in" / "link.csv").symlink_to(home / "in" / "a.csv")
    os.mkfifo(home / "in" / "feed.csv")
    with serving(home, mlsd=False) as server:
        got = ftp(server, tmp_path).list("in")
    assert sorted((e.name, e.kind) for e in got) == [
        ("a.csv", None), ("feed.csv", "a FIFO"), ("link.csv", "a symbolic link")]


@given(st.text())
def test_names_round_trip_through_the_wire(name: str) -> None:
    wire = _wire(name.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    assert _unwire(wire) == name.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@given(st.binary())
def test_any_bytes_from_the_server_round_trip(raw: bytes) -> None:
    assert _wire(_unwire(raw.decode("latin-1"))).encode("latin-1") == raw


def test_what_an_earlier_pass_left_under_the_temporary_name_is_written_over(
        plain: FtpServer, home: Path, tmp_path: Path) -> None:
    """As over SFTP: the temporary file of a try that died stayed in the ERP's folder for
    good under a random name. Keyed now, the same for every try of the output: the next
    pass writes it over and renames it, and nothing is left."""
    from pathlib import PurePosixPath

    from bridge.files import TempNames

    (home / "out").mkdir()
    src = tmp_path / "work" / "7" / "0.out"
    src.parent.mkdir(parents=True)
    src.write_bytes(b"codice;qty\r\nA1;2\r\n" * 500)
    key = tmp_path / "work" / "names.key"
    conn = FtpConnection.model_validate({
        "type": "ftp", "host": "127.0.0.1", "port": plain.port, "user": USER,
        "password": PASSWORD, "timeout": 5.0})
    t = FtpTransport("erp", conn, lambda p: tmp_path / p, names=TempNames(key))
    try:
        t.upload(b"x", "out", "first.ok")  # connected: the root is known
        final = PurePosixPath(t._path("out", "ORD1.TXT"))
        dead = TempNames(key).of_upload(final, src)
        (home / "out" / dead.name).write_bytes(b"codice;q")  # what the try that died left
        t.upload(src, "out", "ORD1.TXT")
    finally:
        t.close()
    assert sorted(os.listdir(home / "out")) == ["ORD1.TXT", "first.ok"]
    assert (home / "out" / "ORD1.TXT").read_bytes() == src.read_bytes()
