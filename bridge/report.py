"""Reports on one file: the rejected rows as CSV, and a summary as HTML.

When a file is rejected it goes to quarantine untouched, and two files are written beside
it: ``NAME.issues.csv`` holds the issues with the sender's own cells of the row each is
about, so the sender can fix the rows and send them again; ``NAME.report.html`` is the
summary an operator reads (or prints) first.

Both are bounded whatever the file holds: the CSV lists at most ``MAX_ISSUES`` issues in at
most ``MAX_CSV_BYTES`` (a cell longer than ``CELL_LIMIT`` characters is cut, with a mark),
its last row saying how many issues were left out; the HTML lists ``SHOWN_ISSUES``.

Every value shown comes from a file sent by somebody else and is treated as hostile: the
HTML is rendered with autoescaping on, and CSV cells that a spreadsheet would run as a
formula are defused, their bidirectional controls written as escapes. jinja2 loads only
when a report is rendered, never for ``--help``.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from bridge.atomic import save_atomic
from bridge.config import WHOLE_MAX_BYTES
from bridge.display import defuse_cells
from bridge.errors import DataError
from bridge.issues import MAX_ISSUES, Issue
from bridge.report_cells import (
    Found,
    RawRows,
    _clipped,
    _each_cell,
    sender_columns,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from bridge.spec.model import Tracciato

#: Issues listed one by one in the HTML; the CSV holds up to ``MAX_ISSUES``.
SHOWN_ISSUES = 500
#: The most bytes an issues CSV takes: an 11 MB file with a bad cell in every column made
#: 400 MB of CSV, as each issue repeats its row.
MAX_CSV_BYTES = 50 << 20
#: Issues turned into CSV rows at a time, to stop at the byte limit without making more.
_PIECE = 256
#: The issue columns of the CSV, before the sender's own columns.
ISSUE_COLUMNS = ("line", "record", "code", "field", "value", "message")
#: Bytes of the source split at a time when looking for the rows with issues: a flow's own
#: chunk, so that the report of a large file holds no more than its reading did.
_CHUNK_BYTES = 5 << 20
#: The bytes of one group held at most while looking for the bad rows' cells: a file of one
#: endless group shows its issues, not its cells.
_GROUP_MAX = WHOLE_MAX_BYTES
OUTCOMES = ("rejected", "held", "done", "skipped-rows")



@dataclass
class FileReport:
    """What happened to one file: enough to write both reports, nothing read from disk."""

    flow: str
    source_name: str
    size: int
    sha256: str
    outcome: str  # one of OUTCOMES
    rows: dict[str, int]  # rows per record type
    issues: list[Issue]
    outputs: list[tuple[str, int, str]] = field(default_factory=list)  # (name, rows, sha256)
    when: datetime | None = None  # given by the caller: this module never reads the clock

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {self.outcome!r} (one of {', '.join(OUTCOMES)})")


def report_names(source_name: str) -> tuple[str, str]:
    """The names of the CSV and HTML reports of a file, without any folder of the sender's."""
    base = _base_name(source_name)
    return f"{base}.issues.csv", f"{base}.report.html"


def write_reports(
    folder: Path, report: FileReport, source: bytes | BinaryIO, tracciato: Tracciato,
    rows: RawRows | None = None,
) -> tuple[Path, Path]:
    """Write ``NAME.issues.csv`` and ``NAME.report.html`` into ``folder``; their paths.
    ``rows``: the rows with issues, gathered while the file was read (see
    :func:`rejected_rows_csv`).

    Each file appears whole or not at all: it is written under a temporary name in the
    same folder, flushed to disk, then renamed over the final name.
    """
    csv_name, html_name = report_names(report.source_name)
    csv_path = save_atomic(folder / csv_name,
                           rejected_rows_csv(report, source, tracciato, rows=rows))
    html_path = save_atomic(folder / html_name,
                            render_html(report, tracciato).encode("utf-8"))
    return csv_path, html_path


def rejected_rows_csv(report: FileReport, source: bytes | BinaryIO, tracciato: Tracciato, *,
                      max_issues: int = MAX_ISSUES, max_bytes: int = MAX_CSV_BYTES,
                      rows: RawRows | None = None) -> bytes:
    """One CSV row per issue: the issue, then the row's raw cells in the sender's columns.

    UTF-8 with a BOM (so Excel guesses the encoding right), ``,``-separated, quoted only
    where needed, LF. File-level issues come first with empty cells, then by line; issues
    on the same line keep the order they were found in. Built column by column with
    pyarrow, so many issues cost no Python work per cell. At most the first ``max_issues``
    issues, in at most ``max_bytes`` bytes: a last row says how many were left out.

    The rows are those of ``rows`` (gathered while the file was read) when it holds a row
    on each line the listed issues name; else the source is split again to find them.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    headers, _ = sender_columns(tracciato)
    ordered = _first(report.issues, max_issues)
    lines = np.array([-1 if i.line is None else i.line for i in ordered], dtype=np.int64)
    wanted = np.unique(lines[lines >= 0])
    if not len(wanted):
        found = Found.empty(len(headers))
    elif rows is not None and rows.has(wanted):
        found = rows.found()
    else:
        found = _rows_at(source, tracciato, wanted)
    at = found.index_of(lines)
    take = pa.array(at, mask=at < 0)
    # Every cell is defused, the sender's and bridge's alike: a message quotes the sender.
    columns = [
        pa.array(lines, mask=lines < 0).cast(pa.string()),
        defuse_cells(pc.coalesce(pa.array([i.record for i in ordered], pa.string()),
                                 found.records.take(take))),
        defuse_cells(pa.array([i.code for i in ordered], pa.string())),
        defuse_cells(pa.array([i.field for i in ordered], pa.string())),
        defuse_cells(pa.array([i.value for i in ordered], pa.string())),
        defuse_cells(pa.array([i.message for i in ordered], pa.string())),
        *(cells.take(take) for cells in found.columns),
    ]
    head = _csv_text([defuse_cells(pa.array([h], pa.string()))
                      for h in (*ISSUE_COLUMNS, *headers)])
    return _bounded(head, columns, len(report.issues) - len(ordered), max_issues, max_bytes)


def _rows_at(source: bytes | BinaryIO, t: Tracciato, wanted: np.ndarray) -> Found:
    """The raw cells of the rows starting on the ``wanted`` lines.

    The file (its bytes, or a stream of them) is split again chunk by chunk and only the
    wanted rows are kept, so memory follows the number of issues, not the size of the
    file. A file that cannot be split at all yields no rows: its issues are still listed,
    with empty cells; nor do the rows from a group larger than ``_GROUP_MAX`` on.
    """
    from bridge.codecs.split import split

    rows = RawRows(t)
    try:
        for chunk in split(source, t, chunk_bytes=_CHUNK_BYTES, group_max=_GROUP_MAX):
            rows.feed(chunk, wanted)
    except DataError:
        pass
    return rows.found()


def render_html(report: FileReport, tracciato: Tracciato | None = None) -> str:
    """The HTML summary of one file (see :mod:`bridge.report_html`)."""
    from bridge.report_html import render

    return render(report, tracciato)


# -- CSV ---------------------------------------------------------------------------------


def _issue_order(issue: Issue) -> tuple[int, int]:
    return (0, 0) if issue.line is None else (1, issue.line)


def _first(issues: list[Issue], limit: int) -> list[Issue]:
    """The issues of the whole file, then the first ``limit`` issues of rows, in order.

    Issues of the whole file are few, and one may be the count of those a decode left out.
    """
    whole = [i for i in issues if i.line is None]
    return whole + heapq.nsmallest(limit, (i for i in issues if i.line is not None),
                                   key=_issue_order)


def _bounded(head: str, columns: list[pa.Array], left: int, max_issues: int,
             max_bytes: int) -> bytes:
    """The CSV's bytes: the header, the rows that fit in ``max_bytes``, then (when any issue
    was left out) a last row saying how many."""
    # Room is kept for the last row, with a count longer than any file's.
    last = _last_row(10**15, max_issues, max_bytes, len(columns))
    room = max_bytes - len(_BOM) - len(_csv_text([_as_cells(c) for c in last]).encode())
    out = [_BOM, head.encode("utf-8")]
    size = sum(map(len, out))
    done, total = 0, len(columns[0]) if columns else 0
    while done < total and size <= room:
        piece = _each_cell([c.slice(done, _PIECE) for c in columns], _clipped)
        for row in _csv_rows(piece):
            data = row.encode("utf-8")
            size += len(data)
            if size > room:
                break
            out.append(data)
            done += 1
    left += total - done
    if left:
        tail = _last_row(left, max_issues, max_bytes, len(columns))
        out.append(_csv_text([_as_cells(c) for c in tail]).encode("utf-8"))
    return b"".join(out)


_BOM = b"\xef\xbb\xbf"


def _last_row(left: int, max_issues: int, max_bytes: int, width: int) -> list[str | None]:
    message = (f"{left:,} more issues are left out: this file lists at most {max_issues:,} "
               f"issues in at most {max_bytes:,} bytes")
    return [None, None, "too-many-issues", None, str(left), message] + [None] * (width - 6)


def _as_cells(value: str | None) -> pa.Array:
    import pyarrow as pa

    return pa.array([value], pa.string())


def _csv_text(columns: list[pa.Array]) -> str:
    """Rows of CSV text from equal-length columns: RFC 4180 quoting, LF after each row."""
    return "".join(_csv_rows(columns))


def _csv_rows(columns: list[pa.Array]) -> list[str]:
    """Each row of CSV text of equal-length columns, with its LF."""
    import pyarrow.compute as pc

    if not columns:
        return []
    rows: list[str] = pc.binary_join_element_wise(*_each_cell(columns, _quoted), ",").to_pylist()
    return [row + "\n" for row in rows]


def _quoted(cells: pa.Array) -> pa.Array:
    """Each cell as a CSV field: quoted (its quotes doubled) where it must be."""
    import pyarrow.compute as pc

    text = pc.fill_null(cells, "")
    # A lone CR must be quoted too: Python's csv module would leave it bare.
    needs = pc.match_substring_regex(text, '[,"\r\n]')
    wrapped = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(needs, wrapped, text)


def _base_name(name: str) -> str:
    # A sender's file name may carry folders, or Windows ones: only its last part is ours.
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base if base not in ("", ".", "..") else "file"
