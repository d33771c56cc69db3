"""Rules on how the parts of a tracciato refer to each other, beyond names that exist.

:mod:`bridge.spec.model` checks that every record and field a rule names is there; the
rules here check that what is named can work as the rule means it. A mistake found here
would otherwise pass the lint and surface on the first file, as a check that never holds
or a file that is read whole into memory.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.spec.model import Tracciato

#: Field types whose values can be summed and compared exactly.
NUMERIC = ("integer", "decimal")


def check_refs(t: Tracciato) -> None:
    """Raise ValueError, naming the key, for the first record or field a rule names that the
    tracciato does not have."""

    def need(record: str, fields: list[str], where: str) -> None:
        if record not in t.records:
            raise ValueError(f"{where}: no record type {record!r}")
        names = {f.name for f in t.records[record].data_fields}
        for name in fields:
            if name not in names:
                raise ValueError(f"{where}: record {record!r} has no field {name!r}")

    for i, u in enumerate(t.checks.unique):
        need(u.record, u.fields, f"checks.unique[{i}]")
    for i, c in enumerate(t.checks.control_totals):
        need(c.parent, [c.field], f"checks.control_totals[{i}]")
        need(c.child, [c.sum], f"checks.control_totals[{i}]")
    if t.checks.trailer_count is not None:
        tc = t.checks.trailer_count
        need(tc.record, [tc.field], "checks.trailer_count")
        for r in tc.counts:
            need(r, [], "checks.trailer_count.counts")
    for i, ft in enumerate(t.checks.file_totals):
        need(ft.record, [ft.field], f"checks.file_totals[{i}]")
        need(ft.over, [ft.sum], f"checks.file_totals[{i}]")
    if t.group_by:
        need(t.single_record, t.group_by, "group_by")
    for rname, rec in t.records.items():
        for k, f in enumerate(rec.fields):
            if f.sign_from is not None:
                need(rname, [f.sign_from.field], f"records.{rname}.fields[{k}].sign_from")
        for k, ln in enumerate(rec.link):
            where = f"records.{rname}.link[{k}]"
            if rec.parent is None:
                raise ValueError(f"{where}: {rname!r} has no parent (records.{rname}.parent) "
                                 "to link to")
            need(rname, [ln.field], where)
            need(rec.parent, [ln.parent], where)


def check_links(t: Tracciato) -> None:
    """Raise ValueError, naming the key, for the first rule that cannot work."""
    _parents_end(t)
    for i, c in enumerate(t.checks.control_totals):
        where = f"checks.control_totals[{i}]"
        declared = t.records[c.child].parent
        if declared != c.parent:
            # Each child is linked to the closest parent *before* it, and only to the
            # record its `parent` names: no other pairing has children to sum.
            has = f"is {declared!r}" if declared else "is not set"
            raise ValueError(
                f"{where}: {c.child!r} records are not children of {c.parent!r} "
                f"(records.{c.child}.parent {has}); a control total compares each "
                f"{c.parent} with the sum over its own children, which follow it and name "
                "it as their parent; for a total over the whole file (a grand total in a "
                f"trailer) use checks.file_totals: {{record: {c.parent}, field: {c.field}, "
                f"over: {c.child}, sum: {c.sum}}}")
        for record, name, key in ((c.parent, c.field, "field"), (c.child, c.sum, "sum")):
            _numeric(t, record, name, f"{where}.{key}", NUMERIC)
        _tolerance(c.tolerance, f"{where}.tolerance")
    for i, ft in enumerate(t.checks.file_totals):
        where = f"checks.file_totals[{i}]"
        for record, name, key in ((ft.record, ft.field, "field"), (ft.over, ft.sum, "sum")):
            _numeric(t, record, name, f"{where}.{key}", NUMERIC)
        _tolerance(ft.tolerance, f"{where}.tolerance")
    tc = t.checks.trailer_count
    if tc is not None:
        _numeric(t, tc.record, tc.field, "checks.trailer_count.field", ("integer",))
    for rname in t.records:
        _signs(t, rname)
        _link_types(t, rname)
    from bridge.spec.rules import check_rules

    check_rules(t)


def _signs(t: Tracciato, rname: str) -> None:
    """A sign field is a text field of the record, and gives its sign to one number."""
    rec = t.records[rname]
    users: dict[str, str] = {}
    for k, f in enumerate(rec.fields):
        if f.sign_from is None:
            continue
        where = f"records.{rname}.fields[{k}].sign_from"
        other = f.sign_from.field
        if other == f.name:
            raise ValueError(f"{where}: a field cannot take its sign from itself")
        spec = next(g for g in rec.data_fields if g.name == other)
        if spec.type not in ("string", "enum"):
            raise ValueError(f"{where}: {rname}.{other} is a {spec.type} field; a sign is "
                             "read from a string (or enum) field")
        if other in users:
            raise ValueError(f"{where}: {other!r} already gives its sign to "
                             f"{users[other]!r}; on writing, one sign field can follow "
                             "one number only")
        users[other] = f.name
        if spec.length is not None:
            long = [s for s in (*f.sign_from.negative, *f.sign_from.positive)
                    if len(s) > spec.length]
            if long:
                raise ValueError(f"{where}: {long[0]!r} is longer than {other!r} "
                                 f"({spec.length} characters)")


def _link_types(t: Tracciato, rname: str) -> None:
    rec = t.records[rname]
    for k, ln in enumerate(rec.link):
        assert rec.parent is not None  # check_refs made sure
        mine = next(f for f in rec.data_fields if f.name == ln.field)
        theirs = next(f for f in t.records[rec.parent].data_fields if f.name == ln.parent)
        if mine.type != theirs.type:
            raise ValueError(f"records.{rname}.link[{k}]: {rname}.{ln.field} is a {mine.type} "
                             f"field and {rec.parent}.{ln.parent} a {theirs.type} one: "
                             "linked fields must have the same type to be compared")


def _parents_end(t: Tracciato) -> None:
    """Every chain of parents ends at a record with none.

    In a loop every record is another's child: none could come first without being an
    orphan, and a file would have no place where a chunk may end.
    """
    for name in t.records:
        seen = [name]
        parent = t.records[name].parent
        while parent is not None:
            if parent in seen:
                loop = " -> ".join([*seen[seen.index(parent):], parent])
                raise ValueError(f"records.{name}.parent: the parents go round in a loop "
                                 f"({loop})")
            seen.append(parent)
            parent = t.records[parent].parent if parent in t.records else None


def _tolerance(tol: Decimal, where: str) -> None:
    # Compared with the difference of two decimals of the language (18 digits at most).
    _, digits, exp = tol.as_tuple()
    if (not tol.is_finite() or tol < 0 or not isinstance(exp, int)
            or len(digits) + max(exp, 0) > 18 or -exp > 18):
        raise ValueError(f"{where}: {tol} is not a decimal from 0 with at most 18 digits")


def _numeric(t: Tracciato, record: str, name: str, where: str, types: tuple[str, ...]) -> None:
    spec = next(f for f in t.records[record].data_fields if f.name == name)
    if spec.type not in types:
        raise ValueError(f"{where}: {record}.{name} is a {spec.type} field; the check "
                         f"needs {' or '.join(types)}")
