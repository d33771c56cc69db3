"""Whole-file SFTP reads and writes pipelined by bridge itself, on the channel paramiko opened.

paramiko's file objects were half as fast as OpenSSH's client on big downloads. Profiling
showed why: its channel buffer moves everything it holds on each partial read (SFTP framing
reads 4 bytes, then the body, so up to the whole 2 MB window is shifted twice per 32 KB
response), prefetch adds a thread and a scan of every buffered piece per read, and a 32 KB
request plus its header spills into a second channel packet. Here requests are as large as the
server allows (limits@openssh.com, as OpenSSH's client asks; 32 KB otherwise), a window of
them is kept in flight, answers are parsed out of large channel reads and written at their
offsets with pwrite, and writes are sent from the buffer the file was read into.

Only OPEN, READ, WRITE, CLOSE, the limits query and what an upload sends behind its close
(STAT, or hardlink@openssh.com and REMOVE) are spoken here; paramiko keeps the rest.
Request ids come from a range paramiko's own counter never reaches, and every request's answer
is taken before a method returns, so the session stays in step for paramiko. A server error
or a local disk error is raised only after the answers still due are drained; anything that
breaks the stream itself (timeout, EOF, garbage) raises :class:`ProtocolError`, ``EOFError``
or ``TimeoutError``, and then the caller must drop the connection.
"""

from __future__ import annotations

import errno
import os
import struct
from collections.abc import Callable, Mapping
from typing import Protocol

OPEN, CLOSE, READ, WRITE, REMOVE, STAT = 3, 4, 5, 6, 13, 17
STATUS, HANDLE, DATA, ATTRS = 101, 102, 103, 105
EXTENDED, EXTENDED_REPLY = 200, 201
OK, EOF, NO_SUCH_FILE, PERMISSION_DENIED, OP_UNSUPPORTED = 0, 1, 2, 3, 8
F_READ, F_WRITE, F_CREAT, F_TRUNC = 0x01, 0x02, 0x08, 0x10

#: What every server takes (the SFTP drafts ask servers to accept 32 KB of data at least).
DEFAULT_SIZE = 32768
#: Upper bound on one request's data, whatever a server offers (OpenSSH offers 255 KB).
MAX_SIZE = 255 * 1024
#: Bytes in flight at most: about the server's channel window (2 MB for OpenSSH). More only
#: piles answers up; measured on loopback, 8 requests of 255 KB ran 40% faster than 32.
IN_FLIGHT = 2 << 20
#: Requests in flight at first: a small file costs no wasted requests, and a big one opens
#: the window by one request per full answer.
FIRST_WINDOW = 1
#: Bytes asked of the channel at once: all it holds, so its buffer is never shifted.
RECV = 1 << 22
#: paramiko numbers its requests from 1 upwards, one at a time.
FIRST_ID = 0x4000_0000
_MAX_MESSAGE = MAX_SIZE + 1024


class ProtocolError(Exception):
    """The server's answers make no sense: the session cannot be trusted any more."""


class Channel(Protocol):
    def send(self, s: bytes | bytearray) -> int: ...
    def recv(self, nbytes: int) -> bytes: ...


class Source(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


def _status_error(body: memoryview) -> OSError:
    """The OSError paramiko raises for the same status, so callers catch the same things."""
    code = int.from_bytes(body[:4], "big")
    n = int.from_bytes(body[4:8], "big")
    text = bytes(body[8:8 + n]).decode("utf-8", "replace") or f"sftp status {code}"
    if code == NO_SUCH_FILE:
        return OSError(errno.ENOENT, text)
    if code == PERMISSION_DENIED:
        return OSError(errno.EACCES, text)
    return OSError(text)


def _string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _packet(kind: int, rid: int, payload: bytes) -> bytes:
    return struct.pack(">IBI", len(payload) + 5, kind, rid) + payload


class Pipe:
    """One SFTP session's data path: :meth:`get` and :meth:`put` whole files."""

    def __init__(self, chan: Channel) -> None:
        self.chan = chan
        self.read_size = self.write_size = DEFAULT_SIZE
        self._buf = bytearray()
        self._next_id = FIRST_ID

    # -- whole files --------------------------------------------------------------------

    def ask_limits(self) -> None:
        """Use the request sizes the server announces (one round trip, once a session)."""
        kind, body = self._call(EXTENDED, _string(b"limits@openssh.com"))
        if kind != EXTENDED_REPLY or len(body) < 24:
            return  # not offered: keep the sizes every server takes
        packet, read, write = struct.unpack(">QQQ", body[:24])
        if read:
            self.read_size = max(4096, min(read, MAX_SIZE))
        if write or packet:
            self.write_size = max(4096, min(write or MAX_SIZE, MAX_SIZE,
                                            (packet or _MAX_MESSAGE) - 1024))

    def get(self, path: bytes, fd: int) -> int:
        """Read the remote ``path`` into the local file ``fd``; returns its size."""
        handle = self._open(path, F_READ)
        try:
            return self._fetch(handle, fd)
        finally:
            self._close(handle)

    def put(self, src: Source, path: bytes, then_stat: bytes) -> bool:
        """Create or truncate the remote ``path`` and write all of ``src`` to it; then
        whether ``then_stat`` exists, asked in the same round trip as the close."""
        handle = self._open(path, F_WRITE | F_CREAT | F_TRUNC)
        failure, [(kind, body)] = self._store(src, handle, [(STAT, _string(then_stat))])
        if failure is not None:
            raise failure
        if kind == STATUS and int.from_bytes(body[:4], "big") != NO_SUCH_FILE:
            raise _status_error(memoryview(body))
        return kind == ATTRS

    def put_linked(self, src: Source, tmp: bytes, final: bytes) -> tuple[int, OSError | None]:
        """Write all of ``src`` to ``tmp`` (the close right behind the last write), and once
        every write is confirmed, hard-link it to ``final`` and remove ``tmp`` in one more
        round trip. The final name only ever shows a whole file: a write that fails is
        raised before anything is linked.

        Returns the link's status code (``OK`` once ``final`` holds the file; a link never
        replaces a name) and the remove's error, if any. The remove runs whatever the link
        answers, so after a failed link ``tmp`` is gone and the file must be sent again."""
        handle = self._open(tmp, F_WRITE | F_CREAT | F_TRUNC)
        failure, _ = self._store(src, handle, [])
        if failure is not None:
            self._remove(tmp)
            raise failure
        link = _string(b"hardlink@openssh.com") + _string(tmp) + _string(final)
        (kind, body), (rkind, rbody) = self._calls([(EXTENDED, link), (REMOVE, _string(tmp))])
        code = int.from_bytes(body[:4], "big")
        if kind != STATUS or rkind != STATUS:
            raise ProtocolError(f"sftp: answers of type {kind} and {rkind} to a link and remove")
        rcode = int.from_bytes(rbody[:4], "big")
        gone = rcode in (OK, NO_SUCH_FILE)
        return code, None if gone else _status_error(memoryview(rbody))

    # -- the pipelines ------------------------------------------------------------------

    def _fetch(self, handle: bytes, fd: int) -> int:
        head = _string(handle)
        pending: dict[int, tuple[int, int]] = {}
        redo: list[tuple[int, int]] = []  # the rest of short answers, asked again
        size, eof, offset, end, window = self.read_size, 1 << 63, 0, 0, FIRST_WINDOW
        most = max(4, IN_FLIGHT // size)
        failure: OSError | None = None

        def answer(kind: int, rid: int, body: memoryview) -> None:
            nonlocal eof, end, window, failure
            at, n = pending.pop(rid)
            if kind == DATA:
                got = int.from_bytes(body[:4], "big")
                if got > n or got + 4 > len(body):
                    raise ProtocolError(f"sftp: {got} bytes answered to a read of {n}")
                if failure is None:
                    try:
                        _pwrite(fd, body[4:4 + got], at)
                    except OSError as exc:
                        # Without its traceback: its frames hold views of the buffer.
                        failure = exc.with_traceback(None)
                end = max(end, at + got)
                if got < n:
                    redo.append((at + got, n - got))
                elif window < most:
                    window += 1
            elif kind == STATUS and int.from_bytes(body[:4], "big") == EOF:
                eof = min(eof, at)
            elif kind == STATUS:
                failure = failure or _status_error(body)
            else:
                raise ProtocolError(f"sftp: answer of type {kind} to a read")

        while True:
            batch = bytearray()
            # Refilled by halves, so requests leave in batches, not one packet per answer.
            refill = len(pending) <= window // 2
            while failure is None and len(pending) < window and (refill or redo):
                if redo:
                    at, n = redo.pop()
                    if at >= eof:
                        continue
                elif offset < eof:
                    at, n, offset = offset, size, offset + size
                else:
                    break
                rid = self._id()
                pending[rid] = (at, n)
                batch += _packet(READ, rid, head + struct.pack(">QI", at, n))
            if batch:
                self._send(batch)
            if not pending:
                break
            self._receive(pending, answer)
        if failure is not None:
            raise failure
        if end > eof:
            raise OSError(f"the file shrank while it was read ({end} bytes, then end at {eof})")
        return end

    def _store(self, src: Source, handle: bytes, then: list[tuple[int, bytes]]
               ) -> tuple[OSError | None, list[tuple[int, bytes]]]:
        """Write ``src`` through ``handle``, then close it and send the requests ``then``
        (type, payload); the close leaves right behind the last write, as paramiko's
        pipelined writes do. Returns the first failure of a write or the close, and the
        answers (type, body) to ``then``: sent whatever the writes answer, unless reading
        ``src`` failed (then their types are 0)."""
        head = _string(handle)
        start = 9 + len(head)  # length, type, id, handle; then offset and data length
        top = start + 12
        pending: dict[int, int] = {}
        offset, window, done, closing = 0, FIRST_WINDOW, False, False
        most = max(4, IN_FLIGHT // self.write_size)
        failure: OSError | None = None
        after: list[tuple[int, bytes]] = [(0, b"")] * len(then)

        def answer(kind: int, rid: int, body: memoryview) -> None:
            nonlocal window, failure
            at = pending.pop(rid)
            if at <= -2:  # one of ``then``
                after[-2 - at] = (kind, bytes(body))
                return
            if kind != STATUS:
                raise ProtocolError(f"sftp: answer of type {kind} to a write")
            if int.from_bytes(body[:4], "big") != OK:
                failure = failure or _status_error(body)
            elif window < most:
                window += 1

        while True:
            last: bytes | memoryview = b""
            while not done and failure is None and len(pending) < window:
                # The file is read straight into the request, behind room for its header;
                # filled up, so a short request is the last one and the close can leave
                # with it, not one round trip later (a small file is one request).
                buf = bytearray(top + self.write_size)
                view = memoryview(buf)
                n = 0
                try:
                    while top + n < len(buf):
                        got = src.readinto(view[top + n:])
                        if not got:
                            done = True
                            break
                        n += got
                except OSError as exc:
                    failure = exc
                    break
                if not n:
                    break
                rid = self._id()
                struct.pack_into(">IBI", buf, 0, top + n - 4, WRITE, rid)
                buf[9:start] = head
                struct.pack_into(">QI", buf, start, offset, n)
                pending[rid] = offset
                offset += n
                if done:
                    last = view[:top + n]
                else:
                    self._send(view[:top + n])
            if (done or failure is not None) and not closing:
                closing, rid = True, self._id()
                pending[rid] = -1
                batch = bytearray(last)
                batch += _packet(CLOSE, rid, head)
                for i, (kind, payload) in enumerate(then if failure is None else []):
                    rid = self._id()
                    pending[rid] = -2 - i
                    batch += _packet(kind, rid, payload)
                self._send(batch)
            if not pending:
                break
            self._receive(pending, answer)
        return failure, after

    # -- requests and answers -----------------------------------------------------------

    def _open(self, path: bytes, flags: int) -> bytes:
        kind, body = self._call(OPEN, _string(path) + struct.pack(">II", flags, 0))
        if kind == HANDLE:
            n = int.from_bytes(body[:4], "big")
            return bytes(body[4:4 + n])
        if kind == STATUS:
            raise _status_error(memoryview(body))
        raise ProtocolError(f"sftp: answer of type {kind} to an open")

    def _close(self, handle: bytes) -> None:
        kind, body = self._call(CLOSE, _string(handle))
        if kind != STATUS:
            raise ProtocolError(f"sftp: answer of type {kind} to a close")
        if int.from_bytes(body[:4], "big") != OK:
            raise _status_error(memoryview(body))

    def _remove(self, path: bytes) -> None:
        kind, body = self._call(REMOVE, _string(path))
        code = int.from_bytes(body[:4], "big")
        if kind != STATUS or code not in (OK, NO_SUCH_FILE):
            raise _status_error(memoryview(body))

    def _call(self, kind: int, payload: bytes) -> tuple[int, bytes]:
        return self._calls([(kind, payload)])[0]

    def _calls(self, requests: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """Send the requests together, then wait for all their answers (one round trip);
        the server runs them in order."""
        ids = [self._id() for _ in requests]
        self._send(b"".join(_packet(kind, rid, payload)
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
            if len(buf) >= 4 and int.from_bytes(buf[:4], "big") > _MAX_MESSAGE + 65536:
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


def _pwrite(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n
