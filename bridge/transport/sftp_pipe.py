"""Whole-file SFTP reads and writes pipelined by bridge itself, on the channel paramiko opened.

paramiko's file objects were half as fast as OpenSSH's client on big downloads. Profiling
showed why: its channel buffer moves everything it holds on each partial read (SFTP framing
reads 4 bytes, then the body, so up to the whole 2 MB window is shifted twice per 32 KB
response), prefetch adds a thread and a scan of every buffered piece per read, and a 32 KB
request plus its header spills into a second channel packet. Here requests are as large as the
server allows (limits@openssh.com, as OpenSSH's client asks; 32 KB otherwise), a window of
them is kept in flight, answers are parsed out of large channel reads and written at their
offsets with pwrite, and writes are sent from the buffer the file was read into.

Only OPEN, READ, WRITE, FSETSTAT, CLOSE, the limits query, the sync an upload asks before
its close where the server offers it (fsync@openssh.com) and what it sends behind the close
(STAT, or hardlink@openssh.com and REMOVE) are spoken here; paramiko keeps the rest.
Request ids come from a range paramiko's own counter never reaches, and every request's answer
is taken before a method returns, so the session stays in step for paramiko. A server error
(a :class:`~bridge.transport.sftp_wire.ServerError`) or a local disk error is raised only after
the answers still due are drained; anything that breaks the stream itself (timeout, EOF,
garbage) raises :class:`ProtocolError`, ``EOFError`` or ``TimeoutError``, and then the caller
must drop the connection.

Uploads create their temporary file exclusively (``SSH_FXF_CREAT|SSH_FXF_EXCL``): a name
that exists, a link under it included, makes the open fail; nothing is truncated or followed.
A temporary file whose writes fail is removed before the failure is raised.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable
from typing import Protocol

from bridge.transport.sftp_wire import (
    ATTRS,
    CLOSE,
    DATA,
    EOF,
    EXTENDED,
    EXTENDED_REPLY,
    F_CREAT,
    F_EXCL,
    F_READ,
    F_WRITE,
    FSETSTAT,
    MAX_MESSAGE,
    MAX_SIZE,
    NO_SUCH_FILE,
    OK,
    OP_UNSUPPORTED,
    READ,
    REMOVE,
    STAT,
    STATUS,
    WRITE,
    Channel,
    CreateRefused,
    Denied,
    NoSuchFile,
    ProtocolError,
    Requests,
    ServerError,
    packet,
    permissions,
    status_error,
    string,
    version_extensions,
)

__all__ = ["EXTENDED", "OK", "OP_UNSUPPORTED", "Pipe", "ProtocolError", "version_extensions"]

log = logging.getLogger(__name__)

#: What every server takes (the SFTP drafts ask servers to accept 32 KB of data at least).
DEFAULT_SIZE = 32768
#: Bytes in flight at most: about the server's channel window (2 MB for OpenSSH). More only
#: piles answers up; measured on loopback, 8 requests of 255 KB ran 40% faster than 32.
IN_FLIGHT = 2 << 20
#: Requests in flight at first: a small file costs no wasted requests, and a big one opens
#: the window by one request per full answer.
FIRST_WINDOW = 1
#: Mode of a temporary file given a mode of its own: private until then.
PRIVATE = 0o600


class Source(Protocol):
    def readinto(self, buffer: memoryview, /) -> int | None: ...


class Pipe(Requests):
    """One SFTP session's data path: :meth:`get` and :meth:`put` whole files."""

    def __init__(self, chan: Channel) -> None:
        super().__init__(chan)
        self.read_size = self.write_size = DEFAULT_SIZE
        #: Set by the last upload given a mode: the server's refusal to set it, if any.
        self.mode_refused: ServerError | None = None
        #: Ask the server to sync every upload to its disk before the close
        #: (fsync@openssh.com), where it offers that; off for good after a refusal, which
        #: ``sync_refused`` keeps.
        self.sync = False
        self.sync_refused: ServerError | None = None

    # -- whole files --------------------------------------------------------------------

    def ask_limits(self) -> None:
        """Use the request sizes the server announces (one round trip, once a session)."""
        kind, body = self._call(EXTENDED, string(b"limits@openssh.com"))
        if kind != EXTENDED_REPLY or len(body) < 24:
            return  # not offered: keep the sizes every server takes
        most, read, write = struct.unpack(">QQQ", body[:24])
        if read:
            self.read_size = max(4096, min(read, MAX_SIZE))
        if write or most:
            self.write_size = max(4096, min(write or MAX_SIZE, MAX_SIZE,
                                            (most or MAX_MESSAGE) - 1024))

    def get(self, path: bytes, fd: int, limit: int | None = None) -> int:
        """Read the remote ``path`` into the local file ``fd`` (``limit`` bytes at most);
        returns the bytes read."""
        handle = self._open(path, F_READ)
        try:
            return self._fetch(handle, fd, limit)
        finally:
            self._close(handle)

    def put(self, src: Source, path: bytes, then_stat: bytes, mode: int | None = None
            ) -> bool:
        """Create the remote ``path`` (a new file: an existing name fails the open) and
        write all of ``src`` to it, then give it ``mode`` if given; then whether
        ``then_stat`` exists, asked in the same round trip as the close. A write that fails
        removes ``path``."""
        handle = self._create(path, mode)
        failure, answers = self._store(src, handle, self._before_close(handle, mode),
                                       [(STAT, string(then_stat))])
        if failure is not None:
            self._forget(path)
            raise failure
        self._check_before_close(path, mode, answers)
        kind, body = answers[-1]
        if kind == STATUS and int.from_bytes(body[:4], "big") != NO_SUCH_FILE:
            raise status_error(body)
        return kind == ATTRS

    def put_linked(self, src: Source, tmp: bytes, final: bytes, mode: int | None = None, *,
                   fence: Callable[[], None] | None = None) -> tuple[int, OSError | None]:
        """Create ``tmp`` (a new file, as :meth:`put` does) and write all of ``src`` to it
        (the close right behind the last write), and once every write is confirmed,
        hard-link it to ``final`` and remove ``tmp`` in one more round trip. The final name
        only ever shows a whole file: a write that fails is raised before anything is
        linked, and ``tmp`` is removed; so is what ``fence`` raises, called right before
        the link.

        Returns the link's status code (``OK`` once ``final`` holds the file; a link never
        replaces a name) and the remove's error, if any. The remove runs whatever the link
        answers, so after a failed link ``tmp`` is gone and the file must be sent again."""
        handle = self._create(tmp, mode)
        failure, answers = self._store(src, handle, self._before_close(handle, mode), [])
        if failure is not None:
            self._forget(tmp)
            raise failure
        self._check_before_close(tmp, mode, answers)
        if fence is not None:
            try:
                fence()
            except BaseException:
                self._forget(tmp)
                raise
        link = string(b"hardlink@openssh.com") + string(tmp) + string(final)
        (kind, body), (rkind, rbody) = self._calls([(EXTENDED, link), (REMOVE, string(tmp))])
        code = int.from_bytes(body[:4], "big")
        if kind != STATUS or rkind != STATUS:
            raise ProtocolError(f"sftp: answers of type {kind} and {rkind} to a link and remove")
        rcode = int.from_bytes(rbody[:4], "big")
        gone = rcode in (OK, NO_SUCH_FILE)
        return code, None if gone else status_error(rbody)

    def _create(self, path: bytes, mode: int | None) -> bytes:
        # Made private when a mode of its own follows, before any byte is in it.
        try:
            return self._open(path, F_WRITE | F_CREAT | F_EXCL,
                              permissions(None if mode is None else PRIVATE))
        except ServerError as exc:
            if isinstance(exc, NoSuchFile | Denied):
                raise
            raise CreateRefused(*exc.args) from None

    @staticmethod
    def _mode(handle: bytes, mode: int | None) -> list[tuple[int, bytes]]:
        """The FSETSTAT that gives the open file its mode, sent behind the last write."""
        return [] if mode is None else [(FSETSTAT, string(handle) + permissions(mode))]

    def _before_close(self, handle: bytes, mode: int | None) -> list[tuple[int, bytes]]:
        """The mode (if given), then the server's sync if it offers one: the data is on its
        disk before the file gets its final name."""
        synced = [(EXTENDED, string(b"fsync@openssh.com") + string(handle))] if self.sync else []
        return [*self._mode(handle, mode), *synced]

    def _check_before_close(self, path: bytes, mode: int | None, answers: list[tuple[int, bytes]]
                    ) -> None:
        """The answers to :meth:`_before_close`'s requests: a mode refused is said by
        ``mode_refused``; a sync refused turns syncing off (``sync_refused`` says why)."""
        self.mode_refused = None
        if mode is not None and int.from_bytes(answers[0][1][:4], "big") != OK:
            self.mode_refused = status_error(answers[0][1])
        if self.sync:
            kind, body = answers[0 if mode is None else 1]
            if kind != STATUS:
                raise ProtocolError(f"sftp: answer of type {kind} to a sync")
            if int.from_bytes(body[:4], "big") != OK:
                self.sync = False
                self.sync_refused = status_error(body)

    def _forget(self, path: bytes) -> None:
        """Remove a temporary file after a failure; a refusal must not hide the failure."""
        try:
            self._remove(path)
        except ServerError as exc:
            log.warning("sftp: cannot remove %s after a failed write: %s",
                        path.decode("utf-8", "replace"), exc)

    # -- the pipelines ------------------------------------------------------------------

    def _fetch(self, handle: bytes, fd: int, limit: int | None) -> int:
        head = string(handle)
        stop = (1 << 63) if limit is None else limit
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
                failure = failure or status_error(body)
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
                elif offset < min(eof, stop):
                    at, n = offset, min(size, stop - offset)
                    offset += n
                else:
                    break
                rid = self._id()
                pending[rid] = (at, n)
                batch += packet(READ, rid, head + struct.pack(">QI", at, n))
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

    def _store(self, src: Source, handle: bytes, before: list[tuple[int, bytes]],
               then: list[tuple[int, bytes]]) -> tuple[OSError | None, list[tuple[int, bytes]]]:
        """Write ``src`` through ``handle``, send the requests ``before`` (type, payload),
        close the handle and send the requests ``then``; all of them leave right behind the
        last write, as paramiko's pipelined writes do. Returns the first failure of a write
        or the close, and the answers (type, body) to ``before`` then ``then``: sent
        whatever the writes answer, unless a write or reading ``src`` failed before the
        last write left (then their types are 0)."""
        head = string(handle)
        start = 9 + len(head)  # length, type, id, handle; then offset and data length
        top = start + 12
        pending: dict[int, int] = {}
        offset, window, done, closing = 0, FIRST_WINDOW, False, False
        most = max(4, IN_FLIGHT // self.write_size)
        failure: OSError | None = None
        extra = [*before, *then]
        after: list[tuple[int, bytes]] = [(0, b"")] * len(extra)

        def answer(kind: int, rid: int, body: memoryview) -> None:
            nonlocal window, failure
            at = pending.pop(rid)
            if at <= -2:  # one of ``before`` or ``then``
                after[-2 - at] = (kind, bytes(body))
                return
            if kind != STATUS:
                raise ProtocolError(f"sftp: answer of type {kind} to a write")
            if int.from_bytes(body[:4], "big") != OK:
                failure = failure or status_error(body)
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
                for i, (kind, payload) in enumerate(before if failure is None else []):
                    batch += self._extra(pending, -2 - i, kind, payload)
                batch += packet(CLOSE, rid, head)
                for i, (kind, payload) in enumerate(then if failure is None else []):
                    batch += self._extra(pending, -2 - len(before) - i, kind, payload)
                self._send(batch)
            if not pending:
                break
            self._receive(pending, answer)
        return failure, after

    def _extra(self, pending: dict[int, int], slot: int, kind: int, payload: bytes) -> bytes:
        rid = self._id()
        pending[rid] = slot
        return packet(kind, rid, payload)

def _pwrite(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n
