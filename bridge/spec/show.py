"""A tracciato as a person reads it: the page of an ERP manual, as plain text."""

from __future__ import annotations

from bridge.spec.model import FieldSpec, RecordSpec, Tracciato

HEAD = ("#", "field", "from", "to", "len", "type", "format", "req", "description")


def describe(t: Tracciato) -> str:
    out = [f"tracciato {t.name}"]
    if t.description:
        out += [f"  {line}".rstrip() for line in t.description.strip().splitlines()]
    out.append("")
    out.append("  " + ", ".join(_bytes(t)))
    if t.format == "delimited":
        d = t.dialect
        out.append(f"  delimited: delimiter {d.delimiter!r}, quote {d.quote_char!r}, "
                   f"{d.header_rows} header row(s), columns matched by {d.match_columns}")
    elif t.fixed is not None:
        length = t.fixed.record_length
        out.append(f"  fixed width: record length {length or 'variable'}, "
                   f"filler {t.fixed.filler!r}")
    if t.discriminator is not None:
        disc = t.discriminator
        where = (f"columns {disc.start}-{(disc.start or 0) + (disc.length or 0) - 1}"
                 if disc.start else f"column {disc.column or disc.index}")
        out.append(f"  record type read from {where}")
    for name, rec in t.records.items():
        out.append("")
        out.append(_record_title(name, rec, len(t.records) > 1))
        out += _table(rec, t.format == "fixed")
    checks = _checks(t)
    if checks:
        out += ["", "checks:"] + [f"  - {c}" for c in checks]
    return "\n".join(out)


def _bytes(t: Tracciato) -> list[str]:
    parts = [f"encoding {t.encoding}", f"newline {t.newline.upper()}"]
    parts.append("final newline" if t.final_newline else "no final newline")
    if t.eof_marker:
        parts.append("ends with 0x1A")
    return parts


def _record_title(name: str, rec: RecordSpec, several: bool = False) -> str:
    bits = [f"record {name}"]
    if rec.when:
        bits.append("when " + "/".join(repr(w) for w in rec.when))
    elif several:
        bits.append("every line no other record type takes")
    if rec.parent:
        bits.append(f"child of {rec.parent}")
    if rec.occurs != "any":
        bits.append(f"occurs {rec.occurs}")
    text = ", ".join(bits)
    return f"{text}: {rec.description.strip()}" if rec.description else text


def _table(rec: RecordSpec, fixed: bool) -> list[str]:
    rows = [HEAD]
    for i, f in enumerate(rec.fields, 1):
        start = f.start if fixed else (f.index or i)
        end = (f.start or 0) + (f.length or 0) - 1 if fixed else ""
        rows.append((str(i), f.name if fixed else f"{f.name} ({f.header})",
                     str(start), str(end), str(f.length or f.max_length or ""),
                     f.type, _format(f), "yes" if f.required else "",
                     f.description.strip().replace("\n", " ")))
    widths = [max(len(r[c]) for r in rows) for c in range(len(HEAD))]
    lines = ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  " + "  ".join("-" * w for w in widths))
    return lines


def _format(f: FieldSpec) -> str:
    if f.type == "decimal":
        bits = [f"scale {f.scale}"]
        if f.implied_decimals:
            bits.append("implied")
        else:
            bits.append(f"sep {f.decimal_separator!r}")
        if f.thousands_separator:
            bits.append(f"thousands {f.thousands_separator!r}")
        if f.sign_from is not None:
            bits.append(f"sign in {f.sign_from.field}")
        elif f.sign != "leading":
            bits.append(f"sign {f.sign}")
        return " ".join(bits)
    if f.type == "integer" and f.sign_from is not None:
        return f"sign in {f.sign_from.field}"
    if f.type in ("date", "time", "datetime"):
        return f.format or ""
    if f.type == "boolean":
        return "/".join(f.true_values[:1] + f.false_values[:1])
    if f.type == "enum":
        return "|".join(f.values)
    if f.type == "constant":
        return repr(f.value)
    return f.pattern or ""


def _checks(t: Tracciato) -> list[str]:
    c = t.checks
    out = [f"unique {u.record}: {' + '.join(u.fields)}" for u in c.unique]
    out += [f"{x.parent}.{x.field} = sum of {x.child}.{x.sum} (tolerance {x.tolerance})"
            for x in c.control_totals]
    out += [f"{x.record}.{x.field} = sum of every {x.over}.{x.sum} in the file (tolerance "
            f"{x.tolerance})" for x in c.file_totals]
    if c.trailer_count:
        tc = c.trailer_count
        what = ", ".join(tc.counts) or "all records"
        out.append(f"{tc.record}.{tc.field} = number of {what}")
    out += [f"rows {r.record or 'all'}: min {r.min}, max {r.max}" for r in c.rows]
    for name, rec in t.records.items():
        if rec.min_children:
            out.append(f"each {name} has at least {rec.min_children} child record(s)")
        out += [f"{name}.{ln.field} = {rec.parent}.{ln.parent} of its {rec.parent}"
                for ln in rec.link]
        out += [f"{name}: {r.that}" + (f" when {r.when}" if r.when else "") + f" ({r.code})"
                for r in rec.rules]
    return out
