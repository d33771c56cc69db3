"""The steps of business flows: code tables, VAT, percentages, totals, text fields taken
apart, and checks that turn a broken rule into an issue.

They are the arithmetic of an order as an Italian invoice does it (per line, half up, to the
cent) declared in YAML, so that a company adapts a flow without writing Python.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from bridge.issues import CODES
from bridge.steps.spec_base import Scalar, Strict, Table, Total


class TranslateArgs(Strict):
    """A declared code table: the shop's payment method -> the ERP's payment code."""

    table: Table = None
    field: str = Field(description="Field whose values are looked up.")
    into: str | None = Field(None, description="Field written; default: `field` itself.")
    values: dict[str, Scalar] = Field(min_length=1, description="Value: its translation.")
    ignore_case: bool = False
    missing: Literal["issue", "default", "keep", "hold"] = Field(
        "issue", description="A value not in the table: an issue (no-match); the default; "
        "the value kept as it is; or hold the file for an operator.")
    default: Scalar = None

    @field_validator("values", mode="before")
    @classmethod
    def _text_keys(cls, v: Any) -> Any:
        # YAML reads the key 22 (a VAT code) as a number; the values looked up are text.
        if isinstance(v, dict):
            # Booleans as Arrow writes them as text ("true"), for a yes/no column.
            return {(str(k).lower() if isinstance(k, bool) else str(k)): val
                    for k, val in v.items()}
        return v


class VatArgs(Strict):
    """Net amount and VAT out of an amount that includes VAT, per row, half up to the cent."""

    table: Table = None
    rate: str = Field(description="Field holding the VAT rate in percent (22, 10, 4...).")
    gross: str = Field(description="Field holding the amount with VAT.")
    net: str = Field(description="Field written: gross / (1 + rate/100), rounded.")
    tax: str | None = Field(None, description="Field written: gross - net.")
    scale: int = Field(2, ge=0, le=6, description="Decimals of the result.")
    per: str | None = Field(None, description="Field of the quantity the gross amount is "
                            "for: net is then per unit, gross / per / (1 + rate/100), "
                            "rounded once (a line's amount net of its discount).")

    @model_validator(mode="after")
    def _per_no_tax(self) -> VatArgs:
        if self.per is not None and self.tax is not None:
            raise ValueError("per: the net is a unit price, so there is no tax of the "
                             "same rows to write (compute it from the line's amount)")
        return self


class SpreadArgs(Strict):
    """An order's discount or shipping split over the VAT rates of its other lines, in
    proportion to them (or all to the rate with the most: ``mode: largest``)."""

    table: str = Field(description="The child table (righe), made by a group step.")
    rows: str = Field(description="Expression choosing the rows to spread (the discount "
                      "and shipping lines).")
    amount: str = Field(description="The field split into shares (lordo).")
    same: list[str] = Field(default_factory=list,
                            description="Fields split in the same proportion as "
                            "the amount (prezzo_lordo).")
    weight: str = Field(description="Field of the other rows whose sums weigh each rate.")
    by: str = Field(description="Field whose values the row is split by (aliquota_iva).")
    take: list[str] = Field(default_factory=list, description="Fields taken with `by` from "
                            "the rate's first row (codice_iva).")
    mode: Literal["proportional", "largest"] = "proportional"
    number: str | None = Field(None, description="Field numbering each parent's rows again, "
                               "from 1, after the split (numero_riga).")


class PercentArgs(Strict):
    """A percentage of an amount (an agent's commission), half up to the cent."""

    table: Table = None
    base: str
    rate: str = Field(description="Field holding the rate in percent.")
    into: str
    scale: int = Field(2, ge=0, le=6)


class TotalsArgs(Strict):
    """Sums of the child rows written on their parent rows (order totals after VAT)."""

    table: str = Field(description="The child table (righe).")
    into: str = Field(description="The parent table (testata).")
    fields: dict[str, Total] = Field(min_length=1, description="Parent field: sum of a "
                                     "child field; 0 for a parent without children.")


class ExtractArgs(Strict):
    """Fields taken out of a text field by a regular expression with named groups."""

    table: Table = None
    field: str
    pattern: str = Field(description="Each named group (?P<name>...) becomes a field; "
                         "null where the pattern does not match.")
    ignore_case: bool = False

    @field_validator("pattern")
    @classmethod
    def _named(cls, v: str) -> str:
        try:
            compiled = re.compile(v)
        except re.error as exc:
            raise ValueError(f"pattern does not compile: {exc}") from None
        if not compiled.groupindex:
            raise ValueError("pattern needs named groups, e.g. (?P<partita_iva>[0-9]{11})")
        return v


class Rule(Strict):
    """One rule: an expression that must hold, or a field that must be a valid identifier."""

    that: str | None = Field(None, description="Expression that must be true on every row.")
    valid: Literal["partita_iva", "codice_fiscale", "ean13"] | None = Field(
        None, description="The field must hold a valid identifier of this kind (or nothing).")
    field: str = Field(description="Field the issue names.")
    code: str | None = Field(None, description="Issue code when broken (that: required).")
    message: str = Field("", description="What the operator reads.")

    @model_validator(mode="after")
    def _one(self) -> Rule:
        if (self.that is None) == (self.valid is None):
            raise ValueError("a rule has either `that` or `valid`")
        if self.that is not None and self.code is None:
            raise ValueError("a `that` rule needs the issue `code` it raises")
        if self.code is not None and self.code not in CODES:
            raise ValueError(f"unknown issue code {self.code!r}")
        return self


class CheckArgs(Strict):
    table: Table = None
    rules: list[Rule] = Field(min_length=1)


class GoneArgs(Strict):
    """Keys sent before that a file no longer has (an article deleted from the ERP, or
    missing from its master): sent once more, as last sent but for ``set``, to withdraw
    them from where they went."""

    set: dict[str, Scalar] = Field(
        min_length=1, description="Fields (of the delta's `fields`) given these values on "
        "a withdrawn key, e.g. {stato: X}; the steps after the delta make the rest.")
    hold_above: float = Field(
        0.2, ge=0, le=1, description="A file that would withdraw more than this share of "
        "the keys sent and not withdrawn waits for an operator's approval (an export cut "
        "short must not empty the shop).")


class DeltaArgs(Strict):
    """Delta sync: only the rows whose data changed since they were last sent."""

    table: Table = None
    key: list[str] = Field(min_length=1, description="Fields that make the business key.")
    fields: list[str] = Field(min_length=1, description="Fields whose change means a send.")
    gone: GoneArgs | None = Field(
        None, description="Withdraw the keys sent before that are not in this file: the "
        "rows of keys the steps before kept out (a filter), not of rows refused as bad.")
    previous: dict[str, str] = Field(
        default_factory=dict, description="Field: new field that gets the value last sent "
        "for the row's key (empty if never sent), e.g. a refund's amount already credited.")

    @model_validator(mode="after")
    def _known_fields(self) -> DeltaArgs:
        for what, names in (("gone.set", self.gone.set if self.gone else {}),
                            ("previous", self.previous)):
            stray = sorted(set(names) - set(self.fields))
            if stray:
                raise ValueError(f"{what}: {stray[0]!r} is not one of the delta's fields "
                                 "(the ledger remembers only those)")
        return self


class RecallArgs(Strict):
    """What a ``delta`` of the flow remembered for a key as last sent: the customer and
    agent an order went with, for its cancellation."""

    table: Table = None
    key: list[str] = Field(min_length=1, description="Fields that make the key the delta "
                           "remembered (its own key's fields, or fields of the same values).")
    fields: list[str] = Field(min_length=1, description="The delta's `fields`, in its order.")
    take: dict[str, str] = Field(min_length=1, description="Field of the delta: field of "
                                 "this table set to its value as last sent, where the key "
                                 "was; the rows of keys never sent keep their own.")

    @model_validator(mode="after")
    def _known_fields(self) -> RecallArgs:
        stray = sorted(set(self.take) - set(self.fields))
        if stray:
            raise ValueError(f"take: {stray[0]!r} is not one of the delta's fields "
                             "(the ledger remembers only those)")
        return self
