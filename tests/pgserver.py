"""A private PostgreSQL server for the tests of the shared ledger.

Debian's PostgreSQL binaries, never the system service: ``initdb`` makes a cluster in a
temporary folder, and ``postgres`` runs in the foreground on 127.0.0.1 and a free port,
with its socket in that folder, trusting local connections (nothing else can reach it).
Under root it runs as the ``postgres`` user, as PostgreSQL requires. It is stopped by its
pid at the end of the session.

``tests/run.sh`` installs postgresql when it is missing; without it these tests skip,
except under CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.sshd import free_port

#: Seconds the server may take to accept connections.
START_TIMEOUT = 60.0


def binaries() -> Path | None:
    """The folder of Debian's PostgreSQL programs (the newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def require_postgres() -> Path:
    where = binaries()
    if where is not None:
        return where
    why = "PostgreSQL is not installed (no initdb): run tests/run.sh as root, or apt-get " \
          "install postgresql"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why, pytrace=False)
    pytest.skip(why)


@dataclass
class PgServer:
    port: int
    folder: Path
    proc: subprocess.Popen[bytes]

    def url(self, database: str = "bridge", schema: str | None = None) -> str:
        """A URL of this server (no password: local connections are trusted)."""
        options = f"?options=-csearch_path%3D{schema}" if schema else ""
        return f"postgresql://bridge@127.0.0.1:{self.port}/{database}{options}"

    def sql(self, statement: str, database: str = "bridge") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(statement)  # type: ignore[arg-type]

    def new_schema(self, key: str) -> str:
        """A URL of a schema of its own for ``key`` (made on first use)."""
        name = "l_" + hashlib.sha1(key.encode()).hexdigest()[:20]
        self.sql(f"CREATE SCHEMA IF NOT EXISTS {name}")
        return self.url(schema=name)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def start(folder: Path) -> PgServer:
    """A new cluster in ``folder``, started; stopped by the caller."""
    bin_dir = require_postgres()
    data = folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    user: str | None = None
    if os.geteuid() == 0:
        user = "postgres"
        info = pwd.getpwnam(user)
        os.chown(folder, info.pw_uid, info.pw_gid)
    run_as = {"user": user} if user else {}
    subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", "bridge", "-A", "trust",
                    "-E", "UTF8", "--no-sync", "--no-instructions"], check=True,
                   capture_output=True, **run_as)  # type: ignore[call-overload]
    port = free_port()
    with open(folder / "server.log", "wb") as log:  # the server keeps its own copy
        proc = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(folder),
             "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c",
             "max_connections=200", "-c", "synchronous_commit=off", "-c",
             "full_page_writes=off"],
            stdout=log, stderr=subprocess.STDOUT, **run_as)  # type: ignore[call-overload]
    server = PgServer(port, folder, proc)
    deadline = time.monotonic() + START_TIMEOUT
    import psycopg

    while True:
        try:
            with psycopg.connect(server.url("postgres"), autocommit=True) as conn:
                conn.execute("CREATE DATABASE bridge")
            return server
        except psycopg.Error:
            if proc.poll() is not None or time.monotonic() > deadline:
                server.stop()
                text = (folder / "server.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"PostgreSQL did not start:\n{text}") from None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    # Not under pytest's own temporary folder: that one is its user's only, and under root
    # the server runs as another user, who must reach its folder.
    folder = Path(tempfile.mkdtemp(prefix="bridge-pg-"))
    try:
        server = start(folder)
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
