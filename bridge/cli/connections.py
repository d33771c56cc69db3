"""`bridge connections`: list the configured connections, trust a server's host key, check
that a connection works end to end.

``trust`` is the only way bridge adds a host key: it shows the key's SHA256 fingerprint (to
compare with what the server's administrator reads from ``ssh-keygen -lf``) and writes it to
the connection's known_hosts file only after a yes. A key that differs from the one on
record is replaced only with ``--replace``, never by ``--yes`` alone: a script that trusts
new servers must not silently accept a man in the middle on a known one. What the server
says (its key type, its banner) is printed through :func:`bridge.display.printable`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from bridge.cli.common import load_config, reports_errors
from bridge.display import printable

if TYPE_CHECKING:
    from bridge.config import Config, SftpConnection



def _sftp(cfg: Config, name: str) -> SftpConnection:
    from bridge.config import SftpConnection
    from bridge.errors import ConfigError

    conn = cfg.connection(name)
    if not isinstance(conn, SftpConnection):
        raise ConfigError(f"connection {name!r} is {conn.type!r}: host keys are for sftp only")
    return conn


@click.group()
def connections() -> None:
    """The configured connections: list them, trust a server's key, check one."""


@connections.command("list")
@click.pass_context
@reports_errors
def list_connections(ctx: click.Context) -> None:
    """Each connection with its type and address."""
    cfg = load_config(ctx)
    for name, conn in cfg.connections.items():
        where = getattr(conn, "host", None)
        if where is not None:
            where = f"{getattr(conn, 'user', '')}@{where}:{getattr(conn, 'port', '')}"
        else:
            where = str(cfg.path(getattr(conn, "root", ".")))
        click.echo(f"{name}\t{conn.type}\t{where}")


@connections.command()
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Trust the key without asking.")
@click.option("--replace", is_flag=True,
              help="Replace the key on record by a changed one (only once the server's "
                   "administrator confirms the new fingerprint); without it a changed key "
                   "is never trusted.")
@click.pass_context
@reports_errors
def trust(ctx: click.Context, name: str, yes: bool, replace: bool) -> None:
    """Show the host key of sftp connection NAME and add it to its known_hosts file."""
    from bridge import hostkeys
    from bridge.transport.sftp import scan_host_key

    cfg = load_config(ctx)
    conn = _sftp(cfg, name)
    blob = scan_host_key(conn, cfg.path)
    path = hostkeys.known_hosts_path(conn, cfg.path)
    verdict = hostkeys.verify(path, conn.host, conn.port, blob)
    click.echo(printable(f"{name}: {conn.host}:{conn.port} offers the {verdict.key_type} "
                         "host key"))
    click.echo(f"    {verdict.fingerprint}")
    if conn.host_key_fingerprint:
        pinned = hostkeys.normalise_fingerprint(conn.host_key_fingerprint)
        same = "matches" if pinned == verdict.fingerprint else "does NOT match"
        click.echo(f"The configuration pins host_key_fingerprint {pinned}, which {same} it; "
                   "known_hosts is not used while a fingerprint is pinned.")
        sys.exit(0 if pinned == verdict.fingerprint else 1)
    if verdict.status == "known":
        click.echo(f"Already trusted in {path}.")
        return
    if verdict.status == "revoked":
        click.echo(f"This key is marked @revoked in {path}; not trusted.", err=True)
        sys.exit(1)
    if verdict.status == "changed":
        click.echo("WARNING: this is NOT the key on record, which is:", err=True)
        for k in verdict.recorded:
            click.echo(printable(f"    {k.key_type} {k.fingerprint} ({path} line {k.line})"),
                       err=True)
        click.echo("Someone may be intercepting the connection. Replace the old key only if "
                   "the server's administrator confirms the new fingerprint.", err=True)
        if not replace:
            click.echo("Not replaced; nothing written. Once the new fingerprint is confirmed, "
                       f"run `bridge connections trust {name} --replace`.", err=True)
            sys.exit(1)
    if not yes and not click.confirm(f"Trust this key and write it to {path}?", default=False):
        click.echo("Not trusted; nothing written.")
        sys.exit(1)
    hostkeys.add(path, conn.host, conn.port, blob, replace=verdict.status == "changed")
    click.echo(f"Trusted: written to {path}.")


@connections.command()
@click.argument("name")
@click.pass_context
@reports_errors
def check(ctx: click.Context, name: str) -> None:
    """Connect to NAME, verify the host key, log in and list the root folder."""
    from bridge.transport import connect

    cfg = load_config(ctx)
    conn = cfg.connection(name)
    transport = connect(cfg, name)
    try:
        describe = getattr(transport, "describe", None)
        info = describe() if describe is not None else {
            "files in root": str(sum(1 for e in transport.list("") if e.kind is None))}
    finally:
        transport.close()
    click.echo(f"{name} ({conn.type}): ok")
    for key, value in info.items():
        click.echo(printable(f"    {key}: {value}"))  # the server's own words
