"""The helper's answers on business keys, taken without asking the ledger again only when
nothing since could have changed them: no other connection's commit, and none of this
connection's key writes holding one of the keys asked about."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from bridge.engine.pipeline import Pipeline
from bridge.engine.runner import reading
from bridge.ledger import open_ledger
from bridge.ledger.sqlite_ready import KeyJournal
from tests.flowkit import make_world, order_file
from tests.test_ahead import FLOW, fetched_two, ready_helper


def _plan(ledger: Any, file_id: int, keys: list[str], prints: dict[str, str] | None = None
          ) -> None:
    ledger.plan(file_id, lambda seq, taken: [], keys=keys, fingerprints=prints or {},
                now=time.time())


def _claimed(ledger: Any, name: str) -> int:
    """A file claimed and fetched: ready to be planned."""
    file_id = int(ledger.claim("articoli", name, 10, 1.0, None, time.time()).id)
    ledger.fetched(file_id, 10, f"{file_id:064x}", time.time())
    return file_id


def test_what_a_mark_tells_and_what_it_does_not(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    ledger = open_ledger(path)
    other = open_ledger(path)  # another worker's connection to the same ledger
    try:
        mark = ledger.keys_mark()
        if mark is None:  # PostgreSQL: never sure, every answer is asked again
            assert not ledger.keys_unchanged(mark, "articoli", ["A"])
            return
        assert ledger.keys_unchanged(mark, "articoli", ["A", "B"])
        first, second = _claimed(ledger, "o1.csv"), _claimed(ledger, "o2.csv")
        # This connection's own commits of other things change nothing.
        assert ledger.keys_unchanged(mark, "articoli", ["A", "B"])
        _plan(ledger, first, ["A", "C"], {"P": "x"})
        assert not ledger.keys_unchanged(mark, "articoli", ["B", "C"])  # C written since
        assert not ledger.keys_unchanged(mark, "articoli", ["P"])  # a fingerprint's key
        assert ledger.keys_unchanged(mark, "articoli", ["B", "D"])
        assert ledger.keys_unchanged(mark, "clienti", ["A", "C"])  # another flow's keys
        later = ledger.keys_mark()
        assert ledger.keys_unchanged(later, "articoli", ["A", "C"])  # written before it
        ledger.forget_keys("articoli", first)
        assert not ledger.keys_unchanged(later, "articoli", ["Z"])  # any key of the flow
        assert ledger.keys_unchanged(later, "clienti", ["Z"])
        # Another connection's commit, whatever it holds: not sure any more.
        latest = ledger.keys_mark()
        assert ledger.keys_unchanged(latest, "articoli", ["Z"])
        _claimed(other, "o3.csv")
        assert not ledger.keys_unchanged(latest, "articoli", ["Z"])
        # Older than the writes kept: not sure either.
        oldest = ledger.keys_mark()
        for _ in range(KeyJournal.KEPT + 1):
            ledger.forget_keys("articoli", second)
        assert not ledger.keys_unchanged(oldest, "clienti", ["Z"])
        assert not ledger.keys_unchanged(None, "clienti", ["Z"])
    finally:
        other.close()
        ledger.close()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                    reason="the helper is for machines of two cores or more")
@pytest.mark.parametrize("who", ["this process", "another worker"])
def test_a_key_sent_since_the_hand_over_makes_the_answer_stale(tmp_path: Path,
                                                              who: str) -> None:
    """File 2 is handed over, then file 1 (holding file 2's A00010) is planned: by this
    process, or by another worker on its own connection. Either way the helper's answer is
    set aside and file 2 is transformed here, without the article."""
    cfg_path = make_world(tmp_path, FLOW)
    (tmp_path / "inbox" / "o1.csv").write_text(order_file(1, 2), encoding="utf-8")
    (tmp_path / "inbox" / "o2.csv").write_text(order_file(2, 2) + "A00010;Di nuovo;1,00;1\n",
                                               encoding="utf-8")
    pipe, flow, r1, r2 = fetched_two(cfg_path)
    other = Pipeline(pipe.cfg, open_ledger(pipe.cfg.path(pipe.cfg.ledger)), {}, None,
                     reading(time.time))
    try:
        helper = ready_helper(pipe)
        helper.send(pipe, r2, flow)
        assert helper._answer(r2.id)[0] == "done"  # type: ignore[index]
        writer = pipe if who == "this process" else other
        assert writer.advance(r1.id).state == "done"  # type: ignore[union-attr]
        pipe.ahead = helper
        assert pipe.advance(r2.id).state == "done"  # type: ignore[union-attr]
        assert helper.tally == {"stale": 1}
        helper.close()
    finally:
        other.ledger.close()
        pipe.ledger.close()
    second = (tmp_path / "erp" / "ART00002.TXT").read_bytes().decode("cp1252")
    assert "A00010" not in second and second.count("\r\n") == 2


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                    reason="the helper is for machines of two cores or more")
def test_an_answer_nothing_could_change_is_used_without_asking_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File 1 is planned after file 2 was handed over, but holds none of its keys: the
    helper's answer is used as it is, and the ledger is not asked about file 2's keys
    again (PostgreSQL: it is, and the answer is used all the same)."""
    cfg_path = make_world(tmp_path, FLOW)
    for n in (1, 2):
        (tmp_path / "inbox" / f"o{n}.csv").write_text(order_file(n, 2), encoding="utf-8")
    pipe, flow, r1, r2 = fetched_two(cfg_path)
    asked: list[list[str]] = []
    real = pipe.ledger.sent_keys

    def counted(flow_name: str, keys: list[str], **kw: Any) -> set[str]:
        asked.append(keys)
        return real(flow_name, keys, **kw)

    try:
        helper = ready_helper(pipe)
        helper.send(pipe, r2, flow)
        assert helper._answer(r2.id)[0] == "done"  # type: ignore[index]
        assert pipe.advance(r1.id).state == "done"  # type: ignore[union-attr]
        pipe.ahead = helper
        monkeypatch.setattr(pipe.ledger, "sent_keys", counted)
        assert pipe.advance(r2.id).state == "done"  # type: ignore[union-attr]
        assert helper.tally == {"used": 1}
        sure = pipe.ledger.keys_mark() is not None
        assert asked == ([] if sure else [["A00020", "A00021"]])
        helper.close()
    finally:
        pipe.ledger.close()
    second = (tmp_path / "erp" / "ART00002.TXT").read_bytes().decode("cp1252")
    assert "A00020" in second and "A00021" in second
