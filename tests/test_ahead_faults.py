"""The helper of bridge.engine.ahead under unlucky faults: a reference table rewritten while
it works, a helper that hangs, a helper whose disk is full."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.flowkit import make_world, order_file
from tests.test_ahead import FLOW, fetched_two, ready_helper, tree

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                reason="the helper is for machines of two cores or more")

#: The world's flow, each article's description taken from a master table.
LOOKED_UP = "references:\n  master: {file: master.csv, tracciato: test/in}\n" + FLOW.replace(
    "      - dedupe: {key: [codice]}   # an article code already sent is not sent again\n",
    "      - lookup: {reference: master, match: [{field: codice, on: codice}],\n"
    "                 take: {descrizione: descrizione}}\n")


def master(root: Path, word: str) -> None:
    rows = "".join(f"A{n:04d}{i};{word} {n}{i};1,00;1\n" for n in (1, 2) for i in range(2))
    (root / "master.csv").write_text("codice;descrizione;prezzo;qty\n" + rows,
                                     encoding="utf-8")


def two_files(root: Path) -> Path:
    cfg = make_world(root, LOOKED_UP)
    assert "lookup" in cfg.read_text(encoding="utf-8")
    master(root, "Vecchio")
    for n in (1, 2):
        (root / "inbox" / f"o{n}.csv").write_text(order_file(n, 2), encoding="utf-8")
    return cfg


def test_a_reference_rewritten_while_the_helper_worked_is_the_one_the_pass_read(
        tmp_path: Path) -> None:
    """A pass reads a reference table once: file 1 is written with the master as it was.
    The master is then rewritten, and the helper, reading it for the first time, transforms
    file 2 with the new one. Its work is set aside: file 2 is transformed here, with the
    master the pass read, as one process does it (the new master is the next pass's)."""
    pipe, flow, r1, r2 = fetched_two(two_files(tmp_path))
    ledger = pipe.ledger
    try:
        assert pipe.advance(r1.id).state == "done"  # type: ignore[union-attr]
        master(tmp_path, "Nuovo")
        helper = ready_helper(pipe)
        helper.send(pipe, r2, flow)  # type: ignore[arg-type]
        assert helper._answer(r2.id)[0] == "done"  # type: ignore[union-attr]
        pipe.ahead = helper
        assert pipe.advance(r2.id).state == "done"  # type: ignore[union-attr]
        helper.close()
    finally:
        ledger.close()
    out = tree(tmp_path / "erp")
    assert b"Vecchio 10" in out["ART00001.TXT"]
    assert b"Vecchio 20" in out["ART00002.TXT"] and b"Nuovo" not in out["ART00002.TXT"]
    assert helper.tally == {"stale": 1}
    assert list((tmp_path / "state" / "work").glob("*/ahead-*")) == []
