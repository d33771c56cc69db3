"""A real OpenSSH server for the SFTP tests: Debian's sshd on 127.0.0.1 and a free port.

Each server has its own folder with a config, an ed25519 host key, a user key and an
authorized_keys file; it runs in the foreground (``-D -e``) as whoever runs the tests, and
is stopped by its pid together with its session processes (found through /proc by parent
pid), so a system sshd on port 22 is never needed nor touched.

``tests/run.sh`` installs openssh-server when it is missing; without it these tests skip,
except under CI (``CI=true``), where they fail: there a skip would hide a broken setup.
"""

from __future__ import annotations

import base64
import contextlib
import getpass
import os
import signal
import socket
import subprocess
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

SSHD = Path("/usr/sbin/sshd")
#: OpenSSH's own SFTP server program (Debian's openssh-sftp-server), run by a server that
#: logs its requests (``sftp_log``).
SFTP_SERVER = Path("/usr/lib/openssh/sftp-server")
#: Seconds sshd may take to listen: a machine busy with other jobs can be slow to start it.
START_TIMEOUT = 30.0


def require_sshd(program: Path = SSHD) -> None:
    if program.is_file() and os.access(program, os.X_OK):
        return
    why = f"OpenSSH's {program.name} is not installed ({program} is missing): run " \
          "tests/run.sh as root, or apt-get install openssh-server"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


def write_key(path: Path, passphrase: bytes | None = None) -> str:
    """A new ed25519 private key in OpenSSH format; returns its public line."""
    key = ed25519.Ed25519PrivateKey.generate()
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.OpenSSH, enc))
    path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH)
    return public.decode("ascii")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds a socket listening on ``port`` of 127.0.0.1 (and not
    some other process that took the port while ``pid`` was starting)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    held = set()
    for fd in fds:
        with contextlib.suppress(OSError):  # closed meanwhile
            held.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state, inode = (line.split()[i] for i in (1, 3, 9))
        if (state == "0A" and local == f"0100007F:{port:04X}"  # LISTEN on 127.0.0.1
                and f"socket:[{inode}]" in held):
            return True
    return False


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid``, read from /proc before anything is killed (a dead
    parent's children are adopted by init and can no longer be found this way)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the ppid follows the last ')'.
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p]
        out += kids
        todo += kids
    return out


def alive(pid: int) -> bool:
    """Whether a process still runs (a zombie waiting for init to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Sshd:
    """One sshd. ``host_key_line`` is its known_hosts line; ``user_key`` logs in."""

    home: Path
    port: int = field(default_factory=free_port)
    user: str = field(default_factory=getpass.getuser)
    password_auth: bool = False
    #: With a path: the SFTP server is OpenSSH's program, logging every request it serves
    #: there (``-l VERBOSE``), refusing the requests named in ``sftp_denied`` (``-P``).
    sftp_log: Path | None = None
    sftp_denied: str = ""
    proc: subprocess.Popen[bytes] | None = None
    started: bool = field(default=False, init=False)  # then a restart keeps its port

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.host_key = self.home / "ssh_host_ed25519_key"
        self.host_public = write_key(self.host_key)
        self.user_key = self.home / "id_ed25519"
        (self.home / "authorized_keys").write_text(write_key(self.user_key) + "\n")
        self.known_hosts = self.home / "known_hosts"
        self.known_hosts.write_text(self.host_key_line() + "\n")
        self.config = self.home / "sshd_config"
        self.log = self.home / "sshd.log"
        self.write_config()

    def host_blob(self) -> bytes:
        """The host key as the server sends it in the handshake."""
        return base64.b64decode(self.host_public.split()[1])

    def host_key_line(self) -> str:
        kind, b64 = self.host_public.split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {b64}"

    def write_config(self) -> None:
        self.config.write_text(textwrap.dedent(f"""\
            ListenAddress 127.0.0.1
            Port {self.port}
            HostKey {self.host_key}
            PidFile {self.home / "sshd.pid"}
            AuthorizedKeysFile {self.home / "authorized_keys"}
            PubkeyAuthentication yes
            PasswordAuthentication {"yes" if self.password_auth else "no"}
            KbdInteractiveAuthentication no
            PermitRootLogin prohibit-password
            StrictModes no
            UsePAM no
            UseDNS no
            MaxStartups 100
            MaxSessions 100
            LogLevel ERROR
            Subsystem sftp {self._sftp_subsystem()}
            """))

    def _sftp_subsystem(self) -> str:
        if self.sftp_log is None:
            return "internal-sftp"
        denied = f" -P {self.sftp_denied}" if self.sftp_denied else ""
        script = self.home / "sftp-server.sh"
        script.write_text(f"#!/bin/sh\nexec {SFTP_SERVER} -e -l VERBOSE{denied} "
                          f"2>>'{self.sftp_log}'\n")
        script.chmod(0o755)
        return str(script)

    def new_host_key(self) -> None:
        """Replace the server's key (a reinstalled server, or an impostor); restart it."""
        self.host_public = write_key(self.host_key)

    def start(self) -> None:
        """Start sshd and wait until it listens. A restart keeps its port, which clients and
        known_hosts lines name; a first start whose port another process took since
        :func:`free_port` found it free moves to another port."""
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        for _ in range(5):
            if self._launch():
                self.started = True
                return
            if self.started:
                break
            self.port = free_port()
            self.known_hosts.write_text(self.host_key_line() + "\n")
            self.write_config()
        raise RuntimeError(f"sshd: port {self.port} is taken by another process")

    def _launch(self) -> bool:
        """Run sshd until it listens (True), or until it stops because its port is taken
        (False); anything else is a RuntimeError."""
        since = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([str(SSHD), "-f", str(self.config), "-D", "-e"],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                said = self.log.read_bytes()[since:].decode(errors="replace")
                if "Address already in use" in said:
                    return False
                raise RuntimeError(f"sshd stopped at start: {said[-2000:]}")
            if listening(self.proc.pid, self.port):
                return True
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"sshd did not listen on port {self.port}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop the listener and its sessions (SIGTERM to the listener alone leaves them)."""
        if self.proc is None:
            return
        pids = [*_children(self.proc.pid), self.proc.pid]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        # A session caught mid-way through its start may miss SIGTERM: SIGKILL stragglers.
        for final in (False, True):
            deadline = time.monotonic() + 2
            while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
                time.sleep(0.01)
            for pid in filter(alive, pids):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if final or not any(alive(pid) for pid in pids):
                break

    def kill(self) -> None:
        """A crash: SIGKILL to the listener and every session."""
        self.stop(signal.SIGKILL)

    def connection(self, root: Path | str, **extra: object) -> dict[str, object]:
        """The fields of an sftp connection in bridge.yaml, logging in with the user key."""
        conn: dict[str, object] = {"type": "sftp", "host": "127.0.0.1", "port": self.port,
                                   "user": self.user, "key_file": str(self.user_key),
                                   "known_hosts": str(self.known_hosts), "root": str(root),
                                   "timeout": 5.0}
        conn.update(extra)
        return conn


@contextlib.contextmanager
def running(home: Path, **kwargs: object) -> Iterator[Sshd]:
    require_sshd()
    if kwargs.get("sftp_log") is not None:
        require_sshd(SFTP_SERVER)
    server = Sshd(home, **kwargs)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="sshd")
def sshd_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """A fresh sshd for one test (it may be killed, restarted or given a new key)."""
    with running(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(name="shared_sshd", scope="module")
def shared_sshd_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """One sshd for the tests of a module that leave it as it is."""
    with running(tmp_path_factory.mktemp("sshd")) as server:
        yield server
