"""The SQLite ledger's queries of a pass use their indexes whatever its statistics say.

SQLite's statistics (``ANALYZE``, ``PRAGMA optimize``) keep averages: on a ledger of
100,000 done files they say that a flow's files in a state are 100,000, and the planner
then read every file in id order to find the two a pass resumes (15 ms a query, three
queries a flow, on every idle pass).
"""

from __future__ import annotations

from pathlib import Path

from bridge.ledger.sqlite import SqliteLedger


def test_the_files_a_pass_resumes_are_found_by_index_after_analyze(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.sqlite")
    with ledger.db:
        ledger.db.executemany(
            "INSERT INTO files (id, flow, path, size, sha256, state, created, updated) "
            "VALUES (?, 'ordini', ?, 10, '', 'done', 0, 0)",
            ((i, f"o{i}.csv") for i in range(1, 3001)))
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
    assert "USING INDEX files_state" in plan, plan
    # the statistics are the ones that misled the planner
    stats = dict(ledger.db.execute("SELECT idx, stat FROM sqlite_stat1 WHERE tbl = 'files'"))
    assert stats["files_state"].startswith("3000 3000")
