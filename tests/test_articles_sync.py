"""Articles kept in step ERP -> shops, on a master and a price list written for this test:
an article deleted in the ERP is withdrawn from both shops once; a change in the article
master reaches the shops though the price list's bytes stay the same; an export cut short
waits for an operator instead of emptying the shop; a bad row withdraws nothing."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.gone import key_parts
from bridge.engine.runner import PassResult, run_pass
from bridge.errors import ConfigError
from bridge.ledger import SqliteLedger, open_ledger
from tests.test_exactly_once import tree
from tests.test_samples import NOON, sample_copy

#: code, description, VAT code, net price, barcode, state
ARTICLES = [
    ("MARTELLO-300", "Martello da carpentiere 300 g", "22", "12,30", "8001234500016", "A"),
    ("COLLA-VIN", "Colla vinilica 1 kg", "22", "6,15", "8001234500023", "A"),
    ("SEMI-BASILICO", "Semi di basilico (busta)", "10", "1,82", "", "A"),
    ("GUIDA-ORTO", "Guida all'orto sul balcone", "4", "14,42", "9788809000025", "A"),
    ("PALA-INOX", "Pala da neve inox", "22", "24,59", "8001234500030", "A"),
]
HEADER = ("_ARTIP(A);_ARCOD;_ARDES;_ARAGG;_ARIVA;_ARUM1;_ARUM2;_ARKOEPTA;_ARSTA;_ARSTN;_ARVUL;"
          "_ARCUL;_ARRIC;_ARCOS;_ARPRZ(1);_ARPRZ(2);_ARPRZ(3)")


class Company:
    """The sample configuration with this test's master and price list, run pass by pass
    on a clock that moves a minute at a time."""

    def __init__(self, tmp_path: Path) -> None:
        self.cfg_path = sample_copy(tmp_path)
        self.root = self.cfg_path.parent
        self.t = NOON
        self.stamp = 1_700_000_000

    def write(self, articles: list[tuple[str, ...]], *, master: bool = True,
              listino: bool = True) -> None:
        exports = self.root / "erp-exports"
        self.stamp += 100  # a new time of change: the folder shows a new version
        if master:
            lines = [HEADER] + [f"A;{c};{d};;{v};PZ;;;ATT;0101;1,00;1,00;0;1,00;{p};;"
                                for c, d, v, p, _, _ in articles]
            path = exports / "articoli.csv"
            path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
            os.utime(path, (self.stamp, self.stamp))
        if listino:
            lines = ["CODICE;LISTINO;PREZZO;BARCODE;STATO"] + [
                f"{c};1;{p};{b};{s}" for c, _, _, p, b, s in articles]
            path = exports / "listino.csv"
            path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
            os.utime(path, (self.stamp, self.stamp))

    def run(self) -> PassResult:
        """Passes until the price list has been taken (a new version waits its window)."""
        cfg = load(self.cfg_path)
        for _ in range(3):
            self.t += 60
            result = run_pass(cfg, flows=["articoli"], clock=lambda: self.t)
            if result.outcomes:
                return result
        return result

    def sent(self, shop: str) -> list[dict[str, str]]:
        """The rows of the last file written for ``shop`` (shopify, woocommerce)."""
        folder = self.root / "shop" / shop
        files = sorted(folder.glob("*.csv"))
        assert files, f"nothing written for {shop}"
        text = files[-1].read_bytes().decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text)))

    def files(self, shop: str) -> int:
        folder = self.root / "shop" / shop
        return len(list(folder.glob("*.csv"))) if folder.exists() else 0

    def issues(self, code: str) -> list[str]:
        ledger = open_ledger(self.root / ".bridge" / "ledger.sqlite")
        try:
            last = ledger.files(flow="articoli")[-1]
            return [i.message for i in ledger.issues(last.id) if i.code == code]
        finally:
            ledger.close()


def shopify(rows: list[dict[str, str]]) -> dict[str, tuple[str, str, str]]:
    return {r["Variant SKU"]: (r["Title"], r["Variant Price"], r["Status"]) for r in rows}


def woo(rows: list[dict[str, str]]) -> dict[str, tuple[str, str]]:
    return {r["SKU"]: (r["Name"], r["Published"]) for r in rows}


def with_vat(net: str, rate: int) -> str:
    """The price with VAT, rounded half up to the cent (6.765 is 6.77)."""
    value = Decimal(net.replace(",", ".")) * (100 + rate) / 100
    return str(value.quantize(Decimal("0.01"), ROUND_HALF_UP))


@pytest.fixture
def company(tmp_path: Path) -> Company:
    c = Company(tmp_path)
    c.write(ARTICLES)
    assert [o.state for o in c.run().outcomes] == ["done"]
    assert sorted(shopify(c.sent("shopify"))) == sorted(a[0] for a in ARTICLES)
    return c


def test_an_article_deleted_in_the_erp_is_withdrawn_from_both_shops_once(
        company: Company) -> None:
    company.write([a for a in ARTICLES if a[0] != "COLLA-VIN"])
    assert [o.state for o in company.run().outcomes] == ["done"]
    # Only the deleted article goes, as last sent but withdrawn.
    assert shopify(company.sent("shopify")) == {
        "COLLA-VIN": ("Colla vinilica 1 kg", with_vat("6,15", 22), "archived")}
    assert woo(company.sent("woocommerce")) == {"COLLA-VIN": ("Colla vinilica 1 kg", "0")}
    assert company.issues("withdrawn") == [
        "1 sent before and not in this file, sent as withdrawn: COLLA-VIN"]

    # Still deleted, and another price changes: the deletion is not sent again.
    changed = [(c, d, v, "13,11" if c == "MARTELLO-300" else p, b, s)
               for c, d, v, p, b, s in ARTICLES if c != "COLLA-VIN"]
    company.write(changed)
    company.run()
    assert shopify(company.sent("shopify")) == {
        "MARTELLO-300": ("Martello da carpentiere 300 g", with_vat("13,11", 22), "active")}
    assert company.issues("withdrawn") == []

    # Back in the ERP: sent again, on sale.
    company.write([(c, d, v, "13,11" if c == "MARTELLO-300" else p, b, s)
                   for c, d, v, p, b, s in ARTICLES])
    company.run()
    assert shopify(company.sent("shopify")) == {
        "COLLA-VIN": ("Colla vinilica 1 kg", with_vat("6,15", 22), "active")}
    assert woo(company.sent("woocommerce")) == {"COLLA-VIN": ("Colla vinilica 1 kg", "1")}


def test_an_article_the_master_lost_is_withdrawn_though_the_price_list_is_the_same(
        company: Company) -> None:
    files = company.files("shopify")
    company.write([a for a in ARTICLES if a[0] != "GUIDA-ORTO"], listino=False)
    assert [o.state for o in company.run().outcomes] == ["done"]
    assert company.files("shopify") == files + 1
    assert shopify(company.sent("shopify")) == {
        "GUIDA-ORTO": ("Guida all'orto sul balcone", with_vat("14,42", 4), "archived")}
    assert company.issues("waiting") == [
        "steps[2].filter: not in the article master: kept out of the shops (withdrawn if it "
        "was sent)"]


def test_a_master_change_is_sent_though_the_price_list_is_the_same(company: Company) -> None:
    renamed = [(c, "Pala da neve in acciaio inox" if c == "PALA-INOX" else d, v, p, b, s)
               for c, d, v, p, b, s in ARTICLES]
    company.write(renamed, listino=False)
    assert [o.state for o in company.run().outcomes] == ["done"]
    assert shopify(company.sent("shopify")) == {
        "PALA-INOX": ("Pala da neve in acciaio inox", with_vat("24,59", 22), "active")}
    # A VAT code changed in the master: the price with VAT follows.
    company.write([(c, d, "10" if c == "COLLA-VIN" else v, p, b, s)
                   for c, d, v, p, b, s in renamed], listino=False)
    company.run()
    assert shopify(company.sent("shopify")) == {
        "COLLA-VIN": ("Colla vinilica 1 kg", with_vat("6,15", 10), "active")}
    # Nothing changed: the price list is not read again, nothing is written.
    files = company.files("shopify")
    assert company.run().outcomes == []
    assert company.files("shopify") == files


def test_a_price_list_back_to_an_older_version_is_sent_again(company: Company) -> None:
    higher = [(c, d, v, "30,00" if c == "PALA-INOX" else p, b, s)
              for c, d, v, p, b, s in ARTICLES]
    company.write(higher, master=False)
    company.run()
    assert shopify(company.sent("shopify"))["PALA-INOX"][1] == "36.60"
    company.write(ARTICLES, master=False)  # the very bytes of the first version
    assert [o.state for o in company.run().outcomes] == ["done"]
    assert shopify(company.sent("shopify")) == {
        "PALA-INOX": ("Pala da neve inox", with_vat("24,59", 22), "active")}


def test_an_export_cut_short_waits_for_an_operator(company: Company,
                                                    runner: CliRunner) -> None:
    files = company.files("shopify")
    company.write(ARTICLES[:1])  # four of five articles gone at once: 80% > 20%
    [held] = company.run().outcomes
    assert held.state == "held" and "would withdraw 4 of the 5 keys" in (held.message or "")
    assert company.files("shopify") == files
    got = runner.invoke(main, ["--config", str(company.cfg_path), "approve",
                               str(held.file_id)])
    assert got.exit_code == 0, got.output
    company.t += 60
    run_pass(load(company.cfg_path), flows=["articoli"], clock=lambda: company.t)
    assert {k: v[2] for k, v in shopify(company.sent("shopify")).items()} == {
        "COLLA-VIN": "archived", "SEMI-BASILICO": "archived", "GUIDA-ORTO": "archived",
        "PALA-INOX": "archived"}


def test_a_bad_row_withdraws_nothing(company: Company) -> None:
    bad = [(c, d, v, p, "8001234500099" if c == "COLLA-VIN" else b, s)  # wrong check digit
           for c, d, v, p, b, s in ARTICLES]
    company.write(bad, master=False)
    files = company.files("shopify")
    assert [o.state for o in company.run().outcomes] == ["done"]
    assert company.files("shopify") == files  # nothing changed that is good to send
    assert company.issues("withdrawn") == []


def test_withdrawals_see_every_chunk_of_a_price_list(tmp_path: Path) -> None:
    c = Company(tmp_path)
    text = c.cfg_path.read_text(encoding="utf-8")
    old = "    archive: leave              # the ERP rewrites it every night; orders"
    assert old in text
    c.cfg_path.write_text(text.replace(old, "    chunk_bytes: 64\n" + old), encoding="utf-8")
    many = [(f"ART-{n:03d}", f"Articolo {n}", "22", "1,00", "", "A") for n in range(60)]
    c.write(many)
    c.run()
    assert len(shopify(c.sent("shopify"))) == 60
    c.write([a for a in many if a[0] not in ("ART-007", "ART-052")])
    assert [o.state for o in c.run().outcomes] == ["done"]
    assert {k: v[2] for k, v in shopify(c.sent("shopify")).items()} == {
        "ART-007": "archived", "ART-052": "archived"}
    assert c.issues("read-whole") == []  # read in chunks, not whole


@pytest.mark.parametrize("chunk", [0, 64])
def test_an_article_twice_in_a_price_list_goes_once_and_never_flips(
        tmp_path: Path, chunk: int) -> None:
    """The same code twice in one price list, chunks apart: its first row is the one sent,
    the second refused (`duplicate-key`). Once the shop took both rows, and the ledger kept
    the last one's price: each later reading sent the first row as a change, the shop's
    price flipping at every reading."""
    c = Company(tmp_path)
    text = c.cfg_path.read_text(encoding="utf-8")
    old = "    archive: leave              # the ERP rewrites it every night; orders"
    c.cfg_path.write_text(text.replace(old, f"    chunk_bytes: {chunk}\n" + old),
                          encoding="utf-8")
    many = [(f"ART-{n:03d}", f"Articolo {n}", "22", "1,00", "", "A") for n in range(40)]
    again = ("ART-003", "Articolo 3", "22", "2,00", "", "A")  # chunks later, a new price
    c.write([*many, again])
    assert [o.state for o in c.run().outcomes] == ["done"]
    rows = [r for r in c.sent("shopify") if r["Variant SKU"] == "ART-003"]
    assert [r["Variant Price"] for r in rows] == ["1.22"]
    [dup] = c.issues("duplicate-key")
    assert "'ART-003' again (line 5 gave it first)" in dup
    ledger = open_ledger(c.root / ".bridge" / "ledger.sqlite")  # or the tests' PostgreSQL
    try:
        assert isinstance(ledger, SqliteLedger)  # PostgresLedger is one too: the same SQL
        prints = ledger.db.execute("SELECT fingerprint FROM fingerprints WHERE flow = ? AND "
                                   "key = ?", ("articoli", "ART-003")).fetchall()
    finally:
        ledger.close()
    assert len(prints) == 1 and "1.22" in prints[0][0]
    # Read again and again (another article's price changes each time): ART-003 stays.
    files = c.files("shopify")
    for n, price in enumerate(("1,01", "1,02", "1,03")):
        c.write([*[(code, d, v, price if code == "ART-010" else p, b, s)
                   for code, d, v, p, b, s in many], again])
        assert [o.state for o in c.run().outcomes] == ["done"]
        assert sorted(shopify(c.sent("shopify"))) == ["ART-010"]
        assert c.files("shopify") == files + n + 1
    assert c.issues("read-whole") == []  # read in chunks where asked, not whole


def test_gone_names_only_fields_the_ledger_keeps(tmp_path: Path) -> None:
    cfg = sample_copy(tmp_path)
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("gone: {set: {stato: X}", "gone: {set: {status: archived}"),
                   encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gone\.set: 'status' is not one of the delta's "
                                          r"fields"):
        load(cfg)


def test_one_delta_with_gone_per_flow(tmp_path: Path) -> None:
    cfg = sample_copy(tmp_path)
    text = cfg.read_text(encoding="utf-8")
    again = ("      - delta: {key: [codice], fields: [stato], gone: {set: {stato: X}}}\n"
             "      - compute: {fields: {handle:")
    cfg.write_text(text.replace("      - compute: {fields: {handle:", again), encoding="utf-8")
    with pytest.raises(ConfigError, match="one delta with gone per flow"):
        load(cfg)


@pytest.mark.parametrize("key, n, parts", [
    ("A", 1, ["A"]), ("a|b", 2, ["a", "b"]), ("a\\|b|c", 2, ["a|b", "c"]),
    ("a\\\\|c", 2, ["a\\", "c"]), ("|x", 2, [None, "x"]), ("a", 3, ["a", None, None]),
])
def test_a_business_key_splits_back_into_its_fields(key: str, n: int,
                                                    parts: list[str | None]) -> None:
    assert key_parts(key, n) == parts


def test_key_parts_undoes_business_keys() -> None:
    import pyarrow as pa

    from bridge.steps.ops import business_keys

    table = pa.table({"a": ["x|y", "p\\q", None, "plain"], "b": ["1", "|", "z", None]})
    keys = business_keys(table, ["a", "b"]).to_pylist()
    assert [key_parts(k, 2) for k in keys] == [["x|y", "1"], ["p\\q", "|"], [None, "z"],
                                               ["plain", None]]


@pytest.mark.slow
def test_a_withdrawal_killed_at_any_moment_is_written_once(tmp_path: Path) -> None:
    """`bridge run` killed with SIGKILL at each moment of a file that withdraws an article,
    then run to the end: the shops hold the same files, byte for byte, as a run never
    killed (the withdrawal once, under the same name)."""
    worlds = {}
    for name in ("clean", "crash"):
        c = Company(tmp_path / name)
        text = c.cfg_path.read_text(encoding="utf-8")
        old = 'patterns: ["listino*.csv"]\n      ready: {window: 5, min_age: 5}'
        assert old in text  # taken as soon as it is seen: these runs use the real clock
        c.cfg_path.write_text(text.replace(old, old.replace("5", "0")), encoding="utf-8")
        c.write(ARTICLES)
        code, out = bridge_articoli(c)
        assert code == 0, out
        c.write([a for a in ARTICLES if a[0] != "SEMI-BASILICO"])
        worlds[name] = c
    code, out = bridge_articoli(worlds["clean"])
    assert code == 0, out
    clean = tree(worlds["clean"].root / "shop")
    assert len(clean) == 4  # each shop: the first version, then the withdrawal
    assert shopify(worlds["clean"].sent("shopify"))["SEMI-BASILICO"][2] == "archived"

    crash = worlds["crash"]
    kills = 0
    for point in ("after-claim", "stream-part", "after-plan", "mid-write", "after-rename",
                  "before-output-commit", "before-written"):
        code, _ = bridge_articoli(crash, {"BRIDGE_KILL_AT": f"{point}:1"})
        kills += code == -signal.SIGKILL
    assert kills >= 5
    for _ in range(3):
        code, out = bridge_articoli(crash)
        assert code == 0, out
    assert tree(crash.root / "shop") == clean


def bridge_articoli(c: Company, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`bridge run --flow articoli` in a child process."""
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(c.cfg_path), "run", "--flow",
         "articoli"], capture_output=True, text=True, env={**os.environ, **(env or {})},
        timeout=120, check=False)
    return proc.returncode, proc.stdout + proc.stderr
