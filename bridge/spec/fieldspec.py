"""One field of a record in the tracciato language: its place (a column, or a start and a
length), its type and how its text is read and written, and what it must satisfy; and the
names of those types and signs."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from bridge.spec.base import SignFrom, Strict

FieldType = Literal[
    "string", "integer", "decimal", "date", "time", "datetime", "boolean", "enum",
    "constant", "filler", "partita_iva", "codice_fiscale", "ean13",
]
Sign = Literal["none", "leading", "trailing", "leading_separate", "trailing_separate",
               "overpunch"]


class FieldSpec(Strict):
    """One field of a record: where it is, what type it has, what it must satisfy."""

    name: str = Field(description="Name of the field in the decoded table.")
    description: str = ""
    type: FieldType = Field("string", description="How the text of the cell is read.")
    # where: delimited files
    column: str | None = Field(
        None, description="Header name of the column (delimited, match by name); defaults to name."
    )
    index: Annotated[int, Field(gt=0)] | None = Field(
        None, description="1-based column position (delimited, match by position)."
    )
    titles: list[str] = Field(
        default_factory=list,
        description="Header text of this column in each header row, when there are several "
        "(SAP B1 DTW: the DI-API name, then the database name); row 1 defaults to column.",
    )
    # where: fixed-width files
    start: Annotated[int, Field(gt=0)] | None = Field(None, description="1-based start (fixed).")
    length: int | None = Field(None, description="Width in characters (fixed).")
    # presence
    required: bool = False
    default: str | None = Field(None, description="Text used when the cell is missing.")
    missing_values: list[str] = Field(
        default_factory=list,
        description="Exact strings that mean missing, besides the empty cell. None by default: "
        "'NA' is the province of Napoli.",
    )
    # text
    trim: Literal["both", "left", "right", "none"] = "both"
    case: Literal["upper", "lower"] | None = None
    min_length: Annotated[int, Field(ge=0)] | None = None
    max_length: Annotated[int, Field(gt=0)] | None = None
    pattern: str | None = Field(None, description="Regular expression the whole value matches.")
    # numbers
    scale: Annotated[int, Field(ge=0, le=18)] = Field(2, description="Decimal digits kept.")
    decimal_separator: str = "."
    thousands_separator: str | None = None
    implied_decimals: bool = Field(
        False, description="Digits only, the last `scale` of them are decimals (COBOL V)."
    )
    sign: Sign = Field(
        "leading",
        description="leading '-' (or '+'); trailing '-'; *_separate: always '+' or '-'; "
        "overpunch: COBOL sign in the last digit; none: unsigned.",
    )
    sign_from: SignFrom | None = Field(
        None, description="The sign is in another field: its name, or {field, negative, "
        "positive}; the digits of this one are then unsigned (sign: none by default).")
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    # dates and times
    format: str | None = Field(None, description="strftime format, e.g. %d/%m/%Y or %Y%m%d.")
    timezone: str | None = Field(None, description="Zone of datetimes written without offset.")
    # booleans, enums, constants
    true_values: list[str] = Field(default_factory=lambda: ["1"])
    false_values: list[str] = Field(default_factory=lambda: ["0"])
    values: list[str] = Field(default_factory=list, description="Allowed values of an enum.")
    value: str | None = Field(None, description="The text of a constant.")
    # output
    align: Literal["left", "right"] | None = Field(
        None, description="Alignment in fixed width; numbers right, text left by default."
    )
    pad: str | None = Field(
        None, description="Pad character in fixed width; '0' for numbers, ' ' for text by default."
    )
    on_unencodable: Literal["error", "replace", "transliterate"] = Field(
        "error",
        description="Output: a character the encoding lacks is an error (unencodable), is "
        "written as the encoding's replacement ('?'), or as its closest characters; the "
        "last two are noted in the report.",
    )
    on_too_long: Literal["error", "cut"] = Field(
        "error",
        description="Output: a value longer than the field (its width in fixed width, or its "
        "max_length) is an error (too-long), or is cut to it and noted in the report (cut).",
    )

    @model_validator(mode="before")
    @classmethod
    def _sign_elsewhere(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("sign_from") is not None:
            data = dict(data)
            if isinstance(data["sign_from"], str):
                data["sign_from"] = {"field": data["sign_from"]}
            data.setdefault("sign", "none")
        return data

    @field_validator("length")
    @classmethod
    def _positive_length(cls, v: int | None) -> int | None:
        if v is not None and v <= 0:
            raise ValueError("length must be > 0")
        return v

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"pattern does not compile: {exc}") from None
        return v

    @field_validator("pad", "decimal_separator")
    @classmethod
    def _one_char(cls, v: str | None) -> str | None:
        if v is not None and len(v) != 1:
            raise ValueError("must be exactly one character")
        return v

    @model_validator(mode="after")
    def _coherent(self) -> FieldSpec:
        if self.type in ("date", "time", "datetime") and not self.format:
            raise ValueError(f"a {self.type} field needs a format, e.g. %d/%m/%Y")
        if self.type == "enum" and not self.values:
            raise ValueError("an enum field needs values")
        if self.type == "constant" and self.value is None:
            raise ValueError("a constant field needs a value")
        if self.on_too_long == "cut" and self.type not in (
                "string", "enum", "partita_iva", "codice_fiscale", "ean13"):
            raise ValueError(f"on_too_long: cut is for text: a {self.type} cut short would "
                             "be another value")
        if self.thousands_separator is not None and (
            self.thousands_separator == self.decimal_separator
        ):
            raise ValueError("thousands_separator and decimal_separator must differ")
        if set(self.true_values) & set(self.false_values):
            raise ValueError("true_values and false_values overlap")
        if self.sign_from is not None:
            if not self.is_numeric:
                raise ValueError(f"sign_from: a {self.type} field has no sign; only integer "
                                 "and decimal fields take one")
            if self.sign != "none":
                raise ValueError(f"sign_from: the sign is in {self.sign_from.field!r}, so the "
                                 f"digits carry none: drop sign: {self.sign} (or set none)")
        return self

    @property
    def header(self) -> str:
        """The column's name in the header row that holds names."""
        return self.column or self.name

    @property
    def is_numeric(self) -> bool:
        return self.type in ("integer", "decimal")

    @property
    def out_align(self) -> str:
        return self.align or ("right" if self.is_numeric else "left")

    @property
    def out_pad(self) -> str:
        return self.pad or ("0" if self.is_numeric else " ")
