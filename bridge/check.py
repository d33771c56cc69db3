"""`bridge check`: decode and validate one file, and say what is wrong with it.

The file streams through the codecs chunk by chunk, so a file of any size is checked in
bounded memory; only the issues are kept.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

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
               seen: Callable[[int], None] | None = None) -> CheckResult:
    """Decode and validate ``path`` chunk by chunk; ``seen`` is told of the bytes read as
    they are read (for a progress bar; it may be called from the decoding thread)."""
    from bridge.codecs import DEFAULT_CHUNK, iter_decode

    result = CheckResult(str(path), t.name)
    with path.open("rb") as stream:
        source = stream if seen is None else _Counted(stream, seen)
        for part in iter_decode(source, t,  # type: ignore[arg-type]
                                chunk_bytes=chunk_bytes or DEFAULT_CHUNK):
            result.rows.update(part.counts)
            result.issues.extend(part.issues)
    result.issues.sort(key=lambda i: -1 if i.line is None else i.line)  # stable: file first
    return result


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
            },
            ensure_ascii=False,
            indent=2,
        ))
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(ISSUE_COLUMNS)
        for i in result.issues:
            # Read in a spreadsheet: every cell is defused (a message quotes the sender).
            writer.writerow(["" if i.line is None else i.line,
                             *map(defuse, (i.record, i.field, i.code, i.value, i.message))])
        return buf.getvalue().rstrip("\n")
    return _text(result, limit)


def _text(result: CheckResult, limit: int) -> str:
    """For a terminal: the file's name and every value are the sender's, so each line is
    made printable whole."""
    return "\n".join(map(printable, _lines(result, limit)))


def _lines(result: CheckResult, limit: int) -> list[str]:
    """The file and its rows, the issues (the first ``limit``; 0: all), then the summary:
    last, where a terminal leaves it in sight."""
    rows = ", ".join(f"{n} {name}" for name, n in result.rows.items()) or "no rows"
    out = [f"{result.path} ({result.tracciato}): {rows}"]
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
