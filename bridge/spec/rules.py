"""Row rules of a tracciato: compiled when the tracciato is loaded, so a rule that cannot
run is a lint error, never a crash of ``bridge check``.

A rule's expressions are those of the step language (:mod:`bridge.steps.expr`), over the
fields of its record. The language is imported only when a tracciato declares rules:
loading the others stays as light as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.spec.model import RecordSpec, RowRule, Tracciato


def check_rules(t: Tracciato) -> None:
    """Raise ValueError, naming the key, for the first rule that cannot run."""
    for rname, rec in t.records.items():
        for k, rule in enumerate(rec.rules):
            where = f"records.{rname}.rules[{k}]"
            compiled(rname, rec, rule, where)
            if rule.field is not None and rule.field not in _names(rec):
                raise ValueError(f"{where}.field: record {rname!r} has no field "
                                 f"{rule.field!r}")


def _names(rec: RecordSpec) -> list[str]:
    return [f.name for f in rec.data_fields]


def compiled(rname: str, rec: RecordSpec, rule: RowRule, where: str
             ) -> tuple[Any, Any | None]:
    """The rule's ``that`` and ``when`` compiled (once per process: the language caches
    them); ValueError for a mistake."""
    from bridge.errors import ConfigError
    from bridge.steps.expr import compile_expression

    names = _names(rec)
    try:
        that = compile_expression(rule.that, names, f"{where}.that", table=rname)
        when = (None if rule.when is None else
                compile_expression(rule.when, names, f"{where}.when", table=rname))
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return that, when


def subject(rec: RecordSpec, rule: RowRule, that: Any) -> str:
    """The field a broken rule's issue names: the one given, else the first field of the
    record (in its order) that the rule reads."""
    if rule.field is not None:
        return rule.field
    read = set(that.names)
    return next((n for n in _names(rec) if n in read), _names(rec)[0])
