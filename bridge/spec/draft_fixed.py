"""The fixed-width part of `bridge tracciati infer`: record types from the first
characters, field boundaries from what every line of a type has at each position.

A position where every line of a type holds a digit belongs to a number; one where every
line holds a space separates fields, or pads the text before it (text is left-aligned,
blank-padded); anything else is text. Runs of one kind make the fields. Digits side by
side cannot be told apart (an order number and a line number in one run): the comments
say where a run may hold several fields, and where a number may have implied decimals.
"""

from __future__ import annotations

from datetime import datetime

from bridge.spec.draft import Column, DraftError, Text

#: Record types told by the first characters when there are at most this many values.
MAX_TYPES = 12


def fixed_draft(t: Text, head: list[str], sample: str) -> tuple[str, dict[str, int]]:
    from bridge.spec.draft_build import render

    lines = [ln for ln in t.text.splitlines() if ln.strip()]
    if not lines:
        raise DraftError("the sample holds no lines")
    disc = _discriminator(lines)
    groups: dict[str, list[str]] = {}
    for ln in lines:
        groups.setdefault(ln[:disc] if disc else "", []).append(ln)
    lengths = {len(ln) for ln in lines}
    top: dict[str, object] = {
        "description": f"Drafted from {sample}: describe the layout and its source here.",
        "format": "fixed", "encoding": t.encoding, "newline": t.newline}
    if len(lengths) == 1:
        top["fixed"] = {"record_length": lengths.pop()}
        head.append(f"record_length {top['fixed']['record_length']}: every line "  # type: ignore[index]
                    "has that many characters")
    else:
        head.append("no record_length: the lines differ in length (or trailing blanks are "
                    "trimmed): check the manual")
    if disc:
        top["discriminator"] = {"start": 1, "length": disc}
        head.append(f"discriminator: the first {disc} character(s) take "
                    f"{len(groups)} values, one record type each")
    records = []
    for value, group in groups.items():
        name = f"tipo_{value.strip() or 'x'}" if disc else "riga"
        rec: dict[str, object] = {}
        if disc:
            rec["when"] = [value]
            if len(group) == 1 and lines[-1] is group[0] and len(groups) > 1:
                rec["occurs"] = "last"
                rec["#"] = "occurs last: the only such line is the file's last (a trailer?)"
            elif len(group) == 1 and lines[0] is group[0] and len(groups) > 1:
                rec["occurs"] = "first"
                rec["#"] = "occurs first: the only such line is the file's first (a header?)"
        records.append((_name(name), rec, _fields(group, disc, value)))
    return render(t, head, top, records), {r[0]: len(groups[v]) for r, v in
                                           zip(records, groups, strict=True)}


def _name(text: str) -> str:
    import re

    return re.sub(r"[^0-9a-z_]", "_", text.lower())


def _discriminator(lines: list[str]) -> int:
    """How many first characters tell the record type (0: one type): the first one, or
    the first two when they are digits (types 01, 02, 99), taking a few values; and only
    when the lines of different types differ in shape (where their digits and blanks
    are): a file of one type whose codes start with various letters is one type."""
    digits = all(ln[:1].isdigit() for ln in lines)
    for width in ((2, 1) if digits else (1,)):
        groups: dict[str, list[str]] = {}
        for ln in lines:
            groups.setdefault(ln[:width], []).append(ln)
        if not 1 < len(groups) <= MAX_TYPES or not all(v.strip() for v in groups):
            continue
        longest = max(len(ln) for ln in lines)
        shapes = {"".join(_classes(g, longest)[width:]) for g in groups.values()}
        if len(shapes) > 1:
            return width
    return 0


def _classes(group: list[str], width: int) -> list[str]:
    """Per position: D (a digit in every line), S (a blank in every line), A (other)."""
    out = []
    for pos in range(width):
        chars = {ln[pos] if pos < len(ln) else " " for ln in group}
        out.append("D" if all(c.isdigit() for c in chars) else
                   "S" if chars == {" "} else "A")
    return out


def _fields(group: list[str], disc: int, value: str) -> list[Column]:
    width = max(len(ln) for ln in group)
    kinds = _classes(group, width)
    runs: list[list[object]] = []  # [kind, start, end] 0-based, end excluded
    for pos in range(disc, width):
        k = kinds[pos]
        if runs and runs[-1][0] == k:
            runs[-1][2] = pos + 1
        elif runs and k == "S" and runs[-1][0] == "A":
            runs[-1][2] = pos + 1  # blanks after text: its padding
            runs[-1][0] = "A"
        else:
            runs.append([k, pos, pos + 1])
    merged: list[list[object]] = []
    for r in runs:  # text padded with blanks, then more text: one text field
        if merged and merged[-1][0] == "A" and r[0] == "A":
            merged[-1][2] = r[2]
        else:
            merged.append(r)
    cols = []
    if disc:
        cols.append(Column("tipo_record", {"name": "tipo_record", "type": "constant",
                                           "value": value, "start": 1, "length": disc},
                           "the record type, the same on every such line"))
    n = 0
    for kind, start, end in merged:
        assert isinstance(start, int) and isinstance(end, int)
        length = end - start
        if kind == "S":
            cols.append(Column("riservato", {"name": "riservato", "type": "filler",
                                             "start": start + 1, "length": length},
                               "blank in every line: unused positions"))
            continue
        n += 1
        name = f"campo_{n}"
        keys: dict[str, object] = {"name": name, "start": start + 1, "length": length}
        values = [ln[start:end] for ln in group]
        if kind == "D":
            guess = _digits(keys, values, length)
        else:
            guess = "text (left-aligned, padded with blanks)"
        cols.append(Column(name, keys, guess))
    return cols


def _digits(keys: dict[str, object], values: list[str], length: int) -> str:
    if length == 8 and all(_is_date(v) for v in values):
        keys.update(type="date", format="%Y%m%d")
        return "a date written yyyymmdd in every line"
    if length > 18:
        return ("digits only, too many for one number: probably several fields side by "
                "side, or a code: check the manual")
    keys.update(type="integer", sign="none")
    return ("digits in every line: a number (or several side by side; maybe implied "
            "decimals, or a code that keeps its zeros: check the manual)")


def _is_date(text: str) -> bool:
    try:
        return 1900 <= datetime.strptime(text, "%Y%m%d").year <= 2100
    except ValueError:
        return False
