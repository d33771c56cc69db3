"""SSH host keys: OpenSSH ``known_hosts`` files and ``SHA256:`` fingerprints, without paramiko.

A server's key is the wire blob it sends during the handshake. This module decides whether
that blob is the one on record for ``host:port`` (``known``), is new (``unknown``), differs
from the one on record (``changed``) or is marked ``@revoked``; and it adds a key to a file,
as ``bridge connections trust`` does. Lines it does not understand are kept and ignored, as
OpenSSH does, so a file shared with ``ssh`` is never damaged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bridge.atomic import save_atomic
from bridge.errors import ConfigError

if TYPE_CHECKING:
    from bridge.config import SftpConnection

log = logging.getLogger("bridge.transport.sftp")

RSA_ALGORITHMS = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
_ALGORITHM = re.compile(r"[A-Za-z0-9@._+-]{1,64}")


@dataclass(frozen=True)
class KnownKey:
    line: int
    key_type: str
    blob: bytes
    marker: str = ""

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.blob)


@dataclass(frozen=True)
class Verdict:
    status: Literal["known", "unknown", "changed", "revoked"]
    fingerprint: str
    key_type: str
    recorded: list[KnownKey] = field(default_factory=list)


def fingerprint(blob: bytes) -> str:
    """The key's fingerprint as ``ssh-keygen -lf`` prints it."""
    digest = hashlib.sha256(blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def normalise_fingerprint(text: str) -> str:
    """A pinned fingerprint as people paste it: with or without padding or ``SHA256:``."""
    text = text.strip()
    if text.upper().startswith("SHA256:"):
        text = text[7:]
    return "SHA256:" + text.rstrip("=")


def key_type(blob: bytes) -> str:
    """The algorithm name a key blob starts with (``ssh-ed25519``, ``ssh-rsa``...)."""
    if len(blob) < 4:
        raise ValueError("not an SSH key blob")
    (n,) = struct.unpack(">I", blob[:4])
    name = blob[4:4 + n].decode("ascii", "replace")
    # The name is the server's: it is printed, and written into known_hosts, where a space
    # or a line break would add words or lines of the server's choosing.
    if n > len(blob) - 4 or not _ALGORITHM.fullmatch(name):
        raise ValueError("not an SSH key blob")
    return name


def host_id(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``[host]:port`` unless the port is 22."""
    return host if port == 22 else f"[{host}]:{port}"


def _glob(pattern: str, name: str) -> bool:
    """OpenSSH's host patterns: only ``*`` and ``?`` are special (``[`` is literal, as in
    ``[host]:port``), and names compare without regard to case."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, name, re.IGNORECASE) is not None


def _matches_host(patterns: str, name: str) -> bool:
    if patterns.startswith("|1|"):
        # Hashed entry (HashKnownHosts): HMAC-SHA1 of the name, keyed by the salt.
        try:
            _, _, salt, digest = patterns.split("|", 3)
            mac = hmac.new(base64.b64decode(salt), name.encode(), hashlib.sha1).digest()
            return hmac.compare_digest(mac, base64.b64decode(digest))
        except (ValueError, binascii.Error):
            return False
    hit = False
    for pattern in patterns.split(","):
        if pattern.startswith("!"):
            if _glob(pattern[1:], name):
                return False
        elif _glob(pattern, name):
            hit = True
    return hit


def lookup(path: Path, host: str, port: int) -> list[KnownKey]:
    """The keys on record for ``host:port`` (certificate authorities left out)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    name = host_id(host, port)
    found = []
    for no, raw in enumerate(text.splitlines(), start=1):
        parts = raw.split()
        if not parts or parts[0].startswith("#"):
            continue
        marker = ""
        if parts[0].startswith("@"):
            marker, parts = parts[0], parts[1:]
        if len(parts) < 3 or marker == "@cert-authority":
            continue
        if not _matches_host(parts[0], name):
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            continue
        found.append(KnownKey(no, parts[1], blob, marker))
    return found


def preferred_types(path: Path | None, host: str, port: int) -> list[str]:
    """Host key algorithms to ask for first: those already on record, as OpenSSH does, so a
    server with several keys offers the one we can check."""
    if path is None:
        return []
    out: list[str] = []
    for k in lookup(path, host, port):
        if k.marker:
            continue
        for alg in RSA_ALGORITHMS if k.key_type == "ssh-rsa" else (k.key_type,):
            if alg not in out:
                out.append(alg)
    return out


def verify(path: Path, host: str, port: int, blob: bytes) -> Verdict:
    """Judge the key a server offered against the file."""
    kind = key_type(blob)
    fp = fingerprint(blob)
    recorded = lookup(path, host, port)
    if any(k.marker == "@revoked" and k.blob == blob for k in recorded):
        return Verdict("revoked", fp, kind, recorded)
    plain = [k for k in recorded if not k.marker]
    if any(k.blob == blob for k in plain):
        return Verdict("known", fp, kind, plain)
    if plain:
        return Verdict("changed", fp, kind, plain)
    return Verdict("unknown", fp, kind)


def add(path: Path, host: str, port: int, blob: bytes, *, replace: bool = False) -> None:
    """Record ``blob`` for ``host:port``; with ``replace``, drop the keys on record for that
    host first (only plain, one-host lines: shared or hashed lines are left alone).

    Written to a temporary file then renamed, so a crash never leaves half a file."""
    name = host_id(host, port)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    if replace:
        lines = [ln for ln in lines
                 if not (len(ln.split()) >= 3 and ln.split()[0].lower() == name.lower())]
    entry = f"{name} {key_type(blob)} {base64.b64encode(blob).decode('ascii')}"
    lines.append(entry)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    save_atomic(path, ("\n".join(lines) + "\n").encode("utf-8"), mode=0o600)


def known_hosts_path(conn: SftpConnection, resolve: Callable[[Path], Path]) -> Path:
    """The connection's known_hosts file; OpenSSH's own when none is configured."""
    if conn.known_hosts is not None:
        return resolve(conn.known_hosts)
    return Path.home() / ".ssh" / "known_hosts"


def check(name: str, conn: SftpConnection, resolve: Callable[[Path], Path],
          blob: bytes) -> None:
    """Refuse a server whose key is not the one on record: ConfigError, with its fingerprint
    and what to do."""
    where = f"connection {name!r} (sftp {conn.host}:{conn.port})"
    fp = fingerprint(blob)
    kind = key_type(blob)
    if conn.insecure_skip_host_key_check:
        log.warning("%s: host key NOT checked (insecure_skip_host_key_check); the server "
                    "offered %s %s", where, kind, fp)
        return
    if conn.host_key_fingerprint:
        pinned = normalise_fingerprint(conn.host_key_fingerprint)
        if pinned == fp:
            return
        raise ConfigError(f"{where}: HOST KEY MISMATCH: the server offers {kind} {fp}, the "
                          f"configuration pins {pinned}. Someone may be intercepting the "
                          "connection; if the server's key was really replaced, change "
                          "host_key_fingerprint")
    path = known_hosts_path(conn, resolve)
    verdict = verify(path, conn.host, conn.port, blob)
    trust = f"`bridge connections trust {name}`"
    if verdict.status == "known":
        return
    if verdict.status == "revoked":
        raise ConfigError(f"{where}: the server offers {kind} {fp}, a key marked @revoked "
                          f"in {path}")
    if verdict.status == "changed":
        old = ", ".join(f"{k.key_type} {k.fingerprint} (line {k.line})"
                        for k in verdict.recorded)
        raise ConfigError(f"{where}: HOST KEY CHANGED: the server offers {kind} {fp}, but "
                          f"{path} holds {old}. Someone may be intercepting the connection; "
                          f"if the server's key was really replaced, run "
                          f"`bridge connections trust {name} --replace`")
    raise ConfigError(f"{where}: unknown host key {kind} {fp} (not in {path}). Check the "
                      f"fingerprint with the server's administrator, then run {trust} "
                      f"(or pin it: host_key_fingerprint: {fp})")
