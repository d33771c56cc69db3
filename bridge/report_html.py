"""The HTML summary of one file, for the person who must act on it.

It says what happened in words (a header that did not match is said as such, not as
"issues in 0 rows"), what to do next, the mistakes grouped (the same mistake in 300 rows is
one line with its count and first lines), in the sender's own column names, then the first
issues one by one. Every value comes from a file sent by somebody else: the template is
rendered with autoescaping on, whatever its name, and every text shown as
:func:`~bridge.display.printable` makes it (a right-to-left override would show
``gpj.exe`` as ``exe.jpg``).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.display import printable
from bridge.issues import CODES, MAX_ISSUES, NOTE_CODES, Issue, clip, count_by_code
from bridge.report import SHOWN_ISSUES, FileReport, _issue_order, report_names
from bridge.report_cells import CELL_LIMIT

if TYPE_CHECKING:
    import jinja2

    from bridge.spec.model import Tracciato

#: Lines of a grouped mistake named in the summary; the rest are counted.
FIRST_LINES = 5
#: Codes that mean the file's layout, not its rows, is wrong.
HEADER_CODES = frozenset({"bad-header", "extra-column", "too-many-columns", "empty-file",
                          "bad-encoding", "truncated-file"})


@dataclass(frozen=True)
class Group:
    """One mistake as many rows make it: code, where, how often, the first lines, an
    example value and the message of the first."""

    code: str
    where: str
    count: int
    lines: list[int]
    example: str | None
    message: str
    note: bool


def render(report: FileReport, tracciato: Tracciato | None = None) -> str:
    shown = [replace(i, value=clip(i.value, CELL_LIMIT),
                     message=clip(i.message, CELL_LIMIT) or "")
             for i in heapq.nsmallest(SHOWN_ISSUES, report.issues, key=_issue_order)]
    by_code = count_by_code(report.issues)
    notes = sum(n for code, n in by_code.items() if code in NOTE_CODES)
    titles = _titles(tracciato)
    return _environment().get_template("report.html").render(
        r=report,
        csv_name=report_names(report.source_name)[0],
        size_text=_size_text(report.size),
        when=report.when.isoformat(sep=" ", timespec="seconds") if report.when else None,
        total_rows=sum(report.rows.values()),
        codes=[(code, n, CODES.get(code, ""), code in NOTE_CODES) for code, n in by_code.items()],
        errors=len(report.issues) - notes,
        notes=notes,
        layout=sorted({i.code for i in report.issues} & HEADER_CODES),
        groups=grouped(report.issues, titles),
        shown=[(i, _where(i, titles)) for i in shown],
        more=len(report.issues) - len(shown),
        in_csv=min(len(report.issues), MAX_ISSUES),
        next_steps=next_steps(report),
    )


def grouped(issues: list[Issue], titles: dict[tuple[str, str], str]) -> list[Group]:
    """The issues grouped by code and field, the largest group first."""
    found: dict[tuple[str, str], list[Issue]] = defaultdict(list)
    for i in issues:
        found[(i.code, _where(i, titles))].append(i)
    groups = []
    for (code, where), members in found.items():
        lines = sorted(i.line for i in members if i.line is not None)
        first = min(members, key=_issue_order)
        groups.append(Group(code, where, len(members), lines[:FIRST_LINES],
                            clip(first.value, 200), clip(first.message, CELL_LIMIT) or "",
                            code in NOTE_CODES))
    return sorted(groups, key=lambda g: (g.note, -g.count, g.code, g.where))


def next_steps(report: FileReport) -> list[str]:
    """What a person does now, by outcome, in the words of bridge's commands."""
    name = report.source_name
    if report.outcome == "rejected" and any(i.code == "too-large-to-read-whole"
                                            for i in report.issues):
        return [f"Nothing of {name} was written to the ERP: the file waits in quarantine "
                "beside this report. Its rows were not checked: the file, or one group of its "
                "rows, would have to be held whole, past the flow's whole_max_bytes (the "
                "issue says why).",
                "If the rows of an order are apart in the file, or one order number runs "
                "through it: have the sender put it right and send it again (a new file is "
                "taken as new).",
                "Or, where the server has the memory: raise whole_max_bytes in bridge.yaml, "
                f"then 'bridge replay' the file ('bridge show {name}' gives its id)."]
    if report.outcome == "rejected":
        return [f"Nothing of {name} was written to the ERP: the file waits in quarantine "
                "beside this report.",
                f"If the rows are wrong: send the sender the issues file "
                f"({report_names(name)[0]}, the rows with their issues) and have the file sent "
                "again, corrected (a new file is taken as new).",
                "If the file is right and the layout is wrong: fix the tracciato (check it "
                f"with 'bridge check'), then 'bridge replay' the file ('bridge show {name}' "
                "gives its id)."]
    if report.outcome == "skipped-rows":
        steps = ["The rows without issues were written; the rows listed here (and the rest "
                 "of their groups) were left out."]
        if any(i.code == "operator-rejected" for i in report.issues):
            steps.append("The rows marked operator-rejected were refused by an operator who "
                         "approved the others: they were never written to the ERP "
                         f"('bridge show {name}' has the decision).")
        return [*steps, "Have the left-out rows sent again in a new file, corrected."]
    if report.outcome == "held":
        return [f"The file waits for a person: 'bridge pending' lists it; 'bridge approve "
                f"ID' lets it go on, 'bridge reject ID --reason TEXT' refuses it "
                f"('bridge show {name}' gives its id)."]
    return ["Nothing to do: the file went through."]


def _titles(t: Tracciato | None) -> dict[tuple[str, str], str]:
    """The sender's name of each (record, field): its column title in a delimited file."""
    if t is None or t.format != "delimited":
        return {}
    return {(rname, f.name): f.header for rname, rec in t.records.items()
            for f in rec.data_fields if f.header and f.header != f.name}


def _where(i: Issue, titles: dict[tuple[str, str], str]) -> str:
    """``record.field``, with the sender's column title when it has another name."""
    what = ".".join(p for p in (i.record, i.field) if p)
    title = titles.get((i.record or "", i.field or ""))
    return f'{what} (column "{title}")' if title else what


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        # Always on, whatever the template's name: every value shown comes from a file.
        autoescape=jinja2.select_autoescape(default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        # What steers a display (ESC, the bidirectional overrides) shown as an escape.
        finalize=lambda value: printable(value) if isinstance(value, str) else value,
    )
    env.filters["grouped"] = _grouped
    return env


def _grouped(n: int) -> str:
    return f"{n:,}"


def _size_text(size: int) -> str:
    units = ("bytes", "KB", "MB", "GB", "TB")
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    exact = f"{size:,} bytes"
    return exact if unit == 0 else f"{value:.1f} {units[unit]} ({exact})"
