"""The layout commands: `bridge check`, `bridge tracciati list|show|path|lint|infer|schema`,
`bridge codes`. They need no configuration."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from bridge.cli.common import extra_tracciati, reports_errors
from bridge.display import printable
from bridge.errors import BridgeError


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tracciato", "-t", "name", required=True,
              help="Layout of the file: system/name, or a path to a YAML file.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text",
              show_default=True, help="How to print the result.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(min=0),
              help="Text: list at most this many issues (0: all); the summary comes last.")
@click.option("--show", default=0, show_default=True, type=click.IntRange(min=0),
              help="Print the first N records of each type as typed values (decimals with "
                   "their scale, signs, dates): a wrong scale or code page shows at once.")
@click.pass_context
@reports_errors
def check(ctx: click.Context, file: Path, name: str, fmt: str, limit: int, show: int
          ) -> None:
    """Decode and validate FILE; exit 0 if clean, 1 if issues were found."""
    from bridge.check import check_file, render
    from bridge.spec import load

    t = load(name, extra_tracciati(ctx))
    with _bytes_bar(file) as seen:
        result = check_file(file, t, seen=seen, show=show)
    click.echo(render(result, fmt, limit))
    sys.exit(0 if result.clean else 1)


@click.group()
def tracciati() -> None:
    """List, show, locate, lint and describe the layouts (tracciati)."""


@tracciati.command("list")
@click.pass_context
@reports_errors
def tracciati_list(ctx: click.Context) -> None:
    """Every tracciato found, with the first line of its description."""
    from bridge.spec.loader import available, load_file

    for name, path in available(extra_tracciati(ctx)).items():
        try:
            summary = load_file(path).description.strip().splitlines()[0:1]
            click.echo(printable(f"{name:28} {summary[0] if summary else ''}"))
        except BridgeError:
            click.echo(printable(f"{name:28} (has mistakes: run `bridge tracciati lint "
                                 f"{path}`)"))


@tracciati.command("show")
@click.argument("name")
@click.pass_context
@reports_errors
def tracciati_show(ctx: click.Context, name: str) -> None:
    """The layout of NAME as a table, like the page of an ERP manual."""
    from bridge.spec import load
    from bridge.spec.show import describe

    click.echo(describe(load(name, extra_tracciati(ctx))))


@tracciati.command("path")
@click.argument("name")
@click.pass_context
@reports_errors
def tracciati_path(ctx: click.Context, name: str) -> None:
    """The file of NAME, to copy as the start of your own layout."""
    from bridge.spec.loader import find

    click.echo(printable(str(find(name, extra_tracciati(ctx)))))


@tracciati.command("lint")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.pass_context
@reports_errors
def tracciati_lint(ctx: click.Context, paths: tuple[Path, ...]) -> None:
    """Report every mistake in tracciati files (default: every folder searched)."""
    from bridge.spec.loader import lint, search_roots

    problems = lint(list(paths) or search_roots(extra_tracciati(ctx)))
    for line in problems:
        click.echo(printable(line))  # names of files found on disk, values quoted from them
    if problems:
        sys.exit(2)
    click.echo("no mistakes found")


@tracciati.command("infer")
@click.argument("sample", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--fixed-width", "fixed", is_flag=True,
              help="The sample is fixed width: guess record types and field boundaries.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the draft to this file (it must not exist, unless --force).")
@click.option("--force", is_flag=True, help="Replace the --output file if it exists.")
@click.option("--name", default=None, help="system/name of the draft (default: draft/draft).")
@reports_errors
def tracciati_infer(sample: Path, fixed: bool, output: Path | None, force: bool,
                    name: str | None) -> None:
    """Draft a tracciato from SAMPLE and print it as YAML, every guess commented: code page,
    line ends, delimiter and header (or record types and field boundaries), and per column
    a type in the Italian formats. The draft is checked against SAMPLE; what does not hold
    is written at its top, and said on stderr (exit 1)."""
    from bridge.errors import ConfigError
    from bridge.spec.draft_build import draft

    if output is not None and output.exists() and not force:
        raise ConfigError(f"{output} exists: give another --output, or --force to replace it")
    made = draft(sample, fixed=fixed, name=f"{name or 'draft/draft'}.yaml")
    if output is None:
        click.echo(made.text, nl=False)
    else:
        from bridge.atomic import save_atomic

        save_atomic(output, made.text.encode("utf-8"))
        click.echo(printable(f"draft written to {output}"))
    if made.problems:
        click.echo(printable(f"the draft does not yet check {sample.name} clean: "
                             f"{made.problems[0]}" + (f" (and {len(made.problems) - 1} more, "
                             "at the top of the draft)" if len(made.problems) > 1 else "")),
                   err=True)
        sys.exit(1)


@tracciati.command("schema")
@reports_errors
def tracciati_schema() -> None:
    """The JSON Schema of the tracciato language, for editors."""
    from bridge.spec.model import Tracciato

    click.echo(json.dumps(Tracciato.model_json_schema(), indent=2, ensure_ascii=False))


@click.command()
@reports_errors
def codes() -> None:
    """Every issue code, with its meaning."""
    from bridge.check import codes_table

    click.echo(codes_table())


#: Files from this size on get a progress bar while they are checked (on a terminal).
BAR_FROM = 16 << 20


@contextmanager
def _bytes_bar(path: Path) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr, in bytes with the time left, while a large file is read;
    gone when it is done, so that only the result stays on the screen."""
    size = path.stat().st_size
    if size < BAR_FROM or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("checking"), BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True),
                  transient=True) as bar:
        task = bar.add_task("check", total=size)
        yield lambda n: bar.advance(task, n)
