"""The flow commands of the CLI: run, watch, status, history, show, pending, approve, reject.

Each reads ``bridge.yaml`` (``--config``, ``$BRIDGE_CONFIG``) and the ledger it names.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bridge.cli import main, reports_errors

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.ledger import FileRow, Ledger
    from bridge.pipeline import Outcome


def _config(ctx: click.Context) -> Config:
    from bridge.config import default_path, load

    obj = ctx.find_root().obj or {}
    return load(obj.get("config") or default_path())


def _ledger(cfg: Config) -> Ledger:
    from bridge.ledger import open_ledger

    return open_ledger(cfg.path(cfg.ledger))


def _printer(as_json: bool) -> Callable[[Outcome], None]:
    def show(o: Outcome) -> None:
        if as_json:
            click.echo(json.dumps({"flow": o.flow, "file": o.name, "state": o.state,
                                   "id": o.file_id, "issues": o.issues,
                                   "outputs": [n for n, _ in o.outputs],
                                   "report": o.report, "message": o.message},
                                  ensure_ascii=False))
            return
        outs = ", ".join(f"{n} ({r} rows)" for n, r in o.outputs)
        bits = [f"[{o.flow}] {o.name}: {o.state}"]
        if o.issues:
            bits.append(f"{o.issues} issues")
        if outs:
            bits.append(f"-> {outs}")
        if o.message:
            bits.append(o.message)
        if o.report:
            bits.append(f"report: {o.report}")
        click.echo("; ".join(bits))

    return show


@main.command()
@click.option("--flow", "flows", multiple=True, help="Only this flow; may repeat.")
@click.option("--dry-run", is_flag=True, help="Say what would be taken; write nothing.")
@click.option("--log-json", is_flag=True, help="One JSON line per file outcome.")
@click.option("--full", is_flag=True, help="Delta flows send every row, not only changes.")
@click.pass_context
@reports_errors
def run(ctx: click.Context, flows: tuple[str, ...], dry_run: bool, log_json: bool,
        full: bool) -> None:
    """One pass over every file that is ready (for cron). Exit 0 ok or idle, 1 a file was
    rejected or held, 2 configuration error, 3 a connection or disk failed."""
    from bridge.runner import LockBusy, run_pass

    cfg = _config(ctx)
    try:
        result = run_pass(cfg, flows=list(flows) or None, dry_run=dry_run,
                          report=_printer(log_json), full=full)
    except LockBusy as exc:
        click.echo(str(exc), err=True)
        sys.exit(0)
    for err in result.config_errors + result.errors:
        click.echo(f"error: {err}", err=True)
    if not result.outcomes and not result.errors and not result.config_errors and not log_json:
        click.echo("nothing to do")
    sys.exit(result.exit_code)


@main.command()
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes.")
@click.option("--passes", default=0, help="Stop after this many passes (0: for ever).")
@click.option("--log-json", is_flag=True)
@click.pass_context
@reports_errors
def watch(ctx: click.Context, interval: float, passes: int, log_json: bool) -> None:
    """Run passes for ever; SIGTERM or SIGINT finish the current file, then exit."""
    from bridge.watch import watch_loop

    watch_loop(_config(ctx), interval=interval, passes=passes,
               report=_printer(log_json))


@main.command()
@click.pass_context
@reports_errors
def status(ctx: click.Context) -> None:
    """Per flow: files waiting, held, rejected, failed, and the last success."""
    from bridge.templating import fmt_time

    cfg = _config(ctx)
    ledger = _ledger(cfg)
    click.echo(f"{'flow':20} {'waiting':>8} {'held':>6} {'rejected':>9} {'failed':>7} "
               "last success")
    for name in cfg.flows:
        rows = ledger.files(flow=name)
        count = {s: sum(1 for r in rows if r.state == s) for s in
                 ("held", "rejected", "failed")}
        waiting = sum(1 for r in rows if r.state in
                      ("claimed", "fetched", "checked", "written", "approved"))
        done = [r.updated for r in rows if r.state == "done"]
        last = fmt_time(max(done)) if done else "never"
        click.echo(f"{name:20} {waiting:>8} {count['held']:>6} {count['rejected']:>9} "
                   f"{count['failed']:>7} {last}")


@main.command()
@click.option("--flow", default=None)
@click.option("--last", default=20, show_default=True)
@click.pass_context
@reports_errors
def history(ctx: click.Context, flow: str | None, last: int) -> None:
    """The last files seen, newest last."""
    from bridge.templating import fmt_time

    ledger = _ledger(_config(ctx))
    for r in ledger.files(flow=flow, last=last):
        click.echo(f"{r.id:6} {fmt_time(r.updated)} {r.flow:16} {r.state:10} {r.path}"
                   + (f"  ({r.reason})" if r.reason else ""))


@main.command()
@click.argument("what")
@click.pass_context
@reports_errors
def show(ctx: click.Context, what: str) -> None:
    """The whole story of one file (by id or name): states, times, issues, outputs."""
    from bridge.errors import ConfigError
    from bridge.templating import fmt_time

    ledger = _ledger(_config(ctx))
    rows = [ledger.get(int(what))] if what.isdigit() else ledger.find_by_path(Path(what).name)
    if not rows:
        raise ConfigError(f"no file {what!r} in the ledger")
    for r in rows:
        click.echo(f"file {r.id}: {r.path} (flow {r.flow}), {r.size} bytes, sha256 {r.sha256}")
        click.echo(f"  state {r.state}, {r.attempts} attempt(s), {r.issues} issue(s)"
                   + (f", replay of {r.replay_of}" if r.replay_of else ""))
        for e in ledger.events(r.id):
            click.echo(f"  {fmt_time(e.at)}  {e.state:10} {e.detail or ''}".rstrip())
        for o in ledger.outputs(r.id):
            click.echo(f"  output {o.folder}/{o.name}: {o.state}, {o.rows} rows, "
                       f"sha256 {o.sha256}")
        for i in ledger.issues(r.id):
            where = f"line {i.line}" if i.line is not None else "file"
            what = ".".join(p for p in (i.record, i.field) if p)
            click.echo(f"  issue {where}: {i.code}: {what + ': ' if what else ''}{i.message}")


@main.command()
@click.pass_context
@reports_errors
def pending(ctx: click.Context) -> None:
    """Files held for an operator's decision."""
    ledger = _ledger(_config(ctx))
    held = ledger.files(states=frozenset({"held"}))
    for r in held:
        click.echo(f"{r.id:6} {r.flow:16} {r.path}  ({r.reason})")
    if not held:
        click.echo("nothing pending")


@main.command()
@click.argument("file_id", type=int)
@click.pass_context
@reports_errors
def approve(ctx: click.Context, file_id: int) -> None:
    """Let a held file go on: the next run writes its outputs."""
    _decide(ctx, file_id, "approved", "approved by an operator")


@main.command()
@click.argument("file_id", type=int)
@click.option("--reason", required=True)
@click.pass_context
@reports_errors
def reject(ctx: click.Context, file_id: int, reason: str) -> None:
    """Refuse a held file: it goes to quarantine."""
    _decide(ctx, file_id, "rejected", reason)


def _decide(ctx: click.Context, file_id: int, state: str, why: str) -> None:
    from bridge.errors import ConfigError

    cfg = _config(ctx)
    ledger = _ledger(cfg)
    try:
        row = ledger.get(file_id)
    except KeyError:
        raise ConfigError(f"no file {file_id} in the ledger") from None
    if row.state != "held":
        raise ConfigError(f"file {file_id} is {row.state}, not held")
    if state == "rejected":
        from bridge.transport import connect

        flow = cfg.flows[row.flow]
        src = connect(cfg, flow.source.connection)
        if src.stat(flow.source.folder, row.path) is not None:
            src.move(flow.source.folder, row.path, flow.quarantine_folder, row.path)
    ledger.set_state(file_id, state, time.time(), why, reason=why)
    click.echo(f"file {file_id} ({row.path}): {state}")


@main.command()
@click.argument("ids", nargs=-1, type=int)
@click.option("--flow", default=None, help="Replay this flow's files...")
@click.option("--since", default=None, help="...received since this date (YYYY-MM-DD).")
@click.option("--dry-run", is_flag=True, help="Write nothing; show the difference.")
@click.pass_context
@reports_errors
def replay(ctx: click.Context, ids: tuple[int, ...], flow: str | None, since: str | None,
           dry_run: bool) -> None:
    """Process files again from bridge's copy; new outputs are linked to the original."""
    from datetime import datetime

    from bridge.errors import ConfigError
    from bridge.pipeline import Pipeline
    from bridge.replay import replay as replay_one
    from bridge.runner import run_lock

    cfg = _config(ctx)
    if bool(ids) == bool(flow):
        raise ConfigError("give file ids, or --flow with --since")
    ledger = _ledger(cfg)
    if ids:
        try:
            rows = [ledger.get(i) for i in ids]
        except KeyError as exc:
            raise ConfigError(f"no file {exc.args[0]} in the ledger") from None
    else:
        start = datetime.strptime(since, "%Y-%m-%d").timestamp() if since else None
        rows = [r for r in ledger.files(flow=flow, since=start, states=frozenset({"done"}))
                if r.replay_of is None]
    now = time.time()
    show_one = _printer(False)
    with run_lock(cfg.path(cfg.lock_file)):
        run_id = None if dry_run else ledger.start_run(now, "replay")
        pipe = Pipeline(cfg, ledger, {}, run_id, now)
        for row in _progress(rows, "replaying"):
            result = replay_one(pipe, row, dry_run=dry_run)
            if dry_run:
                click.echo(f"file {row.id} ({row.path}):")
                for line in result.diff:
                    click.echo(f"  {line}")
            elif result.outcome is not None:
                show_one(result.outcome)
        if run_id is not None:
            ledger.end_run(run_id, time.time(), "replay")
    if not rows:
        click.echo("nothing to replay")


def _progress(rows: list[FileRow], what: str) -> Iterator[FileRow]:
    """A progress bar on a terminal for long replays; plain iteration otherwise."""
    if len(rows) < 20 or not sys.stderr.isatty():
        yield from rows
        return
    from rich.progress import track

    yield from track(rows, description=what, console=None, transient=True)


@main.command("report")
@click.option("--since", default=None, help="From this date (YYYY-MM-DD).")
@click.option("--flow", default=None)
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Folder for the CSV and HTML files (default: the reports folder).")
@click.pass_context
@reports_errors
def report_cmd(ctx: click.Context, since: str | None, flow: str | None,
               out_dir: Path | None) -> None:
    """Reconciliation per day and flow: files, rows and money in and out."""
    from datetime import datetime

    from bridge.errors import ConfigError
    from bridge.reconcile import as_text, reconcile, write

    cfg = _config(ctx)
    try:
        start = datetime.strptime(since, "%Y-%m-%d").timestamp() if since else None
    except ValueError:
        raise ConfigError(f"--since {since!r}: give a date as YYYY-MM-DD") from None
    rows = reconcile(_ledger(cfg), since=start, flow=flow)
    click.echo(as_text(rows))
    csv_path, html_path = write(rows, out_dir or cfg.path(cfg.reports_dir),
                                made=datetime.now(), flow=flow)
    click.echo(f"CSV: {csv_path}\nHTML: {html_path}")
