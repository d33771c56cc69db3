"""The commands about files: status, history, show, and an operator's decisions (reject,
retry; pending and approve are in :mod:`bridge.cli.held`).

File names, reasons, events and issues come from senders and servers: every line holding
one goes through :func:`bridge.display.printable` before it reaches the terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bridge.cli.common import load_config, open_config_ledger, printer, reports_errors
from bridge.display import printable


def _held_for(value: str) -> float:
    from bridge.config import _seconds

    try:
        return float(_seconds(value))  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="A table, or one JSON document for monitoring.")
@click.option("--check", is_flag=True,
              help="Exit 1 if something needs a person: a failed file, a file held longer "
                   "than its flow's approval.alert_after (else --held-for), a file rejected "
                   "since the last `bridge ack` (a claim file its ledger did not know, or "
                   "a link or FIFO under a flow's name, named).")
@click.option("--held-for", "held_for", default="24h", show_default=True,
              help="With --check: how long a file may wait for an approval (30m, 12h, 2d), "
                   "in flows that set no approval.alert_after.")
@click.pass_context
@reports_errors
def status(ctx: click.Context, fmt: str, check: bool, held_for: str) -> None:
    """Per flow: files in progress, held (and for how long), rejected, failed, and the last
    success."""
    from datetime import UTC, datetime

    from bridge.display import age
    from bridge.engine import clock
    from bridge.engine.changed import CHANGED
    from bridge.engine.readiness import NOT_A_FILE
    from bridge.engine.strays import STRAY
    from bridge.states import FAILED, HELD, REJECTED, RESUMABLE
    from bridge.templating import fmt_time

    patience = _held_for(held_for)
    cfg = load_config(ctx, secrets=False)
    ledger = open_config_ledger(cfg)
    now = clock.now().wall
    table: list[dict[str, Any]] = []
    held: list[dict[str, Any]] = []
    strays: list[dict[str, Any]] = []  # claim files set aside since the last ack
    for name, flow in cfg.flows.items():
        rows = ledger.files(flow=name)
        count = {s: sum(1 for r in rows if r.state == s) for s in (HELD, REJECTED, FAILED)}
        done = [r.updated for r in rows if r.state == "done" and r.updated is not None]
        # Waiting: seen and not taken yet (not complete), or taken and not finished.
        waiting = ledger.seen(name) + sum(1 for r in rows if r.state in RESUMABLE)
        acked = ledger.acknowledged(name)
        limit = flow.alert_after if flow.alert_after is not None else patience
        said = age(limit) if flow.alert_after is not None else held_for
        mine = [{"flow": name, "id": r.id, "path": r.path, "seconds": round(now - r.updated, 3),
                 "alert_after": limit, "overdue": now - r.updated > limit}
                for r in rows if r.state == HELD]
        held += mine
        strays += [{"flow": name, "id": r.id, "path": r.path, "kept_at": r.kept_at,
                    "reason": r.reason}
                   for r in rows if r.state == REJECTED and r.reason in (STRAY, CHANGED,
                                                                         NOT_A_FILE)
                   and r.updated > acked]
        attention = [f"{n} {what}" for n, what in (
            (count[FAILED], "failed"),
            (sum(1 for h in mine if h["overdue"]), f"held for more than {said}"),
            (sum(1 for r in rows if r.state == REJECTED and r.updated > acked),
             "rejected since the last `bridge ack`")) if n]
        table.append({"flow": name, "waiting": waiting,
                      "held": count[HELD], "rejected": count[REJECTED],
                      "failed": count[FAILED], "last_success": max(done) if done else None,
                      "attention": attention})
    needs = [f"{line['flow']}: {'; '.join(line['attention'])}" for line in table
             if line["attention"]]
    if fmt == "json":
        for line in table:
            when = line["last_success"]
            line["last_success"] = None if when is None else datetime.fromtimestamp(
                float(when), UTC).isoformat(timespec="seconds")
        click.echo(json.dumps({"flows": table, "held": held, "strays": strays}, indent=2))
    else:
        click.echo(f"{'flow':20} {'waiting':>8} {'held':>6} {'rejected':>9} {'failed':>7} "
                   "last success")
        for line in table:
            when = line["last_success"]
            last = fmt_time(float(when)) if when is not None else "never"
            click.echo(printable(f"{line['flow']:20} {line['waiting']:>8} {line['held']:>6} "
                                 f"{line['rejected']:>9} {line['failed']:>7} {last}"))
        if check:
            for need in needs:
                click.echo(printable(f"needs a person: {need}"))
            for h in held:
                if h["overdue"]:
                    click.echo(printable(
                        f"held too long: {h['flow']}: file {h['id']} {h['path']}: held "
                        f"{age(h['seconds'])}, more than {age(h['alert_after'])}"))
            for s in strays:
                click.echo(printable(
                    f"stray claim file: {s['flow']}: {s['path']} (file {s['id']}): "
                    f"not imported, set aside in {s['kept_at']} (bridge show {s['id']})"
                    if s["reason"] == STRAY else
                    f"not a file: {s['flow']}: {s['path']} (file {s['id']}): a link, a FIFO "
                    "or the like under the flow's name, never read, left where it is: put "
                    f"the file itself in its place (bridge show {s['id']})"
                    if s["reason"] == NOT_A_FILE else
                    f"changed after it was taken: {s['flow']}: {s['path']} (file "
                    f"{s['id']}): the part bridge took is imported as another file, the "
                    f"rest is not: set aside in {s['kept_at']} (bridge show {s['id']} says "
                    "which part)"))
    if check and needs:
        sys.exit(1)


@click.command()
@click.option("--flow", "flows", multiple=True, help="Only this flow; may repeat.")
@click.pass_context
@reports_errors
def ack(ctx: click.Context, flows: tuple[str, ...]) -> None:
    """A person has seen the flows' rejected files: `status --check` stops counting them
    (new ones count again)."""
    import time

    from bridge.errors import ConfigError

    cfg = load_config(ctx, secrets=False)
    for name in flows:
        if name not in cfg.flows:
            raise ConfigError(f"no flow named {name!r} (known: {', '.join(cfg.flows)})")
    chosen = list(flows) or list(cfg.flows)
    open_config_ledger(cfg).acknowledge(chosen, time.time())
    click.echo(f"acknowledged: {', '.join(chosen)}")


@click.command()
@click.option("--flow", default=None)
@click.option("--last", default=20, show_default=True)
@click.pass_context
@reports_errors
def history(ctx: click.Context, flow: str | None, last: int) -> None:
    """The last files seen, newest last."""
    from bridge.templating import fmt_time

    ledger = open_config_ledger(load_config(ctx, secrets=False))
    for r in ledger.files(flow=flow, last=last):
        click.echo(printable(f"{r.id:6} {fmt_time(r.updated)} {r.flow:16} {r.state:10} "
                             f"{r.path}" + (f"  ({r.reason})" if r.reason else "")))


@click.command()
@click.argument("what")
@click.pass_context
@reports_errors
def show(ctx: click.Context, what: str) -> None:
    """The whole story of one file (by id or name): states, times, issues, outputs."""
    from bridge.errors import ConfigError
    from bridge.templating import fmt_time

    ledger = open_config_ledger(load_config(ctx, secrets=False))
    if what.isdigit():
        try:
            rows = [ledger.get(int(what))]
        except KeyError:
            rows = []
    else:
        rows = ledger.find_by_path(Path(what).name)
    if not rows:
        raise ConfigError(f"no file {what!r} in the ledger")
    for r in rows:
        lines = [f"file {r.id}: {r.path} (flow {r.flow}), {r.size} bytes, sha256 {r.sha256}",
                 f"  state {r.state}, {r.attempts} attempt(s), {r.issues} issue(s)"
                 + (f", replay of {r.replay_of}" if r.replay_of else "")
                 + (f", held at the source as {r.held_as}" if r.held_as
                    and r.state not in ("done", "rejected", "duplicate") else "")]
        lines += [f"  {fmt_time(e.at)}  {e.state:10} {e.detail or ''}".rstrip()
                  for e in ledger.events(r.id)]
        lines += [f"  output {o.folder}/{o.name}: {o.state}, {o.rows} rows, sha256 {o.sha256}"
                  for o in ledger.outputs(r.id)]
        for i in ledger.issues(r.id):
            where = f"line {i.line}" if i.line is not None else "file"
            field = ".".join(p for p in (i.record, i.field) if p)
            lines.append(f"  issue {where}: {i.code}: {field + ': ' if field else ''}"
                         f"{i.message}")
        for line in lines:
            click.echo(printable(line))


@click.command()
@click.argument("file_id", type=int)
@click.option("--reason", required=True, help="Why: kept in the ledger and the report.")
@click.pass_context
@reports_errors
def reject(ctx: click.Context, file_id: int, reason: str) -> None:
    """Refuse a file in any state that is not final: it goes to quarantine with a report.
    Exit 1 when later files skipped keys it held, which now reach no target: each is named
    with the command that sends them."""
    from bridge.engine.operator import reject as reject_file

    done = reject_file(load_config(ctx), file_id, reason)
    printer(False)(done.outcome)
    for line in done.left_unsent:
        click.echo(printable(f"left unsent: {line}"))
    if done.left_unsent:
        sys.exit(1)


@click.command()
@click.argument("file_id", type=int)
@click.pass_context
@reports_errors
def retry(ctx: click.Context, file_id: int) -> None:
    """Try a file again now, whatever its backoff and attempts (a held or failed one too).
    Exit as `bridge run` would for this file."""
    from bridge.engine.operator import retry as retry_file

    outcome = retry_file(load_config(ctx), file_id, say=printer(False))
    sys.exit(outcome.exit_code)
