"""The `bridge` command: a click group and the commands added to it.

The commands live in their own modules as plain click commands; this module imports them
and adds them to the group, so no command module ever imports the group (arrows point one
way). Heavy libraries are imported inside commands, never at start-up, so `bridge --help`
and an idle cron run stay fast. Exit codes: see :mod:`bridge.cli.common`.
"""

from __future__ import annotations

from pathlib import Path

import click

from bridge.cli.common import reports_errors
from bridge.cli.connections import connections
from bridge.cli.demo import demo
from bridge.cli.files import approve, history, pending, reject, retry, show, status
from bridge.cli.flows import prune, replay, report_cmd, run, watch
from bridge.cli.layouts import check, codes, tracciati

__all__ = ["main", "reports_errors"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bridge")
@click.option("--config", "-c", "config", type=click.Path(path_type=Path), default=None,
              help="The configuration file (default: $BRIDGE_CONFIG, else ./bridge.yaml).")
@click.option("--tracciati", "tracciati_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Another folder of tracciati (<system>/<name>.yaml); may repeat.")
@click.pass_context
def main(ctx: click.Context, config: Path | None, tracciati_dirs: tuple[Path, ...]) -> None:
    """bridge: dependable file exchange between e-commerce shops and legacy ERPs."""
    ctx.obj = {"config": config, "tracciati": list(tracciati_dirs)}


for command in (check, tracciati, codes, run, watch, replay, prune, report_cmd, status,
                history, show, pending, approve, reject, retry, connections, demo):
    main.add_command(command)
