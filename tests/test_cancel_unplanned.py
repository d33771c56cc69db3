"""An order whose file failed before its plan (nothing of it in the ledger), cancelled in a
later export read meanwhile: the cancellation is dropped as `never-sent` (the ERP has no
such order), and the ledger keeps that it was. Retried, the older file does not send the
order: the ERP ends as it would have had the export cancelling it come last, with neither
the order nor a cancellation, and the older file notes `cancelled-unsent`, naming the file
that cancelled it. Nothing waits for the failed file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from bridge import faults
from bridge.config import load
from bridge.engine import clock
from bridge.engine.ahead import Helper
from bridge.engine.ahead_here import Recording
from bridge.engine.pipeline import Pipeline
from bridge.engine.runner import run_pass
from bridge.ledger import open_ledger
from bridge.ledger.migrations import MIGRATIONS
from bridge.ledger.postgres import PostgresLedger
from tests.test_business_lifecycle import CARD, export
from tests.test_cancel_held import cli, erp_bytes, erp_files, later_pass
from tests.test_cancel_unsent import take
from tests.test_samples import NOON, sample_copy

PAID = [("#4001", "paid", CARD, "0.00"), ("#4002", "paid", CARD, "0.00")]
REFUNDED = [("#4001", "refunded", CARD, "122.00")]


def world(tmp_path: Path) -> Path:
    """The sample company, its inbox empty: its bridge.yaml."""
    cfg = sample_copy(tmp_path)
    for old in (cfg.parent / "inbox" / "shopify").glob("*.csv"):
        old.unlink()
    return cfg


def failed_then_refunded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """#4001 and #4002 paid in file 1, which fails before its plan (a bug as it reads
    them: failed, for a person); #4001 refunded in file 2, taken meanwhile."""
    cfg = world(tmp_path)
    monkeypatch.setattr(faults, "_raise", "stream-part:1")
    monkeypatch.setattr(faults, "_counts", {})
    assert take(cfg, export(PAID), "orders_export_1.csv", NOON).state == "failed"
    monkeypatch.setattr(faults, "_raise", "")
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:  # nothing of file 1 planned: no key of it anywhere
        assert ledger.outputs(1) == []
        assert ledger.sent_keys("ordini", ["#4001", "#4002"]) == set()
    finally:
        ledger.close()
    second = take(cfg, export(REFUNDED), "orders_export_2.csv", NOON + 3600)
    assert second.state == "done", second  # never waits for the failed file
    return cfg


def erp_all(cfg: Path) -> dict[str, bytes]:
    """Every file the ERP got (the fixed-width orders and the Easyfatt XML), by name."""
    erp = cfg.parent / "erp"
    return {p.relative_to(erp).as_posix(): p.read_bytes()
            for p in sorted(erp.rglob("*")) if p.is_file()}


def paid_alone(tmp_path: Path) -> dict[str, bytes]:
    """What the ERP gets of an export of #4002 alone, in a company of its own."""
    cfg = world(tmp_path / "alone")
    assert take(cfg, export(PAID[1:]), "orders_export_1.csv", NOON).state == "done"
    return erp_all(cfg)


def test_an_order_cancelled_while_its_file_failed_is_not_sent_once_retried(
        tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """File 1 retried sent #4001 after file 2 had dropped its cancellation as never sent:
    the ERP had an order the shop had refunded, and never got its cancellation."""
    cfg = failed_then_refunded(tmp_path, monkeypatch)
    assert erp_bytes(cfg) == []
    cli(runner, cfg, "retry", "1")
    assert erp_files(cfg) == [{"testata": ["#4002"], "annullo": []}]
    alone = paid_alone(tmp_path)
    assert sorted(alone) == ["easyfatt/ordini_000001.xml", "ordini/ORD000001.TXT",
                             "ordini/ORD000001.TXT.ok"]  # the ERP's marker too
    assert erp_all(cfg) == alone
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ledger.get(1).state == "done"
        [note] = [i for i in ledger.issues(1) if i.code == "cancelled-unsent"]
        assert note.value == "#4001" and "file 2" in note.message, note
        assert ("never-sent", "#4001") in [(i.code, i.value) for i in ledger.issues(2)]
        assert ledger.sent_keys("ordini", ["#4001", "#4002"]) == {"#4002"}
    finally:
        ledger.close()
    assert later_pass(cfg) == {}  # nothing more, nothing twice
    # The shop's next export still shows #4001 refunded: nothing of it goes, ever.
    third = take(cfg, export(REFUNDED + PAID[1:]), "orders_export_3.csv", NOON + 7200)
    assert third.state == "done", third
    assert erp_all(cfg) == alone


def test_a_file_that_failed_before_its_plan_stalls_no_cancellation(
        tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """Orders voided before anyone sent them are in every export: with file 1 failed and
    left for a person, each later export's cancellations of them are dropped at once,
    and each later order goes."""
    cfg = failed_then_refunded(tmp_path, monkeypatch)
    third = take(cfg, export([("#4003", "voided", CARD, "0.00"),
                              ("#4004", "paid", CARD, "0.00")]),
                 "orders_export_3.csv", NOON + 7200)
    assert third.state == "done", third
    assert erp_files(cfg) == [{"testata": ["#4004"], "annullo": []}]
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ledger.get(1).state == "failed"
        assert ("never-sent", "#4003") in [(i.code, i.value) for i in ledger.issues(3)]
    finally:
        ledger.close()


def test_a_ledger_of_schema_18_keeps_the_cancellations_dropped_once_migrated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ledger a bridge of schema 18 left (no record of the keys dropped as never sent)
    opens migrated, and keeps them from then on."""
    cfg = world(tmp_path)
    assert take(cfg, export(PAID[1:]), "orders_export_1.csv", NOON).state == "done"
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        with ledger._tx() as db:  # type: ignore[attr-defined]
            db.execute("DROP TABLE unsent_keys")
            if isinstance(ledger, PostgresLedger):
                db.execute("UPDATE bridge_schema SET version = 18")
            else:
                db.execute("PRAGMA user_version = 18")
    finally:
        ledger.close()
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ledger.schema_version == len(MIGRATIONS) == 19  # type: ignore[attr-defined]
        assert ledger.dropped_keys("ordini", ["#4001"]) == {}
    finally:
        ledger.close()
    assert take(cfg, export(REFUNDED), "orders_export_2.csv", NOON + 3600).state == "done"
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ledger.dropped_keys("ordini", ["#4001", "#4002"]) == {"#4001": 2}
        assert ledger.dropped_keys("ordini", ["#4001"], besides=(2,)) == {}
    finally:
        ledger.close()


def test_a_transform_done_ahead_asks_again_which_keys_were_cancelled(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A helper process transforms file 1 ahead and finds #4001 cancelled by no file; file
    2, read since, drops its cancellation as never sent: the helper's work on file 1 is
    stale (used, it would send #4001 after its cancellation)."""
    cfg = world(tmp_path)
    monkeypatch.setattr(faults, "_raise", "stream-part:1")
    monkeypatch.setattr(faults, "_counts", {})
    assert take(cfg, export(PAID), "orders_export_1.csv", NOON).state == "failed"
    monkeypatch.setattr(faults, "_raise", "")
    conf = load(cfg)
    ledger = open_ledger(conf.path(conf.ledger))
    try:
        seen = Recording(ledger)
        assert seen.dropped_keys("ordini", ["#4001", "#4002"], besides=(1,)) == {}
        mark = ledger.keys_mark()
        assert take(cfg, export(REFUNDED), "orders_export_2.csv", NOON + 3600).state == "done"
        pipe = Pipeline(conf, ledger, {}, None, clock.now())
        helper = Helper(None, None, None)
        helper.asked[1] = tmp_path / "ahead"
        helper.marks[1] = mark
        helper.answers[1] = ("done", 1, SimpleNamespace(), seen.asked, {})
        assert helper.result(pipe, SimpleNamespace(id=1, flow="ordini")) is None
        assert helper.tally == {"stale": 1}
    finally:
        ledger.close()


def test_an_order_of_a_file_waiting_for_another_is_not_sent_after_its_cancellation(
        tmp_path: Path, runner: CliRunner) -> None:
    """No bug needed: file 2 cancels #3001, which file 1 holds unwritten, so it waits,
    before its plan, with #4001 paid in it too; file 3 shows #4001 refunded meanwhile and
    drops its cancellation as never sent. File 1 written, file 2 sent #4001 with
    #3001's cancellation: the ERP had #4001 and never its cancellation."""
    cfg = world(tmp_path)
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("    on_bad_rows: reject-file    #",
                                "    max_attempts: 1\n    on_bad_rows: reject-file    #", 1),
                   encoding="utf-8")
    (cfg.parent / "erp" / "ordini").mkdir(parents=True)
    (cfg.parent / "erp" / "ordini" / "ORD000001.TXT").write_bytes(b"foreign")
    assert take(cfg, export([("#3001", "paid", CARD, "0.00")]), "orders_export_1.csv",
                NOON).state == "failed"  # planned, its output not written
    second = take(cfg, export([("#3001", "refunded", CARD, "122.00"), PAID[0]]),
                  "orders_export_2.csv", NOON + 3600)
    assert second.state == "retrying" and "held by file 1" in second.message, second
    (cfg.parent / "inbox" / "shopify" / "orders_export_3.csv").write_text(
        export(REFUNDED), encoding="utf-8")
    conf = load(cfg)  # file 2 is tried again as file 3 is seen, and waits still
    states = {o.file_id: o.state for at in (NOON + 7200, NOON + 7260)
              for o in run_pass(conf, flows=["ordini"], clock=lambda at=at: at).outcomes}
    assert states == {2: "retrying", 3: "done"}, states
    (cfg.parent / "erp" / "ordini" / "ORD000001.TXT").unlink()
    cli(runner, cfg, "retry", "1")
    assert later_pass(cfg) == {2: "done"}
    assert erp_files(cfg) == [{"testata": ["#3001"], "annullo": []},
                              {"testata": [], "annullo": ["#3001"]}]
    assert later_pass(cfg) == {}


def test_a_cancelling_file_rejected_unwritten_cancels_nothing(
        tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """File 2 drops #4001's cancellation, then cannot write its own order (a foreign file
    has its name) and an operator rejects it: nothing of it reached the ERP, its dropped
    keys are forgotten with its others, and file 1 retried sends #4001 (the shop's next
    export cancels it, the ERP having it)."""
    cfg = world(tmp_path)
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("    on_bad_rows: reject-file    #",
                                "    max_attempts: 1\n    on_bad_rows: reject-file    #", 1),
                   encoding="utf-8")
    monkeypatch.setattr(faults, "_raise", "stream-part:1")
    monkeypatch.setattr(faults, "_counts", {})
    assert take(cfg, export(PAID), "orders_export_1.csv", NOON).state == "failed"
    monkeypatch.setattr(faults, "_raise", "")
    (cfg.parent / "erp" / "ordini").mkdir(parents=True)
    (cfg.parent / "erp" / "ordini" / "ORD000001.TXT").write_bytes(b"foreign")
    assert take(cfg, export([*REFUNDED, ("#4003", "paid", CARD, "0.00")]),
                "orders_export_2.csv", NOON + 3600).state == "failed"
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ledger.dropped_keys("ordini", ["#4001"]) == {"#4001": 2}
    finally:
        ledger.close()
    cli(runner, cfg, "reject", "2", "--reason", "the ERP folder had a foreign file")
    (cfg.parent / "erp" / "ordini" / "ORD000001.TXT").unlink()
    cli(runner, cfg, "retry", "1")
    assert erp_files(cfg) == [{"testata": ["#4001", "#4002"], "annullo": []}]
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ledger.dropped_keys("ordini", ["#4001"]) == {}
        assert "cancelled-unsent" not in [i.code for i in ledger.issues(1)]
    finally:
        ledger.close()
