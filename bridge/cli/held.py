"""The files that wait for a person, and an operator's approval: `bridge pending` (with
`--rows`: a held file row by row) and `bridge approve` (whole, or `--rows`/`--except`).

Row values, file names and reasons come from senders: every line holding one goes through
:func:`bridge.display.printable` (JSON: :func:`bridge.display.json_text`) first."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from bridge.cli.common import load_config, open_config_ledger, reports_errors
from bridge.display import age, json_text, printable
from bridge.issues import clip

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.engine.rows import Preview
    from bridge.issues import Issue

#: Characters of one value shown on the terminal (JSON: as many as an issue keeps, see
#: :func:`bridge.issues.clip`).
VALUE_WIDTH = 40


@click.command()
@click.argument("file_id", type=int, required=False)
@click.option("--rows", "show_rows", is_flag=True,
              help="The rows of held file FILE_ID: what each would write to the ERP, its "
                   "group and its issues, by the row ids `approve --rows/--except` take.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@click.option("--limit", default=100, show_default=True,
              help="With --rows: the rows shown (0: all).")
@click.pass_context
@reports_errors
def pending(ctx: click.Context, file_id: int | None, show_rows: bool, fmt: str,
            limit: int) -> None:
    """Files that wait for a person, and for how long: held (approve or reject) and failed
    (retry or reject). With FILE_ID --rows: a held file row by row."""
    from bridge.engine import clock

    if show_rows and file_id is None:
        raise click.UsageError("--rows goes with a file id: bridge pending ID --rows")
    if file_id is not None and not show_rows:
        raise click.UsageError(f"to see the rows of file {file_id}: bridge pending "
                               f"{file_id} --rows")
    cfg = load_config(ctx, secrets=False)
    now = clock.now().wall
    if file_id is not None:
        _rows(cfg, file_id, fmt, None if limit <= 0 else limit, now)
        return
    waiting = open_config_ledger(cfg).files(states=frozenset({"held", "failed"}))
    if fmt == "json":
        click.echo(json_text(json.dumps({"files": [
            {"id": r.id, "flow": r.flow, "state": r.state, "path": r.path, "reason": r.reason,
             "seconds": round(now - r.updated, 3)} for r in waiting]}, indent=2,
            ensure_ascii=False)))
        return
    for r in waiting:
        since = f"{r.state} {age(now - r.updated)}"
        click.echo(printable(f"{r.id:6} {r.flow:16} {since:14} {r.path}  ({r.reason})"))
    if not waiting:
        click.echo("nothing pending")


def _rows(cfg: Config, file_id: int, fmt: str, limit: int | None, now: float) -> None:
    from bridge.engine import clock
    from bridge.engine.pipeline import Pipeline
    from bridge.engine.rows import preview
    from bridge.errors import ConfigError

    ledger = open_config_ledger(cfg)
    try:
        row = ledger.get(file_id)
    except KeyError:
        raise ConfigError(f"no file {file_id} in the ledger") from None
    if row.state != "held":
        raise ConfigError(f"file {file_id} is {row.state}, not held: its rows wait for no one")
    flow = cfg.flows.get(row.flow)
    if flow is None:
        raise ConfigError(f"file {file_id}: flow {row.flow!r} is not configured")
    try:
        seen = preview(Pipeline(cfg, ledger, {}, None, clock.now()), row, flow, limit=limit)
    finally:
        ledger.close()
    if fmt == "json":
        click.echo(json_text(json.dumps(_as_json(seen, now), indent=2, ensure_ascii=False)))
    else:
        for line in _as_text(seen, now):
            click.echo(printable(line))


def _as_json(p: Preview, now: float) -> dict[str, Any]:
    def issue(i: Issue) -> dict[str, Any]:
        return {k: v for k, v in i.as_dict().items() if k != "line" and v is not None}

    return {
        "file": p.file.id, "path": p.file.path, "flow": p.file.flow, "state": p.file.state,
        "held_seconds": round(now - p.file.updated, 3), "reason": p.file.reason,
        "target": p.target, "rows_total": p.total, "rows_shown": len(p.rows),
        "would_be_rejected": p.rejected,
        "rows": [{"row": r.row, "group": r.group,
                  "group_rows": p.members[r.group],
                  "records": [{"record": rec.record,
                               "values": {k: clip(v) for k, v in rec.values.items()}}
                              for rec in r.records],
                  "issues": [issue(i) for i in r.issues], "held": r.held} for r in p.rows],
        "issues": [issue(i) for i in p.issues], "held": p.held,
    }


def _as_text(p: Preview, now: float) -> list[str]:
    f = p.file
    lines = [f"file {f.id}: {f.path} (flow {f.flow}), held {age(now - f.updated)}: "
             f"{f.reason}",
             f"{p.total} rows: the records each would write to {p.target}; the rows of one "
             "group are approved or left out together"]
    if p.rejected:
        lines.append("transformed now, the file would be refused: see its issues below")
    lines.append(f"{'row':>6} {'group':>6}  {'record':12} values")
    for r in p.rows:
        group = str(r.group) if len(p.members[r.group]) > 1 else ""
        first = f"{r.row:>6} {group:>6}  "
        if not r.records:
            lines.append(f"{first}{'-':12} nothing written")
        for k, rec in enumerate(r.records):
            values = " ".join(f"{name}={_clip(v)}" for name, v in rec.values.items())
            lines.append(f"{first if k == 0 else ' ' * len(first)}{rec.record:12} {values}")
        pad = " " * len(first)
        lines += [f"{pad}{'note' if not i.is_error else 'issue':12} {i.code}: "
                  f"{_where(i)}{i.message}" for i in r.issues]
        lines += [f"{pad}{'held':12} {reason}" for reason in r.held]
    if len(p.rows) < p.total:
        lines.append(f"... {p.total - len(p.rows)} more rows (--limit 0 shows all)")
    lines += [f"file: {i.code}: {i.message}" for i in p.issues]
    lines += [f"file: held: {reason}" for reason in p.held]
    return lines


def _where(i: Issue) -> str:
    field = ".".join(x for x in (i.record, i.field) if x)
    return f"{field}: " if field else ""


def _clip(value: str) -> str:
    return value if len(value) <= VALUE_WIDTH else value[:VALUE_WIDTH - 1] + "…"


def _row_ids(ctx: click.Context, param: click.Parameter, value: str | None
             ) -> set[int] | None:
    from bridge.engine.rows import parse_rows

    if value is None:
        return None
    try:
        return parse_rows(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command()
@click.argument("file_id", type=int)
@click.option("--rows", "rows", callback=_row_ids, metavar="IDS",
              help="Approve only these rows (3,5,7-9: the row ids of `bridge pending ID "
                   "--rows`); the others are refused.")
@click.option("--except", "leave", callback=_row_ids, metavar="IDS",
              help="Approve every row but these, which are refused.")
@click.option("--reason", default=None,
              help="Why rows are refused (required then): kept in the ledger and the report.")
@click.pass_context
@reports_errors
def approve(ctx: click.Context, file_id: int, rows: set[int] | None, leave: set[int] | None,
            reason: str | None) -> None:
    """Let a held file go on, whole or row by row: the next run writes what was approved
    (a group of rows, such as an order and its lines, goes whole or not at all)."""
    from bridge.engine.operator import approve as approve_file
    from bridge.engine.rows import named

    if rows is not None and leave is not None:
        raise click.UsageError("give --rows or --except, not both")
    done = approve_file(load_config(ctx), file_id, rows=rows, leave=leave, reason=reason)
    f = done.file
    if not done.left_out:
        click.echo(printable(f"file {file_id} ({f.path}): approved"))
        return
    kept = done.rows - len(done.left_out)
    click.echo(printable(f"file {file_id} ({f.path}): approved {kept} of {done.rows} rows; "
                         f"left out, never written: {named(done.left_out)} ({reason}); "
                         "the next run writes the rest"))
