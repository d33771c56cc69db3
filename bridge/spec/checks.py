"""The checks a tracciato declares beyond one cell: between records of the whole file
(``checks:``), between a child and its parent (``link``), and between the fields of one
record (``rules``). Pure data, as the rest of :mod:`bridge.spec.model`, which uses them."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, field_validator

from bridge.spec.base import Strict


class Link(Strict):
    """A child's field that must equal a field of its parent (an order number repeated on
    every detail line)."""

    field: str = Field(description="The child's field.")
    parent: str = Field(description="The parent's field it must equal.")


class RowRule(Strict):
    """A condition between the fields of one record, checked on every record of its type.

    ``that`` and ``when`` are expressions of the step language (docs/steps.md) over the
    record's fields, as in the ``check`` step: ``importo == (quantita * prezzo) | round2``.
    A record where ``when`` is not true, or where the rule cannot be computed because a
    value it reads is missing, is not judged by it (``x is none`` sees missing values).
    """

    that: str = Field(description="Expression that must be true.")
    when: str | None = Field(None, description="Expression: the rule applies only where true.")
    field: str | None = Field(None, description="Field the issue names (default: the first "
                              "field the rule reads).")
    code: str = Field("rule-failed", description="Issue code of a record that breaks it "
                      "(one of `bridge codes`).")
    message: str = Field("", description="What the issue says (default: the rule).")

    @field_validator("code")
    @classmethod
    def _known_code(cls, v: str) -> str:
        from bridge.issues import CODES, NOTE_CODES

        if v not in CODES or v in NOTE_CODES:
            raise ValueError(f"unknown issue code {v!r} (`bridge codes` lists them; "
                             "rule-failed is the usual one)")
        return v


class UniqueCheck(Strict):
    record: str
    fields: list[str]


class ControlTotal(Strict):
    """A parent's field equals the sum of a field of its children, within a tolerance."""

    parent: str
    field: str
    child: str
    sum: str
    tolerance: Decimal = Decimal("0")


class FileTotal(Strict):
    """A field of one record equals the sum of a field over every record of a type in the
    whole file, before or after it (a grand total in a trailer over the headers' totals)."""

    record: str
    field: str
    over: str = Field(description="The record type summed over the whole file.")
    sum: str = Field(description="Its field that is summed.")
    tolerance: Decimal = Decimal("0")


class TrailerCount(Strict):
    """A trailer field holds the number of records of the listed types (all if empty)."""

    record: str
    field: str
    counts: list[str] = Field(default_factory=list)
    include_self: bool = Field(True, description="Whether the trailer counts itself.")


class RowCount(Strict):
    record: str | None = None
    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None


class FileChecks(Strict):
    unique: list[UniqueCheck] = Field(default_factory=list)
    control_totals: list[ControlTotal] = Field(default_factory=list)
    file_totals: list[FileTotal] = Field(default_factory=list)
    trailer_count: TrailerCount | None = None
    rows: list[RowCount] = Field(default_factory=list)
