"""The tracciato language: a typed model of one file layout.

A tracciato is pure data, loaded from YAML by :mod:`bridge.spec.loader`. It says how the
bytes are laid out (encoding, newline), how a line splits into cells (delimited or fixed
width), which record types a file holds and in which order, how each field is typed and
checked, and which checks run on the whole file. Nothing here reads files or imports pandas.
"""

from __future__ import annotations

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
from bridge.spec.fieldspec import FieldSpec, FieldType, Sign
from bridge.spec.links import check_links, check_refs

__all__ = ["ControlTotal", "Discriminator", "FieldSpec", "FieldType", "FileChecks", "FileTotal",
           "Link", "RowCount", "RowRule", "Sign", "SignFrom", "Strict", "TrailerCount",
           "UniqueCheck"]

NEWLINES = {"crlf": "\r\n", "lf": "\n", "cr": "\r"}


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
