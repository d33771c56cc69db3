"""A cancellation of an order whose file waits for an operator's approval (`approval: true`
on the orders flow): the order is not at the ERP yet, and may never be. The cancellation
waits for it, and goes after it, once it is approved and written; never, if it is
rejected."""

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
from bridge.ledger.migrations import MIGRATIONS
from bridge.ledger.postgres import PostgresLedger
from tests.flowkit import make_world, order_file
from tests.test_approve_unlucky import HELD
from tests.test_business_lifecycle import CARD, export
from tests.test_cancel_unsent import erp_records, take
from tests.test_samples import NOON, sample_copy


def approval_world(tmp_path: Path) -> Path:
    """The sample company, its orders flow approved by an operator, its inbox empty: its
    bridge.yaml."""
    cfg = sample_copy(tmp_path)
    for old in (cfg.parent / "inbox" / "shopify").glob("*.csv"):
        old.unlink()
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("    on_bad_rows: reject-file    #",
                                "    approval: true\n    on_bad_rows: reject-file    #", 1),
                   encoding="utf-8")
    return cfg


def held_order(tmp_path: Path) -> Path:
    """#4001 paid in file 1, held for approval (:func:`approval_world`)."""
    cfg = approval_world(tmp_path)
    assert take(cfg, export([("#4001", "paid", CARD, "0.00")]), "orders_export_1.csv",
                NOON).state == "held"
    return cfg


def held_then_refunded(tmp_path: Path) -> tuple[Path, Outcome]:
    """#4001 held for approval in file 1 (:func:`held_order`), refunded in file 2: what
    became of file 2."""
    cfg = held_order(tmp_path)
    second = take(cfg, export([("#4001", "refunded", CARD, "122.00")]),
                  "orders_export_2.csv", NOON + 3600)
    return cfg, second


def cli(runner: CliRunner, cfg: Path, *args: str) -> str:
    got = runner.invoke(main, ["--config", str(cfg), *args])
    assert got.exit_code == 0, got.output
    return got.output


def later_pass(cfg: Path) -> dict[int, str]:
    """A pass of the orders flow once every file's next try has come: each file's state."""
    at = time.time() + 86400
    return {o.file_id: o.state for o in run_pass(load(cfg), flows=["ordini"],
                                                 clock=lambda: at).outcomes}


def erp_bytes(cfg: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((cfg.parent / "erp" / "ordini").glob("*.TXT"))]


def erp_files(cfg: Path) -> list[dict[str, list[str]]]:
    """Each file the ERP got, in the order of their numbers: its orders and cancellations,
    by their shop reference."""
    got = []
    for data in erp_bytes(cfg):
        tables = decode(data, spec.load("gestionale/ordini")).tables
        got.append({r: tables[r]["riferimento"].tolist() if r in tables else []
                    for r in ("testata", "annullo")})
    return got


def test_a_cancellation_waits_for_its_order_held_for_approval_and_goes_after_it(
        tmp_path: Path, runner: CliRunner) -> None:
    """File 2's cancellation was dropped as `never-sent` (file 1 held had no keys in the
    ledger); file 1 approved, the ERP had the order and never its cancellation."""
    cfg, second = held_then_refunded(tmp_path)
    assert second.state == "retrying", second
    assert "'#4001' may be sent by file 1, which waits for an operator's approval" in \
        second.message, second.message
    assert "`bridge approve 1`" in second.message, second.message
    assert erp_bytes(cfg) == []
    cli(runner, cfg, "approve", "1")
    assert later_pass(cfg) == {1: "done", 2: "held"}  # file 2 waits for its own approval
    assert erp_records(cfg) == {"testata": ["#4001"], "annullo": []}
    cli(runner, cfg, "approve", "2")
    assert later_pass(cfg) == {2: "done"}
    order_then_cancellation = [{"testata": ["#4001"], "annullo": []},
                               {"testata": [], "annullo": ["#4001"]}]
    assert erp_files(cfg) == order_then_cancellation
    assert later_pass(cfg) == {}  # nothing more, nothing twice
    assert erp_files(cfg) == order_then_cancellation
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert "never-sent" not in [i.code for i in ledger.issues(2)]
        assert ledger.get(2).attempts <= 1  # the wait spent no attempts of its own
    finally:
        ledger.close()


def test_no_cancellation_reaches_the_erp_for_an_order_held_then_rejected(
        tmp_path: Path, runner: CliRunner) -> None:
    cfg, second = held_then_refunded(tmp_path)
    assert second.state == "retrying", second
    cli(runner, cfg, "reject", "1", "--reason", "a test order")
    assert later_pass(cfg) == {2: "done"}  # nothing left to write: nothing to approve
    assert erp_bytes(cfg) == []
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ("never-sent", "#4001") in [(i.code, i.value) for i in ledger.issues(2)]
    finally:
        ledger.close()


def test_a_file_held_before_the_ledger_kept_held_keys_is_waited_for_once_migrated(
        tmp_path: Path, runner: CliRunner) -> None:
    """A ledger of schema 16 (no held keys) with file 1 held: once migrated, which keys file
    1 would send is unknown, and a cancellation of its flow waits for it all the same."""
    cfg = held_order(tmp_path)
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:  # the ledger as a bridge of schema 16 left it
        with ledger._tx() as db:  # type: ignore[attr-defined]
            db.execute("DROP TABLE held_keys")
            db.execute("DROP TABLE unsent_keys")  # of schema 19
            db.execute("ALTER TABLE files DROP COLUMN pruned_values")  # of schema 18
            if isinstance(ledger, PostgresLedger):
                db.execute("UPDATE bridge_schema SET version = 16")
            else:
                db.execute("PRAGMA user_version = 16")
    finally:
        ledger.close()
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ledger.schema_version == len(MIGRATIONS) == 19  # type: ignore[attr-defined]
        assert ledger.get(1).state == "held"
        assert ledger.held_keys("ordini", ["#4001", "#9999"]) == {"#4001": 1, "#9999": 1}
    finally:
        ledger.close()
    second = take(cfg, export([("#4001", "refunded", CARD, "122.00")]),
                  "orders_export_2.csv", NOON + 3600)
    assert second.state == "retrying", second
    assert "`bridge approve 1`" in second.message, second.message
    cli(runner, cfg, "approve", "1")
    assert later_pass(cfg) == {1: "done", 2: "held"}
    cli(runner, cfg, "approve", "2")
    assert later_pass(cfg) == {2: "done"}
    assert erp_files(cfg) == [{"testata": ["#4001"], "annullo": []},
                              {"testata": [], "annullo": ["#4001"]}]
    ledger = open_ledger(c.path(c.ledger))
    try:  # file 1 planned: its keys are sent keys, nothing held any more
        assert ledger.held_keys("ordini", ["#4001", "#9999"]) == {}
    finally:
        ledger.close()


def test_an_order_held_and_its_refund_taken_in_one_pass(tmp_path: Path,
                                                        runner: CliRunner) -> None:
    """Both exports in the folder at once: file 1 is held before file 2 is read, in the
    same pass, and file 2 waits for it."""
    cfg = approval_world(tmp_path)
    inbox = cfg.parent / "inbox" / "shopify"
    (inbox / "orders_export_1.csv").write_text(export([("#4001", "paid", CARD, "0.00")]),
                                               encoding="utf-8")
    (inbox / "orders_export_2.csv").write_text(
        export([("#4001", "refunded", CARD, "122.00")]), encoding="utf-8")
    conf = load(cfg)
    assert run_pass(conf, flows=["ordini"], clock=lambda: NOON).outcomes == []
    states = {o.file_id: o.state
              for o in run_pass(conf, flows=["ordini"], clock=lambda: NOON + 60).outcomes}
    assert states == {1: "held", 2: "retrying"}, states
    cli(runner, cfg, "approve", "1")
    assert later_pass(cfg) == {1: "done", 2: "held"}
    cli(runner, cfg, "approve", "2")
    assert later_pass(cfg) == {2: "done"}
    assert erp_files(cfg) == [{"testata": ["#4001"], "annullo": []},
                              {"testata": [], "annullo": ["#4001"]}]


def test_a_transform_done_ahead_asks_again_which_keys_a_held_file_would_send(
        tmp_path: Path) -> None:
    """A helper process transforms files ahead; the keys a held file would send are asked
    again before its work is used. File 1 is rejected after the helper asked (no key written
    since: the answer on the keys alone would seem to hold): its work is stale."""
    cfg = make_world(tmp_path, HELD)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["held"]
    conf = load(cfg)
    ledger = open_ledger(conf.path(conf.ledger))
    try:
        pipe = Pipeline(conf, ledger, {}, None, clock.now())
        seen = Recording(ledger)
        assert seen.held_keys("articoli", ["A00010"], besides=(2,)) == {"A00010": 1}
        mark = ledger.keys_mark()
        ledger.set_state(1, "rejected", time.time(), "refused")
        helper = Helper(None, None, None)
        helper.asked[2] = tmp_path / "ahead"
        helper.marks[2] = mark
        helper.answers[2] = ("done", 2, SimpleNamespace(), seen.asked, {})
        assert helper.result(pipe, SimpleNamespace(id=2, flow="articoli")) is None
        assert helper.tally == {"stale": 1}
    finally:
        ledger.close()
