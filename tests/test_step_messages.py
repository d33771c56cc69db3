"""A step's issue quotes the sender's value, clipped: a 300,000-character SKU, customer
key or order name must not become a 300,000-character message in the ledger, in
`bridge show` and in every report that lists it."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.test_steps import frame, run

LONG = "<script>" + "Z" * 300_000
REFERENCE = pd.DataFrame({"codice": ["A1"], "iva": ["22"]})
TWICE = pd.DataFrame({"codice": [LONG, LONG], "iva": ["22", "10"]})


@pytest.mark.parametrize(("steps", "ctx"), [
    ("- lookup: {reference: articoli, match: [{field: sku, on: codice}],"
     " take: {iva: iva}, missing: issue}", {"reference": {"articoli": REFERENCE}.get}),
    ("- lookup: {reference: articoli, match: [{field: sku, on: codice}],"
     " take: {iva: iva}, missing: hold}", {"reference": {"articoli": REFERENCE}.get}),
    ("- lookup: {reference: articoli, match: [{field: sku, on: codice}],"
     " take: {iva: iva}, missing: ignore, shared: note}", {"reference": {"articoli": TWICE}.get}),
    ("- lookup: {reference: articoli, match: [{field: sku, on: codice}],"
     " take: {iva: iva}, missing: ignore, shared: refuse}",
     {"reference": {"articoli": TWICE}.get}),
    ("- translate: {field: sku, into: x, values: {A1: 1}}", {}),
    ("- translate: {field: sku, into: x, values: {A1: 1}, missing: hold}", {}),
    ("- dedupe: {key: [sku]}", {"already_sent": lambda keys: set(keys)}),
    ("- dedupe: {key: [sku], keep: sent}", {}),
])
def test_a_step_quotes_a_long_value_clipped(steps: str, ctx: dict[str, object]) -> None:
    result = run(steps, {"o": frame(sku=[LONG, "A1"])}, **ctx)
    said = [i.message for i in result.issues] + result.held
    assert any("<script>ZZZ" in text for text in said)  # the value's start is shown
    assert all(len(text) < 1_000 for text in said), [len(text) for text in said]
