"""The sample company's master-data flows (issue 5 §2-§4) with broken inputs: new
customers, articles and prices, stock. Their policy is skip-rows: a bad row stays out (and
is reported in quarantine), the good rows go; a file with nothing good is refused whole."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import PassResult, run_pass
from bridge.ledger import open_ledger
from tests.test_samples import EXPECTED, NOON, SAMPLES, run_twice, sample_copy, written


def edited(tmp_path: Path, path: str, old: str, new: str, encoding: str = "utf-8") -> Path:
    cfg = sample_copy(tmp_path)
    target = cfg.parent / path
    text = target.read_bytes().decode(encoding)
    assert old in text, old
    target.write_bytes(text.replace(old, new).encode(encoding))
    return cfg


def issues_report(cfg: Path, name: str) -> str:
    return (cfg.parent / "quarantine" / f"{name}.issues.csv").read_text(encoding="utf-8-sig")


def one(result: PassResult, flow: str) -> str:
    states = [o.state for o in result.outcomes if o.flow == flow]
    assert len(states) == 1
    return states[0]


# --- customers ---------------------------------------------------------------------------


def approve_all(cfg: Path, result: PassResult, runner: CliRunner) -> PassResult:
    for o in result.outcomes:
        if o.state == "held":
            assert runner.invoke(main, ["--config", str(cfg), "approve",
                                        str(o.file_id)]).exit_code == 0
    return run_pass(load(cfg), flows=["clienti"], clock=lambda: NOON + 120)


def test_a_bad_vat_number_keeps_that_customer_out(tmp_path: Path, runner: CliRunner) -> None:
    cfg = edited(tmp_path, "inbox/shopify/customers_export_1.csv",
                 "partita_iva: 03456789019", "partita_iva: 03456789010")
    held = run_twice(cfg, ["clienti"])
    assert one(held, "clienti") == "held"
    assert written(cfg.parent / "erp" / "clienti") == {}
    done = approve_all(cfg, held, runner)
    assert one(done, "clienti") == "done"
    out = next(iter(written(cfg.parent / "erp" / "clienti").values())).decode("cp1252")
    assert "Officine Galli" not in out and "Conti Laura" in out and "Fontana Sara" in out
    report = issues_report(cfg, "customers_export_1.csv")
    assert "bad-partita-iva" in report and "03456789010" in report


def test_a_bad_tax_code_keeps_that_customer_out(tmp_path: Path, runner: CliRunner) -> None:
    cfg = edited(tmp_path, "inbox/shopify/customers_export_1.csv",
                 "CNTLRA85T41A944X", "CNTLRA85T41A944Y")
    done = approve_all(cfg, run_twice(cfg, ["clienti"]), runner)
    assert one(done, "clienti") == "done"
    out = next(iter(written(cfg.parent / "erp" / "clienti").values())).decode("cp1252")
    assert "Conti" not in out and "Officine Galli" in out
    assert "bad-codice-fiscale" in issues_report(cfg, "customers_export_1.csv")


def test_a_thousands_separator_keeps_that_customer_out(tmp_path: Path,
                                                       runner: CliRunner) -> None:
    cfg = edited(tmp_path, "inbox/shopify/customers_export_1.csv",
                 ",no,16.12,1,", ',no,"1,016.12",1,')
    done = approve_all(cfg, run_twice(cfg, ["clienti"]), runner)
    assert one(done, "clienti") == "done"
    out = next(iter(written(cfg.parent / "erp" / "clienti").values())).decode("cp1252")
    assert "Conti" not in out
    assert "bad-decimal" in issues_report(cfg, "customers_export_1.csv")


def test_known_customers_are_not_imported_again(tmp_path: Path, runner: CliRunner) -> None:
    cfg = sample_copy(tmp_path)
    approve_all(cfg, run_twice(cfg, ["clienti"]), runner)
    out = written(cfg.parent / "erp" / "clienti")
    assert out == written(EXPECTED / "erp" / "clienti")
    text = next(iter(out.values())).decode("cp1252")
    # By e-mail (Moretti) and by VAT number (Bianchi, another e-mail): both known.
    assert "Moretti" not in text and "Bianchi" not in text


def test_a_file_with_nothing_to_send_does_not_wait_for_approval(tmp_path: Path,
                                                                 runner: CliRunner) -> None:
    cfg = sample_copy(tmp_path)
    approve_all(cfg, run_twice(cfg, ["clienti"]), runner)
    inbox = cfg.parent / "inbox" / "shopify"
    again = inbox / "customers_export_2.csv"  # the same customers: every one sent already
    again.write_bytes((SAMPLES / "inbox" / "shopify" / "customers_export_1.csv").read_bytes())
    conf = load(cfg)
    assert run_pass(conf, flows=["clienti"], clock=lambda: NOON + 600).outcomes == []
    [outcome] = run_pass(conf, flows=["clienti"], clock=lambda: NOON + 700).outcomes
    assert outcome.state == "done" and outcome.outputs == []
    assert len(written(cfg.parent / "erp" / "clienti")) == len(
        written(EXPECTED / "erp" / "clienti"))


# --- articles and prices -----------------------------------------------------------------


def shop_file(cfg: Path, shop: str, prefix: str) -> str:
    files = [v for k, v in written(cfg.parent / "shop" / shop).items() if k.startswith(prefix)]
    assert len(files) == 1
    return files[0].decode("utf-8-sig")


def test_an_unknown_article_stays_out_of_the_shop(tmp_path: Path) -> None:
    cfg = edited(tmp_path, "erp-exports/listino.csv", "SCALA-5;1;", "SCALA-6;1;", "cp1252")
    assert one(run_twice(cfg, ["articoli"]), "articoli") == "done"
    for shop, prefix in (("shopify", "products"), ("woocommerce", "prodotti")):
        text = shop_file(cfg, shop, prefix)
        assert "SCALA" not in text and "TRAP-18V" in text
    ledger = open_ledger(cfg.parent / ".bridge" / "ledger.sqlite")
    [row] = ledger.files(flow="articoli")
    notes = [i for i in ledger.issues(row.id) if i.code == "waiting"]
    ledger.close()
    assert [n.message for n in notes] == [
        "steps[2].filter: not in the article master: kept out of the shops (withdrawn if it "
        "was sent)"]
    assert notes[0].line == 10  # the price list's row of SCALA-6


def test_a_bad_barcode_or_price_stays_out_of_the_shop(tmp_path: Path) -> None:
    cfg = edited(tmp_path, "erp-exports/listino.csv", "8001234000028", "8001234000029",
                 "cp1252")
    listino = cfg.parent / "erp-exports" / "listino.csv"
    listino.write_bytes(listino.read_bytes().replace(b"BETON-160;1;318,85;",
                                                     b"BETON-160;1;1.318,85;"))
    assert one(run_twice(cfg, ["articoli"]), "articoli") == "done"
    text = shop_file(cfg, "shopify", "products")
    assert "VITI-4X40" not in text and "BETON-160" not in text and "149.90" in text
    report = issues_report(cfg, "listino.csv")
    assert "bad-ean13" in report and "bad-decimal" in report


def test_prices_reach_the_shop_with_vat_exactly(tmp_path: Path) -> None:
    cfg = sample_copy(tmp_path)
    run_twice(cfg, ["articoli"])
    shopify = shop_file(cfg, "shopify", "products").splitlines()
    # 122.87 net at 22% = 149.9014 -> 149.90; 19.13 at 4% -> 19.90; 8.00 at 10% -> 8.80.
    assert any(",TRAP-18V," in r and ",149.90," in r for r in shopify)
    assert any(",MANUALE-FAI," in r and ",19.90," in r for r in shopify)
    assert any(line.startswith("penn-50,") and line.endswith(",draft") for line in shopify)
    woo = shop_file(cfg, "woocommerce", "prodotti")
    assert ",LEGNA-15,8001234000066,Legna da ardere di faggio 15 kg,1," in woo
    assert ",reduced-rate," in woo


def test_a_price_list_with_nothing_good_is_refused_whole(tmp_path: Path) -> None:
    cfg = sample_copy(tmp_path)
    listino = cfg.parent / "erp-exports" / "listino.csv"
    listino.write_bytes(b"CODICE;LISTINO;PREZZO;BARCODE;STATO\r\n"
                        b"TRAP-18V;1;1,0O;;A\r\nTRAP-18V;1;1.122,87;;A\r\n")
    assert one(run_twice(cfg, ["articoli"]), "articoli") == "rejected"
    assert written(cfg.parent / "shop") == {}
    assert (cfg.parent / "quarantine" / "listino.csv").exists()


# --- stock -------------------------------------------------------------------------------


def test_stock_never_goes_below_zero_in_the_shop(tmp_path: Path) -> None:
    cfg = sample_copy(tmp_path)
    run_twice(cfg, ["giacenze"])
    woo = shop_file(cfg, "woocommerce", "stock")
    assert "LEGNA-15,0,0" in woo  # the ERP has -4 available: out of stock, not -4
    inventory = shop_file(cfg, "shopify", "inventory")
    assert "TRAP-18V,Magazzino Bergamo,,12" in inventory  # warehouse 01 only


def test_an_unknown_article_or_bad_quantity_stays_out_of_stock_files(tmp_path: Path) -> None:
    cfg = edited(tmp_path, "erp-exports/giacenze.txt", "GSCALA-5             01",
                 "GSCALA-9             01", "cp1252")
    stock = cfg.parent / "erp-exports" / "giacenze.txt"
    lines = stock.read_bytes().split(b"\r\n")
    lines[2] = lines[2][:42] + b"0000DIECI" + lines[2][51:]  # VITI-4X40 in warehouse 01
    stock.write_bytes(b"\r\n".join(lines))
    assert one(run_twice(cfg, ["giacenze"]), "giacenze") == "done"
    woo = shop_file(cfg, "woocommerce", "stock")
    assert "SCALA" not in woo and "VITI-4X40" not in woo and "TRAP-18V" in woo
    report = issues_report(cfg, "giacenze.txt")
    assert "no-match" in report and "bad-integer" in report


def test_an_article_twice_in_the_master_at_two_rates_is_no_guess(tmp_path: Path) -> None:
    """TRAP-18V in the article master a second time at VAT code 10: its order line took
    the first row's 22% as a guess; now the orders file is refused on that line
    (`ambiguous-match`), and the articles flow leaves the article out of the shops."""
    master = SAMPLES / "erp-exports" / "articoli.csv"
    line = next(t for t in master.read_bytes().decode("cp1252").splitlines()
                if ";TRAP-18V;" in t)
    cfg = edited(tmp_path, "erp-exports/articoli.csv", line,
                 line + "\r\n" + line.replace(";22;", ";10;", 1), encoding="cp1252")
    result = run_twice(cfg)
    assert one(result, "ordini") == "rejected"
    report = issues_report(cfg, "orders_export_1.csv")
    assert "ambiguous-match" in report and "TRAP-18V" in report
    assert one(result, "articoli") == "done"
    products = shop_file(cfg, "shopify", "products")
    assert "TRAP-18V" not in products and "VITI-4X40" in products
