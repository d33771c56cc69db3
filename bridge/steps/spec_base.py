"""The pieces every step's arguments are made of: strict models, constants, table names."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

#: A constant as YAML writes it; 1.5 is read as an exact Decimal, never a float.
Scalar = StrictBool | StrictInt | Decimal | dt.date | str | None
Table = Annotated[str | None, Field(description="Table the step works on; default: the only one.")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Total(Strict):
    sum: str = Field(description="Field of the lines (or of the source rows) to add up.")
