"""The message of a file that waits for another one (a cancellation of an order held by a
failed file) quotes the key as every step issue does: clipped. It is the file's reason and
an event of the ledger at each try; a 300,000-character key made each of them 300 KB."""

from __future__ import annotations

import pyarrow as pa
import pytest

from bridge.errors import WaitsForFile
from bridge.steps.apply import apply_steps
from bridge.steps.context import StepContext
from bridge.steps.spec import Dedupe


def test_the_key_a_waiting_file_names_is_clipped() -> None:
    key = "#" + "9" * 300_000
    step = Dedupe.model_validate({"dedupe": {"table": "annullo", "key": ["riferimento"],
                                             "keep": "sent"}})
    ctx = StepContext(already_sent=lambda keys: set(keys),
                      unwritten=lambda keys: {k: 1 for k in keys})
    with pytest.raises(WaitsForFile) as got:
        apply_steps([step], {"annullo": pa.table({"riferimento": [key]})}, ctx)
    said = str(got.value)
    assert "is held by file 1" in said and "#999" in said
    assert len(said) < 1000, len(said)
