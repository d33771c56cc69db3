"""`bridge ledger`: the ledger's schema, and moving a ledger to another database."""

from __future__ import annotations

import click

from bridge.cli.common import load_config, open_config_ledger, reports_errors


@click.group()
def ledger() -> None:
    """The ledger: its schema, and copying it (SQLite to PostgreSQL and back)."""


@ledger.command()
@click.pass_context
@reports_errors
def migrate(ctx: click.Context) -> None:
    """Bring the configured ledger to this bridge's schema (every run does it too; a
    ledger newer than this bridge is refused)."""
    from bridge.ledger.migrations import MIGRATIONS

    cfg = load_config(ctx, secrets=True)
    led = open_config_ledger(cfg)
    try:
        version = getattr(led, "schema_version", len(MIGRATIONS))
    finally:
        led.close()
    click.echo(f"ledger at schema {version} of {len(MIGRATIONS)}")


@ledger.command("copy")
@click.argument("source")
@click.argument("destination")
@click.pass_context
@reports_errors
def copy_cmd(ctx: click.Context, source: str, destination: str) -> None:
    """Copy every row of the ledger SOURCE into the new, empty ledger DESTINATION: each a
    SQLite file (a path, or sqlite:///PATH) or a postgresql:// URL."""
    from pathlib import Path

    from bridge.ledger import SqliteLedger, is_url, open_ledger
    from bridge.ledger.copy import copy

    def where(text: str) -> Path | str:
        return text if is_url(text) else Path(text.removeprefix("sqlite:///"))

    src_at, dst_at = where(source), where(destination)
    if isinstance(src_at, Path) and not src_at.is_file():
        raise click.UsageError(f"no ledger file {str(src_at)!r}")
    src, dst = open_ledger(src_at), open_ledger(dst_at)
    try:
        assert isinstance(src, SqliteLedger) and isinstance(dst, SqliteLedger)
        done = copy(src, dst)
    finally:
        src.close()
        dst.close()
    counts = ", ".join(f"{n:,} {t}" for t, n in done.rows.items() if n)
    click.echo(f"copied {done.total:,} rows: {counts or 'an empty ledger'}")
