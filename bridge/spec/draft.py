"""`bridge tracciati infer`: a first draft of a tracciato from a sample file.

What a person would look for first is guessed from the sample: the code page, the line
ends, the delimiter and the header (or, in fixed width, the record types and the field
boundaries, :mod:`bridge.spec.draft_fixed`), and per column a type in the Italian formats
(decimal comma and thousands dots, dd/mm/yyyy and yyyymmdd dates, partita IVA, codice
fiscale, codes with leading zeros that stay text). Every guess is written with a comment
that says so; the draft is then parsed and the sample checked with it, and what does not
hold is written at the top. The manual decides what a sample cannot tell: implied
decimals, signs, the code page of letters the sample lacks.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from bridge.errors import BridgeError

#: Bytes of the sample looked at: enough rows for the guesses, bounded for a big file.
SAMPLE_BYTES = 2 << 20
DELIMITERS = (";", ",", "\t", "|")
ACCENTED = set("àèéìòùáíóúâêîôûäëïöüçñÀÈÉÌÒÙ")
#: Characters cp850 text shows when read as cp1252 (and the other way): a wrong guess.
ODD = set("•—–…†‡ˆ‰Š‹ŒŽ''\"\"˜™š›œžŸ¦¨¯´¸░▒▓│┤╣║╗╝┐└┴┬├─┼╚╔╩╦╠═╬¤ÞþÐð")
DATE_FORMATS = ("%d/%m/%Y", "%Y-%m-%d", "%Y%m%d", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y")
DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S",
                    "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")
BOOLEANS = ({"true", "false"}, {"TRUE", "FALSE"}, {"yes", "no"}, {"si", "no"}, {"SI", "NO"},
            {"S", "N"}, {"Y", "N"})


class DraftError(BridgeError):
    """A sample no draft can be made from (empty, not text): exit 2, as for a wrong
    argument."""


@dataclass
class Column:
    """What the sample says of one field, and the comment that says how sure it is."""

    name: str
    keys: dict[str, object]
    guess: str = ""


@dataclass
class Text:
    encoding: str
    newline: str
    text: str
    notes: list[str] = field(default_factory=list)


def read_text(data: bytes) -> Text:
    """The sample as text, with the code page and line end guessed."""
    if not data.strip():
        raise DraftError("the sample is empty: nothing to guess from")
    head = data[:SAMPLE_BYTES]
    if b"\x00" in head:
        raise DraftError("the sample holds NUL bytes: it is not a text file (or it is "
                         "UTF-16, which bridge does not read)")
    if head.startswith(codecs.BOM_UTF8):
        enc, notes = "utf-8-sig", ["a UTF-8 byte-order mark opens the file"]
    else:
        enc, notes = _code_page(head)
    if len(data) > SAMPLE_BYTES:  # cut at the last line end, so no row is half read
        cut = max(head.rfind(b"\n"), head.rfind(b"\r"))
        head = head[:cut + 1] if cut > 0 else head
    text = head.decode(enc, "replace")
    crlf, lf, cr = text.count("\r\n"), text.count("\n"), text.count("\r")
    newline = "crlf" if crlf and crlf >= lf - crlf else ("cr" if cr > lf else "lf")
    return Text(enc, newline, text.lstrip("\ufeff"), notes)


def _code_page(data: bytes) -> tuple[str, list[str]]:
    if data.isascii():
        return "utf-8", ["only ASCII in the sample: UTF-8, cp1252 and cp850 read it alike, "
                         "so the manual decides (Italian ERPs often write cp1252 or cp850)"]
    try:
        data.decode("utf-8")
        return "utf-8", ["the bytes are valid UTF-8, accented letters included"]
    except UnicodeDecodeError:
        pass
    scores = {}
    for enc in ("cp1252", "cp850"):
        text = data.decode(enc, "replace")
        scores[enc] = sum(ch in ACCENTED for ch in text) - 3 * sum(ch in ODD for ch in text)
    best = max(scores, key=lambda e: (scores[e], e == "cp1252"))
    other = "cp850" if best == "cp1252" else "cp1252"
    return best, [f"not UTF-8; {best} reads more accented letters than {other} "
                  f"({scores[best]} against {scores[other]}): check the manual"]


def sniff(text: str) -> tuple[str, list[list[str]]]:
    """The delimiter whose rows have the same number of cells most often, and the rows."""
    lines = text.splitlines(keepends=True)[:2000]
    best: tuple[int, int, str] | None = None
    for d in DELIMITERS:
        rows = _rows("".join(lines[:200]), d)
        counts = Counter(len(r) for r in rows if r)
        if not counts:
            continue
        width, often = counts.most_common(1)[0]
        if width < 2:
            continue
        score = (often, width, d)
        if best is None or score[:2] > best[:2]:
            best = score
    if best is None:
        # One column (or a fixed-width file: the caller says so in the draft's comments).
        rows = [r for r in _rows("".join(lines), ",") if r]
        if not rows:
            raise DraftError("no row could be read: is it a fixed-width file? "
                             "(--fixed-width)")
        return ",", rows
    return best[2], [r for r in _rows("".join(lines), best[2]) if r]


def _rows(text: str, delimiter: str) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                               quotechar='"'))
    except csv.Error:
        return []


def field_name(title: str, taken: set[str], n: int) -> str:
    """A snake_case ASCII name for a header text, unique among ``taken``."""
    plain = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    name = re.sub(r"[^0-9a-zA-Z]+", "_", plain).strip("_").lower() or f"colonna_{n}"
    if name[0].isdigit():
        name = f"c_{name}"
    base, k = name, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def header_count(rows: list[list[str]]) -> int:
    """Rows of names before the data: 0, 1, or 2 when a second row of names follows the
    first (SAP Business One's import templates name each column twice)."""
    if not has_header(rows):
        return 0
    second = rows[1] if len(rows) >= 3 else []
    names = bool(second) and all(c.strip() and kind_of([c.strip()]) == "string" for c in second)
    if names and len(second) == len(rows[0]):
        data = rows[2:]
        for i in range(len(rows[1])):
            values = [r[i].strip() for r in data if i < len(r) and r[i].strip()]
            if values and kind_of(values) != "string":
                return 2  # a column of values under two rows of names
    return 1


def has_header(rows: list[list[str]]) -> bool:
    """A first row of distinct texts that are not values like those below it."""
    if len(rows) < 2:
        return False
    first = rows[0]
    if any(not c.strip() for c in first) or len(set(first)) != len(first):
        return False
    return not any(kind_of([c]) != "string" for c in first)


_INT = re.compile(r"[+-]?[0-9]+")
_DEC_DOT = re.compile(r"[+-]?[0-9]*\.[0-9]+")
_DEC_IT = re.compile(r"[+-]?[0-9]{1,3}(?:\.[0-9]{3})*,[0-9]+|[+-]?[0-9]+,[0-9]+")
_GROUPED_IT = re.compile(r"[+-]?[0-9]{1,3}(?:\.[0-9]{3})+(?:,[0-9]+)?")


def kind_of(values: list[str]) -> str:
    """The kind the values share: integer, decimal-dot, decimal-comma, date:FMT,
    datetime:FMT, boolean, partita_iva, codice_fiscale, code or string."""
    if not values:
        return "string"
    if all(_INT.fullmatch(v) for v in values):
        if all(len(v) == 11 for v in values) and _valid(values, "partita_iva"):
            return "partita_iva"
        if all(len(v) == 13 for v in values) and _valid(values, "ean13"):
            return "ean13"
        if any(len(v.lstrip("+-")) > 1 and v.lstrip("+-")[0] == "0" for v in values):
            if all(len(v) == 8 for v in values) and _dates(values, "%Y%m%d"):
                return "date:%Y%m%d"
            return "code"
        if all(len(v) == 8 for v in values) and _dates(values, "%Y%m%d"):
            return "date:%Y%m%d"
        return "integer" if all(len(v.lstrip("+-")) <= 18 for v in values) else "code"
    if all(_DEC_IT.fullmatch(v) or _GROUPED_IT.fullmatch(v) or _INT.fullmatch(v)
           for v in values) and any("," in v for v in values):
        return "decimal-comma"
    if all(_DEC_DOT.fullmatch(v) or _INT.fullmatch(v) for v in values):
        return "decimal-dot"
    for fmt in DATE_FORMATS:
        if _dates(values, fmt):
            return f"date:{fmt}"
    for fmt in DATETIME_FORMATS:
        if _dates(values, fmt):
            return f"datetime:{fmt}"
    if len(set(values)) <= 2 and any(set(values) <= pair for pair in BOOLEANS) \
            and len(values) > 1:
        return "boolean"
    if all(len(v) == 16 for v in values) and _valid(values, "codice_fiscale"):
        return "codice_fiscale"
    return "string"


def _dates(values: list[str], fmt: str) -> bool:
    for v in values:
        try:
            moment = datetime.strptime(v, fmt)
        except ValueError:
            return False
        if not 1900 <= moment.year <= 2100:
            return False
    return True


def _valid(values: list[str], kind: str) -> bool:
    """Every value a valid Italian identifier of this kind (check digit or letter)."""
    import pyarrow as pa

    from bridge.fields.bad import Collector
    from bridge.fields.italian import check_identifier
    from bridge.spec.model import FieldSpec

    arr = pa.array(values, pa.string())
    bad = check_identifier(arr, FieldSpec(name="x", type=kind), Collector(arr))
    return not bool(bad.any())
