"""`bridge metrics`: the ledger's figures in Prometheus' text format, for node_exporter's
textfile collector after a cron run (`bridge watch --metrics-port` serves the same)."""

from __future__ import annotations

from pathlib import Path

import click

from bridge.cli.common import load_config, reports_errors
from bridge.errors import TransientError


@click.command()
@click.option("--textfile", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write them to this file (atomically), e.g. "
                   "/var/lib/node_exporter/textfile/bridge.prom; default: print them.")
@click.pass_context
@reports_errors
def metrics(ctx: click.Context, textfile: Path | None) -> None:
    """Files by flow and state, rows, issues by code, bytes read, last success per flow and
    the last pass, in Prometheus' text format."""
    from prometheus_client import generate_latest

    from bridge.metrics import registry, write_textfile

    cfg = load_config(ctx, secrets=False)
    if textfile is None:
        click.echo(generate_latest(registry(cfg)).decode("utf-8"), nl=False)
    else:
        try:
            write_textfile(cfg, textfile)
        except OSError as exc:
            raise TransientError(f"cannot write {textfile}: {exc.strerror or exc}") from None
