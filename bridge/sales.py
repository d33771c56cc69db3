"""Commission and sales reports from the business facts the ledger keeps (``facts:`` of a
flow): what management asks of the shop's data, from what bridge actually sent.

An order counts once, whatever the files that carried it (a replay sends the same order
again: the latest fact wins). A cancellation (``cancel``, causale A) reverses the whole
commission of its order; a credit note (causale N) the share of it that the refund is of
the order's gross amount, rounded half up to the cent. Money is exact (Decimal) throughout.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from bridge.display import defuse, printable
from bridge.ledger import Fact

CENT = Decimal("0.01")
ZERO = Decimal(0)


def _dec(data: dict[str, str], name: str) -> Decimal:
    text = data.get(name)
    return Decimal(text) if text not in (None, "") else ZERO


def _day(fact: Fact) -> date:
    text = fact.data.get("day")
    if text:
        return date.fromisoformat(text[:10])
    from datetime import datetime

    return datetime.fromtimestamp(fact.at).date()


def _within(fact: Fact, since: date | None, until: date | None) -> bool:
    day = _day(fact)
    return (since is None or day >= since) and (until is None or day < until)


def latest_orders(facts: Iterable[Fact]) -> dict[str, Fact]:
    """Each order's latest fact (a replayed file sends it again)."""
    orders: dict[str, Fact] = {}
    for f in facts:
        key = f.data.get("order")
        if key is not None:
            orders[key] = f
    return orders


@dataclass
class AgentLine:
    agent: str
    orders: int = 0
    base: Decimal = ZERO
    rates: set[str] = field(default_factory=set)
    commission: Decimal = ZERO
    reversed: Decimal = ZERO  # negative
    unknown: int = 0  # cancellations of orders the ledger has no fact of

    @property
    def rate(self) -> str:
        return next(iter(self.rates)) if len(self.rates) == 1 else "varie"

    @property
    def net(self) -> Decimal:
        return self.commission + self.reversed


def commissions(facts: list[Fact], *, since: date | None = None, until: date | None = None,
                agent: str | None = None) -> list[AgentLine]:
    """Per agent: the orders of the period and their commission, and the reversals of the
    period (cancellations and credit notes of orders of any period)."""
    orders = latest_orders(f for f in facts if f.kind == "order")
    lines: dict[str, AgentLine] = {}

    def line(name: str) -> AgentLine:
        return lines.setdefault(name, AgentLine(name))

    for f in orders.values():
        who = f.data.get("agent")
        if not who or (agent and who != agent) or not _within(f, since, until):
            continue
        a = line(who)
        a.orders += 1
        a.base += _dec(f.data, "base")
        a.commission += _dec(f.data, "commission")
        if f.data.get("rate"):
            a.rates.add(f.data["rate"])
    cancels = latest_orders(f for f in facts if f.kind == "cancel")
    for key, f in cancels.items():
        order = orders.get(key)
        # The commission goes back from the agent who earned it, the order's: the ERP's
        # customer may have another agent by the time of the refund.
        who = f.data.get("agent") if order is None else order.data.get("agent")
        if not who or (agent and who != agent) or not _within(f, since, until):
            continue
        if order is None:
            line(who).unknown += 1
            continue
        earned = _dec(order.data, "commission")
        if f.data.get("reason") == "N":
            gross = _dec(order.data, "gross")
            share = _dec(f.data, "gross") / gross if gross else Decimal(1)
            earned = (earned * min(share, Decimal(1))).quantize(CENT, rounding=ROUND_HALF_UP)
        line(who).reversed -= earned
    return sorted(lines.values(), key=lambda a: a.agent)


COMMISSION_COLUMNS = ["agent", "orders", "base", "rate", "commission", "reversals", "net"]


def commission_rows(lines: list[AgentLine]) -> list[list[str]]:
    rows = [[a.agent, str(a.orders), str(a.base), a.rate, str(a.commission), str(a.reversed),
             str(a.net)] for a in lines]
    if lines:
        rows.append(["total", str(sum(a.orders for a in lines)),
                     str(sum((a.base for a in lines), ZERO)), "",
                     str(sum((a.commission for a in lines), ZERO)),
                     str(sum((a.reversed for a in lines), ZERO)),
                     str(sum((a.net for a in lines), ZERO))])
    return rows


SALES_BY = ("day", "flow", "agent", "vat")


def sales(facts: list[Fact], by: str, *, since: date | None = None,
          until: date | None = None) -> tuple[list[str], list[list[str]]]:
    """Sales of the period grouped ``by`` day, flow or agent (orders, net, VAT, gross, and
    the gross cancelled), or by VAT rate (lines, net, VAT)."""
    orders = {k: f for k, f in latest_orders(f for f in facts if f.kind == "order").items()
              if _within(f, since, until)}
    if by == "vat":
        # A line names its order by number; the lines of each order's latest file count.
        latest_file = {f.data["number"]: f.file_id for f in orders.values()
                       if "number" in f.data}
        per: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
        for f in facts:
            if f.kind != "line" or latest_file.get(f.data.get("order", "")) != f.file_id:
                continue
            totals = per[f.data.get("rate", "")]
            totals[0] += 1
            totals[1] += _dec(f.data, "net")
            totals[2] += _dec(f.data, "vat")
        rows = [[rate, str(int(t[0])), str(t[1]), str(t[2])]
                for rate, t in sorted(per.items(), key=lambda kv: _rate_order(kv[0]))]
        return ["vat", "lines", "net", "vat_amount"], rows
    keyed: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO, ZERO, ZERO])

    def group(f: Fact) -> str:
        return {"day": _day(f).isoformat(), "flow": f.flow,
                "agent": f.data.get("agent") or "-"}[by]

    for f in orders.values():
        t = keyed[group(f)]
        t[0] += 1
        t[1] += _dec(f.data, "net")
        t[2] += _dec(f.data, "vat")
        t[3] += _dec(f.data, "gross")
    for f in latest_orders(f for f in facts if f.kind == "cancel").values():
        if _within(f, since, until):
            keyed[group(f)][4] -= _dec(f.data, "gross")
    rows = [[k, str(int(t[0])), str(t[1]), str(t[2]), str(t[3]), str(t[4])]
            for k, t in sorted(keyed.items())]
    return [by, "orders", "net", "vat", "gross", "cancelled"], rows


def _rate_order(rate: str) -> tuple[int, Decimal, str]:
    try:
        return (0, -Decimal(rate), rate)
    except ArithmeticError:
        return (1, ZERO, rate)


def as_text(columns: list[str], rows: list[list[str]]) -> str:
    """For a terminal: an agent's code or a rate came from a file, so every cell is shown
    printable (ESC as ``\\x1b``)."""
    if not rows:
        return "nothing recorded in the period"
    rows = [[printable(c) for c in r] for r in rows]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    numeric = [i > 0 and all(_is_number(r[i]) for r in rows) for i in range(len(columns))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric, strict=True)).rstrip()

    return "\n".join([line(columns), *(line(r) for r in rows)])


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return text == ""
    return True


def as_csv(columns: list[str], rows: list[list[str]]) -> str:
    """For a spreadsheet, and printed: every cell printable, then defused (a code that came
    from a file may start as a formula; a signed amount stays as it is)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows([defuse(printable(c)) for c in r] for r in rows)
    return buf.getvalue()


_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em}td.n{text-align:right}
tr:last-child td{font-weight:{{ 'bold' if total else 'normal' }}}</style></head>
<body><h1>{{ title }}</h1><p>{{ period }}</p>
{% if rows %}<table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
</thead><tbody>{% for r in rows %}<tr>{% for c in r %}<td{% if loop.index > 1 %} class="n"
{%- endif %}>{{ c }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{% else %}<p>Nothing recorded in the period.</p>{% endif %}</body></html>
"""


def as_html(title: str, period: str, columns: list[str], rows: list[list[str]],
            total: bool = False) -> str:
    from jinja2 import Environment

    # Escaped, and what steers a display (ESC, a right-to-left override) shown as escapes.
    env = Environment(autoescape=True,
                      finalize=lambda v: printable(v) if isinstance(v, str) else v)
    return env.from_string(_HTML).render(title=title, period=period, columns=columns,
                                         rows=rows, total=total)
