"""Opening an SSH connection for the SFTP transport: our own socket with TCP_NODELAY, AES-GCM
first, the host key types known_hosts holds first, and a timeout on every step
(:func:`open_transport`: nothing verified, nothing sent; the caller checks the host key
before any secret), then logging in with a key or a password (:func:`authenticate`)."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import paramiko

from bridge import hostkeys
from bridge.errors import ConfigError, TransientError
from bridge.transport.sftp_pipe import version_extensions
from bridge.transport.sftp_wire import ProtocolError

if TYPE_CHECKING:
    from bridge.config import SftpConnection

CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com",
           "aes128-ctr", "aes192-ctr", "aes256-ctr")
#: Failures after which the session cannot be trusted to be in step with the server.
DROPPED = (EOFError, TimeoutError, paramiko.SSHException, paramiko.SFTPError, ProtocolError)


class Unreachable(Exception):
    """The server could not be reached or the handshake broke: worth another try."""


def plain(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).rstrip(".")


def authenticate(t: paramiko.Transport, conn: SftpConnection, key: paramiko.PKey | None,
                 where: str) -> None:
    """Log in with ``key`` (when the connection has a key_file), else or then with the
    password; a refusal is a :class:`ConfigError` that never holds the secret."""
    if conn.key_file is None and conn.password is None:
        raise ConfigError(f"{where}: set key_file or password to log in")
    if key is not None:
        try:
            t.auth_publickey(conn.user, key)
            return
        except paramiko.AuthenticationException as exc:
            if conn.password is None:
                raise ConfigError(f"{where}: the server refused the key "
                                  f"{conn.key_file}: {plain(exc)}") from None
    assert conn.password is not None
    try:
        t.auth_password(conn.user, conn.password.get_secret_value())
    except paramiko.AuthenticationException:
        raise ConfigError(f"{where}: the server refused the password") from None


def load_key(conn: SftpConnection, resolve: Callable[[Path], Path], where: str
             ) -> paramiko.PKey:
    assert conn.key_file is not None
    path = resolve(conn.key_file)
    secret = conn.key_passphrase
    try:
        # paramiko hands the passphrase to cryptography, which wants bytes (the stubs say
        # str).
        return paramiko.PKey.from_path(
            path, secret.get_secret_value().encode()  # type: ignore[arg-type]
            if secret is not None else None)
    except (paramiko.PasswordRequiredException, TypeError):
        # TypeError: how cryptography says a passphrase is missing (paramiko 5).
        raise ConfigError(f"{where}: the key {path} is encrypted: set key_passphrase") from None
    except (OSError, ValueError, paramiko.SSHException) as exc:
        # Messages of a wrong passphrase never hold the passphrase itself.
        raise ConfigError(f"{where}: cannot load the key {path}: {plain(exc)}") from None


def open_transport(conn: SftpConnection, resolve: Callable[[Path], Path]) -> paramiko.Transport:
    """A socket with TCP_NODELAY and a finished key exchange; nothing verified, nothing sent.

    Raises :class:`Unreachable` when the server cannot be reached or the handshake fails."""
    try:
        sock = socket.create_connection((conn.host, conn.port), timeout=conn.timeout)
    except OSError as exc:
        raise Unreachable(f"cannot connect: {plain(exc)}") from None
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        t = paramiko.Transport(sock)
    except BaseException:
        sock.close()
        raise
    try:
        opts = t.get_security_options()
        opts.ciphers = (*[c for c in CIPHERS if c in opts.ciphers],
                        *[c for c in opts.ciphers if c not in CIPHERS])
        known = hostkeys.preferred_types(hostkeys.known_hosts_path(conn, resolve), conn.host,
                                        conn.port)
        opts.key_types = (*[k for k in known if k in opts.key_types],
                          *[k for k in opts.key_types if k not in known])
        t.banner_timeout = t.handshake_timeout = t.auth_timeout = conn.timeout
        t.start_client(timeout=conn.timeout)
    except (OSError, *DROPPED) as exc:
        t.close()
        raise Unreachable(f"handshake failed: {plain(exc)}") from None
    except BaseException:
        t.close()
        raise
    return t


def scan_host_key(conn: SftpConnection, resolve: Callable[[Path], Path]) -> bytes:
    """The key blob the server offers, for `bridge connections trust`; nothing is sent."""
    try:
        t = open_transport(conn, resolve)
    except Unreachable as exc:
        raise TransientError(f"sftp {conn.host}:{conn.port}: {exc}") from None
    try:
        return t.get_remote_server_key().asbytes()
    finally:
        t.close()


class Client(paramiko.SFTPClient):
    """paramiko's client, keeping the extensions named in the server's version reply."""

    extensions: dict[bytes, bytes] | None = None

    def _read_packet(self) -> tuple[int, bytes]:
        kind, data = super()._read_packet()  # type: ignore[misc]
        if self.extensions is None and kind == 2:  # SSH_FXP_VERSION: the first answer
            self.extensions = version_extensions(bytes(data))
        return kind, bytes(data)

    def listdir_attr(self, path: str = ".") -> list[paramiko.SFTPAttributes]:
        """paramiko's listing, but a name that is not UTF-8 comes back with its bytes kept
        as surrogates (as the local file system's names do) instead of failing the whole
        listing: the engine then refuses that one file with an issue."""
        from paramiko.sftp import CMD_CLOSE, CMD_HANDLE, CMD_NAME, CMD_OPENDIR, CMD_READDIR

        t, msg = self._request(CMD_OPENDIR, self._adjust_cwd(path))  # type: ignore[attr-defined]
        if t != CMD_HANDLE:
            raise paramiko.SFTPError("Expected handle")
        handle = msg.get_binary()
        found = []
        while True:
            try:
                t, msg = self._request(CMD_READDIR, handle)  # type: ignore[attr-defined]
            except EOFError:
                break
            if t != CMD_NAME:
                raise paramiko.SFTPError("Expected name response")
            for _ in range(msg.get_int()):
                name = msg.get_binary().decode("utf-8", "surrogateescape")
                long = msg.get_binary().decode("utf-8", "replace")
                attr = paramiko.SFTPAttributes._from_msg(msg, name, long)  # type: ignore[attr-defined]
                if name not in (".", ".."):
                    found.append(attr)
        self._request(CMD_CLOSE, handle)  # type: ignore[attr-defined]
        return found


def stat_of(sftp: paramiko.SFTPClient, path: str) -> paramiko.SFTPAttributes | None:
    """What the server says of ``path`` (links followed), or None where nothing is."""
    try:
        return sftp.stat(path)
    except FileNotFoundError:
        return None


def lstat_of(sftp: paramiko.SFTPClient, path: str) -> paramiko.SFTPAttributes | None:
    """What the server says of ``path`` itself (a link is not followed), or None."""
    try:
        return sftp.lstat(path)
    except FileNotFoundError:
        return None


def remove_quietly(sftp: paramiko.SFTPClient, path: str) -> None:
    """Remove ``path``; one already gone is not an error."""
    with contextlib.suppress(FileNotFoundError):
        sftp.remove(path)
