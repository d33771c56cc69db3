"""A real FTP/FTPS server (pyftpdlib) for the FTP transport's tests.

It runs in a child process, so a test can stop it the hard way (SIGKILL, SIGSTOP) and start it
again on the same port, as a crashed or hung server would behave. Run as a script it serves;
imported, it offers :class:`FtpServer` to start and stop that child, and :func:`make_ca` to
make a throw-away CA and a server certificate for 127.0.0.1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import select
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

USER = "erp"
PASSWORD = "s3cret word"
START_TIMEOUT = 30.0  # a busy machine can take seconds to start Python
STOP_TIMEOUT = 5.0


@dataclass
class FtpServer:
    """One pyftpdlib child process serving ``home`` for :data:`USER` on 127.0.0.1."""

    home: Path
    port: int = 0
    cert: Path | None = None
    mlsd: bool = True
    #: Whether the server answers LIST (one that has MLSD may refuse it).
    listing: bool = True
    #: A folder (below ``home``) whose files are listed but never sent: 550 on RETR.
    unreadable: str | None = None
    #: Whether the server takes SITE CHMOD (many servers do not).
    chmod: bool = True
    proc: subprocess.Popen[str] | None = None

    def start(self) -> FtpServer:
        args = [sys.executable, str(Path(__file__).resolve()), "--home", str(self.home),
                "--port", str(self.port)]
        if self.cert is not None:
            args += ["--cert", str(self.cert)]
        if not self.mlsd:
            args.append("--no-mlsd")
        if not self.listing:
            args.append("--no-list")
        if self.unreadable is not None:
            args += ["--unreadable", self.unreadable]
        if not self.chmod:
            args.append("--no-chmod")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("port "):
            self.stop()
            raise RuntimeError(f"the FTP server did not start (said {line!r})")
        self.port = int(line.split()[1])
        return self

    def kill(self) -> None:
        """Gone at once, like a crashed server: open sessions just break."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(STOP_TIMEOUT)
        self._forget()

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop only our child, within a bounded time."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused server cannot handle SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        self._forget()

    def _forget(self) -> None:
        assert self.proc is not None
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None


def make_ca(folder: Path) -> tuple[Path, Path]:
    """A self-signed CA and a server certificate it signed for 127.0.0.1 and localhost.

    Returns (ca certificate, server certificate + key in one PEM file)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bridge test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
                critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    ca_file = folder / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_pem = folder / "server.pem"
    server_pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()))
    return ca_file, server_pem


def _serve(argv: list[str]) -> None:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import FTPServer

    p = argparse.ArgumentParser()
    p.add_argument("--home", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cert")
    p.add_argument("--no-mlsd", action="store_true")
    p.add_argument("--no-list", action="store_true")
    p.add_argument("--unreadable")
    p.add_argument("--no-chmod", action="store_true")
    a = p.parse_args(argv)

    auth = DummyAuthorizer()
    perm = "elradfmwT" if a.no_chmod else "elradfmwMT"
    auth.add_user(USER, PASSWORD, a.home, perm=perm)
    if a.unreadable:
        # Listed, renamed, written, but never retrieved (no r): what a server does with a
        # file its permissions forbid, even when the tests run as root.
        auth.override_perm(USER, os.path.join(a.home, a.unreadable),
                           perm=perm.replace("r", ""), recursive=True)
    handler: type[FTPHandler]
    if a.cert:
        from pyftpdlib.handlers import TLS_FTPHandler

        class Tls(TLS_FTPHandler):  # type: ignore[misc,valid-type]
            certfile = a.cert
            tls_control_required = True
            tls_data_required = True

        handler = Tls
    else:
        class Plain(FTPHandler):  # type: ignore[misc]
            pass

        handler = Plain
    if a.no_mlsd:
        # An older server: no MLSD/MLST, so the client must parse LIST.
        handler.proto_cmds = {k: v for k, v in handler.proto_cmds.items()
                              if k not in ("MLSD", "MLST")}
    if a.no_list:
        # A server with MLSD that refuses LIST: what it has must do.
        handler.proto_cmds = {k: v for k, v in handler.proto_cmds.items() if k != "LIST"}
    handler.authorizer = auth
    handler.auth_failed_timeout = 0.05  # pyftpdlib waits 3 s after a bad password
    handler.banner = "bridge test server"
    server = FTPServer(("127.0.0.1", a.port), handler)
    print(f"port {server.address[1]}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server.serve_forever(timeout=0.2, handle_exit=False)


if __name__ == "__main__":
    import logging

    logging.disable(logging.CRITICAL)
    _serve(sys.argv[1:])
