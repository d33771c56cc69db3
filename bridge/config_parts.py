"""The parts of a flow in `bridge.yaml` that say where its files come from and go, and
what it keeps of them: its source and when a file there is complete (:class:`Source`,
:class:`Readiness`), its targets (:class:`Target`, with a done-file or a template
rendered as the file streams), the business facts it records (:class:`FactSpec`) and the
money it carries (:class:`Totals`). The names are :mod:`bridge.config`'s, which imports
them; this module only keeps that one under 400 lines."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from bridge.config_connections import Strict
from bridge.spec.base import known_encoding

NEVER_READY = ["*.part", "*.tmp", "~*", ".*"]


class Readiness(Strict):
    """When a file is complete: stable for a window, or a done-file from the sender."""

    rule: Literal["stable", "done-file"] = "stable"
    window: float = Field(2.0, ge=0, description="Seconds size and mtime must stay unchanged.")
    min_age: float = Field(1.0, ge=0, description="Seconds since the file was first seen.")
    done_suffix: str = Field(".ok", description="Done-file name = file name + this suffix.")
    done_content: Literal["any", "size", "sha256"] = Field(
        "any", description="What the done-file holds, checked against the file taken."
    )
    max_wait: float = Field(
        3600.0, ge=0, description="Seconds a file whose last record is incomplete may wait "
                                  "for the rest; then it is rejected as truncated-file."
    )


class Source(Strict):
    connection: str = "local"
    folder: str
    patterns: list[str] = Field(default_factory=lambda: ["*"])
    ignore: list[str] = Field(default_factory=lambda: list(NEVER_READY))
    ready: Readiness = Field(default_factory=Readiness)
    order: Literal["name", "mtime"] = "name"


class DoneFile(Strict):
    suffix: str = ".ok"
    content: Literal["empty", "rows", "sha256"] = "empty"


class Each(Strict):
    """A template rendered record by record, so that it can be written as the file streams:
    its ``head`` block once, its ``each`` block once per row of ``table`` (the row is the
    variable named after the table, its child rows of ``lines`` the variable named after
    that table), its ``tail`` block once (with ``tables``: the trailer's rows)."""

    table: str = Field(..., description="The table whose rows are the repeated part, e.g. "
                                        "testata.")
    lines: str | None = Field(None, description="A table of child rows (made by a group "
                                                "step) handed to each row, e.g. righe.")


class Target(Strict):
    name: str = Field("", description="Name of the target within its flow (default: its index).")
    connection: str = "local"
    folder: str
    tracciato: str | None = Field(None, description="Tabular layout written (or template).")
    template: Path | None = Field(None, description="A jinja2 template instead of a tracciato.")
    template_encoding: str = "utf-8"
    format: Literal["xml", "html", "text"] | None = Field(
        None, description="What a template writes, which decides how values are escaped: "
                          "xml and html escape every value, text none. Required with a "
                          "template, whatever its file is named.")
    each: Each | None = Field(None, description="Render the template by its blocks head, "
                              "each (per row) and tail, as the file streams.")
    filename: str = Field(..., description="jinja2: {{ seq }}, {{ now }}, {{ source_stem }}...")
    done_file: DoneFile | None = None
    if_exists: Literal["fail", "next"] = "fail"
    write_empty: bool = Field(False, description="Write the file even with no data rows "
                                                 "(only a header or a trailer).")
    file_mode: int | None = Field(None, ge=0, le=0o777, description="Permissions of the files "
                                  "written, for the ERP's user (0640); default: the umask's.")

    @field_validator("template_encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        return known_encoding(v)  # else every run of the flow would fail on it, as a bug

    @model_validator(mode="after")
    def _template_kind(self) -> Target:
        # The escaping of data follows the kind declared here, never the template's name.
        if self.template is not None and self.format is None:
            raise ValueError("a target with a template must say what it writes: format: "
                             "xml, html or text (it decides how the values are escaped)")
        if self.template is None and self.format is not None:
            raise ValueError("format is for a target with a template (a tracciato "
                             "declares its own)")
        if self.template is None and self.each is not None:
            raise ValueError("each is for a target with a template")
        return self


class FactSpec(Strict):
    """Rows a flow's steps made that the ledger keeps as business facts, for the commission
    and sales reports (`bridge report commissions`, `bridge report sales`)."""

    table: str = Field(description="The table whose rows are the facts (testata).")
    kind: str = Field(pattern=r"^[a-z][a-z0-9_-]*$",
                      description="What the facts are: order, cancel, line...")
    fields: dict[str, str] = Field(min_length=1, description="Fact field: table field.")


class Totals(Strict):
    """The money a flow carries, for reconciliation (`bridge report`): ``record.field``."""

    money_in: str | None = Field(None, description="Field of the source, e.g. ordini.total.")
    money_out: str | None = Field(None, description="Field of the targets' tables, e.g. "
                                                    "testata.totale.")
