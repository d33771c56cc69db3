"""Customers, shop -> ERP, on customer exports written for the purpose: a new customer goes
once (N); a known one whose address changed in the shop goes as a change (V, with its ERP
code), once per change; an unknown e-mail with a group's VAT number is a new branch linked
to the group's head office, while a VAT number of one customer alone makes it known."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from bridge import spec
from bridge.codecs import decode
from bridge.config import load
from bridge.engine.operator import approve
from bridge.engine.runner import run_pass
from tests.test_samples import NOON, SAMPLES, sample_copy

HEADER = (SAMPLES / "inbox" / "shopify" / "customers_export_1.csv").read_text(
    encoding="utf-8").splitlines()[0].split(",")


def customer(cid: str, email: str, street: str, zip_: str, city: str, *,
             company: str = "", note: str = "") -> dict[str, str]:
    return {"Customer ID": f"'{cid}", "First Name": "Anna", "Last Name": "Rossi",
            "Email": email, "Default Address Company": company,
            "Default Address Address1": street, "Default Address City": city,
            "Default Address Province Code": "MI", "Default Address Country Code": "IT",
            "Default Address Zip": f"'{zip_}", "Note": note, "Tax Exempt": "no"}


def export(rows: list[dict[str, str]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, HEADER, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


MORETTI_SAME = customer("7012345000201", "acquisti@ediliziamoretti.it",
                        "Via dell'Industria 14", "24126", "Bergamo",
                        company="Edilizia Moretti S.r.l.")
MORETTI_MOVED = customer("7012345000201", "acquisti@ediliziamoretti.it",
                         "Via Bergamo 9", "24030", "Mozzo", company="Edilizia Moretti S.r.l.")
# Pulizie Brambilla's VAT number is its own: the unknown e-mail is the same customer.
BRAMBILLA = customer("7012345000202", "amministrazione@brambilla.it", "Via Monza 120",
                     "20127", "Milano", company="Pulizie Brambilla S.n.c.",
                     note="partita_iva: 10234567898")
# Colorificio Serra's VAT number is a group's: a new e-mail with it is a new branch.
SERRA_NEW = customer("7012345000203", "novara@colorificioserra.it", "Corso Italia 4", "28100",
                     "Novara", company="Colorificio Serra - PV Novara",
                     note="partita_iva: 07890123453")
NEW = customer("7012345000204", "nuovo@example.it", "Via Po 1", "10123", "Torino")


def run(cfg: Path, rows: list[dict[str, str]], name: str, at: float) -> list[dict[str, Any]]:
    """One customer export through the flow, approved: the rows the ERP gets."""
    inbox = cfg.parent / "inbox" / "shopify"
    (inbox / name).write_text(export(rows), encoding="utf-8")
    conf = load(cfg)
    run_pass(conf, flows=["clienti"], clock=lambda: at)
    [outcome] = run_pass(conf, flows=["clienti"], clock=lambda: at + 60).outcomes
    if outcome.state == "done":  # nothing to approve: nothing new
        assert outcome.outputs == []
        return []
    assert outcome.state == "held", outcome
    approve(conf, outcome.file_id)
    [done] = run_pass(conf, flows=["clienti"], clock=lambda: at + 120).outcomes
    assert done.state == "done", done
    if not done.outputs:  # nothing left to send (an empty file still waits for approval)
        return []
    [(out, _)] = done.outputs
    back = decode((cfg.parent / "erp" / "clienti" / out).read_bytes(),
                  spec.load("gestionale/nuovi-clienti"))
    assert back.issues == []
    return back.tables["cliente"].drop(columns=["_line"]).to_dict("records")


@pytest.fixture()
def cfg(tmp_path: Path) -> Path:
    cfg = sample_copy(tmp_path)
    for old in (cfg.parent / "inbox" / "shopify").glob("*.csv"):
        old.unlink()
    return cfg


def brief(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(r["tipo"], r["codice_erp"], r["codice_sede"], r["email"], r["indirizzo"])
            for r in rows]


def errors_of(cfg: Path, name: str) -> list[tuple[str, int | None, str | None]]:
    """The errors the ledger holds of the file ``name``: (code, line, field)."""
    from bridge.ledger import open_ledger

    conf = load(cfg)
    ledger = open_ledger(conf.path(conf.ledger))
    try:
        [row] = [f for f in ledger.files() if f.path == name]
        return [(i.code, i.line, i.field) for i in ledger.issues(row.id) if i.is_error]
    finally:
        ledger.close()


def test_new_changed_and_unchanged_customers(cfg: Path) -> None:
    got = run(cfg, [MORETTI_SAME, BRAMBILLA, SERRA_NEW, NEW], "customers_export_1.csv", NOON)
    assert brief(got) == [
        ("N", None, "C00110", "novara@colorificioserra.it", "Corso Italia 4"),
        ("N", None, None, "nuovo@example.it", "Via Po 1")]
    # Moretti moves: one change, with its ERP code and the new address
    got = run(cfg, [MORETTI_MOVED, BRAMBILLA, SERRA_NEW, NEW], "customers_export_2.csv",
              NOON + 3600)
    assert brief(got) == [("V", "C00101", None, "acquisti@ediliziamoretti.it",
                           "Via Bergamo 9")]
    assert (got[0]["cap"], got[0]["citta"]) == ("24030", "Mozzo")
    # the same export again: the change went already, the new customers too
    assert run(cfg, [MORETTI_MOVED, BRAMBILLA, SERRA_NEW, NEW], "customers_export_3.csv",
               NOON + 7200) == []


def test_a_vat_number_of_one_customer_makes_it_known(cfg: Path) -> None:
    moved = {**BRAMBILLA, "Default Address Address1": "Viale Fulvio Testi 1"}
    got = run(cfg, [moved], "customers_export_1.csv", NOON)
    assert brief(got) == [("V", "C00140", None, "amministrazione@brambilla.it",
                           "Viale Fulvio Testi 1")]


def test_the_erp_s_customers_reach_the_shop_with_their_terms_once(cfg: Path) -> None:
    """ERP -> shop: every customer with an e-mail, its price list and payment terms as
    tags; a later export sends only the customer whose terms changed."""
    conf = load(cfg)
    exports = cfg.parent / "erp-exports" / "clienti.csv"
    assert run_pass(conf, flows=["clienti-negozio"], clock=lambda: NOON).outcomes == []
    [first] = run_pass(conf, flows=["clienti-negozio"], clock=lambda: NOON + 60).outcomes
    shop = cfg.parent / "shop" / "shopify"
    rows = list(csv.DictReader(io.StringIO((shop / first.outputs[0][0]).read_text("utf-8"))))
    assert len(rows) == 8
    moretti = next(r for r in rows if r["Email"] == "acquisti@ediliziamoretti.it")
    assert moretti["Tags"] == "B2B, listino-2, pagamento-BB30, agente-A01"
    assert moretti["Default Address Zip"] == "24126" and moretti["Tax Exempt"] == "no"
    # the ERP moves Moretti to 60-day terms: only Moretti goes again
    text = exports.read_bytes().decode("cp1252")
    exports.write_bytes(text.replace(";5,00;;BB30;", ";5,00;;BB60;").encode("cp1252"))
    assert run_pass(conf, flows=["clienti-negozio"], clock=lambda: NOON + 600).outcomes == []
    [second] = run_pass(conf, flows=["clienti-negozio"],
                        clock=lambda: NOON + 660).outcomes
    again = list(csv.DictReader(io.StringIO(
        (shop / second.outputs[0][0]).read_text("utf-8"))))
    assert [(r["Email"], r["Tags"]) for r in again] == [
        ("acquisti@ediliziamoretti.it", "B2B, listino-2, pagamento-BB60, agente-A01")]


def test_one_shop_customer_per_e_mail_and_no_address_that_is_none(cfg: Path) -> None:
    """Two ERP customers with one e-mail (a branch given its head office's; in capitals,
    which the ERP's tracciato reads in small letters):
    Shopify keeps one customer per e-mail, and the second row overwrote the head office's
    price list and company with the branch's. Both are refused (ambiguous-match, naming
    both codes): sending the first only held for one night, as the next night's delta
    sent the branch alone over it (tests/test_shop_feed.py); an e-mail that is no
    address is refused too."""
    from bridge.ledger import open_ledger

    conf = load(cfg)
    exports = cfg.parent / "erp-exports" / "clienti.csv"
    text = exports.read_bytes().decode("cp1252")
    exports.write_bytes((text + "C00150;Moretti Cantiere Nord;ACQUISTI@ediliziamoretti.it;;;"
                         "A01;5,00;;BB30;Via Po 1;24100;Bergamo;BG;1\r\n"
                         "C00151;Rossi;n/a;;;A01;5,00;;BB30;Via Po 2;24100;Bergamo;BG;1\r\n"
                         ).encode("cp1252"))
    assert run_pass(conf, flows=["clienti-negozio"], clock=lambda: NOON).outcomes == []
    [done] = run_pass(conf, flows=["clienti-negozio"], clock=lambda: NOON + 60).outcomes
    assert done.state == "done"
    shop = cfg.parent / "shop" / "shopify"
    rows = list(csv.DictReader(io.StringIO((shop / done.outputs[0][0]).read_text("utf-8"))))
    moretti = [r for r in rows if r["Email"] == "acquisti@ediliziamoretti.it"]
    assert moretti == []
    assert len(rows) == 7 and "n/a" not in [r["Email"] for r in rows]
    ledger = open_ledger(cfg.parent / ".bridge" / "ledger.sqlite")  # or the tests' PostgreSQL
    try:
        codes = [(i.line, i.code, i.field) for i in ledger.issues(done.file_id)]
    finally:
        ledger.close()
    assert sorted(codes) == [(2, "ambiguous-match", "email"), (10, "ambiguous-match", "email"),
                             (11, "bad-pattern", "email")]


def test_a_customer_gone_from_the_erp_is_withdrawn_from_the_shop_once(cfg: Path) -> None:
    """A customer deleted in the ERP stayed in the shop with its B2B tags (price list,
    payment terms), done, exit 0, nothing sent: the shop went on giving it the ERP's
    terms. Now it goes once more with its tags replaced by `cliente-ritirato`; a master
    cut short (three customers of eight) withdraws nobody until an operator approves."""
    from bridge.ledger import open_ledger

    conf = load(cfg)
    exports = cfg.parent / "erp-exports" / "clienti.csv"
    lines = exports.read_bytes().split(b"\r\n")
    shop = cfg.parent / "shop" / "shopify"

    def take(data: bytes, at: float) -> Any:
        exports.write_bytes(data)
        assert run_pass(conf, flows=["clienti-negozio"], clock=lambda: at).outcomes == []
        [done] = run_pass(conf, flows=["clienti-negozio"], clock=lambda: at + 60).outcomes
        return done

    assert take(b"\r\n".join(lines), NOON).state == "done"
    gone = take(b"\r\n".join(x for x in lines if not x.startswith(b"C00102")), NOON + 600)
    assert gone.state == "done"
    rows = list(csv.DictReader(io.StringIO((shop / gone.outputs[0][0]).read_text("utf-8"))))
    assert [(r["Email"], r["Tags"], r["Note"], r["Default Address Province Code"])
            for r in rows] == [("ordini@ferramentaverdi.it", "cliente-ritirato",
                                "Cliente C00102 ritirato dal gestionale", "LO")]
    before = sorted(p.name for p in shop.iterdir())
    cut = take(b"\r\n".join(lines[:4]) + b"\r\n", NOON + 1200)
    assert cut.state == "held" and sorted(p.name for p in shop.iterdir()) == before
    ledger = open_ledger(cfg.parent / ".bridge" / "ledger.sqlite")  # or the tests' PostgreSQL
    try:
        assert [i.code for i in ledger.issues(cut.file_id)] == ["withdrawn"]
    finally:
        ledger.close()


def test_a_customer_registering_again_is_not_a_second_new_customer(cfg: Path) -> None:
    """A shop customer deleted and registered again (a new id; the e-mail typed in
    capitals) before the ERP's export had the first went to the ERP as a second new
    customer (N), exit 0: two ERP customers of one e-mail. Now a new customer goes once
    per e-mail too, whatever its case; the second is noted already-sent."""
    first = run(cfg, [NEW], "customers_export_1.csv", NOON)
    assert brief(first) == [("N", None, None, "nuovo@example.it", "Via Po 1")]
    again = {**NEW, "Customer ID": "'7012345000299", "Email": "Nuovo@Example.IT"}
    other = customer("7012345000298", "altro@example.it", "Via Po 2", "10123", "Torino")
    got = run(cfg, [again, other], "customers_export_2.csv", NOON + 3600)
    assert brief(got) == [("N", None, None, "altro@example.it", "Via Po 2")]
    assert [r["id_web"] for r in got] == ["7012345000298"]


def test_an_italian_postcode_that_lost_its_zeros_is_refused_not_sent(cfg: Path) -> None:
    """`00187` read back from a spreadsheet as `187`: the ERP got `187` as the new
    customer's postcode, exit 0. Now that customer is refused (`bad-pattern` on its line,
    with what happened) and the others go; a foreign postcode of four digits still goes."""
    from bridge.ledger import open_ledger

    roma = customer("7012345000301", "roma@example.it", "Via Po 10", "187", "Roma")
    wien = {**customer("7012345000302", "wien@example.at", "Ring 1", "1010", "Wien"),
            "Default Address Country Code": "AT", "Default Address Province Code": ""}
    got = run(cfg, [roma, NEW, wien], "customers_export_1.csv", NOON)
    assert [(r["email"], r["cap"]) for r in got] == [("nuovo@example.it", "10123"),
                                                     ("wien@example.at", "1010")]
    conf = load(cfg)
    ledger = open_ledger(conf.path(conf.ledger))
    try:
        [row] = [f for f in ledger.files() if f.path == "customers_export_1.csv"]
        bad = [(i.code, i.line, i.field, i.value) for i in ledger.issues(row.id)
               if i.is_error]
    finally:
        ledger.close()
    assert bad == [("bad-pattern", 2, "cap", "187")]


@pytest.mark.parametrize("street", ["Via Roma 1\nScala B", "Via Roma 1\r\nScala B",
                                    "Via Roma 1\tScala B"])
def test_a_line_break_in_an_address_refuses_that_customer_not_the_erp_s_import(
        cfg: Path, street: str) -> None:
    """The ERP reads its customer file a line at a time: an address of two lines (the
    shop lets a customer type one) was written quoted across two lines, and the import
    took its second half for a customer of its own. Now that customer is refused
    (`control-character` on its line) and each line of the file is one customer."""
    two_lines = customer("7012345000401", "righe@example.it", street, "20121", "Milano")
    got = run(cfg, [two_lines, NEW], "customers_export_1.csv", NOON)
    assert [r["email"] for r in got] == ["nuovo@example.it"]
    [written] = (cfg.parent / "erp" / "clienti").glob("*.CSV")
    data = written.read_bytes()
    assert data.count(b"\r\n") == 2 and data.count(b"\n") == 2 and b"\t" not in data
    bad = errors_of(cfg, "customers_export_1.csv")
    assert bad == [("control-character", 2, "indirizzo")]


def test_a_company_named_as_a_formula_stays_out_of_the_file_the_operator_opens(
        cfg: Path) -> None:
    """The new customers' file waits for an operator, who opens it in a spreadsheet: a
    shop customer whose company was `=HYPERLINK(...)` had it run there. That customer is
    refused (`formula`), the others go; a phone starting with `+` is data."""
    formula = customer("7012345000501", "formula@example.it", "Via Po 2", "10123", "Torino",
                       company='=HYPERLINK("http://example.com/x","Rossi")')
    phone = {**NEW, "Default Address Phone": "+39 011 4455667"}
    got = run(cfg, [formula, phone], "customers_export_1.csv", NOON)
    assert [(r["email"], r["telefono"]) for r in got] == [("nuovo@example.it",
                                                           "+39 011 4455667")]
    bad = errors_of(cfg, "customers_export_1.csv")
    assert bad == [("formula", 2, "ragione_sociale")]


def test_a_name_left_empty_in_the_shop_is_never_written_none(cfg: Path) -> None:
    """A shop customer with no company and no first name went to the ERP as the company
    `Rossi None` (jinja writes a missing value joined with `~` as "None"); with no name
    at all, as `None None`. The name is now the parts given, and a customer with none is
    refused (`missing-required`), never sent nameless."""
    no_first = {**customer("7012345000601", "rossi@example.it", "Via Po 3", "10123",
                           "Torino"), "First Name": ""}
    nameless = {**customer("7012345000602", "anonimo@example.it", "Via Po 4", "10123",
                           "Torino"), "First Name": "", "Last Name": ""}
    got = run(cfg, [no_first, nameless, NEW], "customers_export_1.csv", NOON)
    assert [(r["email"], r["ragione_sociale"]) for r in got] == [
        ("rossi@example.it", "Rossi"), ("nuovo@example.it", "Rossi Anna")]
    bad = errors_of(cfg, "customers_export_1.csv")
    assert bad == [("missing-required", 3, "ragione_sociale")]


def test_an_erp_customer_with_no_price_list_gets_no_price_list_tag(cfg: Path) -> None:
    """The shop's apps give a customer the prices of its `listino-N` tag: a customer the
    ERP exports with no price list went to the shop tagged `listino-None`. It now goes
    with its other tags only."""
    conf = load(cfg)
    exports = cfg.parent / "erp-exports" / "clienti.csv"
    text = exports.read_bytes().decode("cp1252")
    exports.write_bytes((text + "C00160;Senza Listino S.r.l.;listino@example.it;;;;;;BB30;"
                         "Via Po 5;24100;Bergamo;BG;\r\n").encode("cp1252"))
    assert run_pass(conf, flows=["clienti-negozio"], clock=lambda: NOON).outcomes == []
    [done] = run_pass(conf, flows=["clienti-negozio"], clock=lambda: NOON + 60).outcomes
    shop = cfg.parent / "shop" / "shopify"
    rows = list(csv.DictReader(io.StringIO((shop / done.outputs[0][0]).read_text("utf-8"))))
    [senza] = [r for r in rows if r["Email"] == "listino@example.it"]
    assert senza["Tags"] == "B2B, pagamento-BB30"
    assert all("None" not in r["Tags"] for r in rows)


def test_an_address_given_only_on_its_second_line_is_never_none(cfg: Path) -> None:
    """A customer who typed the street in the shop's second address line went to the ERP
    at `None, Via Po 6`: `~` writes the missing first line as "None"."""
    second_only = {**customer("7012345000701", "seconda@example.it", "", "10123", "Torino"),
                   "Default Address Address2": "Via Po 6"}
    got = run(cfg, [second_only], "customers_export_1.csv", NOON)
    assert [(r["email"], r["indirizzo"]) for r in got] == [("seconda@example.it", "Via Po 6")]


def issues_of(cfg: Path, name: str) -> list[tuple[str, int | None, str | None, str | None]]:
    """Every issue the ledger holds of the file ``name``: (code, line, field, value)."""
    from bridge.ledger import open_ledger

    conf = load(cfg)
    ledger = open_ledger(conf.path(conf.ledger))
    try:
        [row] = [f for f in ledger.files() if f.path == name]
        return [(i.code, i.line, i.field, i.value) for i in ledger.issues(row.id)]
    finally:
        ledger.close()


def test_one_tax_code_or_vat_number_is_one_new_customer(cfg: Path) -> None:
    """A person who registered twice in the shop (two e-mails, one tax code), or two
    employees of one company (one VAT number, given once with its IT prefix), went to the
    ERP as two new customers (two N rows), in one file and in later ones: the ERP had the
    same person or company twice. Now the first registration goes; in the same file a
    later one is refused (`duplicate-key`, naming the first one's line), in a later file
    it is noted `already-sent`; the same e-mail twice in one file goes once too."""
    mario = customer("7012345000801", "mario@example.it", "Via Po 8", "10123", "Torino",
                     note="codice_fiscale: BNCMRA80A01L219S")
    mario_again = customer("7012345000802", "mario.lavoro@example.it", "Via Po 8", "10123",
                           "Torino", note="codice_fiscale: bncmra80a01l219s")
    acme = customer("7012345000803", "anna@acme.it", "Via Dante 3", "20121", "Milano",
                    company="Acme S.r.l.", note="partita_iva: 12345678903")
    acme_too = customer("7012345000804", "luca@acme.it", "Via Dante 3", "20121", "Milano",
                        company="Acme S.r.l.", note="partita_iva: IT12345678903")
    new_again = {**NEW, "Customer ID": "'7012345000805", "Email": "Nuovo@Example.IT"}
    got = run(cfg, [mario, mario_again, acme, acme_too, NEW, new_again],
              "customers_export_1.csv", NOON)
    assert [r["id_web"] for r in got] == ["7012345000801", "7012345000803", "7012345000204"]
    [written] = (cfg.parent / "erp" / "clienti").glob("*.CSV")
    assert written.read_bytes() == (
        b"TIPO;CODICE_ERP;CODICE_SEDE;ID_WEB;RAGIONE_SOCIALE;EMAIL;PARTITA_IVA;"
        b"CODICE_FISCALE;INDIRIZZO;CAP;CITTA;PROVINCIA;NAZIONE;TELEFONO\r\n"
        b"N;;;7012345000801;Rossi Anna;mario@example.it;;BNCMRA80A01L219S;Via Po 8;10123;"
        b"Torino;MI;IT;\r\n"
        b"N;;;7012345000803;Acme S.r.l.;anna@acme.it;12345678903;;Via Dante 3;20121;"
        b"Milano;MI;IT;\r\n"
        b"N;;;7012345000204;Rossi Anna;nuovo@example.it;;;Via Po 1;10123;Torino;MI;IT;\r\n")
    assert errors_of(cfg, "customers_export_1.csv") == [
        ("duplicate-key", 3, "chiave_cf"), ("duplicate-key", 5, "chiave_piva"),
        ("duplicate-key", 7, "chiave_email")]
    # the next export, with a third registration of each: nothing new goes
    mario_third = customer("7012345000806", "m.bianchi@example.it", "Via Po 8", "10123",
                           "Torino", note="codice_fiscale: BNCMRA80A01L219S")
    acme_third = customer("7012345000807", "ordini@acme.it", "Via Dante 3", "20121",
                          "Milano", company="Acme S.r.l.", note="partita_iva: 12345678903")
    assert run(cfg, [mario, acme, NEW, mario_third, acme_third], "customers_export_2.csv",
               NOON + 3600) == []
    notes = [i for i in issues_of(cfg, "customers_export_2.csv")
             if i[2] in ("chiave_cf", "chiave_piva")]
    assert notes == [("already-sent", 5, "chiave_cf", "N|CF|BNCMRA80A01L219S"),
                     ("already-sent", 6, "chiave_piva", "N|IVA|12345678903")]


def test_an_e_mail_changed_in_the_shop_reaches_the_erp(cfg: Path) -> None:
    """A customer the ERP imported from the shop who changed e-mail in the shop: the flow
    found it by e-mail only, knew it no more, took it for a new customer (N) and skipped
    it as sent: the ERP kept the old e-mail forever, the customer's orders, found by
    e-mail, went to the default customer WEB001, and its later address changes never
    went either. The ERP keeps the shop's id of a customer it imported (ID_WEB of its
    export): the customer is found by it, and the new e-mail goes once as a change (V)."""
    first = run(cfg, [NEW], "customers_export_1.csv", NOON)
    assert brief(first) == [("N", None, None, "nuovo@example.it", "Via Po 1")]
    # the ERP imports it, and keeps its shop id: an export with the column ID_WEB
    exports = cfg.parent / "erp-exports" / "clienti.csv"
    lines = exports.read_bytes().decode("cp1252").splitlines()
    exports.write_bytes(("".join(f"{line};{'ID_WEB' if n == 0 else ''}\r\n"
                                 for n, line in enumerate(lines))
                         + "C00200;Rossi Anna;nuovo@example.it;;;;;;BB30;Via Po 1;10123;"
                           "Torino;TO;1;7012345000204\r\n").encode("cp1252"))
    assert run(cfg, [NEW], "customers_export_2.csv", NOON + 3600) == []
    moved = {**NEW, "Email": "Anna.Rossi@example.it"}
    got = run(cfg, [moved], "customers_export_3.csv", NOON + 7200)
    assert brief(got) == [("V", "C00200", None, "Anna.Rossi@example.it", "Via Po 1")]
    [written] = [p for p in (cfg.parent / "erp" / "clienti").glob("*.CSV")
                 if b"C00200" in p.read_bytes()]
    assert written.read_bytes().splitlines()[1:] == [
        b"V;C00200;;7012345000204;Rossi Anna;Anna.Rossi@example.it;;;Via Po 1;10123;"
        b"Torino;MI;IT;"]
    # once: the same export again sends nothing; a move after it goes as a change
    assert run(cfg, [moved], "customers_export_4.csv", NOON + 9000) == []
    away = {**moved, "Default Address Address1": "Via Po 99"}
    got = run(cfg, [away], "customers_export_5.csv", NOON + 10800)
    assert brief(got) == [("V", "C00200", None, "Anna.Rossi@example.it", "Via Po 99")]


def test_new_branches_of_a_group_share_its_vat_number_and_all_go(cfg: Path) -> None:
    """The branches of a group the ERP has share its VAT number: each new one goes (N,
    linked to the head office), in one export and in later ones; the VAT number sent
    once as a new customer's holds back only a second registration of a company the ERP
    does not have yet."""
    asti = {**SERRA_NEW, "Customer ID": "'7012345000210", "Email": "alba@colorificioserra.it",
            "Default Address Address1": "Via Alba 2", "Default Address City": "Alba",
            "Default Address Zip": "'12051"}
    genova = {**SERRA_NEW, "Customer ID": "'7012345000211",
              "Email": "genova@colorificioserra.it", "Default Address Address1": "Via XX",
              "Default Address City": "Genova", "Default Address Zip": "'16121"}
    got = run(cfg, [SERRA_NEW, asti], "customers_export_1.csv", NOON)
    assert brief(got) == [("N", None, "C00110", "novara@colorificioserra.it", "Corso Italia 4"),
                          ("N", None, "C00110", "alba@colorificioserra.it", "Via Alba 2")]
    got = run(cfg, [SERRA_NEW, asti, genova], "customers_export_2.csv", NOON + 3600)
    assert brief(got) == [("N", None, "C00110", "genova@colorificioserra.it", "Via XX")]
    assert errors_of(cfg, "customers_export_1.csv") == []


def test_a_new_branch_giving_its_group_s_tax_code_is_no_change_of_the_head_office(
        cfg: Path) -> None:
    """A company's tax code is its VAT number, which the records of a group share: a new
    branch that gave it too was found by it as the group's first record, and went to the
    ERP as a change (V) of the head office, its address and e-mail made the branch's. It
    now goes as the new branch it is (N), linked to its head office, as when it gives
    the VAT number alone; given the tax code alone, the same."""
    both = {**SERRA_NEW, "Note": "partita_iva: 07890123453\ncodice_fiscale: 07890123453"}
    got = run(cfg, [both], "customers_export_1.csv", NOON)
    [written] = (cfg.parent / "erp" / "clienti").glob("*.CSV")
    assert written.read_bytes().splitlines()[1:] == [
        b"N;;C00110;7012345000203;Colorificio Serra - PV Novara;novara@colorificioserra.it;"
        b"07890123453;07890123453;Corso Italia 4;28100;Novara;MI;IT;"]
    alone = {**SERRA_NEW, "Customer ID": "'7012345000209", "Email": "alba@colorificioserra.it",
             "Note": "codice_fiscale: 07890123453"}
    got = run(cfg, [alone], "customers_export_2.csv", NOON + 3600)
    assert brief(got) == [("N", None, "C00110", "alba@colorificioserra.it", "Corso Italia 4")]


def test_an_erp_customer_named_as_a_formula_stays_out_of_the_shop_s_import(
        cfg: Path) -> None:
    """The customers' file for the shop is opened in a spreadsheet by the shop's staff
    before they import it: a company the ERP holds as `=HYPERLINK(...)` (typed by a shop
    customer, copied into the ERP) ran there. That customer is refused (`formula`, on its
    line of the ERP's export); the others go, byte for byte as before."""
    conf = load(cfg)
    exports = cfg.parent / "erp-exports" / "clienti.csv"
    text = exports.read_bytes().decode("cp1252")
    exports.write_bytes((text + 'C00170;=HYPERLINK(A1&A2);'
                         "formula@example.it;;;;;;BB30;Via Po 6;24100;Bergamo;BG;1\r\n"
                         ).encode("cp1252"))
    assert run_pass(conf, flows=["clienti-negozio"], clock=lambda: NOON).outcomes == []
    [done] = run_pass(conf, flows=["clienti-negozio"], clock=lambda: NOON + 60).outcomes
    shop = cfg.parent / "shop" / "shopify"
    data = (shop / done.outputs[0][0]).read_bytes()
    assert b"HYPERLINK" not in data and b"formula@example.it" not in data
    assert b"acquisti@ediliziamoretti.it" in data
    lines = len(text.splitlines())
    assert errors_of(cfg, "clienti.csv") == [("formula", lines + 1, "company")]


def test_every_file_written_for_the_shops_refuses_formulas() -> None:
    """What bridge writes for the shops is opened in a spreadsheet by their staff before
    the import: each such layout refuses a cell that would run there as a formula."""
    conf = load(SAMPLES / "bridge.yaml")
    shops = {t.tracciato for f in conf.flows.values() for t in f.targets
             if t.folder.startswith("shop/") and t.tracciato}
    assert shops == {"shopify/clienti-b2b", "shopify/prodotti", "shopify/inventario",
                     "woocommerce/prodotti", "woocommerce/giacenze"}
    assert {name: spec.load(name).dialect.formulas for name in shops} == dict.fromkeys(
        shops, "refuse")
