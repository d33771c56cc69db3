"""`bridge report`: reconciliation per day and flow, from the ledger.

Files and rows received, written, rejected and held, and the money in and out (exact
decimals, as the flows' ``totals`` declare them): as a table on the terminal, and as CSV and
HTML files for the company's BI.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.atomic import save_atomic

if TYPE_CHECKING:
    from bridge.ledger import Ledger


@dataclass
class DayFlow:
    day: str
    flow: str
    files_in: int = 0
    rows_in: int = 0
    files_done: int = 0
    rows_out: int = 0
    files_rejected: int = 0
    rows_rejected: int = 0
    files_held: int = 0
    money_in: Decimal = Decimal(0)
    money_out: Decimal = Decimal(0)


COLUMNS = [f.name for f in fields(DayFlow)]


def reconcile(ledger: Ledger, *, since: float | None = None, flow: str | None = None
              ) -> list[DayFlow]:
    table: dict[tuple[str, str], DayFlow] = {}
    for f in ledger.files(flow=flow, since=since):
        if f.replay_of is not None or f.state == "duplicate":
            continue
        day = datetime.fromtimestamp(f.created).strftime("%Y-%m-%d")
        row = table.setdefault((day, f.flow), DayFlow(day, f.flow))
        fig = ledger.figures(f.id)
        row.files_in += 1
        row.rows_in += fig.rows_in or 0
        row.money_in += fig.money_in or 0
        if f.state == "done":
            row.files_done += 1
            row.rows_out += fig.rows_out or 0
            row.money_out += fig.money_out or 0
        elif f.state == "rejected":
            row.files_rejected += 1
            row.rows_rejected += fig.rows_in or 0
        elif f.state == "held":
            row.files_held += 1
    return [table[k] for k in sorted(table)]


def as_text(rows: list[DayFlow], configured: dict[str, tuple[bool, bool]] | None = None
            ) -> str:
    head = ["day", "flow", "files in", "rows in", "done", "rows out", "rejected",
            "rows rej.", "held", "money in", "money out"]
    body = [[money_shown(r, configured).get(c, str(getattr(r, c))) if configured is not None
             else str(getattr(r, c)) for c in COLUMNS] for r in rows]
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=False)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    out = [line(head), "  ".join("-" * w for w in widths)] + [line(b) for b in body]
    return "\n".join(out) if rows else "no files in this period"


def as_csv(rows: list[DayFlow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(COLUMNS)
    for r in rows:
        w.writerow([getattr(r, c) for c in COLUMNS])
    return buf.getvalue()


#: The columns as a person reads them (the CSV and JSON keep the field names).
TITLES = {"day": "Day", "flow": "Flow", "files_in": "Files received",
          "rows_in": "Rows received", "files_done": "Files written", "rows_out": "Rows written",
          "files_rejected": "Files rejected", "rows_rejected": "Rows in rejected files",
          "files_held": "Files held", "money_in": "Money received",
          "money_out": "Money written"}
NOT_CONFIGURED = "not configured"

HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bridge: reconciliation {{ period }}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#1d1d1f}
table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:4px 8px}
td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#eee;text-align:left}
tr.rejected td{background:#fdecec}tr.held td{background:#fff6e0}.muted{color:#888}</style>
</head><body><h1>Reconciliation, {{ period }}</h1>
<p>Made {{ made }}{% if flow %}, flow {{ flow }}{% endif %}. Rows with a rejected file are red,
rows with a held file yellow. Money is summed where a flow declares <code>totals</code>;
elsewhere it says "not configured".</p>
{% if rows %}<table><tr>{% for h in head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r, money in rows %}<tr class="{{ 'rejected' if r.files_rejected else
  'held' if r.files_held else '' }}">{% for c in columns %}{% if c in money %}
<td class="n muted">{{ money[c] }}</td>{% else %}<td{% if loop.index > 2 %} class="n"{% endif %}>
{{ r[c] }}</td>{% endif %}{% endfor %}</tr>{% endfor %}</table>
{% else %}<p>No files in this period.</p>{% endif %}</body></html>
"""


def period(rows: list[DayFlow], since: str | None) -> str:
    """The days the report covers, in words."""
    if not rows:
        return f"since {since}" if since else "all days"
    first, last = rows[0].day, rows[-1].day
    start = since or first
    return start if start == last else f"{start} to {last}"


def money_shown(row: DayFlow, configured: dict[str, tuple[bool, bool]]) -> dict[str, str]:
    """The money cells of a row that say "not configured" instead of a 0 nobody summed."""
    has_in, has_out = configured.get(row.flow, (False, False))
    return {**({} if has_in else {"money_in": NOT_CONFIGURED}),
            **({} if has_out else {"money_out": NOT_CONFIGURED})}


def as_html(rows: list[DayFlow], *, made: datetime, flow: str | None,
            configured: dict[str, tuple[bool, bool]], since: str | None = None) -> str:
    from bridge.templating import environment

    template = environment(autoescape=True).from_string(HTML)
    return template.render(rows=[(vars(r), money_shown(r, configured)) for r in rows],
                           columns=COLUMNS, head=[TITLES[c] for c in COLUMNS],
                           made=made.strftime("%Y-%m-%d %H:%M"), flow=flow,
                           period=period(rows, since))


def as_json(rows: list[DayFlow], configured: dict[str, tuple[bool, bool]]) -> str:
    """The rows as JSON: money as exact decimal strings, or null where not configured."""
    import json

    out = []
    for r in rows:
        line: dict[str, object] = {c: getattr(r, c) for c in COLUMNS}
        for c in ("money_in", "money_out"):
            line[c] = None if c in money_shown(r, configured) else str(line[c])
        out.append(line)
    return json.dumps({"rows": out}, indent=2)


def save(text: str, path: Path) -> Path:
    """Write one report file whole (atomically) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_atomic(path, text.encode("utf-8"))
