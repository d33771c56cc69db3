"""`recall` (what a delta of the flow last sent for a key: the agent an order went with,
for its cancellation) and `dedupe` with `repeats: first` (a key's first row in the file
alone: a new customer's records before its first order), step by step."""

from __future__ import annotations

import pyarrow as pa
import pytest
import yaml
from pydantic import ValidationError

from tests.test_steps import STEPS, frame, run


def test_recall_gives_the_values_a_delta_sent_and_leaves_the_others() -> None:
    """#1 went with C00101 and agent A01, #3 with no agent; #2 was never remembered (an
    order sent before the delta, or by this file): it keeps today's A09."""
    rows = frame(riferimento=["#1", "#2", "#3"], codice_agente=["A09", "A09", "A09"],
                 codice_cliente=["C00101", "C00101", "C00102"])
    asked: list[list[str]] = []

    def last_sent(keys: list[str]) -> dict[str, str]:
        asked.append(keys)
        return {"#1": "C00101\x1fA01", "#3": "C00102\x1f\x00"}

    result = run("- recall: {key: [riferimento], fields: [codice_cliente, codice_agente], "
                 "take: {codice_agente: codice_agente, codice_cliente: cliente_ordine}}",
                 {"a": rows}, last_sent=last_sent)
    got = result.arrow["a"]
    assert asked == [["#1", "#2", "#3"]]
    assert got.column("codice_agente").to_pylist() == ["A01", "A09", None]
    assert got.column("cliente_ordine").to_pylist() == ["C00101", None, "C00102"]
    assert result.issues == [] and result.fingerprints == {}


def test_dedupe_repeats_first_keeps_a_key_s_first_row_in_the_file() -> None:
    """`b` went with an earlier chunk of the file, `a` comes twice in this one; rows with
    no key are each their own."""
    rows = frame(k=["a", "b", "a", None, None, "c"])
    result = run("- dedupe: {key: [k], repeats: first}", {"t": rows},
                 sent_before=lambda keys: [k == "b" for k in keys])
    assert result.arrow["t"].column("k").to_pylist() == ["a", None, None, "c"]
    assert result.arrow["t"].column("_line").to_pylist() == [2, 5, 6, 7]
    assert result.sent_keys == ["a", "c"] and result.issues == []
    # without it, every row goes on (a later step may refuse the repeats)
    again = run("- dedupe: {key: [k]}", {"t": frame(k=["a", "a"])})
    assert again.tables["t"]["k"].tolist() == ["a", "a"]


@pytest.mark.parametrize("bad", [
    "- recall: {key: [r], fields: [a], take: {b: b}}",   # b: not remembered by the delta
    "- dedupe: {key: [r], keep: sent, repeats: first}",
])
def test_recall_and_repeats_refuse_what_cannot_be(bad: str) -> None:
    with pytest.raises(ValidationError):
        STEPS.validate_python(yaml.safe_load(bad))


def test_recall_with_nothing_remembered_changes_nothing() -> None:
    rows = frame(r=["#1"], a=pa.array(["A09"]))
    result = run("- recall: {key: [r], fields: [a], take: {a: a}}", {"t": rows})
    assert result.tables["t"]["a"].tolist() == ["A09"]
