"""The sample company's orders flow (issue 5 §1): what the ERP receives, and broken inputs.

Each test runs the flow of samples/bridge.yaml on a copy in tmp_path, with the sample order
export as it is or changed in one place.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bridge import spec
from bridge.cli import main
from bridge.codecs import decode
from bridge.config import load
from bridge.engine.runner import PassResult, run_pass
from bridge.ledger import open_ledger
from tests.test_samples import NOON, run_twice, sample_copy, written

ORDERS = Path("inbox") / "shopify" / "orders_export_1.csv"


def erp_tables(root: Path) -> dict[str, pd.DataFrame]:
    files = sorted((root / "erp" / "ordini").glob("*.TXT"))
    assert len(files) == 1
    back = decode(files[0].read_bytes(), spec.load("gestionale/ordini"))
    assert back.issues == []
    return back.tables


def with_orders(tmp_path: Path, change: tuple[str, str] | None = None,
                config: tuple[str, str] | None = None) -> Path:
    """The sample, with one text of the order export (or of bridge.yaml) replaced."""
    cfg = sample_copy(tmp_path)
    for path, edit in ((cfg.parent / ORDERS, change), (cfg, config)):
        if edit is not None:
            text = path.read_text(encoding="utf-8")
            assert edit[0] in text, edit[0]
            path.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    return cfg


def rejected(cfg: Path) -> tuple[PassResult, str]:
    """Run the flow; it must refuse the file, leaving nothing for the ERP."""
    result = run_twice(cfg, ["ordini"])
    assert [o.state for o in result.outcomes] == ["rejected"]
    root = cfg.parent
    assert written(root / "erp") == {}  # neither the fixed-width file nor the XML
    assert (root / "quarantine" / ORDERS.name).read_bytes()
    report = (root / "quarantine" / f"{ORDERS.name}.issues.csv").read_text(encoding="utf-8-sig")
    return result, report


def test_orders_carry_net_amounts_vat_agents_and_group_billing(tmp_path: Path) -> None:
    cfg = sample_copy(tmp_path)
    run_twice(cfg, ["ordini"])
    tables = erp_tables(cfg.parent)
    testata = tables["testata"].set_index("riferimento")
    righe = tables["righe"]
    # Found by e-mail, by VAT number (Note Attributes), by tax code; else the web customer.
    assert testata["codice_cliente"].to_dict() == {
        "#2001": "C00101", "#2002": "C00102", "#2003": "C00111", "#2004": "C00120",
        "#2005": "C00130", "#2006": "WEB001"}
    # The agent's commission on the goods net of VAT, shipping (10.00 net) excluded, half
    # up: 5% of 305.74 - 10.00 = 295.74 is 14.787.
    assert testata.loc["#2001", "codice_agente"] == "A01"
    assert testata.loc["#2001", "totale"] == Decimal("305.74")
    assert testata.loc["#2001", "importo_provvigione"] == Decimal("14.79")
    assert testata.loc["#2002", "importo_provvigione"] == Decimal("1.48")
    # A branch: goods to the branch, invoice to the head office; others carry neither.
    assert testata.loc["#2003", ["codice_destinazione", "codice_fatturazione"]].tolist() == [
        "C00111", "C00110"]
    assert pd.isna(testata.loc["#2001", "codice_fatturazione"])
    # Declared code tables.
    assert testata["codice_pagamento"].tolist() == ["CC", "BB", "PPAL", "CC", "CONT", "PPAL"]
    assert testata["codice_spedizione"].tolist() == ["ESP", "RIT", "STD", "ESP", "STD", "STD"]
    # Per line: the unit price net of VAT with 4 decimals (149.90 / 1.22 = 122.8689), the
    # amount from it half up (2 x 122.8689 = 245.7378: 245.74), the VAT what is left of the
    # gross 299.80 (54.06); quantity x price gives the amount within the SdI's cent.
    trap = righe[righe["codice_articolo"] == "TRAP-18V"].iloc[0]
    assert (trap["importo"], trap["imposta"], trap["prezzo_unitario"]) == (
        Decimal("245.74"), Decimal("54.06"), Decimal("122.8689"))
    for _, r in righe.iterrows():
        assert abs(r["quantita"] * r["prezzo_unitario"] - abs(r["importo"])) <= Decimal("0.01")
    book = righe[righe["codice_articolo"] == "MANUALE-FAI"].iloc[0]
    assert (book["aliquota_iva"], book["importo"], book["imposta"]) == (
        Decimal("4.00"), Decimal("19.13"), Decimal("0.77"))
    # Shipping and discount are lines of their own, the discount negative.
    lines_2002 = righe[righe["numero_ordine"] == 2002]
    assert lines_2002["codice_articolo"].tolist() == ["GUANTI-NIT", "NASTRO-50", "SCONTO"]
    assert lines_2002["importo"].tolist()[-1] == Decimal("-2.21")
    assert lines_2002["imposta"].tolist()[-1] == Decimal("-0.49")
    assert lines_2002["numero_riga"].tolist() == [1, 2, 3]
    assert righe[righe["numero_ordine"] == 2001]["codice_articolo"].tolist()[-1] == "TRASPORTO"
    # The totals add up exactly; net + VAT is what the customer paid in the shop.
    for number, order in testata.groupby("numero_ordine"):
        mine = righe[righe["numero_ordine"] == number]
        assert order["totale"].iloc[0] == sum(mine["importo"].tolist())
        assert order["totale_iva"].iloc[0] == sum(mine["imposta"].tolist())
    assert testata.loc["#2002", "totale"] + testata.loc["#2002", "totale_iva"] == Decimal(
        "51.70")
    # The coda counts every record: the web customer's C and F records (#2006) too.
    assert tables["cliente"]["numero_ordine"].tolist() == [2006]
    assert tables["coda"]["numero_record"].tolist() == [
        len(testata) + len(righe) + len(tables["cliente"]) + len(tables["fiscale"]) + 1]


def test_an_order_already_sent_is_not_sent_again(tmp_path: Path) -> None:
    cfg = sample_copy(tmp_path)
    root = cfg.parent
    run_twice(cfg, ["ordini"])
    # The next export repeats #2006 and brings #2007.
    text = (root / "archive").rglob(ORDERS.name).__next__().read_text(encoding="utf-8")
    header, *rows = text.splitlines()
    again = [r for r in rows if r.startswith("#2006")]
    new = [r.replace("#2006", "#2007").replace("6012345678906", "6012345678907")
           for r in again]
    (root / "inbox" / "shopify" / "orders_export_2.csv").write_text(
        "\n".join([header, *again, *new]) + "\n", encoding="utf-8")
    cfg_loaded = load(cfg)
    run_pass(cfg_loaded, flows=["ordini"], clock=lambda: NOON + 200)
    result = run_pass(cfg_loaded, flows=["ordini"], clock=lambda: NOON + 300)
    assert [(o.name, o.state, o.issues) for o in result.outcomes] == [
        ("orders_export_2.csv", "done", 2)]
    second = decode((root / "erp" / "ordini" / "ORD000002.TXT").read_bytes(),
                    spec.load("gestionale/ordini"))
    assert second.tables["testata"]["riferimento"].tolist() == ["#2007"]
    # #2007's customer, new to the ERP, went with #2006: the ERP has created it once
    assert len(second.tables["cliente"]) == len(second.tables["fiscale"]) == 0
    ledger = open_ledger(cfg_loaded.path(cfg_loaded.ledger))
    try:
        notes = [(i.code, i.value) for i in ledger.issues(result.outcomes[0].file_id)]
    finally:
        ledger.close()
    assert sorted(notes) == [("already-sent", "#2006"),
                             ("already-sent", "cliente|laura.conti@example.com")]


def test_an_unknown_customer_can_wait_for_an_operator(tmp_path: Path,
                                                       runner: CliRunner) -> None:
    cfg = with_orders(tmp_path, config=("missing: default      # or `hold`: the file waits "
                                        "for an operator", "missing: hold"))
    result = run_twice(cfg, ["ordini"])
    assert [o.state for o in result.outcomes] == ["held"]
    assert "laura.conti@example.com" in result.outcomes[0].message
    assert written(cfg.parent / "erp" / "ordini") == {}
    listing = runner.invoke(main, ["--config", str(cfg), "pending"])
    assert ORDERS.name in listing.output
    assert runner.invoke(main, ["--config", str(cfg), "approve", "1"]).exit_code == 0
    after = run_pass(load(cfg), flows=["ordini"], clock=lambda: NOON + 600)
    assert [o.state for o in after.outcomes] == ["done"]
    assert "WEB001" in erp_tables(cfg.parent)["testata"]["codice_cliente"].tolist()


def test_an_unknown_sku_rejects_the_file(tmp_path: Path) -> None:
    cfg = with_orders(tmp_path, (",BETON-160,", ",BETON-999,"))
    _, report = rejected(cfg)
    assert "no-match" in report and "BETON-999" in report


def test_a_total_that_does_not_add_up_rejects_the_file(tmp_path: Path) -> None:
    cfg = with_orders(tmp_path, ("12.20,72.35,401.20,", "12.20,72.35,410.20,"))
    _, report = rejected(cfg)
    assert "control-total-mismatch" in report and "410.20" in report


def test_a_bad_vat_number_rejects_the_file(tmp_path: Path) -> None:
    cfg = with_orders(tmp_path, ("partita_iva: 09123456783", "partita_iva: 09123456780"))
    _, report = rejected(cfg)
    assert "bad-partita-iva" in report and "09123456780" in report


def test_a_thousands_separator_rejects_the_file(tmp_path: Path) -> None:
    cfg = with_orders(tmp_path, (",Betoniera 160 l,389.00,", ',Betoniera 160 l,"1,389.00",'))
    _, report = rejected(cfg)
    assert "bad-decimal" in report and "1,389.00" in report


def test_an_unknown_payment_method_rejects_the_file(tmp_path: Path) -> None:
    # On a paid order: a pending one paid by card would wait, never reaching the code table.
    cfg = with_orders(tmp_path, (",Shopify Payments,", ",Satispay,"))
    _, report = rejected(cfg)
    assert "no-match" in report and "Satispay" in report


@pytest.mark.parametrize("policy", ["skip-rows"])
def test_skip_rows_sends_the_good_orders_and_quarantines_the_bad_one(
        tmp_path: Path, policy: str) -> None:
    cfg = with_orders(tmp_path, (",BETON-160,", ",BETON-999,"),
                      ("on_bad_rows: reject-file", f"on_bad_rows: {policy}"))
    result = run_twice(cfg, ["ordini"])
    assert [o.state for o in result.outcomes] == ["done"]
    tables = erp_tables(cfg.parent)
    assert "#2004" not in tables["testata"]["riferimento"].tolist()
    assert len(tables["testata"]) == 5
    report = (cfg.parent / "quarantine" / f"{ORDERS.name}.issues.csv").read_text(
        encoding="utf-8-sig")
    assert "BETON-999" in report


def test_easyfatt_xml_parses_back_with_the_same_orders(tmp_path: Path) -> None:
    # A "<" and an "&" in the customer's name must not break the markup (autoescape).
    cfg = with_orders(tmp_path, (",Colorificio Serra - PV Torino,", ",Serra & Figli <Torino>,"))
    run_twice(cfg, ["ordini"])
    files = list((cfg.parent / "erp" / "easyfatt").glob("*.xml"))
    assert len(files) == 1
    data = files[0].read_bytes()
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    doc = ET.fromstring(data)
    assert doc.tag == "EasyfattDocuments" and doc.get("AppVersion") == "2"
    documents = doc.findall("./Documents/Document")
    assert [d.findtext("Number") for d in documents] == [str(n) for n in range(2001, 2007)]
    serra = documents[2]
    assert serra.findtext("CustomerName") == "Serra & Figli <Torino>"
    assert serra.findtext("CustomerCode") == "C00111"
    rows = serra.findall("./Rows/Row")
    # Shipping follows the goods' rates: split over 22, 10 and 4%, in proportion to them.
    assert [r.findtext("Code") for r in rows] == ["SMALTO-750", "LEGNA-15", "MANUALE-FAI",
                                                  "TRASPORTO", "TRASPORTO", "TRASPORTO"]
    assert [r.find("VatCode").get("Perc") for r in rows[3:]] == [  # type: ignore[union-attr]
        "22", "10", "4"]
    assert sum(Decimal(r.findtext("Total") or "") for r in rows) == Decimal(
        serra.findtext("TotalWithoutTax") or "")
    assert serra.findtext("./Payments/Payment/Amount") == "117.32"
    assert documents[1].findtext("./Payments/Payment/Paid") == "false"
    assert documents[3].findtext("CustomerVatCode") == "09123456783"
