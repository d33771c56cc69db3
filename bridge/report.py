"""Reports on one file: the rejected rows as CSV, and a summary as HTML.

When a file is rejected it goes to quarantine untouched, and two files are written beside
it: ``NAME.issues.csv`` holds every issue with the sender's own cells of the row it is
about, so the sender can fix the rows and send them again; ``NAME.report.html`` is the
summary an operator reads (or prints) first.

Every value shown comes from a file sent by somebody else and is treated as hostile: the
HTML is rendered with autoescaping on, and CSV cells that a spreadsheet would run as a
formula are defused. jinja2 loads only when a report is rendered, never for ``--help``.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.atomic import save_atomic
from bridge.errors import DataError
from bridge.issues import CODES, NOTE_CODES, Issue, count_by_code

if TYPE_CHECKING:
    import jinja2
    import numpy as np
    import pyarrow as pa

    from bridge.spec.model import Tracciato

#: Issues listed one by one in the HTML; the CSV holds them all.
SHOWN_ISSUES = 500
#: The issue columns of the CSV, before the sender's own columns.
ISSUE_COLUMNS = ("line", "record", "code", "field", "value", "message")
#: Bytes of the source split at a time when looking for the rows with issues.
_CHUNK_BYTES = 32 << 20
OUTCOMES = ("rejected", "held", "done", "skipped-rows")

# A spreadsheet runs a cell starting with = @ + - (or tab, CR) as a formula. Signed numbers
# are data, not formulas, so they stay as they are. (pyarrow's RE2 has no lookahead.)
_FORMULA = r"^[=@+\t\r-]"
_SIGNED_NUMBER = r"^[+-][0-9][0-9.,]*$"


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
    folder: Path, report: FileReport, source: bytes, tracciato: Tracciato
) -> tuple[Path, Path]:
    """Write ``NAME.issues.csv`` and ``NAME.report.html`` into ``folder``; their paths.

    Each file appears whole or not at all: it is written under a temporary name in the
    same folder, flushed to disk, then renamed over the final name.
    """
    csv_name, html_name = report_names(report.source_name)
    csv_path = save_atomic(folder / csv_name, rejected_rows_csv(report, source, tracciato))
    html_path = save_atomic(folder / html_name, render_html(report).encode("utf-8"))
    return csv_path, html_path


def rejected_rows_csv(report: FileReport, source: bytes, tracciato: Tracciato) -> bytes:
    """One CSV row per issue: the issue, then the row's raw cells in the sender's columns.

    UTF-8 with a BOM (so Excel guesses the encoding right), ``,``-separated, quoted only
    where needed, LF. File-level issues come first with empty cells, then by line; issues
    on the same line keep the order they were found in. Built column by column with
    pyarrow, so a file with a million issues costs no Python work per cell.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    headers, where = _sender_columns(tracciato)
    ordered = sorted(report.issues, key=_issue_order)
    lines = np.array([-1 if i.line is None else i.line for i in ordered], dtype=np.int64)
    wanted = np.unique(lines[lines >= 0])
    found = (_rows_at(source, tracciato, wanted, where, len(headers)) if len(wanted)
             else _Found.empty(len(headers)))
    at = found.index_of(lines)
    take = pa.array(at, mask=at < 0)
    columns = [
        pa.array(lines, mask=lines < 0).cast(pa.string()),
        pc.coalesce(pa.array([i.record for i in ordered], pa.string()), found.records.take(take)),
        pa.array([i.code for i in ordered], pa.string()),
        pa.array([i.field for i in ordered], pa.string()),
        _defused(pa.array([i.value for i in ordered], pa.string())),
        _defused(pa.array([i.message for i in ordered], pa.string())),
        *(cells.take(take) for cells in found.columns),
    ]
    head = _csv_text([pa.array([h], pa.string()) for h in (*ISSUE_COLUMNS, *headers)])
    return b"\xef\xbb\xbf" + (head + _csv_text(columns)).encode("utf-8")


def render_html(report: FileReport) -> str:
    """The HTML summary of one file: self-contained, escaped, readable when printed."""
    shown = heapq.nsmallest(SHOWN_ISSUES, report.issues, key=_issue_order)
    by_code = count_by_code(report.issues)
    notes = sum(n for code, n in by_code.items() if code in NOTE_CODES)
    return _environment().get_template("report.html").render(
        r=report,
        csv_name=report_names(report.source_name)[0],
        size_text=_size_text(report.size),
        when=report.when.isoformat(sep=" ", timespec="seconds") if report.when else None,
        total_rows=sum(report.rows.values()),
        codes=[(code, n, CODES.get(code, ""), code in NOTE_CODES) for code, n in by_code.items()],
        errors=len(report.issues) - notes,
        notes=notes,
        shown=shown,
        more=len(report.issues) - len(shown),
    )


# -- CSV ---------------------------------------------------------------------------------


def _issue_order(issue: Issue) -> tuple[int, int]:
    return (0, 0) if issue.line is None else (1, issue.line)


def _sender_columns(t: Tracciato) -> tuple[list[str], dict[tuple[str, str], int]]:
    """The sender's column titles, and where each record's field goes among them.

    With several record types, the columns are the union of their fields in tracciato
    order; fields with the same title share one column.
    """
    headers: list[str] = []
    index: dict[str, int] = {}
    where: dict[tuple[str, str], int] = {}
    for rname, rec in t.records.items():
        for f in rec.data_fields:
            title = f.header if t.format == "delimited" else f.name
            if title not in index:
                index[title] = len(headers)
                headers.append(title)
            where[(rname, f.name)] = index[title]
    return headers, where


@dataclass
class _Found:
    """The sender's rows that have issues: their lines (sorted), record types and cells."""

    lines: np.ndarray
    records: pa.Array
    columns: list[pa.Array]  # one per sender column, already defused, "" where absent

    @classmethod
    def empty(cls, width: int) -> _Found:
        import numpy as np
        import pyarrow as pa

        return cls(np.empty(0, np.int64), pa.array([], pa.string()),
                   [pa.array([], pa.string())] * width)

    def index_of(self, lines: np.ndarray) -> np.ndarray:
        """For each line, the index of its row here, or -1 when no row starts there."""
        import numpy as np

        if not len(self.lines):
            return np.full(len(lines), -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.lines, lines), len(self.lines) - 1)
        hit = (self.lines[pos] == lines) & (lines >= 0)
        return np.where(hit, pos, -1).astype(np.int64)


def _rows_at(
    source: bytes,
    t: Tracciato,
    wanted: np.ndarray,
    where: dict[tuple[str, str], int],
    width: int,
) -> _Found:
    """The raw cells of the rows starting on the ``wanted`` lines.

    The file is split again chunk by chunk and only the wanted rows are kept, so memory
    follows the number of issues, not the size of the file. A file that cannot be split
    at all yields no rows: its issues are still listed, with empty cells.
    """
    import numpy as np
    import pyarrow as pa

    from bridge.codecs.split import split

    lines: list[np.ndarray] = []
    records: list[pa.Array] = []
    columns: list[list[pa.Array]] = [[] for _ in range(width)]
    try:
        for chunk in split(source, t, chunk_bytes=_CHUNK_BYTES):
            for rname, raw in chunk.tables.items():
                at = np.asarray(raw.lines, dtype=np.int64)
                picked = np.flatnonzero(np.isin(at, wanted))
                if not len(picked):
                    continue
                take = pa.array(picked)
                lines.append(at[picked])
                records.append(pa.repeat(pa.scalar(rname, pa.string()), len(picked)))
                got = {where[(rname, f)]: c for f, c in raw.columns.items() if (rname, f) in where}
                for col in range(width):
                    cells = got.get(col)
                    columns[col].append(pa.nulls(len(picked), pa.string()) if cells is None
                                        else _plain(cells.take(take)))
    except DataError:
        pass
    if not lines:
        return _Found.empty(width)
    all_lines = np.concatenate(lines)
    order = pa.array(np.argsort(all_lines, kind="stable"))
    return _Found(
        all_lines[order.to_numpy()],
        pa.concat_arrays(records).take(order),
        [_defused(pa.concat_arrays(c).take(order)) for c in columns],
    )


def _plain(cells: pa.Array | pa.ChunkedArray) -> pa.Array:
    import pyarrow as pa

    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    return cells.cast(pa.string())


def _defused(cells: pa.Array) -> pa.Array:
    """The cells as text (null as empty), with a ``'`` before any would-be formula."""
    import pyarrow.compute as pc

    text = pc.fill_null(cells, "")
    risky = pc.and_(pc.match_substring_regex(text, _FORMULA),
                    pc.invert(pc.match_substring_regex(text, _SIGNED_NUMBER)))
    return pc.if_else(risky, pc.binary_join_element_wise("'", text, ""), text)


def _csv_text(columns: list[pa.Array]) -> str:
    """Rows of CSV text from equal-length columns: RFC 4180 quoting, LF after each row."""
    import pyarrow.compute as pc

    quoted = []
    for col in columns:
        text = pc.fill_null(col, "")
        # A lone CR must be quoted too: Python's csv module would leave it bare.
        needs = pc.match_substring_regex(text, '[,"\r\n]')
        wrapped = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
        quoted.append(pc.if_else(needs, wrapped, text))
    rows: list[str] = pc.binary_join_element_wise(*quoted, ",").to_pylist()
    return "".join(row + "\n" for row in rows)


def _base_name(name: str) -> str:
    # A sender's file name may carry folders, or Windows ones: only its last part is ours.
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base if base not in ("", ".", "..") else "file"




# -- HTML --------------------------------------------------------------------------------


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
