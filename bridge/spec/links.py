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
    if t.group_by:
        need(t.single_record, t.group_by, "group_by")


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
                "it as their parent")
        for record, name, key in ((c.parent, c.field, "field"), (c.child, c.sum, "sum")):
            _numeric(t, record, name, f"{where}.{key}", NUMERIC)
        _tolerance(c.tolerance, f"{where}.tolerance")
    tc = t.checks.trailer_count
    if tc is not None:
        _numeric(t, tc.record, tc.field, "checks.trailer_count.field", ("integer",))


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
