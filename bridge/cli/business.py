"""`bridge report commissions` and `bridge report sales`: the business facts the flows
keep in the ledger (``facts:``), per agent and per day, flow, agent or VAT rate."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from bridge.cli.common import emit_report, load_config, open_config_ledger, reports_errors
from bridge.cli.flows import report_cmd
from bridge.errors import ConfigError


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option}: {text!r} is not a date (YYYY-MM-DD)") from None


def _period(since: date | None, until: date | None) -> str:
    return (f"from {since.isoformat() if since else 'the start'} "
            f"to {until.isoformat() + ' (excluded)' if until else 'today'}")


def _emit(fmt: str, out: Path | None, title: str, period: str, columns: list[str],
          rows: list[list[str]], total: bool) -> None:
    from bridge import sales

    text = {"table": lambda: sales.as_text(columns, rows) + "\n",
            "csv": lambda: sales.as_csv(columns, rows),
            "html": lambda: sales.as_html(title, period, columns, rows, total)}[fmt]()
    emit_report(text, out, fmt)


FORMAT = click.option("--format", "fmt", type=click.Choice(["table", "csv", "html"]),
                      default="table", show_default=True)
OUT = click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
                   help="Write the report to this file (atomically) instead of printing it.")
SINCE = click.option("--since", default=None, help="From this day (YYYY-MM-DD), included.")
UNTIL = click.option("--until", default=None, help="To this day (YYYY-MM-DD), excluded.")


@report_cmd.command("commissions")
@SINCE
@UNTIL
@click.option("--agent", default=None, help="Only this agent's code.")
@FORMAT
@OUT
@click.pass_context
@reports_errors
def commissions(ctx: click.Context, since: str | None, until: str | None, agent: str | None,
                fmt: str, out: Path | None) -> None:
    """Per agent, the orders of the period (by order date): their count, the commission
    base, rate and commission, the reversals of cancelled or refunded orders, and the net."""
    from bridge import sales

    start, end = _day(since, "--since"), _day(until, "--until")
    ledger = open_config_ledger(load_config(ctx, secrets=False))
    try:
        facts = list(ledger.facts(["order", "cancel"]))
    finally:
        ledger.close()
    lines = sales.commissions(facts, since=start, until=end, agent=agent)
    _emit(fmt, out, "Commissions", _period(start, end), sales.COMMISSION_COLUMNS,
          sales.commission_rows(lines), total=bool(lines))


@report_cmd.command("sales")
@click.option("--by", "by", type=click.Choice(list(("day", "flow", "agent", "vat"))),
              default="day", show_default=True)
@SINCE
@UNTIL
@FORMAT
@OUT
@click.pass_context
@reports_errors
def sales_cmd(ctx: click.Context, by: str, since: str | None, until: str | None, fmt: str,
              out: Path | None) -> None:
    """Sales of the period (by order date): orders, net, VAT and gross, and what was
    cancelled, per day, flow or agent; or net and VAT per VAT rate (`--by vat`)."""
    from bridge import sales

    start, end = _day(since, "--since"), _day(until, "--until")
    ledger = open_config_ledger(load_config(ctx, secrets=False))
    try:
        facts = list(ledger.facts(["order", "cancel", "line"]))
    finally:
        ledger.close()
    columns, rows = sales.sales(facts, by, since=start, until=end)
    _emit(fmt, out, f"Sales by {by}", _period(start, end), columns, rows, total=False)
