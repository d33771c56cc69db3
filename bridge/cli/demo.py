"""`bridge demo`: the README's first command. Importing this module registers it."""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bridge.cli.common import reports_errors

if TYPE_CHECKING:
    from rich.table import Table

    from bridge.demo import DemoResult


@click.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the demo's server, ERP files, ledger and report "
                   "(default: a new temporary folder).")
@click.option("--at", "at", type=click.DateTime(), default=None, hidden=True,
              help="Pin the clock to this moment (for byte-exact tests).")
@reports_errors
def demo(workdir: Path | None, at: datetime | None) -> None:
    """Run the sample order flow against an SFTP server started for the occasion.

    Shop exports are served over SFTP on 127.0.0.1 (a fresh host key, checked like any
    other), taken by the real runner, and written as ERP files into WORKDIR/erp/.
    """
    from rich.console import Console

    from bridge.demo import run_demo

    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="bridge-demo-"))
    click.echo(f"demo folder: {workdir}")
    result = run_demo(workdir, at=at, say=lambda line: click.echo(f"  {line}"))
    console = Console()
    if not console.is_terminal:
        console.width = 110  # piped or captured: no terminal width to fit
    console.print(summary(result))
    for line in result.errors:
        click.echo(f"error: {line}", err=True)
    click.echo(f"ERP files: {result.erp}")
    click.echo(f"HTML report: {result.report}")
    sys.exit(result.exit_code)


def summary(result: DemoResult) -> Table:
    """One row per file: its state, issues and outputs with their row counts."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"bridge demo: {len(result.outcomes)} files in {result.seconds} s")
    for col in ("file", "state", "issues", "rows", "outputs"):
        table.add_column(col, justify="right" if col in ("issues", "rows") else "left")
    colours = {"done": "green", "rejected": "red", "failed": "red", "held": "yellow"}
    for o in result.outcomes:
        rows = sum(r for _, r in o.outputs)
        outs = ", ".join(name for name, _ in o.outputs) or (o.report or o.message or "")
        # Text, not markup: a file name may hold brackets.
        table.add_row(Text(o.name), Text(o.state, style=colours.get(o.state, "")),
                      str(o.issues), str(rows) if o.outputs else "", Text(outs))
    return table
