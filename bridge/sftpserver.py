"""An SFTP server inside the process, for `bridge demo` and for tests: asyncssh on loopback.

The server runs its own event loop in a background thread, listens on 127.0.0.1 and a free
port, presents a host key made fresh in memory, lets in exactly one user holding one client
key (also made fresh), and confines that user to one folder. It speaks the
``posix-rename@openssh.com`` extension, so bridge's atomic uploads take the same path as
against OpenSSH.

Closing an asyncssh listener leaves the accepted connections running, so :meth:`stop`
closes every connection too, then the loop and the thread, each step bounded in time.

For tests, ``refuse_reads`` names files (by name, or by path under the root) that the
server lists but will not let be read (permission denied), as a real server does with a
file whose permissions forbid it, even when the tests run as root. A refused file stays
refused under a new name: the server also remembers, at start, the inodes of those present.
"""

from __future__ import annotations

import asyncio
import os
import threading
import warnings
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import Any

with warnings.catch_warnings():
    # asyncssh (and pyOpenSSL, which it imports where installed) names cryptography's DSA
    # types as it is imported, and cryptography 51 warns of each use: ten lines a user of
    # `bridge demo` can do nothing about. No DSA key is made or taken here (ed25519 only).
    warnings.filterwarnings("ignore", message="DSA is deprecated")
    import asyncssh

#: Seconds any one step of start() or stop() may take: a demo must never hang.
STEP_TIMEOUT = 5.0


class _ConfinedSftp(asyncssh.SFTPServer):
    """asyncssh's chroot maps every path under the root; links are refused as well, since a
    drop folder never needs them and a link is the usual way out of a confined folder."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], root: bytes,
                 names: frozenset[str], inodes: frozenset[tuple[int, int]]) -> None:
        super().__init__(chan, chroot=root)
        self._names = names
        self._refused = inodes

    def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
        if not pflags & asyncssh.FXF_WRITE and self._names:
            named = os.fsdecode(path).strip("/")
            if named in self._names or os.path.basename(named) in self._names:
                raise asyncssh.SFTPPermissionDenied("permission denied")
            try:
                st = os.stat(self.map_path(path))
            except OSError:
                pass  # the open below reports it as the client expects
            else:
                if (st.st_dev, st.st_ino) in self._refused:
                    raise asyncssh.SFTPPermissionDenied("permission denied")
        return super().open(path, pflags, attrs)

    def symlink(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("links are not allowed on this server")

    def link(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("links are not allowed on this server")


class _Gate(asyncssh.SSHServer):
    """One per connection: checks the user and key, and tells the server when it ends."""

    def __init__(self, server: SftpServer) -> None:
        self._server = server
        self._conn: asyncssh.SSHServerConnection | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self._server._connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._conn is not None:
            self._server._connections.discard(self._conn)

    def begin_auth(self, username: str) -> bool:
        return True  # authentication is always required

    def password_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        allowed = self._server.client_key.convert_to_public()
        return bool(username == self._server.user
                    and key.public_data == allowed.public_data)


class SftpServer:
    """An SFTP server serving ``root`` to ``user``; use as a context manager, or call
    :meth:`start` and :meth:`stop`.

    ``client_key`` is the private key the one user logs in with (made fresh when omitted);
    write it for a client with :meth:`write_client_key`. The host key is always fresh, so a
    client must be told to trust it: :meth:`known_hosts_line` or :attr:`fingerprint`.
    """

    def __init__(self, root: Path, *, user: str = "bridge",
                 client_key: asyncssh.SSHKey | None = None,
                 refuse_reads: Collection[str] = ()) -> None:
        self.root = Path(root).resolve()
        self.refuse_reads = frozenset(refuse_reads)
        self._refused: frozenset[tuple[int, int]] = frozenset()
        self.user = user
        self.host = "127.0.0.1"
        self.port = 0
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = client_key or asyncssh.generate_private_key("ssh-ed25519")
        self._connections: set[asyncssh.SSHServerConnection] = set()
        self._listener: asyncssh.SSHAcceptor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- what a client needs to know ---------------------------------------------------------

    @property
    def fingerprint(self) -> str:
        """The host key's SHA256 fingerprint, as OpenSSH prints it (``SHA256:...``)."""
        return str(self.host_key.get_fingerprint("sha256"))

    def known_hosts_line(self) -> str:
        """The host key as a known_hosts line for this host and port."""
        public = self.host_key.export_public_key("openssh").decode("ascii").split()
        return f"[{self.host}]:{self.port} {public[0]} {public[1]}\n"

    def write_client_key(self, path: Path) -> Path:
        """Save the user's private key in OpenSSH format, readable by its owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_bytes(self.client_key.export_private_key("openssh"))
        return path

    @property
    def connections(self) -> int:
        """Connections open right now."""
        return len(self._connections)

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> SftpServer:
        if self._thread is not None:
            raise RuntimeError("the SFTP server is already running")
        self.root.mkdir(parents=True, exist_ok=True)
        self._refused = frozenset(self._inodes(self.refuse_reads))
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="bridge-sftpserver",
                                  daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._call(self._listen())
        except BaseException:
            self._halt()
            raise
        return self

    def stop(self) -> None:
        """Close the listener and every connection, then the loop; joins the thread."""
        if self._loop is None:
            return
        try:
            self._call(self._close())
        except (TimeoutError, RuntimeError, OSError):
            pass  # the loop is being stopped anyway; nothing more to wait for
        finally:
            self._halt()

    def __enter__(self) -> SftpServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _inodes(self, names: Collection[str]) -> set[tuple[int, int]]:
        """(device, inode) of every file under the root whose name or path is in ``names``."""
        found: set[tuple[int, int]] = set()
        if not names:
            return found
        for folder, _dirs, files in os.walk(self.root):
            for name in files:
                path = Path(folder, name)
                if name in names or path.relative_to(self.root).as_posix() in names:
                    st = path.stat()
                    found.add((st.st_dev, st.st_ino))
        return found

    # -- inside the loop ---------------------------------------------------------------------

    async def _listen(self) -> None:
        root = str(self.root).encode()

        def sftp(chan: asyncssh.SSHServerChannel[bytes]) -> asyncssh.SFTPServer:
            return _ConfinedSftp(chan, root, self.refuse_reads, self._refused)

        self._listener = await asyncssh.listen(
            self.host, 0, server_factory=lambda: _Gate(self),
            server_host_keys=[self.host_key], sftp_factory=sftp, allow_scp=False,
            agent_forwarding=False, x11_forwarding=False, allow_pty=False,
            login_timeout=STEP_TIMEOUT * 2)
        self.port = self._listener.get_port()

    async def _close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None
        conns = list(self._connections)
        for conn in conns:
            conn.close()
        if conns:
            await asyncio.wait([asyncio.ensure_future(c.wait_closed()) for c in conns],
                               timeout=STEP_TIMEOUT / 2)
        for conn in conns:
            conn.abort()  # no-op for one already closed; cuts one that would not close
        self._connections.clear()

    def _call(self, coro: Any) -> Any:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(STEP_TIMEOUT)

    def _halt(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(STEP_TIMEOUT)
        if not thread.is_alive():
            _drain(loop)
            loop.close()


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Let tasks still pending (a connection's last callbacks) finish or be cancelled, so
    closing the loop leaves no 'Task was destroyed' warning behind."""
    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())
