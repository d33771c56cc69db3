"""The tracciato language: a typed model of one file layout.

A tracciato is pure data, loaded from YAML by :mod:`bridge.spec.loader`. It says how the
bytes are laid out (encoding, newline), how a line splits into cells (delimited or fixed
width), which record types a file holds and in which order, how each field is typed and
checked, and which checks run on the whole file. Nothing here reads files or imports pandas.
"""

from __future__ import annotations

import re
from decimal import Decimal
from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from bridge.spec.base import Discriminator, SignFrom, Strict, known_encoding
from bridge.spec.checks import (
    ControlTotal,
    FileChecks,
    FileTotal,
    Link,
    RowCount,
    RowRule,
    TrailerCount,
    UniqueCheck,
)
from bridge.spec.links import check_links, check_refs

__all__ = ["ControlTotal", "Discriminator", "FileChecks", "FileTotal", "Link", "RowCount",
           "RowRule", "SignFrom", "Strict", "TrailerCount", "UniqueCheck"]

NEWLINES = {"crlf": "\r\n", "lf": "\n", "cr": "\r"}

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


class RecordSpec(Strict):
    """One record type: its discriminator value(s), its fields, where it may occur."""

    description: str = ""
    when: list[str] = Field(
        default_factory=list, description="Discriminator values that select this record."
    )
    parent: str | None = Field(None, description="Record type these records belong to.")
    occurs: Literal["any", "first", "last", "once"] = Field(
        "any", description="first/last: exactly one, at the start/end; once: exactly one."
    )
    required: bool = Field(False, description="At least one such record must be present.")
    min_children: Annotated[int, Field(ge=0)] = Field(
        0, description="For a parent: the least number of children each must have."
    )
    link: list[Link] = Field(
        default_factory=list, description="Fields that must equal their parent's "
        "({field, parent}, or a list of them); issue link-mismatch.")
    rules: list[RowRule] = Field(
        default_factory=list, description="Conditions between this record's fields.")
    fields: list[FieldSpec]

    @field_validator("when", mode="before")
    @classmethod
    def _listify(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @field_validator("link", mode="before")
    @classmethod
    def _links(cls, v: object) -> object:
        return [v] if isinstance(v, dict) else v

    @field_validator("fields")
    @classmethod
    def _unique_names(cls, v: list[FieldSpec]) -> list[FieldSpec]:
        seen: set[str] = set()
        for f in v:
            if f.type != "filler" and f.name in seen:
                raise ValueError(f"field name {f.name!r} appears twice")
            seen.add(f.name)
        return v

    @property
    def data_fields(self) -> list[FieldSpec]:
        return [f for f in self.fields if f.type != "filler"]


class DelimitedFormat(Strict):
    """How a delimited line splits into cells."""

    delimiter: str = ","
    quote_char: str | None = '"'
    double_quote: bool = Field(True, description="Two quote chars in a quoted cell mean one.")
    escape_char: str | None = None
    header_rows: Annotated[int, Field(ge=0)] = Field(
        1, description="Rows of headers (SAP B1 DTW files have two)."
    )
    header_names_row: Annotated[int, Field(gt=0)] = Field(
        1, description="Which header row (1-based) holds the column names."
    )
    skip_rows: Annotated[int, Field(ge=0)] = Field(0, description="Rows skipped before headers.")
    comment_prefix: str | None = None
    match_columns: Literal["name", "position"] = "name"
    extra_columns: Literal["ignore", "error"] = "ignore"
    missing_columns: Literal["error", "empty", "optional"] = Field(
        "error", description="A declared column absent from the header: error (bad-header), "
        "empty (read as empty, with a bad-header issue) or optional (a field that is not "
        "required is read as missing values, silently; a required one is bad-header).")
    quoting: Literal["minimal", "all", "nonnumeric"] = Field(
        "minimal", description="When cells are quoted on output."
    )
    skip_blank_rows: bool = True
    control_characters: Literal["write", "refuse"] = Field(
        "write", description="On output, a control character (CR, LF, TAB...) in a cell "
        "the layout quotes or escapes: write it so (only a NUL is refused), or refuse its "
        "row (control-character), for an importer that reads a line at a time.")
    formulas: Literal["write", "refuse"] = Field(
        "write", description="On output, a text cell a spreadsheet would run as a formula "
        "(starting with = @ TAB CR, or + - before anything but a number or a phone): write "
        "it, or refuse its row (formula), for a file an operator opens in a spreadsheet.")

    @field_validator("delimiter", "quote_char", "escape_char")
    @classmethod
    def _one_char(cls, v: str | None) -> str | None:
        if v is not None and len(v) != 1:
            raise ValueError("must be exactly one character")
        return v


class FixedFormat(Strict):
    """How a fixed-width line splits into fields."""

    record_length: Annotated[int, Field(gt=0)] | None = Field(
        None, description="Every line has this length; None: lines may be shorter (variable)."
    )
    filler: str = Field(" ", description="Character written into gaps and filler fields.")


class Tracciato(Strict):
    """One file layout."""

    name: str = Field("", description="system/name, set from the file's path when loaded.")
    description: str = Field("", description="What the layout is, and how sure its facts are.")
    format: Literal["delimited", "fixed"]
    encoding: str = "utf-8"
    newline: Literal["crlf", "lf", "cr"] = "crlf"
    final_newline: bool = True
    eof_marker: bool = Field(False, description="Write a DOS end-of-file byte (0x1A) at the end.")
    refuse_utf8: bool = Field(
        True, description="A file read in a one-byte code page (cp1252, latin-1...) whose "
        "bytes are all valid UTF-8, letters of several bytes among them, is refused "
        "(encoding-mismatch): read as declared, every accented letter would arrive as two "
        "(è as Ã¨). false: read it as declared all the same.")
    delimited: DelimitedFormat | None = None
    fixed: FixedFormat | None = None
    discriminator: Discriminator | None = None
    records: dict[str, RecordSpec]
    group_by: list[str] = Field(
        default_factory=list,
        description="Fields of a single-record file whose equal values form one group "
        "(Shopify: the order Name); groups are never split between chunks.",
    )
    checks: FileChecks = Field(default_factory=FileChecks)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        known_encoding(v)
        try:  # the bytes a line end adds to a text (a mark before it is not counted)
            line_end = len("x\n".encode(v)) - len("x".encode(v))
        except (LookupError, UnicodeError):  # a codec of bytes or of texts, not of text files
            line_end = 0
        if line_end != 1:
            raise ValueError(
                f"encoding {v!r} does not write a line end as one byte: bridge finds records "
                "on a file's bytes and cannot read or write it (UTF-16 and UTF-32 are such); "
                "convert the file first (iconv -f UTF-16 -t UTF-8)")
        return v

    @model_validator(mode="after")
    def _coherent(self) -> Tracciato:
        if not self.records:
            raise ValueError("records: at least one record type is needed")
        if self.format == "fixed":
            self._check_fixed()
        elif self.fixed is not None:
            raise ValueError("fixed: given for a delimited tracciato")
        if len(self.records) > 1:
            if self.discriminator is None:
                raise ValueError("discriminator: needed when there are several record types")
            rest = [rname for rname, rec in self.records.items() if not rec.when]
            if len(rest) > 1:
                raise ValueError(f"records.{rest[1]}.when: needed to choose this record type "
                                 f"(only one record type, here {rest[0]!r}, may go without: "
                                 "it takes every line no other type claims)")
        for rname, rec in self.records.items():
            if rec.parent is not None and rec.parent not in self.records:
                raise ValueError(f"records.{rname}.parent: no record type {rec.parent!r}")
        check_refs(self)
        check_links(self)
        return self

    def _check_fixed(self) -> None:
        reclen = self.fixed.record_length if self.fixed else None
        for rname, rec in self.records.items():
            for i, f in enumerate(rec.fields):
                where = f"records.{rname}.fields[{i}]"
                if f.start is None or f.length is None:
                    raise ValueError(f"{where}: a fixed-width field needs start and length")
                if reclen is not None and f.start + f.length - 1 > reclen:
                    raise ValueError(f"{where}: ends at {f.start + f.length - 1}, past the "
                                     f"record length {reclen}")
            spans = sorted((f.start or 0, (f.start or 0) + (f.length or 0), f.name)
                           for f in rec.fields)
            for (_, end1, n1), (s2, _, n2) in pairwise(spans):
                if s2 < end1:
                    raise ValueError(f"records.{rname}: fields {n1!r} and {n2!r} overlap")

    @property
    def newline_chars(self) -> str:
        return NEWLINES[self.newline]

    @property
    def dialect(self) -> DelimitedFormat:
        return self.delimited or DelimitedFormat()

    @property
    def single_record(self) -> str:
        return next(iter(self.records))

    def by_place(self, rname: str) -> bool:
        """Whether a record type of a delimited file with a header is read by position,
        not by the header's names: a record other than the first (which the header
        describes) whose every field gives its ``index`` (a trailer row such as
        ``#END;3;120.50``), with at least that many cells."""
        rec = self.records[rname]
        return (rname != self.single_record and bool(rec.fields)
                and all(f.index is not None for f in rec.fields))

    def record_of(self, value: str) -> str | None:
        """The record type chosen by a discriminator value (None when none matches): the
        one whose ``when`` lists it, else the one without ``when``, if any."""
        if len(self.records) == 1:
            return self.single_record
        rest = None
        for name, rec in self.records.items():
            if value in rec.when:
                return name
            if not rec.when:
                rest = name
        return rest
