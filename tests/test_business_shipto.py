"""Who buys, who pays and where the goods go, on an export written for the purpose: a head
office ordering for a branch, a branch ordering for itself, an address that is nobody's
branch, a customer the ERP does not know (its identity travels with the order), and
`missing: hold` deciding per order rather than per line."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bridge import spec
from bridge.codecs import decode
from bridge.config import load
from bridge.engine.runner import run_pass
from tests.test_samples import NOON, SAMPLES, sample_copy

SAMPLE_HEADER = (SAMPLES / "inbox" / "shopify" / "orders_export_1.csv").read_text(
    encoding="utf-8").splitlines()[0].split(",")
SHIPPING = ["Shipping Name", "Shipping Company", "Shipping Street", "Shipping City",
            "Shipping Zip", "Shipping Province", "Shipping Country"]
HEADER = [*SAMPLE_HEADER, *SHIPPING]
SERRA_TORINO = {"Shipping Company": "Colorificio Serra PV Torino",
                "Shipping Street": "Via  Nizza 201 ", "Shipping City": "Torino",
                "Shipping Zip": "'10126", "Shipping Province": "TO", "Shipping Country": "IT"}
SERRA_MILANO = {"Shipping Company": "Colorificio Serra", "Shipping Street": "Via Roma 10",
                "Shipping City": "Milano", "Shipping Zip": "'20121",
                "Shipping Province": "MI", "Shipping Country": "IT"}

ORDERS: list[dict[str, Any]] = [
    # the head office orders for its Torino branch (the street written a little loosely)
    {"Name": "#5001", "Email": "amministrazione@colorificioserra.it", **SERRA_TORINO},
    # the branch orders for itself
    {"Name": "#5002", "Email": "torino@colorificioserra.it", **SERRA_TORINO},
    # the head office, to its own address: no branch
    {"Name": "#5003", "Email": "amministrazione@colorificioserra.it", **SERRA_MILANO},
    # another customer ships to Serra's Torino address: not its group, no branch
    {"Name": "#5004", "Email": "acquisti@ediliziamoretti.it", **SERRA_TORINO},
    # a customer the ERP does not know, with its VAT number and tax code at the checkout
    {"Name": "#5005", "Email": "Nuovo.Cliente@Example.it",
     "Billing Name": "Giulia Neri", "Billing Company": "Neri Arredamenti S.r.l.",
     "Billing Street": "Via Po 3", "Billing City": "Pavia", "Billing Zip": "'27100",
     "Billing Province": "PV", "Billing Country": "IT",
     "Note Attributes": "partita_iva: 07654321004\ncodice_fiscale: nrigli80a41g388i"},
    # the Torino branch ships to a building site: no record of the group, so no code
    {"Name": "#5006", "Email": "torino@colorificioserra.it",
     "Shipping Company": "Cantiere Serra", "Shipping Street": "Via del Cantiere 5",
     "Shipping City": "Roma", "Shipping Zip": "'00100", "Shipping Province": "RM",
     "Shipping Country": "IT"},
    # the Torino branch ships to its head office
    {"Name": "#5007", "Email": "torino@colorificioserra.it", **SERRA_MILANO},
]


def export(orders: list[dict[str, Any]], lines: int = 2) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, HEADER, lineterminator="\n")
    w.writeheader()
    for order in orders:
        for k in range(lines):
            row: dict[str, Any] = {"Name": order["Name"], "Lineitem quantity": 1,
                                   "Lineitem name": "Smalto", "Lineitem price": "12.20",
                                   "Lineitem sku": "SMALTO-750", "Lineitem taxable": "true"}
            if k == 0:
                row.update({
                    "Financial Status": "paid", "Currency": "EUR",
                    "Subtotal": f"{12.20 * lines:.2f}", "Shipping": "0.00",
                    "Taxes": f"{2.20 * lines:.2f}", "Total": f"{12.20 * lines:.2f}",
                    "Discount Amount": "0.00", "Shipping Method": "Corriere standard",
                    "Created at": "2025-12-01 09:00:00 +0100",
                    "Payment Method": "Shopify Payments", "Billing Name": "Acquisti",
                    "Billing Street": "Via Roma 1", "Billing City": "Milano",
                    "Billing Zip": "'20121", "Billing Province": "MI",
                    "Billing Country": "IT", **{k2: v for k2, v in order.items()}})
            w.writerow(row)
    return buf.getvalue()


def run(tmp: Path, text: str, hold: bool = False) -> tuple[Path, Any]:
    cfg = sample_copy(tmp)
    inbox = cfg.parent / "inbox" / "shopify"
    for old in inbox.glob("*.csv"):
        old.unlink()
    (inbox / "orders_export_1.csv").write_text(text, encoding="utf-8")
    if hold:
        conf = cfg.read_text(encoding="utf-8")
        old = "missing: default      # or `hold`: the file waits for an operator"
        assert old in conf
        cfg.write_text(conf.replace(old, "missing: hold"), encoding="utf-8")
    conf_ = load(cfg)
    assert run_pass(conf_, flows=["ordini"], clock=lambda: NOON).outcomes == []
    [outcome] = run_pass(conf_, flows=["ordini"], clock=lambda: NOON + 60).outcomes
    return cfg.parent, outcome


@pytest.fixture(scope="module")
def erp(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root, outcome = run(tmp_path_factory.mktemp("shipto"), export(ORDERS))
    assert outcome.state == "done", outcome
    [txt] = (root / "erp" / "ordini").glob("*.TXT")
    data = txt.read_bytes()
    back = decode(data, spec.load("gestionale/ordini"))
    assert back.issues == []
    [xml] = (root / "erp" / "easyfatt").glob("*.xml")
    return {"tables": back.tables, "bytes": data, "xml": ET.fromstring(xml.read_bytes())}


def header(erp: dict[str, Any]) -> pd.DataFrame:
    return erp["tables"]["testata"].set_index("riferimento")


def test_a_head_office_ordering_for_its_branch(erp: dict[str, Any]) -> None:
    t = header(erp)
    assert t.loc["#5001", ["codice_cliente", "codice_destinazione", "codice_fatturazione"]
                 ].tolist() == ["C00110", "C00111", "C00110"]
    d = erp["tables"]["destinazione"].set_index("numero_ordine")
    assert d.loc[5001, ["codice_destinazione", "indirizzo", "cap", "citta"]].tolist() == [
        "C00111", "Via  Nizza 201", "10126", "Torino"]


def test_a_branch_ordering_for_itself(erp: dict[str, Any]) -> None:
    assert header(erp).loc["#5002", ["codice_cliente", "codice_destinazione",
                                     "codice_fatturazione"]].tolist() == [
        "C00111", "C00111", "C00110"]


def test_an_address_that_is_no_branch_of_the_buyer(erp: dict[str, Any]) -> None:
    t = header(erp)
    assert t.loc["#5003", "codice_cliente"] == "C00110"
    assert pd.isna(t.loc["#5003", "codice_destinazione"])
    assert pd.isna(t.loc["#5003", "codice_fatturazione"])
    assert t.loc["#5004", "codice_cliente"] == "C00101"
    assert pd.isna(t.loc["#5004", "codice_destinazione"])
    d = erp["tables"]["destinazione"].set_index("numero_ordine")
    # the address still goes with the order, without a code
    assert d.index.tolist() == [5001, 5002, 5003, 5004, 5006, 5007]
    assert pd.isna(d.loc[5004, "codice_destinazione"])


def test_a_branch_shipping_elsewhere_names_no_place_it_does_not_ship_to(
        erp: dict[str, Any]) -> None:
    """The Torino branch ships to a building site in Rome: the code was the branch's own
    (an ERP routing by code ships to Torino); to its head office: the head office's."""
    t = header(erp)
    assert t.loc["#5006", "codice_cliente"] == "C00111"
    assert pd.isna(t.loc["#5006", "codice_destinazione"])
    d = erp["tables"]["destinazione"].set_index("numero_ordine")
    assert pd.isna(d.loc[5006, "codice_destinazione"])
    assert d.loc[5006, ["indirizzo", "citta"]].tolist() == ["Via del Cantiere 5", "Roma"]
    assert t.loc["#5007", ["codice_destinazione", "codice_fatturazione"]].tolist() == [
        "C00110", "C00110"]
    assert d.loc[5004, "ragione_sociale"] == "Colorificio Serra PV Torino"


def test_an_unknown_customer_s_identity_travels_with_its_order(erp: dict[str, Any]) -> None:
    assert header(erp).loc["#5005", "codice_cliente"] == "WEB001"
    c = erp["tables"]["cliente"].set_index("numero_ordine")
    assert c.index.tolist() == [5005]  # only the customer the ERP lacks
    assert c.loc[5005, ["ragione_sociale", "indirizzo", "cap", "citta", "provincia",
                        "nazione"]].tolist() == [
        "Neri Arredamenti S.r.l.", "Via Po 3", "27100", "Pavia", "PV", "IT"]
    f = erp["tables"]["fiscale"].set_index("numero_ordine")
    assert f.loc[5005, ["partita_iva", "codice_fiscale", "email"]].tolist() == [
        "07654321004", "NRIGLI80A41G388I", "nuovo.cliente@example.it"]
    # C and F come right before the order's T, so the ERP creates the customer first
    lines = erp["bytes"].decode("cp1252").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("C0000005005"))
    assert [line[:11] for line in lines[at:at + 3]] == [
        "C0000005005", "F0000005005", "T0000005005"]


def test_the_xml_carries_the_delivery_address_and_an_upper_case_tax_code(
        erp: dict[str, Any]) -> None:
    docs = {d.findtext("Number"): d for d in erp["xml"].findall("./Documents/Document")}
    assert docs["5001"].findtext("DeliveryAddress") == "Via  Nizza 201"
    assert docs["5001"].findtext("DeliveryCity") == "Torino"
    assert docs["5005"].find("DeliveryAddress") is None  # no shipping address given
    assert docs["5005"].findtext("CustomerFiscalCode") == "NRIGLI80A41G388I"


def test_hold_decides_per_order_not_per_line(tmp_path: Path) -> None:
    # Every order has 3 lines and the e-mail on the first only: a known customer's order
    # does not make the file wait; the unknown one does, once.
    _, outcome = run(tmp_path / "known", export(ORDERS[:4], lines=3), hold=True)
    assert outcome.state == "done", outcome
    _, outcome = run(tmp_path / "unknown", export(ORDERS, lines=3), hold=True)
    assert outcome.state == "held"
    assert "line 14: no row of 'clienti'" in outcome.message
    assert outcome.message.count("no row of 'clienti'") == 1


def test_an_unknown_e_mail_with_a_group_s_vat_number_is_billed_to_the_head_office_and_said(
        tmp_path: Path) -> None:
    """A new buyer of the Serra group (an e-mail the ERP lacks, the VAT number the group's
    three records share) orders for the Torino shop: billed to the first record with that
    number, the head office, the goods to the branch; and a `shared-match` note says that
    the customer was taken by a shared number, not found by its e-mail."""
    from bridge.ledger import open_ledger

    order = {"Name": "#5006", "Email": "nuovo.ufficio@colorificioserra.it",
             "Note Attributes": "partita_iva: 07890123453", **SERRA_TORINO}
    root, outcome = run(tmp_path, export([order]))
    assert outcome.state == "done", outcome
    [txt] = (root / "erp" / "ordini").glob("*.TXT")
    t = decode(txt.read_bytes(), spec.load("gestionale/ordini")).tables["testata"]
    assert t[["codice_cliente", "codice_destinazione", "codice_fatturazione"]
             ].values.tolist() == [["C00110", "C00111", "C00110"]]
    ledger = open_ledger(root / ".bridge" / "ledger.sqlite")
    try:
        notes = [i for i in ledger.issues(outcome.file_id) if i.code == "shared-match"]
    finally:
        ledger.close()
    assert [(n.line, n.field, n.value) for n in notes] == [(2, "partita_iva", "07890123453")]
    assert notes[0].message.endswith("'07890123453' is shared by 3 rows of 'clienti': the "
                                     "first was taken (C00110)")


def test_a_vat_number_with_its_country_prefix_finds_its_customer(tmp_path: Path) -> None:
    """`partita_iva: IT09123456783` at the checkout, from an e-mail the ERP lacks: the
    check accepted it, the lookup missed C00120 (the ERP holds it without IT), and the
    order went to WEB001 with a VAT number too long for the ERP's field: the file was
    refused. Now the prefix is not part of the number."""
    order = {"Name": "#5101", "Email": "ufficio@bianchi-edile.it",
             "Note Attributes": "partita_iva: IT09123456783"}
    root, outcome = run(tmp_path, export([order]))
    assert outcome.state == "done", outcome
    back = decode(next((root / "erp" / "ordini").glob("*.TXT")).read_bytes(),
                  spec.load("gestionale/ordini"))
    assert back.tables["testata"]["codice_cliente"].tolist() == ["C00120"]


def test_a_new_customer_s_long_name_and_address_are_cut_where_written_and_said(
        tmp_path: Path) -> None:
    """A new customer from Prato, its company name in Chinese, a long street and e-mail;
    the goods to a long address too. The sample cut names and addresses in its steps,
    silently, and before the ERP's layout transliterated them: the name of 16 characters
    became 42 and the whole orders file was refused (`too-long`). Now the ERP's layout cuts
    each value where it is written, after the transliteration, and a `cut` note names it."""
    from bridge.ledger import open_ledger

    name = "浙江温州贸易有限公司普拉托分公司"  # 16 characters, 46 transliterated
    street = "Via del Molinuzzo, 123 - Zona Industriale Macrolotto 2"  # 54 characters
    email = "ufficio.acquisti.amministrazione.contabilita@grande-distribuzione-prato.it"
    order = {"Name": "#5201", "Email": email, "Billing Company": name,
             "Billing Street": street, "Billing City": "Prato", "Billing Zip": "'59100",
             "Billing Province": "PO", "Shipping Company": "Magazzino Macrolotto",
             "Shipping Street": street, "Shipping City": "Prato", "Shipping Zip": "'59100",
             "Shipping Province": "PO", "Shipping Country": "IT",
             "Note Attributes": "partita_iva: 07654321004"}
    root, outcome = run(tmp_path, export([order]))
    assert outcome.state == "done", outcome
    data = next((root / "erp" / "ordini").glob("*.TXT")).read_bytes()
    back = decode(data, spec.load("gestionale/ordini"))
    assert back.issues == []
    c = back.tables["cliente"].iloc[0]
    assert (c["ragione_sociale"], c["indirizzo"]) == (
        "ZheJiangWenZhouMaoYiYouXianGongSiPuLaTuo", street[:35])
    assert back.tables["destinazione"].iloc[0]["indirizzo"] == street[:33]
    assert back.tables["fiscale"].iloc[0]["email"] == email[:60]
    ledger = open_ledger(root / ".bridge" / "ledger.sqlite")
    try:
        cut = [(i.record, i.field) for i in ledger.issues(outcome.file_id) if i.code == "cut"]
    finally:
        ledger.close()
    assert sorted(cut) == [("cliente", "indirizzo"), ("cliente", "ragione_sociale"),
                           ("destinazione", "indirizzo"), ("fiscale", "email")]
