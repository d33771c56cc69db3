"""The base of every part of the tracciato language (strict, immutable pydantic models),
and its small parts: where a record type is read, where a sign is written."""

from __future__ import annotations

import codecs
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    """Base of every part of the model: unknown keys are mistakes, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SignFrom(Strict):
    """A number whose sign is written in another field of the record (its own column,
    anywhere in the line): the digits are unsigned, the other field says which way."""

    field: str = Field(description="The field (of the same record) that holds the sign.")
    negative: list[str] = Field(default_factory=lambda: ["-"],
                                description="Texts of that field meaning negative.")
    positive: list[str] = Field(default_factory=lambda: ["+", ""],
                                description="Texts meaning positive ('' : blank).")

    @model_validator(mode="after")
    def _apart(self) -> SignFrom:
        if not self.negative or not self.positive:
            raise ValueError("negative and positive each need at least one text")
        both = set(self.negative) & set(self.positive)
        if both:
            raise ValueError(f"{sorted(both)[0]!r} is both negative and positive")
        return self


class Discriminator(Strict):
    """Where the record type of a line is read: a fixed position, or a column."""

    start: Annotated[int, Field(gt=0)] | None = None
    length: Annotated[int, Field(gt=0)] | None = None
    column: str | None = Field(None, description="Header name (delimited).")
    index: Annotated[int, Field(gt=0)] | None = Field(None, description="1-based position.")

    @model_validator(mode="after")
    def _one_place(self) -> Discriminator:
        fixed = self.start is not None and self.length is not None
        if sum([fixed, self.column is not None, self.index is not None]) != 1:
            raise ValueError("give start and length, or column, or index (exactly one)")
        return self


def known_encoding(v: str) -> str:
    """``v``, when Python has a codec of that name; else the mistake, for a validator."""
    try:
        codecs.lookup(v)
    except LookupError:
        raise ValueError(f"unknown encoding {v!r}") from None
    return v
