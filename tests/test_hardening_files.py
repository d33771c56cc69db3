"""Files are created, never followed: each test is an attack by whoever can add an entry to a
folder bridge reads or writes (a drop folder, a target, a quarantine, a work area left with
loose modes), against real folders, a real OpenSSH sshd and the embedded SFTP server."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bridge import faults
from bridge.atomic import save_atomic
from bridge.config import SftpConnection, load
from bridge.engine.runner import run_pass
from bridge.errors import TransientError
from bridge.files import KEY_FILE, TempNames
from bridge.sftpserver import SftpServer
from bridge.transport import Entry, Refused
from bridge.transport.local import LocalTransport
from bridge.transport.sftp import SftpTransport
from tests.flowkit import make_world, order_file
from tests.flowkit.fence import refused_then_published
from tests.flowkit.spy import Spying
from tests.sshd import Sshd, shared_sshd_fixture  # noqa: F401  (a fixture)

SECRET = b"root:$6$a-hash-nobody-else-may-read:19000:0:99999:7:::\n"
PRECIOUS = b"a file bridge must never write\n"
TEMP = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{16}\.part")


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret"
    path.write_bytes(SECRET)
    path.chmod(0o600)
    return path


def copies_of(root: Path, secret: Path) -> list[Path]:
    """Files under ``root`` holding the secret's bytes, other than the secret's own inode;
    links are not followed, so a planted link is not a copy."""
    found = []
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            st = path.lstat()
            if (stat.S_ISREG(st.st_mode) and not os.path.samestat(st, secret.stat())
                    and SECRET in path.read_bytes()):
                found.append(path)
    return found


def plant(link: Path, victim: Path) -> Path:
    """A symbolic link at ``link`` to a victim file holding :data:`PRECIOUS`."""
    victim.write_bytes(PRECIOUS)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)
    return victim


# -- local targets and quarantines ------------------------------------------------------------


def test_links_planted_under_the_names_bridge_used_to_write_are_never_followed(
        tmp_path: Path) -> None:
    # The attack on the old predictable names: `.NAME.part` in the target and the quarantine.
    cfg = make_world(tmp_path)
    erp, quarantine = tmp_path / "erp", tmp_path / "quarantine"
    planted = {}
    for folder, name in [(erp, ".ART00001.TXT.part"), (erp, ".ART00001.TXT.ok.part"),
                         (erp, ".ART00002.TXT.part"), (erp, ".ART00002.TXT.ok.part"),
                         (quarantine, ".bad.csv.issues.csv.part"),
                         (quarantine, ".bad.csv.report.html.part")]:
        planted[folder / name] = plant(folder / name, tmp_path / f"victim{len(planted)}")
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    (tmp_path / "inbox" / "bad.csv").write_text(order_file(2).replace("2,05", "2,0x"),
                                                encoding="utf-8")
    result = run_pass(load(cfg))
    assert sorted((o.name, o.state) for o in result.outcomes) == [("a.csv", "done"),
                                                                  ("bad.csv", "rejected")]
    for link, victim in planted.items():
        assert victim.read_bytes() == PRECIOUS, victim
        assert link.is_symlink()  # left where it was planted
    assert (erp / "ART00001.TXT").stat().st_nlink == 1  # a file of its own, no victim's
    assert (erp / "ART00001.TXT.ok").read_bytes() == b"3\n"
    assert "bad-decimal" in (quarantine / "bad.csv.issues.csv").read_text(encoding="utf-8-sig")


@pytest.mark.parametrize("planted", ["link", "dangling link", "another user's file"])
def test_whatever_is_under_the_temporary_name_is_left_alone(tmp_path: Path,
                                                             planted: str) -> None:
    # O_CREAT|O_EXCL|O_NOFOLLOW: an existing name is never opened, a link never followed,
    # and a dangling link never makes a file where it points.
    t = LocalTransport(tmp_path / "root")
    src = tmp_path / "src"
    src.write_bytes(b"ours\r\n")
    final = tmp_path / "root" / "out" / "ART1.TXT"
    final.parent.mkdir(parents=True)
    tmp = t.names.beside(final, "/".join(src.parts[-2:]))
    assert TEMP.fullmatch(tmp.name) and tmp.parent == final.parent
    victim = tmp_path / "victim"
    if planted == "link":
        plant(tmp, victim)
    elif planted == "dangling link":
        tmp.symlink_to(victim)
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can make a file of another user")
        tmp.write_bytes(PRECIOUS)
        os.chown(tmp, 65534, 65534)
    with pytest.raises(TransientError, match="left alone"):
        t.upload(src, "out", "ART1.TXT")
    assert not os.path.lexists(final)
    assert os.path.lexists(tmp)  # not ours: not removed either
    if planted == "link":
        assert victim.read_bytes() == PRECIOUS
    elif planted == "dangling link":
        assert not victim.exists()
    else:
        assert tmp.read_bytes() == PRECIOUS


def test_bytes_uploaded_to_a_local_folder_are_written_as_a_file_is(tmp_path: Path) -> None:
    """A done-file's bytes: private while written, durable, published by a rename that
    never replaces; a name taken (by a link, too) is left alone, nothing followed."""
    t = LocalTransport(tmp_path, names=TempNames(tmp_path / KEY_FILE))
    t.upload(b"1234\n", "erp", "ART0001.TXT.ok", mode=0o640)
    final = tmp_path / "erp" / "ART0001.TXT.ok"
    assert final.read_bytes() == b"1234\n" and stat.S_IMODE(final.stat().st_mode) == 0o640
    (tmp_path / "secret").write_bytes(b"keep")
    (tmp_path / "erp" / "ART0002.TXT.ok").symlink_to(tmp_path / "secret")
    for name in ("ART0001.TXT.ok", "ART0002.TXT.ok"):
        with pytest.raises(TransientError, match="exists already"):
            t.upload(b"other\n", "erp", name)
    assert final.read_bytes() == b"1234\n" and (tmp_path / "secret").read_bytes() == b"keep"
    assert sorted(os.listdir(tmp_path / "erp")) == ["ART0001.TXT.ok", "ART0002.TXT.ok"]


def test_what_a_killed_run_left_is_found_and_removed_by_the_next(tmp_path: Path) -> None:
    key = tmp_path / "work" / KEY_FILE
    src = tmp_path / "work" / "render.out"
    src.parent.mkdir()
    src.write_bytes(b"ours\r\n")
    final = tmp_path / "erp" / "ART1.TXT"
    final.parent.mkdir()
    killed = LocalTransport(tmp_path, names=TempNames(key))
    left = killed.names.beside(final, "/".join(src.parts[-2:]))
    left.write_bytes(b"our")  # a run killed in the middle of the write
    assert stat.S_IMODE(key.stat().st_mode) == 0o600  # the key is bridge's alone
    # The same key names it the same; nobody without the key can tell the name.
    assert TempNames(key).beside(final, "/".join(src.parts[-2:])) == left
    assert TempNames(tmp_path / "other.key").beside(final, str(src)) != left
    assert TempNames().beside(final, str(src)) != TempNames().beside(final, str(src))
    LocalTransport(tmp_path, names=TempNames(key)).upload(src, "erp", "ART1.TXT")
    assert os.listdir(final.parent) == ["ART1.TXT"]
    assert final.read_bytes() == b"ours\r\n"


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    t = LocalTransport(tmp_path)
    src = tmp_path / "src"
    src.write_bytes(b"ours\r\n")
    monkeypatch.setattr(faults, "_raise", "mid-write:1")
    monkeypatch.setattr(faults, "_counts", {})
    with pytest.raises(faults.InjectedFault):
        t.upload(src, "erp", "ART1.TXT")
    assert os.listdir(tmp_path / "erp") == []


def test_the_modes_of_what_bridge_makes(tmp_path: Path) -> None:
    t = LocalTransport(tmp_path)
    src = tmp_path / "src"
    src.write_bytes(b"ours\r\n")
    umask = os.umask(0o022)
    os.umask(umask)

    def mode(path: Path) -> int:
        return stat.S_IMODE(path.stat().st_mode)

    t.upload(src, "erp", "A.TXT", mode=0o640)  # the ERP's group reads it
    t.upload(src, "erp", "B.TXT")  # as before: what open() makes
    t.upload(src, "erp", "C.TXT", mode=0o604)
    assert mode(tmp_path / "erp" / "A.TXT") == 0o640
    assert mode(tmp_path / "erp" / "B.TXT") == 0o666 & ~umask
    assert mode(tmp_path / "erp" / "C.TXT") == 0o604
    (tmp_path / "work").mkdir()
    t.download("erp", "A.TXT", tmp_path / "work" / "copy")
    assert mode(tmp_path / "work" / "copy") == 0o600  # bridge's own copy
    assert mode(save_atomic(tmp_path / "work" / "report.csv", b"x")) == 0o600
    assert mode(save_atomic(tmp_path / "work" / "known", b"x", mode=0o644)) == 0o644


# -- the work area ------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["incoming", "2"])
def test_links_planted_in_a_loose_work_area_are_refused(tmp_path: Path, where: str) -> None:
    cfg = make_world(tmp_path)
    inbox = tmp_path / "inbox"
    (inbox / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["done"]
    work = tmp_path / "state" / "work"
    for folder, dirs, _names in os.walk(work):  # a careless `chmod -R 777`
        for d in [folder, *(os.path.join(folder, d) for d in dirs)]:
            os.chmod(d, 0o777)
    # Another user plants a link to a folder of theirs where bridge is to write: the
    # downloads' folder, or the folder of the next file (id 2).
    stolen = tmp_path / "stolen"
    stolen.mkdir(mode=0o777)
    shutil.rmtree(work / where, ignore_errors=True)
    (work / where).symlink_to(stolen)
    (inbox / "b.csv").write_text(order_file(2), encoding="utf-8")
    result = run_pass(load(cfg))
    [outcome] = result.outcomes
    assert outcome.state == "retrying" and "is not a folder of bridge's own" in outcome.message
    assert os.listdir(stolen) == []  # nothing of the file was written there
    assert not (tmp_path / "erp" / "ART00002.TXT").exists()


# -- sources: links, FIFOs, devices, swaps -------------------------------------------------------


@pytest.mark.parametrize("swap", ["symlink", "hard link"])
def test_a_source_swapped_for_a_secret_is_never_copied(tmp_path: Path, secret: Path,
                                                       swap: str) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    swapped = []

    def hook(connection: str, op: str, n: int, args: tuple[object, ...]) -> None:
        # Listed, claimed and stat'ed: right before it is read, it becomes the secret.
        if op == "download" and not swapped:
            held = tmp_path / str(args[0]) / str(args[1])
            # A secret of the listed size, whole lines: not taken for a file still written.
            secret.write_bytes(SECRET.ljust(held.stat().st_size - 1, b"#") + b"\n")
            held.unlink()
            if swap == "symlink":
                held.symlink_to(secret)
            else:
                os.link(secret, held)
            swapped.append(held)

    result = run_pass(load(cfg), connect=Spying(hook))
    assert swapped and [o.state for o in result.outcomes] == ["rejected"]
    assert result.outcomes[0].message.endswith("left where it is")
    assert copies_of(tmp_path, secret) == []  # not in the work area, a target, a report
    report = next((tmp_path / "quarantine").glob("*.issues.csv")).read_text("utf-8-sig")
    assert "unreadable-file" in report
    # left where it is (given back under its name), never moved into quarantine
    assert not [p for p in (tmp_path / "quarantine").iterdir() if p.is_symlink()]
    assert run_pass(load(cfg)).outcomes == []  # and not looked at again
    assert not (tmp_path / "erp").exists() or os.listdir(tmp_path / "erp") == []


def test_stat_and_download_refuse_links_and_swaps(tmp_path: Path, secret: Path) -> None:
    t = LocalTransport(tmp_path)
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "link.csv").symlink_to(secret)
    # not a file to take: listed as what it is, to be told
    assert [(e.name, e.kind) for e in t.list("in")] == [("link.csv", "a symbolic link")]
    assert t.stat("in", "link.csv") is None
    with pytest.raises(Refused, match=r"link\.csv is a link"):
        t.download("in", "link.csv", tmp_path / "copy")
    (inbox / "link.csv").unlink()
    (inbox / "a.csv").write_bytes(b"x" * 100)
    [listed] = t.list("in")
    here = (inbox / "a.csv").stat()
    assert listed.identity == (here.st_dev, here.st_ino) == t.stat("in", "a.csv").identity
    with open(inbox / "a.csv", "ab") as grows:  # still being written after it was listed
        grows.write(b"y" * 1_000_000)
    t.download("in", "a.csv", tmp_path / "copy", expect=listed)
    assert (tmp_path / "copy").read_bytes() == b"x" * 100 + b"y"  # enough to see it grew
    os.replace(inbox / "a.csv", inbox / "kept.csv")  # the listed inode stays in use
    os.link(secret, inbox / "a.csv")  # another file under the listed name, a hard link
    with pytest.raises(Refused, match="2 names"):
        t.download("in", "a.csv", tmp_path / "copy", expect=listed)
    (inbox / "b.csv").write_bytes(b"z" * 100)  # another file, of the same size...
    os.replace(inbox / "b.csv", inbox / "a.csv")  # ...put under the listed name
    with pytest.raises(Refused, match="not the file that was listed"):
        t.download("in", "a.csv", tmp_path / "copy2", expect=listed)
    assert copies_of(tmp_path, secret) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "in", "secret"]  # no temp


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    t = LocalTransport(tmp_path)
    (tmp_path / "in").mkdir()
    fifo = tmp_path / "in" / "a.csv"
    os.mkfifo(fifo)
    assert [(e.name, e.kind) for e in t.list("in")] == [("a.csv", "a FIFO")]
    assert t.stat("in", "a.csv") is None
    got: list[BaseException] = []

    def take() -> None:
        try:
            t.download("in", "a.csv", tmp_path / "copy")
        except BaseException as exc:  # reported to the test below
            got.append(exc)

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    thread.join(30)
    if thread.is_alive():  # stuck waiting for a writer: one that ends at once frees it
        os.close(os.open(fifo, os.O_RDWR))
        thread.join(5)
        pytest.fail("reading a FIFO waited for a writer")
    assert len(got) == 1 and isinstance(got[0], Refused) and "a FIFO" in str(got[0])
    assert not (tmp_path / "copy").exists()


READ_IN_A_CHILD = """
import resource, sys
from pathlib import Path
# A runaway copy is stopped at 1 MB (SIGXFSZ), instead of filling the disk.
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
from bridge.transport import Refused
from bridge.transport.local import LocalTransport
root = Path(sys.argv[1])
try:
    LocalTransport(root).download("in", "a.csv", root / "copy")
except Refused as exc:
    print("refused:", exc)
"""


def test_a_link_to_dev_zero_never_fills_the_disk(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.csv").symlink_to("/dev/zero")
    got = subprocess.run([sys.executable, "-c", READ_IN_A_CHILD, str(tmp_path)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert got.returncode == 0, got.stderr
    assert got.stdout.startswith("refused: a.csv is a link"), got.stdout
    assert not (tmp_path / "copy").exists()


# -- SFTP ----------------------------------------------------------------------------------------


Connect = Callable[[dict[str, object]], SftpTransport]


@pytest.fixture
def sftp_to() -> Iterator[Connect]:
    with contextlib.ExitStack() as opened:

        def connect(fields: dict[str, object]) -> SftpTransport:
            t = SftpTransport("erp", SftpConnection.model_validate(fields), lambda p: p)
            t.backoff = (0.05,)
            opened.callback(t.close)
            return t

        yield connect


@pytest.mark.parametrize("linked", [True, False], ids=["hardlink", "rename"])
@pytest.mark.parametrize("planted", ["link", "file", "old name", "again"])
def test_an_sftp_upload_never_overwrites_nor_follows_its_temporary_name(
        shared_sshd: Sshd, tmp_path: Path, sftp_to: Connect,
        monkeypatch: pytest.MonkeyPatch, linked: bool, planted: str) -> None:
    """The temporary name is keyed with the work area's secret: what is there is what an
    earlier try of bridge left (a file, or anything it may have become), removed without
    following it, and the name made again; one taken again is left alone, and the upload
    fails cleanly."""
    if not linked:  # as against a server without hardlink@openssh.com
        monkeypatch.setattr("bridge.transport.sftp_connect.version_extensions", lambda data: {})
    root = tmp_path / "remote"
    (root / "out").mkdir(parents=True)
    src = tmp_path / "src"
    src.write_bytes(b"ours\r\n" * 1000)
    victim = tmp_path / "victim"
    if planted == "old name":  # the predictable name uploads used to write through
        plant(root / "out" / ".ART1.TXT.part", victim)
    else:  # as if the keyed name had been guessed, or left by an earlier try
        monkeypatch.setattr("bridge.files.TempNames.of_upload",
                            lambda self, final, src: final.with_name(
                                f".{final.name}.0123456789abcdef.part"))
        there = root / "out" / ".ART1.TXT.0123456789abcdef.part"
        if planted == "file":
            there.write_bytes(PRECIOUS)
        else:
            plant(there, victim)
    if planted == "again":  # taken again as soon as it is removed
        monkeypatch.setattr("bridge.transport.sftp.remove_quietly", lambda sftp, path: None)
    t = sftp_to(shared_sshd.connection(root))
    if planted != "again":
        t.upload(src, "out", "ART1.TXT")
        assert (root / "out" / "ART1.TXT").read_bytes() == src.read_bytes()
        if planted != "file":
            assert victim.read_bytes() == PRECIOUS  # never followed
        assert sorted(os.listdir(root / "out")) == (
            [".ART1.TXT.part", "ART1.TXT"] if planted == "old name" else ["ART1.TXT"])
        return
    with pytest.raises(TransientError, match="exists already; left alone, not followed"):
        t.upload(src, "out", "ART1.TXT")
    assert not (root / "out" / "ART1.TXT").exists()
    assert victim.read_bytes() == PRECIOUS and there.is_symlink()
    assert os.listdir(root / "out") == [there.name]  # nothing of ours left behind
    there.unlink()
    t.upload(src, "out", "ART1.TXT")  # the same session goes on
    assert (root / "out" / "ART1.TXT").read_bytes() == src.read_bytes()


def test_sftp_modes_and_links(shared_sshd: Sshd, tmp_path: Path, sftp_to: Connect) -> None:
    root = tmp_path / "remote"
    (root / "in").mkdir(parents=True)
    src = tmp_path / "src"
    src.write_bytes(b"ours\r\n")
    t = sftp_to(shared_sshd.connection(root))
    t.upload(src, "out", "A.TXT", mode=0o640)  # through the hard link
    t._hardlink = False
    t.upload(src, "out", "B.TXT", mode=0o604)  # through the rename
    assert stat.S_IMODE((root / "out" / "A.TXT").stat().st_mode) == 0o640
    assert stat.S_IMODE((root / "out" / "B.TXT").stat().st_mode) == 0o604
    (root / "in" / "a.csv").symlink_to(src)
    # a link is not a file: listed as what it is, to be told
    assert [(e.name, e.kind) for e in t.list("in")] == [("a.csv", "a symbolic link")]
    assert t.stat("in", "a.csv") is None


def test_a_file_the_server_lists_but_will_not_serve_is_refused(tmp_path: Path,
                                                               sftp_to: Connect) -> None:
    with SftpServer(tmp_path / "root", user="shop", refuse_reads={"locked.csv"}) as server:
        (server.root / "in").mkdir()
        (server.root / "in" / "locked.csv").write_bytes(b"codice;qty\n")
        (server.root / "in" / "open.csv").write_bytes(b"codice;qty\n")
        known = tmp_path / "known_hosts"
        known.write_text(server.known_hosts_line(), encoding="ascii")
        t = sftp_to({
            "type": "sftp", "host": "127.0.0.1", "port": server.port, "user": "shop",
            "key_file": str(server.write_client_key(tmp_path / "id")),
            "known_hosts": str(known), "root": "/", "timeout": 5.0})
        work = tmp_path / "work"
        work.mkdir()
        assert sorted(e.name for e in t.list("in")) == ["locked.csv", "open.csv"]
        with pytest.raises(Refused, match=r"refuses to let bridge read /in/locked\.csv"):
            t.download("in", "locked.csv", work / "a")
        assert os.listdir(work) == []  # no temporary file left
        t.download("in", "open.csv", work / "b")  # the session goes on
        # A file that is gone is a failure to retry, never Refused.
        with pytest.raises(TransientError) as gone:
            t.download("in", "missing.csv", work / "c")
        assert not isinstance(gone.value, Refused)
        first = t._ssh
        server.stop()
        # And so is a server that went away.
        with pytest.raises(TransientError) as down:
            t.download("in", "locked.csv", work / "d")
        assert not isinstance(down.value, Refused) and first is not t._ssh
    assert os.listdir(work) == ["b"]


def test_an_sftp_download_takes_no_more_than_listed(shared_sshd: Sshd, tmp_path: Path,
                                                   sftp_to: Connect) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    (root / "a.csv").write_bytes(b"x" * 10)
    t = sftp_to(shared_sshd.connection(root))
    [listed] = t.list("")
    (root / "a.csv").write_bytes(b"x" * 3_000_000)  # grew after the listing, or lies
    t.download("", "a.csv", tmp_path / "copy", expect=listed)
    assert (tmp_path / "copy").read_bytes() == b"x" * 11
    assert stat.S_IMODE((tmp_path / "copy").stat().st_mode) == 0o600
    t.download("", "a.csv", tmp_path / "all", expect=Entry("a.csv", 3_000_000, 0))
    assert (tmp_path / "all").stat().st_size == 3_000_000


def test_a_local_upload_refused_by_its_fence_publishes_nothing(tmp_path: Path) -> None:
    (tmp_path / "erp").mkdir()
    src = tmp_path / "src"
    src.write_bytes(b"ART;1\r\n" * 1000)
    refused_then_published(LocalTransport(tmp_path), tmp_path / "erp", src, "ART00001.TXT")


# -- folders made once per pass -------------------------------------------------------------


def test_a_folder_removed_mid_pass_is_made_again_and_a_missing_file_still_fails(
        tmp_path: Path) -> None:
    """A local transport makes a target or archive folder once, not before every file; a
    folder an operator removes between two files is made again by the next one that finds
    it gone, and a file that is itself missing fails as before."""
    from bridge.transport.local import LocalTransport

    t = LocalTransport(tmp_path)
    src = tmp_path / "staged"
    src.write_bytes(b"riga\r\n")
    t.upload(src, "erp/oggi", "A.TXT")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "a.csv").write_bytes(b"x")
    (tmp_path / "inbox" / "b.csv").write_bytes(b"y")
    t.move("inbox", "a.csv", "archive/2026", "a.csv")
    shutil.rmtree(tmp_path / "erp")
    shutil.rmtree(tmp_path / "archive")
    t.upload(src, "erp/oggi", "B.TXT")
    t.move("inbox", "b.csv", "archive/2026", "b.csv")
    assert (tmp_path / "erp" / "oggi" / "B.TXT").read_bytes() == b"riga\r\n"
    assert (tmp_path / "archive" / "2026" / "b.csv").read_bytes() == b"y"
    with pytest.raises(TransientError, match=r"cannot write .*C\.TXT: No such file"):
        t.upload(tmp_path / "missing", "erp/oggi", "C.TXT")
    with pytest.raises(TransientError, match=r"cannot move .*gone\.csv: No such file"):
        t.move("inbox", "gone.csv", "archive/2026", "gone.csv")
    assert sorted(p.name for p in (tmp_path / "erp" / "oggi").iterdir()) == ["B.TXT"]
