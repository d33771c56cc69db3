"""Business keys of several fields never collide, and read the ledgers already written.

The attack: a sender's order ``("A", "B|C")`` arriving after ``("A|B", "C")`` was sent; joined
plainly by ``|`` both are ``A|B|C``, so the second order would be skipped as already sent,
and never reach the ERP.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.steps.ops import business_keys
from tests.flowkit import CONFIG, make_world
from tests.test_steps import frame, run

TWO_FIELDS = CONFIG.replace("dedupe: {key: [codice]}", "dedupe: {key: [codice, descrizione]}")
HEADER = "codice;descrizione;prezzo;qty\n"


def test_a_key_made_to_collide_does_not_skip_another_order(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, TWO_FIELDS)
    inbox, erp = tmp_path / "inbox", tmp_path / "erp"
    (inbox / "a.csv").write_text(HEADER + "A|B;C;1,00;1\n", encoding="utf-8")
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["done"]
    (inbox / "b.csv").write_text(HEADER + "A;B|C;2,00;1\n", encoding="utf-8")
    second = run_pass(load(cfg)).outcomes
    assert [(o.state, o.issues) for o in second] == [("done", 0)]
    assert (erp / "ART00002.TXT").read_bytes().startswith(b"A         B|C")


def test_keys_already_in_a_ledger_are_still_known() -> None:
    # What older versions stored: the parts joined by '|', for parts without '|' or '\'.
    stored = {"A1|x", "A2|caffè è"}
    rows = frame(codice=["A1", "A2", "A3"], descrizione=["x", "caffè è", "y"])
    result = run("- dedupe: {key: [codice, descrizione]}", {"o": rows},
                 already_sent=lambda keys: stored & set(keys))
    assert result.tables["o"]["codice"].tolist() == ["A3"]
    assert result.sent_keys == ["A3|y"]


PLAIN = st.text(st.characters(blacklist_characters="|\\", blacklist_categories=["Cs"]))
#: Few letters, so that hypothesis tries the separators and escapes in every place.
ANY = st.text(alphabet="a|\\", max_size=4)


@given(st.lists(PLAIN, min_size=2, max_size=4))
def test_plain_parts_encode_as_before(parts: list[str]) -> None:
    table = pa.table({f"f{i}": [p] for i, p in enumerate(parts)})
    assert business_keys(table, list(table.column_names)).to_pylist() == ["|".join(parts)]


def parts_of(key: str) -> list[str]:
    """The fields back from a key: split at each '|' no '\\' escapes."""
    parts: list[str] = []
    part, escaped = "", False
    for c in key:
        if escaped:
            part, escaped = part + c, False
        elif c == "\\":
            escaped = True
        elif c == "|":
            parts, part = [*parts, part], ""
        else:
            part += c
    return [*parts, part]


@given(st.lists(ANY, min_size=2, max_size=4))
def test_a_key_holds_its_fields_unambiguously(parts: list[str]) -> None:
    # The fields can be read back from the key: two different rows cannot share it.
    table = pa.table({f"f{i}": [p] for i, p in enumerate(parts)})
    (key,) = business_keys(table, list(table.column_names)).to_pylist()
    assert parts_of(key) == parts
