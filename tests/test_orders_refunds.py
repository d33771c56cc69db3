"""What the ERP's orders file says of refunds and of new customers, through the sample
orders flow run as cron runs it (`bridge run` in a child process), byte for byte: a
cancellation carries the customer and agent its order went with; the credit notes and the
cancellation of one order add up to its total, never more; a customer the ERP does not
know goes once per file, however many orders it placed.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

from tests.flowkit import bridge_cli
from tests.test_business_lifecycle import BANK, CARD, export
from tests.test_samples import sample_copy


class Shop:
    """The sample company in tmp_path with none of its exports: each test writes its own,
    taken at the first run (no readiness window: tested elsewhere)."""

    def __init__(self, tmp_path: Path) -> None:
        self.cfg = sample_copy(tmp_path)
        self.root = self.cfg.parent
        text = self.cfg.read_text(encoding="utf-8")
        self.cfg.write_text(text.replace("ready: {window: 5, min_age: 5}",
                                         "ready: {window: 0, min_age: 0}"), encoding="utf-8")
        for old in (self.root / "inbox" / "shopify").glob("*.csv"):
            old.unlink()
        self.stamp = 1_700_000_000
        self.files = 0

    def orders(self, text: str) -> bytes:
        """One orders export through `bridge run`: the ERP's file it made (none: b"")."""
        self.files += 1
        before = set((self.root / "erp" / "ordini").glob("ORD*.TXT"))
        path = self.root / "inbox" / "shopify" / f"orders_export_{self.files}.csv"
        path.write_text(text, encoding="utf-8")
        self.stamp += 100
        os.utime(path, (self.stamp, self.stamp))
        got = bridge_cli(self.cfg, "run", "--flow", "ordini")
        assert got.returncode == 0, got.stdout + got.stderr
        assert "Traceback" not in got.stdout + got.stderr
        made = sorted(set((self.root / "erp" / "ordini").glob("ORD*.TXT")) - before)
        assert len(made) <= 1, made
        return made[0].read_bytes() if made else b""

    def agent(self, customer: str, old: str, new: str) -> None:
        """The ERP gives ``customer`` another agent (its nightly export says so)."""
        path = self.root / "erp-exports" / "clienti.csv"
        lines = path.read_bytes().split(b"\r\n")
        lines = [line.replace(f";{old};".encode(), f";{new};".encode())
                 if line.startswith(customer.encode()) else line for line in lines]
        path.write_bytes(b"\r\n".join(lines))


def today() -> str:
    return date.today().strftime("%Y%m%d")


def annullo(number: int, customer: str, causale: str, cents: int, agent: str, ref: str,
            status: str) -> bytes:
    """An A record of gestionale/ordini."""
    line = (f"A{number:010d}{today()}{customer:<8}{causale}{cents:012d}+{agent:<4}"
            f"{ref:<20}{status:<20}")
    return line.ljust(120).encode("cp1252") + b"\r\n"


def coda(records: int) -> bytes:
    return f"Z{records:07d}{today()}".ljust(120).encode("cp1252") + b"\r\n"


def test_a_cancellation_carries_the_agent_its_order_went_with(tmp_path: Path) -> None:
    """Edilizia Moretti's order went with agent A01; the ERP gave Moretti agent A09 before
    the refund. The cancellation named A09: the ERP took the commission back from A09, who
    never earned it, and left it with A01. It names A01, the order's."""
    shop = Shop(tmp_path)
    first = shop.orders(export([("#4001", "paid", CARD, "0.00")]))
    assert b"T0000004001" in first and b"C00101  A01 " in first
    shop.agent("C00101", "A01", "A09")
    second = shop.orders(export([("#4001", "refunded", CARD, "122.00")]))
    assert second == (annullo(4001, "C00101", "A", 12200, "A01", "#4001", "refunded")
                      + coda(2))


def test_a_full_refund_after_a_credit_note_cancels_only_the_rest(tmp_path: Path) -> None:
    """#4001 (122.00) was refunded 30.00 (a credit note N of 30.00), then in full: the
    cancellation A said 122.00, and the ERP credited 152.00 of an order of 122.00. The A
    credits the 92.00 left, so that the order's records add up to its total."""
    shop = Shop(tmp_path)
    shop.orders(export([("#4001", "paid", CARD, "0.00")]))
    note = shop.orders(export([("#4001", "partially_refunded", CARD, "30.00")]))
    assert note == (annullo(4001, "C00101", "N", 3000, "A01", "#4001", "partially_refunded")
                    + coda(2))
    full = shop.orders(export([("#4001", "refunded", CARD, "122.00")]))
    assert full == (annullo(4001, "C00101", "A", 9200, "A01", "#4001", "refunded")
                    + coda(2))


def test_an_older_partial_refund_after_the_cancellation_credits_nothing(
        tmp_path: Path) -> None:
    """#4001 cancelled in full (A 122.00); an older export, read after, still shows it
    refunded 30.00 in part: a credit note of 30.00 would credit 152.00 in all. Nothing goes."""
    shop = Shop(tmp_path)
    shop.orders(export([("#4001", "paid", CARD, "0.00")]))
    shop.orders(export([("#4001", "refunded", CARD, "122.00")]))
    assert shop.orders(export([("#4001", "partially_refunded", CARD, "30.00")])) == b""


def record(text: str) -> bytes:
    return text.ljust(120).encode("cp1252") + b"\r\n"


def new_customer(number: int) -> bytes:
    """The C and F records of the customer the ERP does not know, before order ``number``."""
    return (record(f"C{number:010d}{'Moretti':<40}{'Via Roma 1':<35}24126{'Bergamo':<20}BGIT")
            + record(f"F{number:010d}{'':<27}nuovo@cliente.it"))


def order(number: int) -> bytes:
    """The T and R records of one order of the export's (2 x 61.00 at 22%) on WEB001."""
    return (record(f"T{number:010d}20251101WEB001      00000            BB  #{number:<19}"
                   "000000010000+EUR0000000000000000002200STD")
            + record(f"R{number:010d}0001TRAP-18V       {'Trapano':<40}"
                     "0000020000000050000000000001000{22 22000000002200"))


def test_a_new_customer_with_two_orders_goes_once(tmp_path: Path) -> None:
    """A customer the ERP does not know placed two orders in one export: its C and F
    records went before each, and the ERP, which creates a customer for each C record it
    reads, created it twice. They go once, before its first order; nor again with its next
    order in a later export, read before the ERP's own export knows it."""
    shop = Shop(tmp_path)
    text = export([("#4001", "paid", BANK, "0.00"), ("#4002", "paid", BANK, "0.00")])
    got = shop.orders(text.replace("acquisti@ediliziamoretti.it", "nuovo@cliente.it"))
    assert got == new_customer(4001) + order(4001) + order(4002) + coda(7)
    text = export([("#4003", "paid", BANK, "0.00")])
    got = shop.orders(text.replace("acquisti@ediliziamoretti.it", "Nuovo@Cliente.it"))
    assert got == order(4003) + coda(3)
