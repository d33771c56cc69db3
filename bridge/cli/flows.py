"""The commands that run flows: run, validate, watch, replay, prune, report.

Each reads ``bridge.yaml`` (``--config``, ``$BRIDGE_CONFIG``) and the ledger it names.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bridge.cli.common import (
    emit_report,
    json_error,
    lines,
    load_config,
    open_config_ledger,
    printer,
    reports_errors,
    root_option,
)
from bridge.display import printable

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.engine.preflight import Mistake


@click.command()
@click.option("--flow", "flows", multiple=True, help="Only this flow; may repeat.")
@click.option("--dry-run", is_flag=True, help="Say what would be taken; write nothing.")
@click.option("--log-json", is_flag=True, help="One JSON line per file outcome.")
@click.option("--full", is_flag=True, help="Delta flows send every row, not only changes.")
@click.option("--quiet", "-q", is_flag=True,
              help="Print only what needs a person (rejected, held, failures, and once a target "
                   "folder it made): for cron, which mails whatever a job prints.")
@click.pass_context
@reports_errors
def run(ctx: click.Context, flows: tuple[str, ...], dry_run: bool, log_json: bool,
        full: bool, quiet: bool) -> None:
    """One pass over every file that is ready (for cron). Exit 0 ok or idle, 1 a file was
    rejected or held (or waits for one held), 2 configuration error, 3 a connection or disk
    failed, 4 a bug."""
    from bridge.engine.runner import LockBusy, run_pass

    cfg = load_config(ctx)
    try:
        show = printer(log_json)
        result = run_pass(cfg, flows=list(flows) or None, dry_run=dry_run,
                          report=(lambda o: show(o) if o.exit_code else None) if quiet
                          else show, full=full)
    except LockBusy as exc:
        if not quiet:  # another run at work is no news for cron
            click.echo(str(exc), err=True)
        sys.exit(0)
    for folder in result.made:
        # Said even with --quiet, once: a folder made by a typo would collect files for ever.
        click.echo(f"note: made the target folder {printable(folder)}: it did not exist",
                   err=True)
    for err in result.config_errors + result.errors + result.internal_errors:
        click.echo(f"error: {lines(err)}", err=True)
        logging.getLogger("bridge.run").error("%s", err)
        if log_json:
            flow, sep, rest = err.partition(": ")
            click.echo(json_error(flow, rest) if sep and flow in cfg.flows
                       else json_error(None, err))
    if not result.outcomes and not result.errors and not result.config_errors \
            and not result.internal_errors and not log_json and not quiet:
        click.echo("nothing to do" + (f" ({result.waiting} file(s) wait to be complete)"
                                      if result.waiting else ""))
    sys.exit(result.exit_code)


@click.command()
@click.option("--flow", "flows", multiple=True, help="Only this flow; may repeat.")
@click.option("--online", is_flag=True, help="Also connect to every connection the flows use "
                                             "and look at their folders.")
@click.pass_context
@reports_errors
def validate(ctx: click.Context, flows: tuple[str, ...], online: bool) -> None:
    """Check the configuration as a run would use it, before any file arrives: tracciati,
    steps against their fields, templates, reference tables, local folders (--online: the
    connections and their folders too). Exit 0 if all is well, 2 with every mistake
    listed; notes (a target folder the first output will make) do not fail it."""
    from bridge.engine.preflight import Offline, preflight
    from bridge.engine.preflight import online as check_online
    from bridge.errors import ConfigError

    cfg = load_config(ctx, secrets=online)  # connecting needs the secrets
    for name in flows:
        if name not in cfg.flows:
            raise ConfigError(f"no flow named {name!r} (known: {', '.join(cfg.flows)})")
    found = preflight(Offline(cfg), list(flows) or None)
    if online:
        found += check_online(cfg, list(flows) or None)
    where = _lines_of(cfg)
    for m in found:
        click.echo(f"{'note' if m.note else 'error'}: {where(m)}{lines(m)}", err=True)
    if any(not m.note for m in found):
        sys.exit(2)
    click.echo(f"ok: {len(flows or cfg.flows)} flow(s), {len(cfg.references)} reference "
               "table(s)")


def _lines_of(cfg: Config) -> Callable[[Mistake], str]:
    """``bridge.yaml:LINE: `` for a mistake, from the key it names (and the step its
    message starts with), or nothing when the file or the key cannot be found."""
    from bridge.yamlio import key_line

    if cfg.source is None:
        return lambda m: ""
    source = cfg.source
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return lambda m: ""

    def where(m: Mistake) -> str:
        path = f"flows.{m.flow}.{m.where}" if m.flow else m.where
        step = re.match(r"(steps\[\d+\])", m.message) if m.where == "steps" else None
        if step:
            path = f"flows.{m.flow}.{step.group(1)}"
        line = key_line(text, path)
        return "" if line is None else f"{source.name}:{line}: "

    return where


@click.command()
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes.")
@click.option("--passes", default=0, help="Stop after this many passes (0: for ever).")
@click.option("--heartbeat", default=300.0, show_default=True,
              help="Seconds between 'alive' lines in the log.")
@click.option("--log-json", is_flag=True, help="Log lines as JSON.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve Prometheus metrics on this port (/metrics).")
@click.option("--metrics-address", default="127.0.0.1", show_default=True,
              help="The address the metrics are served on.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes, each with its own work area (a PostgreSQL ledger).")
@click.option("--worker", type=click.IntRange(1, 64), default=None, hidden=True)
@click.pass_context
@reports_errors
def watch(ctx: click.Context, interval: float, passes: int, heartbeat: float,
          log_json: bool, metrics_port: int | None, metrics_address: str, workers: int,
          worker: int | None) -> None:
    """Run passes for ever; SIGTERM or SIGINT finish the current file, then exit."""
    from bridge.engine.watch import watch_loop
    from bridge.engine.workers import own_places, supervise, worker_argv
    from bridge.errors import ConfigError
    from bridge.ledger import is_url
    from bridge.logs import to_stderr

    cfg = load_config(ctx)
    to_stderr(as_json=log_json)
    if workers > 1 and not is_url(cfg.ledger):
        raise ConfigError("--workers needs a PostgreSQL ledger (ledger: postgresql://...): "
                          "on a SQLite ledger one process works at a time")
    if worker is not None:
        cfg = own_places(cfg, worker, workers)
    if metrics_port is not None:
        from bridge.metrics import serve

        try:
            serve(cfg, metrics_port, metrics_address)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {metrics_address}:{metrics_port}: "
                              f"{exc.strerror}") from None
    if workers > 1 and worker is None:
        argv = worker_argv(root_option(ctx, "config"), interval, passes, heartbeat, log_json)
        for folder in root_option(ctx, "tracciati") or []:
            argv[3:3] = ["--tracciati", str(folder)]
        sys.exit(supervise(argv, workers))
    sys.exit(watch_loop(cfg, interval=interval, passes=passes, heartbeat=heartbeat))


@click.command()
@click.argument("ids", nargs=-1, type=int)
@click.option("--flow", default=None, help="Replay this flow's files...")
@click.option("--since", default=None, help="...received since this date (YYYY-MM-DD).")
@click.option("--dry-run", is_flag=True, help="Write nothing; show the difference.")
@click.option("--unsent", is_flag=True,
              help="Send only the rows whose business keys no file holds now (the "
                   "original's own count as sent): the orders it skipped for a file an "
                   "operator rejected since.")
@click.pass_context
@reports_errors
def replay(ctx: click.Context, ids: tuple[int, ...], flow: str | None, since: str | None,
           dry_run: bool, unsent: bool) -> None:
    """Process files again from bridge's copy; new outputs are linked to the original."""
    from bridge.engine import clock
    from bridge.engine.pipeline import Pipeline
    from bridge.engine.replay import NoCopy, Superseded, replayable
    from bridge.engine.replay import replay as replay_one
    from bridge.engine.runner import run_lock
    from bridge.errors import ConfigError

    cfg = load_config(ctx)
    if bool(ids) == bool(flow):
        raise ConfigError("give file ids, or --flow with --since")
    ledger = open_config_ledger(cfg)
    if ids:
        try:
            rows = [ledger.get(i) for i in ids]
        except KeyError as exc:
            raise ConfigError(f"no file {exc.args[0]} in the ledger") from None
    else:
        start = _date(since, "--since") if since else None
        rows = [r for r in ledger.files(flow=flow, since=start, states=frozenset({"done"}))
                if r.replay_of is None]
    now = clock.now()
    worst = 0
    with run_lock(cfg.path(cfg.lock_file), ledger=cfg.ledger_location(), alone=True), \
            _progress(len(rows), "replaying") as (say, step):
        show_one = printer(False, say)
        pipe = Pipeline(cfg, ledger, {}, None, now)
        if ids:  # every file named, checked before any is replayed: none or all
            for row in rows:
                replayable(pipe, row, unsent=unsent)
        run_id = None if dry_run else ledger.start_run(now.wall, "replay")
        pipe.run_id = run_id
        try:
            for row in rows:
                try:
                    result = replay_one(pipe, row, dry_run=dry_run, unsent=unsent)
                except (Superseded, NoCopy) as exc:
                    if ids:
                        raise
                    say(f"file {row.id} ({printable(row.path)}): skipped: {exc}")
                    step()
                    continue
                if dry_run:
                    say(f"file {row.id} ({printable(row.path)}): a replay writes new files, "
                        "beside those written before:")
                    for line in result.diff:
                        say(f"  {printable(line)}")
                elif result.outcome is not None:
                    worst = max(worst, result.outcome.exit_code)
                    show_one(result.outcome)
                step()
        finally:
            if run_id is not None:
                ledger.end_run(run_id, time.time(), "replay")
    if not rows:
        click.echo("nothing to replay")
    sys.exit(worst)


def _date(text: str, option: str) -> float:
    from datetime import datetime

    from bridge.errors import ConfigError

    try:
        return datetime.strptime(text, "%Y-%m-%d").timestamp()
    except ValueError:
        raise ConfigError(f"{option} {text!r}: give a date as YYYY-MM-DD") from None


@contextmanager
def _progress(total: int, what: str) -> Iterator[tuple[Callable[[str], None],
                                                      Callable[[], None]]]:
    """``(say, step)``: print a line, and count one item done. On a terminal and for 20
    items or more, a progress bar with its ETA sits below the lines, each line printed
    through the bar's own console so that neither garbles the other; otherwise plain lines.
    """
    if total < 20 or not sys.stdout.isatty():
        yield click.echo, lambda: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(what, total=total)

        def say(line: str) -> None:
            bar.console.print(line, markup=False, highlight=False, emoji=False,
                              soft_wrap=True)

        yield say, lambda: bar.advance(task)


@click.command()
@click.option("--flow", "flows", multiple=True, help="Only this flow; may repeat.")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.pass_context
@reports_errors
def prune(ctx: click.Context, flows: tuple[str, ...], dry_run: bool) -> None:
    """Delete what the flows' retention no longer keeps (every pass does it too, a few
    files at a time): work copies, refused files and their reports, the sender's values
    quoted in the ledger's issues of finished files (and of files that wait, counted from
    their last change), archived files."""
    from bridge.engine.operator import session
    from bridge.engine.retention import prune as prune_flow
    from bridge.errors import ConfigError

    cfg = load_config(ctx)
    for name in flows:
        if name not in cfg.flows:
            raise ConfigError(f"no flow named {name!r} (known: {', '.join(cfg.flows)})")
    count = 0
    with session(cfg) as pipe:
        for name in flows or list(cfg.flows):
            for p in prune_flow(pipe, name, cfg.flows[name], dry_run=dry_run, limit=None):
                count += 1
                click.echo(f"[{p.flow}] file {p.file_id}: {p.what}: {printable(p.where)}"
                           + (" (would be deleted)" if dry_run else " deleted"))
    if not count:
        click.echo("nothing to prune")


@click.group("report", invoke_without_command=True)
@click.option("--since", default=None, help="From this date (YYYY-MM-DD).")
@click.option("--flow", default=None)
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]),
              default="table", show_default=True, help="What to print, or to write with --out.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report to this file (atomically) instead of printing it.")
@click.pass_context
@reports_errors
def report_cmd(ctx: click.Context, since: str | None, flow: str | None, fmt: str,
               out: Path | None) -> None:
    """Reconciliation per day and flow: files, rows and money in and out. Prints a table,
    or the format asked; writes only the file named by --out, and only when asked.
    `report commissions` and `report sales` tell the business facts the flows keep."""
    from datetime import datetime

    if ctx.invoked_subcommand is not None:
        return

    from bridge.reconcile import as_csv, as_html, as_json, as_text, reconcile

    cfg = load_config(ctx, secrets=False)
    start = _date(since, "--since") if since else None
    rows = reconcile(open_config_ledger(cfg), since=start, flow=flow)
    configured = {name: (f.totals.money_in is not None, f.totals.money_out is not None)
                  for name, f in cfg.flows.items()}
    text = {"table": lambda: as_text(rows, configured) + "\n",
            "csv": lambda: as_csv(rows),
            "json": lambda: as_json(rows, configured) + "\n",
            "html": lambda: as_html(rows, made=datetime.now(), flow=flow,
                                    configured=configured, since=since)}[fmt]()
    emit_report(text, out, fmt)
