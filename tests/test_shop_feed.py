"""What the ERP's exports send to the shops, through the sample flows run as cron runs them
(`bridge run` in a child process), on exports written for each test: every row the shop
would get wrong is refused with its reason, the others go byte for byte as the golden files
have them.

Two codes one product (`ab1`, `AB1`: Shopify's handle is the code in lower case), a price
of 0,00, a comma in a code that becomes a Shopify tag, an article twice in one price list.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.flowkit import bridge_cli
from tests.test_samples import EXPECTED, sample_copy

LISTINO = "CODICE;LISTINO;PREZZO;BARCODE;STATO"
#: two articles of the master that differ only in case
MASTER_CASE = ["A;ab1;Articolo minuscolo;;22;PZ;;;;;;;;;;;",
               "A;AB1;Articolo maiuscolo;;22;PZ;;;;;;;;;;;"]


class Company:
    """The sample company in tmp_path, its files taken at the first run (no readiness
    window: the window is tested elsewhere, here what the rows become)."""

    def __init__(self, tmp_path: Path) -> None:
        self.cfg = sample_copy(tmp_path)
        self.root = self.cfg.parent
        text = self.cfg.read_text(encoding="utf-8")
        self.cfg.write_text(text.replace("ready: {window: 5, min_age: 5}",
                                         "ready: {window: 0, min_age: 0}"), encoding="utf-8")
        self.stamp = 1_700_000_000

    def export(self, name: str, lines: list[str], *, append: bool = False) -> None:
        """An ERP export (cp1252, CRLF), with a new time of change: a new version."""
        path = self.root / "erp-exports" / name
        old = path.read_bytes() if append else b""
        path.write_bytes(old + "".join(f"{line}\r\n" for line in lines).encode("cp1252"))
        self.stamp += 100
        os.utime(path, (self.stamp, self.stamp))

    def run(self, flow: str) -> str:
        got = bridge_cli(self.cfg, "run", "--flow", flow)
        assert got.returncode == 0, got.stdout + got.stderr
        assert "Traceback" not in got.stdout + got.stderr
        return got.stdout

    def issues(self, name: str) -> list[str]:
        """The issues `bridge show NAME` gives of the last version of the file taken."""
        got = bridge_cli(self.cfg, "show", name)
        assert got.returncode == 0, got.stdout + got.stderr
        last = got.stdout.split("\nfile ")[-1]  # each version of the name: its own story
        return [line.strip() for line in last.splitlines()
                if line.strip().startswith("issue ")]

    def written(self, shop: str, name: str) -> bytes:
        return (self.root / "shop" / shop / name).read_bytes()


def stock(code: str, units: int) -> str:
    """A G record of gestionale/giacenze: ``units`` on hand and available in warehouse 01."""
    return f"G{code:<20}01 {units:09d}{0:09d}{units:09d}20251108     "


def golden(shop: str, name: str, keys: list[str], column: int) -> bytes:
    """The golden file's header and its rows whose ``column`` is one of ``keys``, in that
    order: what bridge writes of those rows."""
    lines = (EXPECTED / "shop" / shop / name).read_bytes().split(b"\n")
    rows = {line.split(b",")[column].decode(): line for line in lines[1:] if line}
    return b"\n".join([lines[0], *(rows[k] for k in keys)]) + b"\n"


def products(keys: list[str]) -> tuple[bytes, bytes]:
    """The Shopify and WooCommerce product files of these SKUs, as the samples write them."""
    return (golden("shopify", "products_0001.csv", keys, 9),
            golden("woocommerce", "prodotti_0001.csv", keys, 2))


def test_two_codes_differing_only_in_case_are_both_refused(tmp_path: Path) -> None:
    """`ab1` and `AB1` both had the handle `ab1`: the shop made them one product, the later
    row overwriting the first (and the other way round when the ERP sorted them otherwise).
    Both are refused, each naming the two codes, in the price list and in the stock."""
    c = Company(tmp_path)
    c.export("articoli.csv", MASTER_CASE, append=True)
    c.export("listino.csv", [LISTINO, "TRAP-18V;1;122,87;8001234000011;A",
                             "ab1;1;10,00;;A", "AB1;1;12,00;;A"])
    c.run("articoli")
    shopify, woo = products(["TRAP-18V"])
    assert c.written("shopify", "products_0001.csv") == shopify
    assert c.written("woocommerce", "prodotti_0001.csv") == woo
    why = ("ambiguous-match: prezzo.codice: steps[3].lookup: codice '{}' is the key of several "
           "rows of 'articoli' with other values of codice ('ab1', 'AB1'): which one is meant?")
    assert c.issues("listino.csv") == [f"issue line 3: {why.format('ab1')}",
                                       f"issue line 4: {why.format('AB1')}"]
    # The next night the ERP lists them the other way round, at new prices: still neither.
    c.export("listino.csv", [LISTINO, "AB1;1;13,00;;A", "TRAP-18V;1;110,58;8001234000011;A",
                             "ab1;1;11,00;;A"])
    c.run("articoli")
    assert c.written("shopify", "products_0002.csv").split(b"\n")[1:] == [
        b"trap-18v,Trapano avvitatore 18V,,,,,TRUE,Title,Default Title,TRAP-18V,,shopify,,"
        b"deny,manual,134.91,,TRUE,TRUE,8001234000011,,active", b""]
    assert c.issues("listino.csv") == [f"issue line 2: {why.format('AB1')}",
                                       f"issue line 4: {why.format('ab1')}"]
    # Stock: the inventory's handle is the code in lower case too.
    c.export("giacenze.txt", [stock("TRAP-18V", 50), stock("ab1", 7), stock("AB1", 9)])
    c.run("giacenze")
    assert c.written("shopify", "inventory_0001.csv").split(b"\n")[1:] == [
        b"trap-18v,Trapano avvitatore 18V,Title,Default Title,TRAP-18V,Magazzino Bergamo,,50",
        b""]
    assert c.written("woocommerce", "stock_0001.csv").split(b"\n")[1:] == [
        b"TRAP-18V,1,50", b""]
    [first, second] = c.issues("giacenze.txt")
    assert first.startswith("issue line 2: ambiguous-match: giacenza.codice: ")
    assert second.startswith("issue line 3: ambiguous-match: giacenza.codice: ")
    assert "codice 'AB1' is the key of several rows of 'articoli' with other values of " \
           "codice ('ab1', 'AB1')" in second


def test_a_price_of_zero_is_refused_and_the_shop_keeps_its_price(tmp_path: Path) -> None:
    """A net price of 0,00 (an article the ERP has not priced yet) went to both shops as
    0.00: the article on sale for free. It is refused, and the shop keeps the last price
    sent: the article is neither sent nor withdrawn."""
    c = Company(tmp_path)
    c.export("listino.csv", [LISTINO, "TRAP-18V;1;122,87;8001234000011;A",
                             "VITI-4X40;1;5,00;8001234000028;A",
                             "GUANTI-NIT;1;8,20;8001234000035;A"])
    c.run("articoli")
    shopify, woo = products(["TRAP-18V", "VITI-4X40", "GUANTI-NIT"])
    assert c.written("shopify", "products_0001.csv") == shopify
    assert c.written("woocommerce", "prodotti_0001.csv") == woo
    # A price of 0,00 on an article the ERP suspends (S) goes: the shop must learn that
    # it is off sale (a draft, private), never keep selling it at its last price.
    c.export("listino.csv", [LISTINO, "TRAP-18V;1;110,58;8001234000011;A",
                             "VITI-4X40;1;0,00;8001234000028;A",
                             "GUANTI-NIT;1;0,00;8001234000035;S"])
    c.run("articoli")
    assert c.written("shopify", "products_0002.csv").split(b"\n")[1:] == [
        b"trap-18v,Trapano avvitatore 18V,,,,,TRUE,Title,Default Title,TRAP-18V,,shopify,,"
        b"deny,manual,134.91,,TRUE,TRUE,8001234000011,,active",
        b"guanti-nit,Guanti in nitrile (conf. 100 pz),,,,,FALSE,Title,Default Title,"
        b"GUANTI-NIT,,shopify,,deny,manual,0.00,,TRUE,TRUE,8001234000035,,draft", b""]
    assert c.written("woocommerce", "prodotti_0002.csv").split(b"\n")[1:] == [
        b",simple,TRAP-18V,8001234000011,Trapano avvitatore 18V,1,,,,,,,taxable,,,,,,,,,,,,,,"
        b"134.91,,,,,,,,,,,,,",
        b",simple,GUANTI-NIT,8001234000035,Guanti in nitrile (conf. 100 pz),0,,,,,,,taxable,,,"
        b",,,,,,,,,,,0.00,,,,,,,,,,,,,", b""]
    assert c.issues("listino.csv") == [
        "issue line 3: below-minimum: prezzo.prezzo: steps[4].check: the price is 0,00 on an "
        "article on sale: the shop would give it away (the shop keeps its last price until "
        "the ERP gives one)"]


def test_a_comma_in_a_code_that_becomes_a_tag_refuses_the_customer(tmp_path: Path) -> None:
    """Shopify's tags are one comma-separated text: an agent code `A,01` made the tags
    `agente-A` and `01`, a tag nobody gave (so did a payment code). Such a customer is
    refused with its reason, the others go; fixed in the ERP, it goes the next night."""
    c = Company(tmp_path)
    exports = c.root / "erp-exports" / "clienti.csv"
    lines = exports.read_bytes().decode("cp1252").splitlines()
    assert lines[1].startswith("C00101;") and lines[2].startswith("C00102;")
    comma = [lines[0], lines[1].replace(";A01;", ";A,01;"),
             lines[2].replace(";RB60;", ";RB,6;"), *lines[3:]]
    c.export("clienti.csv", comma)
    c.run("clienti-negozio")
    expected = (EXPECTED / "shop" / "shopify" / "customers_0001.csv").read_bytes()
    rows = expected.split(b"\n")
    assert b"agente-A01" in rows[1] and b"pagamento-RB60" in rows[2]
    assert c.written("shopify", "customers_0001.csv") == b"\n".join([rows[0], *rows[3:]])
    assert c.issues("clienti.csv") == [
        "issue line 2: bad-pattern: cliente.codice_agente: steps[1].check: a comma in the "
        "agent code: Shopify would read two tags",
        "issue line 3: bad-pattern: cliente.codice_pagamento: steps[1].check: a comma in the "
        "payment code: Shopify would read two tags"]
    c.export("clienti.csv", lines)  # put right in the ERP: both go, as the samples write them
    c.run("clienti-negozio")
    assert c.written("shopify", "customers_0002.csv") == b"\n".join([*rows[:3], b""])
    c.export("clienti.csv", comma)  # broken again: refused, never withdrawn
    c.run("clienti-negozio")
    assert not (c.root / "shop" / "shopify" / "customers_0003.csv").exists()
    assert len(c.issues("clienti.csv")) == 2


def test_an_article_twice_in_a_price_list_goes_once_and_the_repeat_is_said(
        tmp_path: Path) -> None:
    """A code twice in one price list, at two prices or at the same: the first row goes,
    each later one is refused on its own line and names the line that gave the code first
    (the choice is said per row, never a silent pick of one of two prices)."""
    c = Company(tmp_path)
    c.export("listino.csv", [LISTINO, "TRAP-18V;1;122,87;8001234000011;A",
                             "VITI-4X40;1;5,00;8001234000028;A",
                             "TRAP-18V;1;99,00;8001234000011;A",
                             "VITI-4X40;1;5,00;8001234000028;A"])
    c.run("articoli")
    shopify, woo = products(["TRAP-18V", "VITI-4X40"])
    assert c.written("shopify", "products_0001.csv") == shopify
    assert c.written("woocommerce", "prodotti_0001.csv") == woo
    why = ("duplicate-key: prezzo.codice: steps[9].delta: the key '{}' again (line {} gave it "
           "first): a file gives each key one state; its first row is the one compared and "
           "sent")
    assert c.issues("listino.csv") == [f"issue line 4: {why.format('TRAP-18V', 2)}",
                                       f"issue line 5: {why.format('VITI-4X40', 3)}"]


def test_two_customers_of_one_email_are_both_refused_every_night(tmp_path: Path) -> None:
    """Shopify keeps one customer per e-mail. Two ERP customers of one e-mail (a branch
    given its head office's, in other capitals): the target's check (one row per e-mail in
    a file) sent the first and refused the second, but the next night the delta sent only
    the branch, whose address had changed, and the shop's head office got the branch's
    address and terms, with no issue at all. Both are refused, every night, naming both."""
    c = Company(tmp_path)
    exports = c.root / "erp-exports" / "clienti.csv"
    lines = exports.read_bytes().decode("cp1252").splitlines()
    assert lines[3].startswith("C00110;") and lines[4].startswith("C00111;")
    shared = [*lines[:4], lines[4].replace("torino@colorificioserra.it",
                                           "Amministrazione@ColorificioSerra.it"), *lines[5:]]
    c.export("clienti.csv", shared)
    c.run("clienti-negozio")
    rows = (EXPECTED / "shop" / "shopify" / "customers_0001.csv").read_bytes().split(b"\n")
    assert b"C00110" in rows[3] and b"C00111" in rows[4]
    assert c.written("shopify", "customers_0001.csv") == b"\n".join([*rows[:3], *rows[5:]])
    why = ("ambiguous-match: cliente.email: steps[2].lookup: email '{}' is the key of several "
           "rows of 'clienti' with other values of codice ('C00110', 'C00111'): which one is "
           "meant?")
    assert c.issues("clienti.csv") == [
        f"issue line 4: {why.format('amministrazione@colorificioserra.it')}",
        f"issue line 5: {why.format('amministrazione@colorificioserra.it')}"]
    # The branch moves: still neither goes (nothing else changed: no file at all).
    c.export("clienti.csv", [line.replace("Via Nizza 201", "Via Nizza 203") for line in shared])
    c.run("clienti-negozio")
    assert not (c.root / "shop" / "shopify" / "customers_0002.csv").exists()
    assert len(c.issues("clienti.csv")) == 2
    c.export("clienti.csv", lines)  # put right in the ERP: both go
    c.run("clienti-negozio")
    assert c.written("shopify", "customers_0002.csv") == b"\n".join([rows[0], *rows[3:5], b""])
