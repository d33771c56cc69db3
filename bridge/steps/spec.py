"""The step language: what a flow does to the decoded tables before it writes them.

Each step is a one-key mapping in YAML (``- rename: {...}``), read into one of the models
here; :data:`StepSpec` is their union, chosen by that key. Expressions are strings: the name
of a field, or a jinja2 expression over the row's fields (see :mod:`bridge.steps.expr`).
Nothing here imports pandas, pyarrow or jinja2: loading a configuration stays cheap.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from bridge.steps.spec_base import Scalar, Strict, Table, Total
from bridge.steps.spec_business import (
    CheckArgs,
    DeltaArgs,
    ExtractArgs,
    PercentArgs,
    RecallArgs,
    SpreadArgs,
    TotalsArgs,
    TranslateArgs,
    VatArgs,
)


class RenameArgs(Strict):
    table: Table = None
    fields: dict[str, str] = Field(description="Old name: new name.")


class SetArgs(Strict):
    table: Table = None
    fields: dict[str, Scalar] = Field(description="Field: constant, the same on every row.")


class ComputeArgs(Strict):
    table: Table = None
    fields: dict[str, str] = Field(
        description="Field: expression, computed in order (a field may use the ones above).")


class MatchKey(Strict):
    field: str | list[str] = Field(description="Field of the table (or fields, together).")
    on: str | list[str] = Field(description="Column of the reference table it must equal "
                                "(or columns, one per field).")
    ignore_case: bool = Field(False, description="Compare text without case, and without "
                              "spaces around and doubled inside.")

    @property
    def fields(self) -> list[str]:
        return [self.field] if isinstance(self.field, str) else list(self.field)

    @property
    def columns(self) -> list[str]:
        return [self.on] if isinstance(self.on, str) else list(self.on)

    @model_validator(mode="after")
    def _paired(self) -> MatchKey:
        if len(self.fields) != len(self.columns) or not self.fields:
            raise ValueError("field and on must name as many fields as columns")
        return self

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # bridge's own YAML loader keeps `on`; PyYAML's safe_load (YAML 1.1), which a
        # program building steps may use, reads the bare key `on` as the boolean True.
        if isinstance(data, dict) and True in data and "on" not in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        return data


class LookupArgs(Strict):
    table: Table = None
    reference: str = Field(description="Name of the reference table (master data).")
    match: list[MatchKey] = Field(min_length=1, description="Keys tried in order: first wins.")
    take: dict[str, str] = Field(
        min_length=1, description="Field to fill: column of the reference table.")
    missing: Literal["issue", "default", "hold", "ignore"] = Field(
        "issue", description="When no key finds a row: an issue; the defaults; hold the file "
        "for an operator; or leave the fields empty.")
    default: dict[str, Scalar] = Field(
        default_factory=dict, description="Values of `take` fields for rows with no match.")
    by: list[str] = Field(
        default_factory=list, description="Look up once per group of rows with equal values "
        "here, with the keys of its first row, for all its rows: an order is found, missed "
        "or held as a whole (Shopify gives the e-mail on an order's first line only).")
    shared: Literal["first", "note", "refuse"] = Field(
        "first", description="A key several rows of the reference share (a group's VAT "
        "number): the first row is taken; `note` also says so, with a `shared-match` note; "
        "`refuse`, for a key that should be one row's (an article's code): rows that "
        "share it with other values to take make the row an `ambiguous-match` error.")

    @model_validator(mode="after")
    def _defaults_known(self) -> LookupArgs:
        if self.missing == "default" and not self.default:
            raise ValueError("missing: default needs default values")
        stray = sorted(set(self.default) - set(self.take))
        if stray:
            raise ValueError(f"default: {stray[0]!r} is not a field of take")
        return self


class FilterArgs(Strict):
    table: Table = None
    keep: str = Field(description="Expression: rows where it is true are kept.")
    by: list[str] = Field(
        default_factory=list,
        description="Decide per group of rows with equal values here, on the group's first "
        "row (Shopify puts the order's status on its first line only).")
    note: str | None = Field(
        None, description="Rows left out wait for a later file (an order not paid yet): "
        "each group, or row, left out gets a `waiting` note with this text. Nothing is "
        "remembered as sent, so a later export that shows them payable sends them.")


class DedupeArgs(Strict):
    table: Table = None
    key: list[str] = Field(min_length=1, description="Fields that make the business key.")
    keep: Literal["new", "sent"] = Field(
        "new", description="new: skip the keys an earlier file sent (noted `already-sent`), "
        "and remember the others as sent once written; sent: keep only the keys sent, by an "
        "earlier file or by this one through a dedupe before (a cancellation of an order the "
        "ERP has, or gets with this file), noting the others `never-sent`, and remember "
        "nothing.")
    repeats: Literal["keep", "first"] = Field(
        "keep", description="A key given again later in the same file: keep: every row of "
        "it goes on; first: only its first row (a new customer's records, before its first "
        "order of the file alone). With keep: new.")

    @model_validator(mode="after")
    def _first_of_new(self) -> DedupeArgs:
        if self.repeats == "first" and self.keep == "sent":
            raise ValueError("repeats: first goes with keep: new (the keys this file sends)")
        return self


class Part(Strict):
    into: str = Field(description="Name of the table made.")
    fields: dict[str, str] = Field(default_factory=dict, description="Field: expression.")


class ExtraLine(Strict):
    """A line made from the group's first row, when ``when`` holds: shipping, a discount."""

    when: str = Field(description="Expression over the group's first row.")
    fields: dict[str, str] = Field(min_length=1, description="Field: expression.")


class GroupArgs(Strict):
    table: Table = None
    by: list[str] = Field(min_length=1)
    header: Part = Field(description="One row per group, from the group's first row.")
    lines: Part | None = Field(None, description="One row per source row, under its header.")
    extra_lines: list[ExtraLine] = Field(
        default_factory=list, description="Lines added after each group's own lines.")
    number_lines: str | None = Field(None, description="Field numbering lines 1..n per group.")
    totals: dict[str, Total] = Field(
        default_factory=dict, description="Header field: sum of a field over the group.")
    keep_source: bool = Field(False, description="Keep the grouped table after the step.")

    @model_validator(mode="after")
    def _coherent(self) -> GroupArgs:
        if self.lines is not None and self.lines.into == self.header.into:
            raise ValueError("header and lines need different tables")
        if self.number_lines is not None and self.lines is None:
            raise ValueError("number_lines needs lines")
        if self.extra_lines and self.lines is None:
            raise ValueError("extra_lines needs lines")
        return self


class TrailerArgs(Strict):
    into: str
    count: str | None = Field(None, description="Field holding the number of records.")
    include: Literal["all"] | list[str] = Field(
        "all", description="Tables counted: all, or a list of names.")
    include_self: bool = Field(True, description="Whether the trailer counts itself.")
    fields: dict[str, str] = Field(
        default_factory=dict, description="Field: expression over the run's variables.")


class MapArgs(Strict):
    table: Table = None
    into: str
    fields: dict[str, str] = Field(min_length=1, description="Field: expression.")


class DropArgs(Strict):
    tables: list[str] = Field(default_factory=list, description="Tables not written.")
    table: Table = None
    fields: list[str] = Field(default_factory=list, description="Fields removed from table.")

    @model_validator(mode="after")
    def _something(self) -> DropArgs:
        if not self.tables and not self.fields:
            raise ValueError("give tables, or fields (of table)")
        return self




class Step(Strict):
    kind: ClassVar[str]

    @property
    def args(self) -> Strict:
        return getattr(self, self.kind)  # type: ignore[no-any-return]


class Rename(Step):
    kind: ClassVar[str] = "rename"
    rename: RenameArgs


class Set(Step):
    kind: ClassVar[str] = "set"
    set: SetArgs


class Compute(Step):
    kind: ClassVar[str] = "compute"
    compute: ComputeArgs


class Lookup(Step):
    kind: ClassVar[str] = "lookup"
    lookup: LookupArgs


class Filter(Step):
    kind: ClassVar[str] = "filter"
    filter: FilterArgs


class Dedupe(Step):
    kind: ClassVar[str] = "dedupe"
    dedupe: DedupeArgs


class Group(Step):
    kind: ClassVar[str] = "group"
    group: GroupArgs


class Trailer(Step):
    kind: ClassVar[str] = "trailer"
    trailer: TrailerArgs


class Map(Step):
    kind: ClassVar[str] = "map"
    map: MapArgs


class Drop(Step):
    kind: ClassVar[str] = "drop"
    drop: DropArgs


class Translate(Step):
    kind: ClassVar[str] = "translate"
    translate: TranslateArgs


class Vat(Step):
    kind: ClassVar[str] = "vat"
    vat: VatArgs


class Percent(Step):
    kind: ClassVar[str] = "percent"
    percent: PercentArgs


class Spread(Step):
    kind: ClassVar[str] = "spread"
    spread: SpreadArgs


class Totals(Step):
    kind: ClassVar[str] = "totals"
    totals: TotalsArgs


class Extract(Step):
    kind: ClassVar[str] = "extract"
    extract: ExtractArgs


class Check(Step):
    kind: ClassVar[str] = "check"
    check: CheckArgs


class Delta(Step):
    kind: ClassVar[str] = "delta"
    delta: DeltaArgs


class Recall(Step):
    kind: ClassVar[str] = "recall"
    recall: RecallArgs


KINDS: dict[str, type[Step]] = {
    cls.kind: cls
    for cls in (Rename, Set, Compute, Lookup, Filter, Dedupe, Group, Trailer, Map, Drop,
                Translate, Vat, Percent, Spread, Totals, Extract, Check, Delta, Recall)
}


def _kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next(iter(value)) if len(value) == 1 else None
    return getattr(value, "kind", None)


StepSpec = Annotated[
    Annotated[Rename, Tag("rename")] | Annotated[Set, Tag("set")]
    | Annotated[Compute, Tag("compute")] | Annotated[Lookup, Tag("lookup")]
    | Annotated[Filter, Tag("filter")] | Annotated[Dedupe, Tag("dedupe")]
    | Annotated[Group, Tag("group")] | Annotated[Trailer, Tag("trailer")]
    | Annotated[Map, Tag("map")] | Annotated[Drop, Tag("drop")]
    | Annotated[Translate, Tag("translate")] | Annotated[Vat, Tag("vat")]
    | Annotated[Percent, Tag("percent")] | Annotated[Spread, Tag("spread")]
    | Annotated[Totals, Tag("totals")]
    | Annotated[Extract, Tag("extract")] | Annotated[Check, Tag("check")]
    | Annotated[Delta, Tag("delta")] | Annotated[Recall, Tag("recall")],
    Discriminator(
        _kind,
        custom_error_type="step",
        custom_error_message="a step is a mapping with one key: " + ", ".join(KINDS),
    ),
]
