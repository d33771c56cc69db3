"""Business keys of several fields never collide, and read the ledgers already written.

The attack: a sender's order ``("A", "B|C")`` arriving after ``("A|B", "C")`` was sent; joined
plainly by ``|`` both are ``A|B|C``, so the second order would be skipped as already sent,
and never reach the ERP.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.ledger import Ledger, open_ledger, sqlite_ready
from bridge.ledger.sqlite import SqliteLedger
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


#: Keys a sender can make: emoji, a combining accent, a SKU of 5,000 characters, quotes, a
#: backslash before "u0000", a line break, a BOM, nothing, a space, JSON's line separator,
#: the last code point.
ODD_KEYS = ["😀", "e\u0301", "x" * 5000, '"q"', "\\u0000", "line\nbreak", "\ufeffbom", "", " ",
            "\u2028", "\U0010ffff"]


def _planned_with(ledger: Ledger, keys: list[str]) -> None:
    row = ledger.claim("f", "a.csv", 1, 0.0, None, 0.0)
    ledger.set_state(row.id, "fetched", 0.0)
    ledger.plan(row.id, lambda seq, taken: [], keys=keys, fingerprints={}, now=1.0)


@pytest.mark.parametrize("batch", [sqlite_ready.KEY_BATCH, 2])
def test_sent_keys_are_recorded_exactly_whatever_they_hold(tmp_path: Path, batch: int,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    # SQLite records them as JSON arrays, a batch at a time (2: batches of both kinds).
    monkeypatch.setattr(sqlite_ready, "KEY_BATCH", batch)
    ledger = open_ledger(tmp_path / "ledger.sqlite")
    _planned_with(ledger, [*ODD_KEYS, "😀"])  # a key twice is recorded once
    assert ledger.sent_keys("f", [*ODD_KEYS, "x", "e", "q"]) == set(ODD_KEYS)


def _planned_file(ledger: Ledger, name: str, keys: list[str], prints: dict[str, str]) -> int:
    row = ledger.claim("f", name, 1, 0.0, None, 0.0)
    ledger.set_state(row.id, "fetched", 0.0)
    ledger.plan(row.id, lambda seq, taken: [], keys=keys, fingerprints=prints, now=1.0)
    return row.id


def test_keys_asked_in_padded_batches_find_exactly_what_was_sent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The keys and fingerprints asked, a batch at a time padded with its last key: what
    another file sent, never the asking file's own (``besides``), whatever the batch; and
    every key with a fingerprint (``known_keys``), each once, whatever its batch."""
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    pool = [*ODD_KEYS, "a\x00b", "a", "b", "c", "d"]
    other = pool[::2]
    other_id = _planned_file(ledger, "other.csv", other, {k: f"o-{k}" for k in other})
    mine = pool[1::3]
    mine_id = _planned_file(ledger, "mine.csv", mine, {k: f"m-{k}" for k in mine})

    @settings(max_examples=150, deadline=None)
    @given(asked=st.lists(st.sampled_from([*pool, "never", "x"]), max_size=40),
           batch=st.sampled_from([1, 3, sqlite_ready.ASK_BATCH]),
           besides=st.sampled_from([(), (mine_id,), (mine_id, mine_id), (other_id, mine_id)]))
    def check(asked: list[str], batch: int, besides: tuple[int, ...]) -> None:
        monkeypatch.setattr(sqlite_ready, "ASK_BATCH", batch)
        sent = {other_id: set(other), mine_id: set(mine)}
        seen = set().union(*(keys for fid, keys in sent.items() if fid not in besides))
        assert ledger.sent_keys("f", asked, besides=besides) == seen & set(asked)
        latest = {**({k: f"o-{k}" for k in other} if other_id not in besides else {}),
                  **({k: f"m-{k}" for k in mine} if mine_id not in besides else {})}
        assert ledger.fingerprints("f", asked, besides=besides) == {
            k: v for k, v in latest.items() if k in asked}
        monkeypatch.setattr(sqlite_ready, "KNOWN_BATCH", batch)  # the keys of gone
        known = [list(keys) for keys in ledger.known_keys("f", besides=besides)]
        assert all(0 < len(keys) <= batch for keys in known)
        assert sorted(k for keys in known for k in keys) == sorted(latest)  # each once

    check()


def test_keys_are_asked_with_the_same_statement_whatever_the_file(tmp_path: Path) -> None:
    """The ids left out and the keys are bound, and a batch is padded to a power of two:
    files asking 1 to 16 keys, each leaving out its own id, send SQLite one statement
    text, which it prepares once (with the ids in the text: one per file)."""
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    fid = _planned_file(ledger, "a.csv", ["k1", "k5"], {"k1": "p1"})
    texts: set[str] = set()
    db = ledger.db

    class Seen:  # the statements' texts as given to SQLite, before their values
        def execute(self, sql: str, values: tuple[object, ...] = ()) -> sqlite3.Cursor:
            texts.add(sql)
            return db.execute(sql, values)

    ledger.db = Seen()  # type: ignore[assignment]
    for n in range(1, 17):
        mine = (fid + n, fid + n)
        keys = [f"k{i}" for i in range(n)]
        assert ledger.sent_keys("f", keys, besides=mine) == {"k1", "k5"} & set(keys)
        assert ledger.fingerprints("f", keys, besides=mine) == ({"k1": "p1"} if n > 1 else {})
    ledger.db = db
    assert len([t for t in texts if "FROM sent_keys" in t]) == 1
    assert len([t for t in texts if "FROM fingerprints" in t]) == 1


def test_a_key_holding_a_nul_is_recorded_whole(tmp_path: Path) -> None:
    # SQLite's JSON would read "a\x00b" as "a": that key goes a statement a key, so "a"
    # (another article) is not taken for sent.
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    _planned_with(ledger, ["a\x00b", "c"])
    assert ledger.sent_keys("f", ["a", "a\x00b", "c"]) == {"a\x00b", "c"}
