"""The `bridge` command. Heavy libraries are imported inside commands, never at start-up,
so `bridge --help` and an idle cron run stay fast.

Exit codes: 0 all went well; 1 issues found (a file was rejected or held); 2 a usage,
configuration or tracciato error; 3 a connection or disk failed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from bridge.errors import BridgeError

F = TypeVar("F", bound=Callable[..., Any])


def reports_errors(fn: F) -> F:
    """Turn a BridgeError into its message and exit code: never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BridgeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(exc.exit_code)

    return wrapper  # type: ignore[return-value]


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


def _extra(ctx: click.Context) -> list[Path]:
    obj = ctx.find_root().obj or {}
    return list(obj.get("tracciati", []))


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tracciato", "-t", "name", required=True,
              help="Layout of the file: system/name, or a path to a YAML file.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True, help="How to print the result.")
@click.pass_context
@reports_errors
def check(ctx: click.Context, file: Path, name: str, fmt: str) -> None:
    """Decode and validate FILE; exit 0 if clean, 1 if issues were found."""
    from bridge.check import check_file, render
    from bridge.spec import load

    t = load(name, _extra(ctx))
    result = check_file(file, t)
    click.echo(render(result, fmt))
    sys.exit(0 if result.clean else 1)


@main.group()
def tracciati() -> None:
    """List, show, lint and describe the layouts (tracciati)."""


@tracciati.command("list")
@click.pass_context
@reports_errors
def tracciati_list(ctx: click.Context) -> None:
    """Every tracciato found, with the first line of its description."""
    from bridge.spec.loader import available, load_file

    for name, path in available(_extra(ctx)).items():
        try:
            summary = load_file(path).description.strip().splitlines()[0:1]
            click.echo(f"{name:28} {summary[0] if summary else ''}")
        except BridgeError:
            click.echo(f"{name:28} (has mistakes: run `bridge tracciati lint {path}`)")


@tracciati.command("show")
@click.argument("name")
@click.pass_context
@reports_errors
def tracciati_show(ctx: click.Context, name: str) -> None:
    """The layout of NAME as a table, like the page of an ERP manual."""
    from bridge.spec import load
    from bridge.spec.show import describe

    click.echo(describe(load(name, _extra(ctx))))


@tracciati.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.pass_context
def tracciati_lint(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Report every mistake in tracciati files (default: every folder searched)."""
    from bridge.spec.loader import lint, search_roots

    problems = lint(list(paths) or search_roots(_extra(ctx)))
    for line in problems:
        click.echo(line)
    if problems:
        sys.exit(2)
    click.echo("no mistakes found")


@tracciati.command("schema")
def tracciati_schema() -> None:
    """The JSON Schema of the tracciato language, for editors."""
    from bridge.spec.model import Tracciato

    click.echo(json.dumps(Tracciato.model_json_schema(), indent=2, ensure_ascii=False))


@main.command()
def codes() -> None:
    """Every issue code, with its meaning."""
    from bridge.check import codes_table

    click.echo(codes_table())


# The flow commands live in their own module; importing it registers them.
from bridge import commands as _commands  # noqa: E402
from bridge import commands_connections as _commands_connections  # noqa: E402
from bridge import commands_demo as _commands_demo  # noqa: E402

del _commands, _commands_connections, _commands_demo
