"""`bridge check`: decode and validate one file, and say what is wrong with it.

The file streams through the codecs chunk by chunk, so a file of any size is checked in
bounded memory; only the issues are kept.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from bridge.display import defuse, json_text, printable
from bridge.issues import CODES, Issue, count_by_code

if TYPE_CHECKING:
    from bridge.spec.model import Tracciato

ISSUE_COLUMNS = ["line", "record", "field", "code", "value", "message"]


@dataclass
class CheckResult:
    path: str
    tracciato: str
    rows: Counter[str] = field(default_factory=Counter)
    issues: list[Issue] = field(default_factory=list)
    #: The first records of each type as typed values (``--show N``): a wrong scale or code
    #: page shows at once, where "clean" alone would hide it.
    records: dict[str, list[dict[str, object]]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.issues


class _Counted:
    """A file read for decoding, telling ``seen`` how many bytes each read took."""

    def __init__(self, stream: BinaryIO, seen: Callable[[int], None]) -> None:
        self.stream, self.seen = stream, seen

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.seen(len(data))
        return data


def check_file(path: Path, t: Tracciato, *, chunk_bytes: int | None = None,
               seen: Callable[[int], None] | None = None, show: int = 0) -> CheckResult:
    """Decode and validate ``path`` chunk by chunk; ``seen`` is told of the bytes read as
    they are read (for a progress bar; it may be called from the decoding thread); the
    first ``show`` records of each type are kept as typed values."""
    from bridge.codecs import DEFAULT_CHUNK, iter_decode
    from bridge.codecs.hints import EncodingHints
    from bridge.codecs.text import GroupTooLarge
    from bridge.config import WHOLE_MAX_BYTES

    result = CheckResult(str(path), t.name)
    hints = EncodingHints(t.encoding)
    with path.open("rb") as stream:
        source = stream if seen is None else _Counted(stream, seen)
        try:
            for part in iter_decode(source, t,  # type: ignore[arg-type]
                                    chunk_bytes=chunk_bytes or DEFAULT_CHUNK,
                                    group_max=max(WHOLE_MAX_BYTES, chunk_bytes or 0)):
                result.rows.update(part.counts)
                result.issues.extend(part.issues)
                result.issues.extend(hints.feed(part.tables))
                if show:
                    _keep_records(result.records, part.tables, show)
        except GroupTooLarge as exc:
            result.issues.append(Issue(
                "too-large-to-read-whole", f"{exc}: " + (
                    "one line, held at once" if exc.one_line else
                    "the rows of one group, held at once") + "; the check stops here (a flow "
                "would refuse the file unless its whole_max_bytes is raised)", line=exc.line))
    result.issues.sort(key=lambda i: -1 if i.line is None else i.line)  # stable: file first
    return result


def _keep_records(kept: dict[str, list[dict[str, object]]], tables: Mapping[str, Any],
                  show: int) -> None:
    import pyarrow as pa

    for name, df in tables.items():
        have = kept.setdefault(name, [])
        if len(have) < show and len(df):
            rows = pa.Table.from_pandas(df.head(show - len(have)),
                                        preserve_index=False).to_pylist()
            have.extend({"line": r.pop("_line", None),
                         **{k: v for k, v in r.items() if not k.startswith("_")}}
                        for r in rows)


def _cell(value: object) -> str:
    """A typed value as a person checks it: a decimal with its scale and sign, a date in
    ISO form, nothing for a missing value."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


#: Widest a column of ``--show`` gets on a terminal; longer values end with "…".
CELL_WIDTH = 30


def records_text(records: dict[str, list[dict[str, object]]], rows: Counter[str]) -> list[str]:
    out = []
    for name, recs in records.items():
        if not recs:
            continue
        out.append(f"{name}: the first {len(recs)} of {rows.get(name, len(recs))}")
        columns = list(recs[0])
        cells = [[_cell(r.get(c)) for c in columns] for r in recs]
        cells = [[c if len(c) <= CELL_WIDTH else c[:CELL_WIDTH - 1] + "…" for c in row]
                 for row in cells]
        widths = [max(len(columns[i]), *(len(row[i]) for row in cells))
                  for i in range(len(columns))]
        numeric = [all(isinstance(r.get(c), int | Decimal | float) or r.get(c) is None
                       for r in recs) for c in columns]

        def line(values: list[str], widths: list[int] = widths,
                 numeric: list[bool] = numeric) -> str:
            return "  " + "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num
                                    in zip(values, widths, numeric, strict=True)).rstrip()

        out.append(line(columns))
        out.extend(line(row) for row in cells)
    return out


def _json_records(records: dict[str, list[dict[str, object]]]) -> dict[str, object]:
    return {name: [{k: _cell(v) if isinstance(v, Decimal | date) else v
                    for k, v in r.items()} for r in recs] for name, recs in records.items()
            if recs}


#: Issues a text listing shows unless told otherwise (``--limit``): a screenful or two; the
#: rest are counted, and every one is in ``--format csv`` or ``json``.
TEXT_LIMIT = 100


def render(result: CheckResult, fmt: str, limit: int = TEXT_LIMIT) -> str:
    if fmt == "json":
        return json_text(json.dumps(
            {
                "file": result.path,
                "tracciato": result.tracciato,
                "clean": result.clean,
                "rows": dict(result.rows),
                "issues_by_code": count_by_code(result.issues),
                "issues": [i.as_dict() for i in result.issues],
                **({"records": _json_records(result.records)} if result.records else {}),
            },
            ensure_ascii=False,
            indent=2,
        ))
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(ISSUE_COLUMNS)
        for i in result.issues:
            # Read in a spreadsheet: every cell is defused (a message quotes the sender);
            # printed, so made printable first: click would drop some escape sequences
            # piped to a file and pass the others to a terminal.
            writer.writerow(["" if i.line is None else i.line,
                             *(defuse(None if v is None else printable(v))
                               for v in (i.record, i.field, i.code, i.value, i.message))])
        return buf.getvalue().rstrip("\n")
    return _text(result, limit)


def _text(result: CheckResult, limit: int) -> str:
    """For a terminal: the file's name and every value are the sender's, so each line is
    made printable whole."""
    return "\n".join(map(printable, _lines(result, limit)))


def _lines(result: CheckResult, limit: int) -> list[str]:
    """The file and its rows, the issues (the first ``limit``; 0: all), then the summary:
    last, where a terminal leaves it in sight."""
    # Record types the file does not hold are left out: a layout of many types reads better.
    rows = ", ".join(f"{n} {name}" for name, n in result.rows.items() if n) or "no rows"
    out = [f"{result.path} ({result.tracciato}): {rows}",
           *records_text(result.records, result.rows)]
    if result.clean:
        out.append("clean: no issues")
        return out
    shown = result.issues if limit <= 0 else result.issues[:limit]
    for i in shown:
        where = f"line {i.line}" if i.line is not None else "file"
        what = ".".join(p for p in (i.record, i.field) if p)
        value = f" [{i.value!r}]" if i.value is not None else ""
        out.append(f"  {where}: {i.code}: {what + ': ' if what else ''}{i.message}{value}")
    left = len(result.issues) - len(shown)
    if left:
        out.append(f"  ... and {left:,} more (--limit 0 lists them all; --format csv for a "
                   "spreadsheet)")
    by_code = count_by_code(result.issues)
    out.append(f"{len(result.issues)} issues: " +
               ", ".join(f"{n} {code}" for code, n in by_code.items()))
    return out


def codes_table() -> str:
    return "\n".join(f"{code:24} {meaning}" for code, meaning in CODES.items())
