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


def as_text(rows: list[DayFlow]) -> str:
    head = ["day", "flow", "files in", "rows in", "done", "rows out", "rejected",
            "rows rej.", "held", "money in", "money out"]
    body = [[str(getattr(r, c)) for c in COLUMNS] for r in rows]
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


HTML = """<!doctype html>
<html lang="it"><head><meta charset="utf-8"><title>bridge: reconciliation</title>
<style>body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #bbb;padding:4px 8px}td.n{text-align:right}th{background:#eee}</style>
</head><body><h1>Reconciliation</h1><p>Made {{ made }}{% if flow %}, flow {{ flow }}{% endif %}.
</p>{% if rows %}<table><tr>{% for h in head %}<th>{{ h }}</th>{% endfor %}</tr>
{% for r in rows %}<tr>{% for c in columns %}<td{% if loop.index > 2 %} class="n"{% endif %}>
{{ r[c] }}</td>{% endfor %}</tr>{% endfor %}</table>{% else %}<p>No files in this period.</p>
{% endif %}</body></html>
"""


def as_html(rows: list[DayFlow], *, made: datetime, flow: str | None) -> str:
    from bridge.templating import environment

    template = environment(autoescape=True).from_string(HTML)
    return template.render(rows=[vars(r) for r in rows], columns=COLUMNS, head=COLUMNS,
                           made=made.strftime("%Y-%m-%d %H:%M"), flow=flow)


def write(rows: list[DayFlow], folder: Path, *, made: datetime, flow: str | None
          ) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stamp = made.strftime("%Y%m%d-%H%M%S")
    csv_path = folder / f"reconciliation-{stamp}.csv"
    html_path = folder / f"reconciliation-{stamp}.html"
    save_atomic(csv_path, as_csv(rows).encode("utf-8"))
    save_atomic(html_path, as_html(rows, made=made, flow=flow).encode("utf-8"))
    return csv_path, html_path
