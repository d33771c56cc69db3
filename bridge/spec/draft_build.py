"""The draft of a tracciato as YAML text with a comment on every guess, and its check.

:func:`draft` is what `bridge tracciati infer` prints: the layout guessed from the sample
(:mod:`bridge.spec.draft`, :mod:`bridge.spec.draft_fixed`), written by hand rather than
dumped, so that each key carries the reason it was guessed; then parsed and the sample
checked with it. What does not hold is said at the top, and returned, so the command can
warn: a draft is a start, never a layout to trust unread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from bridge.spec.draft import Column, Text, field_name, header_count, kind_of, read_text, sniff

#: Issues named at the top of a draft that does not check its sample clean.
SHOWN_ISSUES = 5


@dataclass
class Draft:
    text: str
    problems: list[str] = field(default_factory=list)


def yaml_text(value: object) -> str:
    """A scalar as YAML, quoted unless it is plainly safe."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    text = str(value)
    if text and text.replace("_", "").isalnum() and text.isascii() and not text[0].isdigit() \
            and text.lower() not in ("true", "false", "null", "yes", "no", "on", "off"):
        return text
    return "'" + text.replace("'", "''") + "'"


def delimited_columns(rows: list[list[str]], heads: int) -> tuple[list[Column], int]:
    """The columns of a delimited sample, typed, and the number of data rows; ``heads``:
    the rows of names before the data (names taken from the first)."""
    width = _most_common([len(r) for r in rows])
    header = bool(heads) and len(rows[0]) == width  # as many names as the rows' cells
    titles = rows[0] if header else [f"colonna {i + 1}" for i in range(width)]
    data = [r for r in rows[heads if header else 0:] if len(r) == width]
    taken: set[str] = set()
    out = []
    for i in range(width):
        title = titles[i] if i < len(titles) else f"colonna {i + 1}"
        name = field_name(title, taken, i + 1)
        values = [r[i] for r in data]
        present = [v.strip() for v in values if v.strip()]
        keys: dict[str, object] = {"name": name}
        if header and title != name:
            keys["column"] = title
        if not header:
            keys["index"] = i + 1
        guess = _type(keys, present)
        if not present:
            guess = "always empty in the sample: text, until the manual says otherwise"
        elif len(present) == len(values) and len(values) >= 2:
            keys["required"] = True
            guess += "; never empty in the sample, so required"
        out.append(Column(name, keys, guess))
    return out, len(data)


def _most_common(values: list[int]) -> int:
    from collections import Counter

    return Counter(values).most_common(1)[0][0] if values else 0


def _type(keys: dict[str, object], values: list[str]) -> str:
    kind = kind_of(values)
    longest = max((len(v) for v in values), default=0)
    if kind == "integer":
        keys["type"] = "integer"
        return "whole numbers in every row"
    if kind in ("decimal-comma", "decimal-dot"):
        sep = "," if kind == "decimal-comma" else "."
        scale = max((len(v.rpartition(sep)[2]) for v in values if sep in v), default=0)
        keys.update(type="decimal", scale=max(scale, 2) if scale else 2)
        if sep == ",":
            keys["decimal_separator"] = ","
            if any("." in v for v in values):
                keys["thousands_separator"] = "."
        return (f"numbers with {sep!r} before the decimals (at most {scale} of them seen)"
                + (", '.' between thousands" if "thousands_separator" in keys else ""))
    if kind.startswith(("date:", "datetime:")):
        what, _, fmt = kind.partition(":")
        keys.update(type=what, format=fmt)
        return f"every value is a {what} written {fmt}"
    if kind == "boolean":
        from bridge.spec.draft import BOOLEANS

        pair = next(p for p in BOOLEANS if set(values) <= p)
        true = next(w for w in sorted(pair) if w.lower() in ("true", "yes", "si", "s", "y"))
        false = next(w for w in pair if w != true)
        keys.update(type="boolean", true_values=[true], false_values=[false])
        return f"two words only: {true} or {false}"
    if kind in ("partita_iva", "codice_fiscale", "ean13"):
        keys["type"] = kind
        what = {"ean13": "EAN-13 barcode"}.get(kind, kind.replace("_", " "))
        return f"every value is a valid {what} (check digit verified)"
    if kind == "code":
        return "digits with leading zeros: a code, kept as text so the zeros stay"
    return (f"text; the longest value seen has {longest} characters (a sample is no limit: "
            "add max_length from the manual)")


def render(t: Text, head: list[str], top: dict[str, object], records: list[tuple[str,
           dict[str, object], list[Column]]], after: list[str] | None = None) -> str:
    """The YAML text: header comments, top-level keys, records and their fields."""
    out = [f"# {line}" for line in head]
    for key, value in top.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {yaml_text(v)}" for k, v in value.items())
            out.append(f"{key}: {{{inner}}}")
        else:
            out.append(f"{key}: {yaml_text(value)}")
    out.append("records:")
    for name, rec, columns in records:
        out.append(f"  {name}:")
        for k, v in rec.items():
            if k.startswith("#"):
                out.append(f"    # {v}")
            elif isinstance(v, list):
                out.append(f"    {k}: [{', '.join(yaml_text(x) for x in v)}]")
            else:
                out.append(f"    {k}: {yaml_text(v)}")
        out.append("    fields:")
        for c in columns:
            if c.guess:
                out.append(f"      # {c.guess}")
            parts = []
            for k, v in c.keys.items():
                if isinstance(v, list):
                    parts.append(f"{k}: [{', '.join(yaml_text(x) for x in v)}]")
                else:
                    parts.append(f"{k}: {yaml_text(v)}")
            out.append("      - {" + ", ".join(parts) + "}")
    out += after or []
    return "\n".join(out) + "\n"


def draft(sample: Path, *, fixed: bool = False, name: str | None = None) -> Draft:
    """The draft tracciato of ``sample`` as YAML text, checked against the sample."""
    data = sample.read_bytes()
    t = read_text(data)
    head = [f"Draft of a tracciato, guessed by `bridge tracciati infer` from {sample.name}.",
            "Every guess has a comment: check each against the ERP's manual (implied",
            "decimals, signs, code page) before the first real file.",
            f"encoding {t.encoding}: {'; '.join(t.notes)}",
            f"newline {t.newline}: the line ends most of the sample has"]
    if fixed:
        from bridge.spec.draft_fixed import fixed_draft

        text, expected = fixed_draft(t, head, sample.name)
    else:
        delimiter, rows = sniff(t.text)
        heads = header_count(rows)
        columns, count = delimited_columns(rows, heads)
        header = bool(heads) and len(rows[0]) == len(columns)
        head += [f"delimiter {delimiter!r}: it splits most rows into {len(columns)} cells"
                 if len(columns) > 1 else "one column: no delimiter splits the lines (if the "
                 "file is fixed width, draft it with --fixed-width)",
                 "header row: " + ("one row only: a sample of one row cannot tell names "
                                   "from values; read as values" if len(rows) == 1 else
                                   "none (the first row holds values like the others)"
                                   if not header else "the first row holds names, not values"
                                   if heads == 1 else "two rows of names before the values; "
                                   "the fields take the first")]
        top: dict[str, object] = {
            "description": f"Drafted from {sample.name}: describe the layout and its "
                           "source here.",
            "format": "delimited", "encoding": t.encoding, "newline": t.newline,
            "delimited": {"delimiter": delimiter, "quote_char": '"',
                          "header_rows": heads if header else 0,
                          "match_columns": "name" if header else "position"}}
        text = render(t, head, top, [("riga", {}, columns)])
        expected = {"riga": count}
    return _checked(text, sample, expected, name)


def _checked(text: str, sample: Path, expected: dict[str, int], name: str | None) -> Draft:
    """The draft with what does not hold written at its top (parse, then check)."""
    from bridge.check import check_file
    from bridge.errors import TracciatoError
    from bridge.spec.loader import parse

    problems: list[str] = []
    try:
        t = parse(text, name or "draft/draft.yaml")
    except TracciatoError as exc:
        problems = [f"the draft does not load: {line}" for line in str(exc).splitlines()]
    else:
        result = check_file(sample, t)
        problems = [f"line {i.line or '-'}: {i.code}: {i.message}"
                    for i in result.issues[:SHOWN_ISSUES] if i.is_error]
        more = sum(i.is_error for i in result.issues) - len(problems)
        if more > 0:
            problems.append(f"and {more} more issues")
        for rec, n in expected.items():
            if result.rows.get(rec, 0) != n:
                problems.append(f"{rec}: {result.rows.get(rec, 0)} records read, the sample "
                                f"has {n}")
    if problems:
        note = ["# NOT YET RIGHT: checked against its sample, this draft gives:",
                *(f"#   {p}" for p in problems), "#"]
        text = "\n".join(note) + "\n" + text
    return Draft(text, problems)
