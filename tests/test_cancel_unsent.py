"""A cancellation (the sample orders flow's `annullo`) goes only for an order the ERP has.
An order held by a file whose outputs never reached the ERP, then rejected, is not an
order the ERP has: its cancellation must not reach the ERP before (or without) it."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner

from bridge import spec
from bridge.cli import main
from bridge.codecs import decode
from bridge.config import load
from bridge.engine import clock
from bridge.engine.ahead import Helper
from bridge.engine.ahead_here import Recording
from bridge.engine.context import Outcome
from bridge.engine.pipeline import Pipeline
from bridge.engine.runner import run_pass
from bridge.ledger import open_ledger
from tests.flowkit import CONFIG as WORLD
from tests.flowkit import make_world, order_file
from tests.test_business_lifecycle import CARD, export
from tests.test_samples import NOON, sample_copy


def take(cfg: Path, text: str, name: str, at: float) -> Outcome:
    """One export through the orders flow, past its readiness window: its outcome."""
    (cfg.parent / "inbox" / "shopify" / name).write_text(text, encoding="utf-8")
    conf = load(cfg)
    assert run_pass(conf, flows=["ordini"], clock=lambda: at).outcomes == []
    [outcome] = run_pass(conf, flows=["ordini"], clock=lambda: at + 60).outcomes
    return outcome


def erp_records(cfg: Path) -> dict[str, list[str]]:
    """The orders and the cancellations the ERP got, by their shop reference."""
    got: dict[str, list[str]] = {"testata": [], "annullo": []}
    for txt in sorted((cfg.parent / "erp" / "ordini").glob("*.TXT")):
        if txt.read_bytes() == b"foreign":
            continue
        tables = decode(txt.read_bytes(), spec.load("gestionale/ordini")).tables
        for record in got:
            if record in tables:
                got[record] += tables[record]["riferimento"].tolist()
    return got


def failed_then_refunded(tmp_path: Path) -> tuple[Path, Outcome]:
    """#4001 paid in file 1, whose output cannot be written (a foreign file has its name):
    failed, out of attempts, its keys recorded. #4001 refunded in file 2: what became of
    file 2."""
    cfg = sample_copy(tmp_path)
    for old in (cfg.parent / "inbox" / "shopify").glob("*.csv"):
        old.unlink()
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("    on_bad_rows: reject-file    #",
                                "    max_attempts: 1\n    on_bad_rows: reject-file    #", 1),
                   encoding="utf-8")
    (cfg.parent / "erp" / "ordini").mkdir(parents=True)
    (cfg.parent / "erp" / "ordini" / "ORD000001.TXT").write_bytes(b"foreign")
    assert take(cfg, export([("#4001", "paid", CARD, "0.00")]), "orders_export_1.csv",
                NOON).state == "failed"
    second = take(cfg, export([("#4001", "refunded", CARD, "122.00")]),
                  "orders_export_2.csv", NOON + 3600)
    return cfg, second


def test_no_cancellation_reaches_the_erp_for_an_order_of_a_file_rejected_since(
        tmp_path: Path, runner: CliRunner) -> None:
    """The cancellation of #4001 reached the ERP at once; file 1 rejected, the ERP had a
    cancellation of an order it never had, and nothing said so."""
    cfg, second = failed_then_refunded(tmp_path)
    assert erp_records(cfg) == {"testata": [], "annullo": []}
    assert second.state == "retrying", second
    assert ("'#4001' is held by file 1, whose outputs are not all written"
            in second.message), second.message
    rejected = runner.invoke(main, ["--config", str(cfg), "reject", "1", "--reason",
                                    "the ERP folder had a foreign file"])
    assert rejected.exit_code == 0, rejected.output
    again = runner.invoke(main, ["--config", str(cfg), "retry", "2"])
    assert again.exit_code == 0, again.output
    assert erp_records(cfg) == {"testata": [], "annullo": []}
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ("never-sent", "#4001") in [(i.code, i.value) for i in ledger.issues(2)]
    finally:
        ledger.close()


def test_a_cancellation_waits_for_its_order_and_goes_after_it(
        tmp_path: Path, runner: CliRunner) -> None:
    """File 1 retried once its target is free: its order goes, then file 2's
    cancellation, in that order."""
    cfg, _ = failed_then_refunded(tmp_path)
    (cfg.parent / "erp" / "ordini" / "ORD000001.TXT").unlink()
    for file_id in ("1", "2"):
        got = runner.invoke(main, ["--config", str(cfg), "retry", file_id])
        assert got.exit_code == 0, got.output
    assert erp_records(cfg) == {"testata": ["#4001"], "annullo": ["#4001"]}
    first, second = sorted((cfg.parent / "erp" / "ordini").glob("*.TXT"))
    assert b"#4001" in first.read_bytes() and b"#4001" in second.read_bytes()



def test_a_transform_done_ahead_asks_again_which_keys_are_unwritten(
        tmp_path: Path) -> None:
    """A helper process transforms files ahead, and every answer of the ledger its steps
    relied on is asked again before its work is used: the keys held by a file whose
    outputs are not all written too. File 1's output is written after the helper asked (no
    key written since, the answer on the keys alone would seem to hold): its work is
    stale."""
    cfg = make_world(tmp_path, WORLD.replace("retry_backoff: 0",
                                             "retry_backoff: 0\n    max_attempts: 2"))
    (tmp_path / "erp").mkdir()
    (tmp_path / "erp" / "ART00001.TXT").write_bytes(b"foreign")
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    [first] = run_pass(load(cfg)).outcomes
    assert first.state == "retrying"  # planned, its keys recorded, its output not written
    conf = load(cfg)
    ledger = open_ledger(conf.path(conf.ledger))
    try:
        pipe = Pipeline(conf, ledger, {}, None, clock.now())
        seen = Recording(ledger)
        assert seen.unwritten_keys("articoli", ["A00010"], besides=(2,)) == {"A00010": 1}
        mark = ledger.keys_mark()
        [out] = ledger.outputs(1)
        ledger.set_output(out.id, "written")
        helper = Helper(None, None, None)
        helper.asked[2] = tmp_path / "ahead"
        helper.marks[2] = mark
        helper.answers[2] = ("done", 2, SimpleNamespace(), seen.asked, {})
        assert helper.result(pipe, SimpleNamespace(id=2, flow="articoli")) is None
        assert helper.tally == {"stale": 1}
    finally:
        ledger.close()


def test_a_cancellation_waits_past_its_attempts_and_goes_by_itself(
        tmp_path: Path, runner: CliRunner) -> None:
    """The cancellation's file waits for file 1 however long a person takes: it spent its
    attempts waiting and ended failed itself, so once file 1 was retried (as its message
    says to) its cancellation never went unless someone retried it too."""
    cfg, second = failed_then_refunded(tmp_path)
    assert second.state == "retrying", second
    assert "`bridge retry 1`" in second.message, second.message
    (cfg.parent / "erp" / "ordini" / "ORD000001.TXT").unlink()
    got = runner.invoke(main, ["--config", str(cfg), "retry", "1"])
    assert got.exit_code == 0, got.output
    assert erp_records(cfg) == {"testata": ["#4001"], "annullo": []}
    later = NOON + 30 * 86400  # its next try has come
    [outcome] = run_pass(load(cfg), flows=["ordini"], clock=lambda: later).outcomes
    assert (outcome.file_id, outcome.state) == (2, "done"), outcome
    assert erp_records(cfg) == {"testata": ["#4001"], "annullo": ["#4001"]}


def test_a_cancellation_does_not_pass_an_order_that_fails_again_in_the_same_pass(
        tmp_path: Path, runner: CliRunner) -> None:
    """File 1, retried by an operator while its target still refuses it, is retrying
    again (its order not at the ERP). File 2, the cancellation waiting for it, came up in
    the same pass right after it: a key held by a retrying file did not count as not at
    the target, and the cancellation reached the ERP before (and maybe without) its
    order."""
    cfg = sample_copy(tmp_path)
    for old in (cfg.parent / "inbox" / "shopify").glob("*.csv"):
        old.unlink()
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("    on_bad_rows: reject-file    #",
                                "    max_attempts: 3\n    on_bad_rows: reject-file    #", 1),
                   encoding="utf-8")
    (cfg.parent / "erp" / "ordini").mkdir(parents=True)
    (cfg.parent / "erp" / "ordini" / "ORD000001.TXT").write_bytes(b"foreign")
    assert take(cfg, export([("#4001", "paid", CARD, "0.00")]), "orders_export_1.csv",
                NOON).state == "retrying"
    for at in (NOON + 1800, NOON + 2700):  # out of attempts: failed
        run_pass(load(cfg), flows=["ordini"], clock=lambda at=at: at)
    assert take(cfg, export([("#4001", "refunded", CARD, "122.00")]),
                "orders_export_2.csv", NOON + 3600).state == "retrying"  # it waits
    again = runner.invoke(main, ["--config", str(cfg), "retry", "1"])  # still refused
    assert "retrying" in again.output, again.output
    later = time.time() + 86400  # both are due (the retry above ran on the real clock)
    states = {o.file_id: o.state
              for o in run_pass(load(cfg), flows=["ordini"], clock=lambda: later).outcomes}
    assert states == {1: "retrying", 2: "retrying"}, states
    assert erp_records(cfg) == {"testata": [], "annullo": []}
