"""The SQLite ledger's queries of a pass use their indexes whatever its statistics say.

SQLite's statistics (``ANALYZE``, ``PRAGMA optimize``) keep averages: on a ledger of
100,000 done files they say that a flow's files in a state are 100,000, and the planner
then read every file in id order to find the two a pass resumes (15 ms a query, three
queries a flow, on every idle pass).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.issues import Issue
from bridge.ledger.migrations import MIGRATIONS
from bridge.ledger.sqlite import SqliteLedger
from tests.flowkit import ledger_at_schema


def test_the_files_a_pass_resumes_are_found_by_index_after_analyze(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    with ledger.db:
        _done_files(ledger, "ordini")
        ledger.db.execute("UPDATE files SET state = 'retrying' WHERE id = 1500")
    ledger.db.execute("ANALYZE")
    said: list[str] = []
    ledger.db.set_trace_callback(said.append)
    try:
        found = ledger.files(flow="ordini", states=frozenset({"checked", "retrying"}))
    finally:
        ledger.db.set_trace_callback(None)
    assert [f.id for f in found] == [1500]
    (query,) = [s for s in said if s.lstrip().upper().startswith("SELECT")]
    plan = " ".join(r[3] for r in ledger.db.execute("EXPLAIN QUERY PLAN " + query))
    assert "USING INDEX files_updated" in plan, plan
    # the statistics are the ones that misled the planner
    stats = dict(ledger.db.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'files'"))
    assert stats["files_updated"].startswith("3000 3000 ")
    assert "files_state" not in stats  # schema 15: files_updated starts with (flow, state)


@pytest.mark.parametrize("by_hand", [False, True], ids=["as-made", "index-dropped-by-hand"])
def test_schema_15_drops_the_index_files_updated_starts_with(tmp_path: Path,
                                                             by_hand: bool) -> None:
    """A ledger of schema 14 (files_state and files_updated both) opens at schema 15 with
    files_state gone, its files kept, and the pass's query on files_updated; a ledger whose
    files_state someone dropped already opens all the same."""
    path = tmp_path / "ledger.sqlite"
    old = ledger_at_schema(path, 14)
    old.executemany("INSERT INTO files (flow, path, size, sha256, state, created, updated) "
                    "VALUES ('ordini', ?, 10, '', ?, 0, 0)",
                    [("a.csv", "done"), ("b.csv", "retrying"), ("c.csv", "done")])
    if by_hand:
        old.execute("DROP INDEX files_state")
    old.commit()
    old.close()
    ledger = SqliteLedger(path)
    assert ledger.schema_version == len(MIGRATIONS) == 19
    names = {r[0] for r in ledger.db.execute("SELECT name FROM sqlite_master WHERE type = "
                                             "'index'")}
    assert "files_state" not in names and "files_updated" in names
    found = ledger.files(flow="ordini", states=frozenset({"retrying"}))
    assert [(f.id, f.path) for f in found] == [(2, "b.csv")]
    assert [f.path for f in ledger.files(flow="ordini")] == ["a.csv", "b.csv", "c.csv"]
    ledger.close()


def test_a_commit_that_bridge_acts_on_is_synced_and_one_that_costs_only_work_is_not(
        tmp_path: Path) -> None:
    """A power cut must not take back a commit that bridge has acted on outside the ledger:
    the claim (the file is then renamed at the source), the plan (outputs are published
    under its names), the outputs written (the file is archived). Those commits are synced
    (synchronous=FULL, 2); a folder's listing, a file fetched or done are not (1): lost,
    the work is done again, and the next synced commit carries them (WAL keeps order)."""
    from bridge.ledger.base import Now, Written
    from bridge.states import DONE, WRITTEN

    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    mode: dict[str, int] = {}

    def after(name: str) -> None:
        mode[name] = ledger.db.execute("PRAGMA synchronous").fetchone()[0]

    ledger.observe("ordini", [("a.csv", 10, 1.0)], Now(1.0, 1.0, "boot"))
    after("observe")
    row = ledger.claim("ordini", "a.csv", 10, 1.0, None, 1.0)
    after("claim")
    ledger.fetched(row.id, 10, "ab" * 32, 2.0)
    after("fetched")
    # what the transform found: a synced commit (the plan, here) comes before any use of it
    ledger.record_issues(row.id, [Issue("no-match", "no article")], durable=False)
    after("issues")
    ledger.record_facts(row.id, "ordini", [("sale", '{"total": ["1.00"]}')], 2.5,
                        durable=False)
    after("facts")
    [out] = ledger.plan(row.id, lambda seq, taken: [("erp", "erp", f"ORD{seq('o'):05d}.TXT")],
                        keys=["1001"], fingerprints={}, now=3.0)
    after("plan")
    ledger.set_state(row.id, WRITTEN, 4.0, written=[Written(out.id, "cd" * 32, 3, 30)])
    after("written")
    ledger.set_state(row.id, DONE, 5.0)
    after("done")
    ledger.set_state(row.id, DONE, 5.0, "again")  # still not synced on its own
    after("done again")
    assert ledger.get(row.id).state == DONE and ledger.outputs(row.id)[0].state == "written"
    assert mode == {"observe": 1, "claim": 2, "fetched": 1, "issues": 1, "facts": 1,
                    "plan": 2, "written": 2, "done": 1, "done again": 1}
    assert [i.code for i in ledger.issues(row.id)] == ["no-match"]
    assert len(list(ledger.facts(["sale"]))) == 1
    ledger.record_issues(row.id, [])  # by default, synced (a refusal's, before quarantine)
    assert ledger.db.execute("PRAGMA synchronous").fetchone()[0] == 2
    # Opened afresh, the ledger syncs every commit but those few.
    again = SqliteLedger(tmp_path / "ledger.sqlite")
    assert again.db.execute("PRAGMA synchronous").fetchone()[0] == 2


def test_a_files_own_keys_and_fingerprints_are_found_by_index_not_by_reading_its_flows(
        tmp_path: Path) -> None:
    """A plan replaces the file's own fingerprints, and an operator's reject forgets its
    keys: each by the file's id (migration 14). Before, the fingerprints of every plan were
    looked for among all of the flow's, and a reject read every sent key of the ledger."""
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    with ledger.db:
        _done_files(ledger, "articoli")
        ledger.db.executemany("INSERT INTO sent_keys VALUES ('articoli', ?, ?)",
                              ((f"K{i}", i) for i in range(1, 3001)))
        ledger.db.executemany("INSERT INTO fingerprints VALUES ('articoli', ?, 'p', ?)",
                              ((f"K{i}", i) for i in range(1, 3001)))
        ledger.db.execute("UPDATE files SET state = 'fetched' WHERE id = 3000")
    ledger.db.execute("ANALYZE")
    said: list[str] = []
    ledger.db.set_trace_callback(said.append)
    try:
        ledger.plan(3000, lambda seq, taken: [], keys=["N1", "N2"], fingerprints={"N1": "q"},
                    now=1.0)
        ledger.forget_keys("articoli", 2999)
    finally:
        ledger.db.set_trace_callback(None)
    deletes = [s for s in said if s.lstrip().upper().startswith("DELETE")]
    # and the held keys of each (schema 17), and the keys a reject forgets left out as never
    # sent (schema 19)
    assert len(deletes) == 6, said
    for query in deletes:
        plan = " ".join(r[3] for r in ledger.db.execute("EXPLAIN QUERY PLAN " + query))
        table = next(t for t in ("unsent_keys", "sent_keys", "fingerprints", "held_keys")
                     if t in query)
        assert f"INDEX {table}_file (file_id=?)" in plan, plan
    # what they did: file 3000's fingerprints replaced, file 2999's keys forgotten
    def of(table: str, file_id: int) -> list[str]:
        return [r[0] for r in ledger.db.execute(
            f"SELECT key FROM {table} WHERE file_id = ? ORDER BY key", (file_id,))]

    assert of("fingerprints", 3000) == ["N1"]
    assert of("sent_keys", 3000) == ["K3000", "N1", "N2"]
    assert of("sent_keys", 2999) == of("fingerprints", 2999) == []
    assert of("sent_keys", 2998) == of("fingerprints", 2998) == ["K2998"]
    assert ledger.db.execute("SELECT COUNT(*) FROM sent_keys").fetchone()[0] == 3001


def _done_files(ledger: SqliteLedger, flow: str, count: int = 3000) -> None:
    """``count`` files of ``flow``, done (ids 1 to ``count``)."""
    ledger.db.executemany(
        "INSERT INTO files (id, flow, path, size, sha256, state, created, updated) "
        "VALUES (?, ?, ?, 10, '', 'done', 0, 0)",
        ((i, flow, f"{flow}{i}.csv") for i in range(1, count + 1)))


@pytest.mark.parametrize("asked_more", [False, True], ids=["few-asked", "many-asked"])
def test_keys_dropped_as_never_sent_are_found_whether_read_whole_or_looked_up(
        tmp_path: Path, asked_more: bool) -> None:
    """The keys a ``dedupe keep: sent`` dropped are read whole when they are no more than
    the keys asked (a large file asks every order), else looked up: the answer is the same,
    the first file that dropped each key, other files' only, this flow's only."""
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    with ledger.db:
        _done_files(ledger, "ordini", 3)
        ledger.db.executemany(
            "INSERT INTO unsent_keys (flow, key, file_id) VALUES (?, ?, ?)",
            [("ordini", "#1", 2), ("ordini", "#1", 1), ("ordini", "#2", 3),
             ("ordini", "#3", 3), ("altro", "#4", 1)])
    extra = [f"#{i}" for i in range(10, 20)] if asked_more else []
    said: list[str] = []
    ledger.db.set_trace_callback(said.append)
    try:
        assert ledger.dropped_keys("ordini", ["#1", "#2", "#4", *extra]) == {"#1": 1, "#2": 3}
        assert ledger.dropped_keys("ordini", ["#1", "#3", *extra], besides=(1, 3)) \
            == {"#1": 2}
        assert ledger.dropped_keys("altro", ["#1", "#4", *extra]) == {"#4": 1}
        assert ledger.dropped_keys("nessuno", ["#1", *extra]) == {}
    finally:
        ledger.db.set_trace_callback(None)
    looked_up = [s for s in said if " IN (" in s and "key IN" in s]
    assert bool(looked_up) == (not asked_more), said
