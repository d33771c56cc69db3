"""The SFTP wire format, as far as bridge speaks it itself: packet types, flags, status codes,
how requests are framed and their answers taken (:class:`Requests`), and how a server's
status becomes an exception.

A status a server answers becomes a :class:`ServerError` (an ``OSError``, as paramiko raises
for the same status, so callers catch the same things): :class:`NoSuchFile` is also a
``FileNotFoundError``, :class:`Denied` also a ``PermissionError``. Being a ``ServerError`` is
what tells the server's refusal from a local disk's: both are ``OSError``.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Callable, Mapping
from typing import Protocol

OPEN, CLOSE, READ, WRITE, LSTAT, FSETSTAT, REMOVE, STAT = 3, 4, 5, 6, 7, 10, 13, 17
STATUS, HANDLE, DATA, ATTRS = 101, 102, 103, 105
EXTENDED, EXTENDED_REPLY = 200, 201
OK, EOF, NO_SUCH_FILE, PERMISSION_DENIED, FAILURE, OP_UNSUPPORTED = 0, 1, 2, 3, 4, 8
#: Newer drafts' word for an exclusive create that found the name taken (asyncssh says it).
FILE_ALREADY_EXISTS = 11
F_READ, F_WRITE, F_CREAT, F_TRUNC, F_EXCL = 0x01, 0x02, 0x08, 0x10, 0x20
ATTR_PERMISSIONS = 0x04

#: Upper bound on one request's data, whatever a server offers (OpenSSH offers 255 KB).
MAX_SIZE = 255 * 1024
MAX_MESSAGE = MAX_SIZE + 1024
#: Bytes asked of the channel at once: all it holds, so its buffer is never shifted.
RECV = 1 << 22
#: paramiko numbers its requests from 1 upwards, one at a time.
FIRST_ID = 0x4000_0000


class ProtocolError(Exception):
    """The server's answers make no sense: the session cannot be trusted any more."""


class Channel(Protocol):
    def send(self, s: bytes | bytearray) -> int: ...
    def recv(self, nbytes: int) -> bytes: ...


class ServerError(OSError):
    """The server answered a request with an error status (``code``)."""

    code = FAILURE


class NoSuchFile(ServerError, FileNotFoundError):
    code = NO_SUCH_FILE


class Denied(ServerError, PermissionError):
    code = PERMISSION_DENIED


class CreateRefused(ServerError):
    """An exclusive create failed for another reason than a missing folder or a refusal:
    the answer a server gives when the name exists (a link under it included)."""


def status_error(body: memoryview | bytes) -> ServerError:
    """The exception for a STATUS answer's body (code, message, language)."""
    code = int.from_bytes(body[:4], "big")
    n = int.from_bytes(body[4:8], "big")
    text = bytes(body[8:8 + n]).decode("utf-8", "replace") or f"sftp status {code}"
    if code == NO_SUCH_FILE:
        return NoSuchFile(errno.ENOENT, text)
    if code == PERMISSION_DENIED:
        return Denied(errno.EACCES, text)
    err = ServerError(text)
    err.code = code
    return err


def string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def packet(kind: int, rid: int, payload: bytes) -> bytes:
    return struct.pack(">IBI", len(payload) + 5, kind, rid) + payload


def permissions(mode: int | None) -> bytes:
    """ATTRS holding only permission bits, or no attributes at all."""
    if mode is None:
        return struct.pack(">I", 0)
    return struct.pack(">II", ATTR_PERMISSIONS, mode & 0o7777)


def version_extensions(data: bytes) -> dict[bytes, bytes]:
    """The extensions (name: data) a VERSION answer names behind its number; garbage ends
    the list."""
    found: dict[bytes, bytes] = {}
    pos = 4
    while pos + 8 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        name = data[pos + 4:pos + 4 + n]
        pos += 4 + n
        if pos + 4 > len(data):
            break
        m = int.from_bytes(data[pos:pos + 4], "big")
        if pos + 4 + m > len(data):
            break
        found[name] = data[pos + 4:pos + 4 + m]
        pos += 4 + m
    return found


class Requests:
    """Requests on the channel paramiko opened, and their answers: the session's plumbing.

    Request ids come from a range paramiko's own counter never reaches, and every request's
    answer is taken before a method returns, so the session stays in step for paramiko."""

    def __init__(self, chan: Channel) -> None:
        self.chan = chan
        self._buf = bytearray()
        self._next_id = FIRST_ID

    def _open(self, path: bytes, flags: int, attrs: bytes = permissions(None)) -> bytes:
        kind, body = self._call(OPEN, string(path) + struct.pack(">I", flags) + attrs)
        if kind == HANDLE:
            n = int.from_bytes(body[:4], "big")
            return bytes(body[4:4 + n])
        if kind == STATUS:
            raise status_error(memoryview(body))
        raise ProtocolError(f"sftp: answer of type {kind} to an open")

    def _close(self, handle: bytes) -> None:
        kind, body = self._call(CLOSE, string(handle))
        if kind != STATUS:
            raise ProtocolError(f"sftp: answer of type {kind} to a close")
        if int.from_bytes(body[:4], "big") != OK:
            raise status_error(memoryview(body))

    def _remove(self, path: bytes) -> None:
        kind, body = self._call(REMOVE, string(path))
        code = int.from_bytes(body[:4], "big")
        if kind != STATUS or code not in (OK, NO_SUCH_FILE):
            raise status_error(memoryview(body))

    def _call(self, kind: int, payload: bytes) -> tuple[int, bytes]:
        return self._calls([(kind, payload)])[0]

    def _calls(self, requests: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """Send the requests together, then wait for all their answers (one round trip);
        the server runs them in order."""
        ids = [self._id() for _ in requests]
        self._send(b"".join(packet(kind, rid, payload)
                            for rid, (kind, payload) in zip(ids, requests, strict=True)))
        got: dict[int, tuple[int, bytes]] = {}
        wanted = dict.fromkeys(ids)

        def take(kind: int, rid: int, body: memoryview) -> None:
            del wanted[rid]
            got[rid] = (kind, bytes(body))

        while wanted:
            self._receive(wanted, take)
        return [got[rid] for rid in ids]

    def _id(self) -> int:
        rid = self._next_id
        self._next_id = rid + 1 if rid < 0xFFFF_FFFF else FIRST_ID
        return rid

    def _send(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            # paramiko's send takes any buffer (it slices it and copies the slice).
            n = self.chan.send(view)  # type: ignore[arg-type]
            if n <= 0:
                raise EOFError("the sftp channel is closed")
            view = view[n:]

    def _receive(self, pending: Mapping[int, object],
                 answer: Callable[[int, int, memoryview], None]) -> None:
        """Take at least one answer from the channel; pass each of ours to ``answer``.

        Answers to nobody's request (a late one of a session paramiko gave up on) are
        skipped, as paramiko itself skips them."""
        buf = self._buf
        while len(buf) < 9 or len(buf) < 4 + int.from_bytes(buf[:4], "big"):
            if len(buf) >= 4 and int.from_bytes(buf[:4], "big") > MAX_MESSAGE + 65536:
                raise ProtocolError("sftp: an answer larger than any request allows")
            chunk = self.chan.recv(RECV)
            if not chunk:
                raise EOFError("the server closed the sftp channel")
            buf += chunk
        pos, total = 0, len(buf)
        with memoryview(buf) as view:
            while total - pos >= 9:
                length = int.from_bytes(view[pos:pos + 4], "big")
                if length < 5:
                    raise ProtocolError("sftp: an answer too short to name its request")
                stop = pos + 4 + length
                if stop > total:
                    break
                rid = int.from_bytes(view[pos + 5:pos + 9], "big")
                if rid in pending:
                    with view[pos + 9:stop] as body:
                        answer(view[pos + 4], rid, body)
                pos = stop
        del buf[:pos]
