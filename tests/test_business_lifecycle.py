"""An order's life in the shop, across exports written for the purpose: which financial
statuses go to the ERP, which wait (and go once paid), and what a refund or a void of an
order the ERP already has sends: a cancellation or a credit note, once.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from bridge import spec
from bridge.codecs import decode
from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.ledger import open_ledger
from tests.test_samples import NOON, SAMPLES, sample_copy

D = Decimal
SAMPLE_HEADER = (SAMPLES / "inbox" / "shopify" / "orders_export_1.csv").read_text(
    encoding="utf-8").splitlines()[0].split(",")
HEADER = [*SAMPLE_HEADER, "Refunded Amount"]
CARD, PAYPAL, BANK = "Shopify Payments", "PayPal Express Checkout", "Bonifico bancario"


def export(orders: list[tuple[str, str, str, str]]) -> str:
    """(name, financial status, payment method, refunded amount): one line each, one
    article (2 x 61.00 at 22%, 122.00 with VAT), customer Edilizia Moretti (agent A01)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, HEADER, lineterminator="\n")
    w.writeheader()
    for name, status, payment, refunded in orders:
        w.writerow({
            "Name": name, "Email": "acquisti@ediliziamoretti.it", "Financial Status": status,
            "Currency": "EUR", "Subtotal": "122.00", "Shipping": "0.00", "Taxes": "22.00",
            "Total": "122.00", "Discount Amount": "0.00", "Refunded Amount": refunded,
            "Shipping Method": "Corriere standard", "Created at": "2025-12-01 09:00:00 +0100",
            "Lineitem quantity": 2, "Lineitem name": "Trapano", "Lineitem price": "61.00",
            "Lineitem sku": "TRAP-18V", "Lineitem taxable": "true", "Billing Name": "Moretti",
            "Billing Street": "Via Roma 1", "Billing City": "Bergamo",
            "Billing Zip": "'24126", "Billing Province": "BG", "Billing Country": "IT",
            "Payment Method": payment})
    return buf.getvalue()


FIRST = [
    ("#4001", "paid", CARD, "0.00"),
    ("#4002", "pending", CARD, "0.00"),           # waits
    ("#4003", "authorized", PAYPAL, "0.00"),       # waits
    ("#4004", "pending", BANK, "0.00"),            # B2B on terms: goes
    ("#4005", "partially_paid", BANK, "0.00"),
    ("#4006", "refunded", CARD, "122.00"),         # never sent: nothing to cancel
    ("#4007", "voided", CARD, "0.00"),
    ("#4008", "expired", PAYPAL, "0.00"),
    ("#4009", "partially_refunded", CARD, "10.00"),  # paid, part refunded: goes as an order
]
SECOND = [
    ("#4001", "refunded", CARD, "122.00"),         # sent, now refunded: a cancellation
    ("#4002", "paid", CARD, "0.00"),               # was waiting: goes now
    ("#4003", "authorized", PAYPAL, "0.00"),       # still waits
    ("#4004", "voided", BANK, "0.00"),             # sent, now voided: a cancellation
    ("#4005", "paid", BANK, "0.00"),               # sent already: skipped
    ("#4009", "partially_refunded", CARD, "10.00"),  # sent: a credit note for 10.00
]


def run(cfg: Path, text: str, name: str, at: float) -> tuple[dict[str, pd.DataFrame],
                                                                list[tuple[str, str | None]]]:
    """One export through the orders flow: what the ERP got, and the file's notes."""
    inbox = cfg.parent / "inbox" / "shopify"
    (inbox / name).write_text(text, encoding="utf-8")
    conf = load(cfg)
    assert run_pass(conf, flows=["ordini"], clock=lambda: at).outcomes == []
    [outcome] = run_pass(conf, flows=["ordini"], clock=lambda: at + 60).outcomes
    assert outcome.state == "done", outcome
    ledger = open_ledger(conf.path(conf.ledger))
    try:
        notes = [(i.code, i.value) for i in ledger.issues(outcome.file_id)]
    finally:
        ledger.close()
    made = [name for name, _ in outcome.outputs if name.endswith(".TXT")]
    if not made:  # nothing left to send: no file for the ERP
        return {}, notes
    [txt] = made
    back = decode((cfg.parent / "erp" / "ordini" / txt).read_bytes(),
                  spec.load("gestionale/ordini"))
    assert back.issues == []
    return back.tables, notes


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, pd.DataFrame],
                                                                 list[tuple[str, str | None]]]]:
    cfg = sample_copy(tmp_path_factory.mktemp("life"))
    for old in (cfg.parent / "inbox" / "shopify").glob("*.csv"):
        old.unlink()
    return [run(cfg, export(FIRST), "orders_export_1.csv", NOON),
            run(cfg, export(SECOND), "orders_export_2.csv", NOON + 3600),
            run(cfg, export(SECOND), "orders_export_3.csv", NOON + 7200)]


def names(tables: dict[str, pd.DataFrame], record: str) -> list[str]:
    return tables[record]["riferimento"].tolist() if record in tables else []


def test_the_first_export_sends_what_is_payable(story: list) -> None:  # type: ignore[type-arg]
    tables, notes = story[0]
    assert names(tables, "testata") == ["#4001", "#4004", "#4005", "#4009"]
    assert names(tables, "annullo") == []
    assert sorted(v for c, v in notes if c == "waiting") == ["#4002", "#4003"]
    # cancelled before the ERP had them: nothing to cancel, said so
    assert sorted(v for c, v in notes if c == "never-sent") == [
        "#4006", "#4007", "#4008", "#4009"]
    testata = tables["testata"].set_index("riferimento")
    assert testata.loc["#4001", "importo_provvigione"] == D("5.00")  # 5% of 100.00


def test_the_second_export_sends_the_paid_and_cancels_the_refunded(
        story: list) -> None:  # type: ignore[type-arg]
    tables, notes = story[1]
    assert names(tables, "testata") == ["#4002"]  # was waiting, paid now
    annullo = tables["annullo"].set_index("riferimento")
    assert annullo.index.tolist() == ["#4001", "#4004", "#4009"]
    assert annullo["causale"].tolist() == ["A", "A", "N"]
    assert annullo["importo"].tolist() == [D("122.00"), D("122.00"), D("10.00")]
    assert annullo["stato_negozio"].tolist() == ["refunded", "voided", "partially_refunded"]
    assert annullo["numero_ordine"].tolist() == [4001, 4004, 4009]
    # the agent travels with it, so the ERP reverses the commission on that order
    assert annullo["codice_agente"].tolist() == ["A01"] * 3
    assert (annullo["codice_cliente"] == "C00101").all()
    assert [v for c, v in notes if c == "waiting"] == ["#4003"]
    assert sorted(v for c, v in notes if c == "already-sent") == ["#4005", "#4009"]
    # the coda counts the cancellations too
    assert tables["coda"]["numero_record"].tolist() == [1 + 1 + 3 + 1]


def test_the_same_export_again_sends_each_cancellation_once(
        story: list) -> None:  # type: ignore[type-arg]
    tables, notes = story[2]
    assert tables == {}  # nothing new: no file at all for the ERP
    assert sorted(v for c, v in notes if c == "already-sent") == [
        "#4001|A|122.00", "#4002", "#4004|A|122.00", "#4005", "#4009", "#4009|N|10.00"]
