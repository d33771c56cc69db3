"""Golden tests of the shipped tracciati: every sample decodes cleanly and encodes back to
the same bytes, typed values come out right, and broken copies give the expected issues."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.codecs import decode, encode
from bridge.spec import load_file
from bridge.spec.loader import lint
from bridge.spec.model import Tracciato

ROOT = Path(__file__).resolve().parents[1]
TRACCIATI = ROOT / "tracciati"
SAMPLES = ROOT / "samples" / "tracciati"


def shipped() -> list[str]:
    return sorted(f"{p.parent.name}/{p.stem}" for p in TRACCIATI.glob("*/*.yaml"))


def tracciato(name: str) -> Tracciato:
    return load_file(TRACCIATI / f"{name}.yaml")


def sample(name: str, *, broken: bool = False) -> Path:
    system, stem = name.split("/")
    found = [p for p in (SAMPLES / system).glob(f"{stem}.*")
             if (".broken." in p.name) == broken]
    assert len(found) == 1, f"expected one {'broken ' if broken else ''}sample of {name}"
    return found[0]


def column(name: str, record: str, field: str) -> list[object]:
    """A decoded column as plain Python values (None where empty)."""
    df = decode(sample(name).read_bytes(), tracciato(name)).tables[record]
    return [None if pd.isna(v) else v for v in df[field].tolist()]


def test_lint_finds_no_mistakes() -> None:
    assert lint([TRACCIATI]) == []


def test_the_expected_tracciati_ship() -> None:
    assert set(shipped()) >= {
        "shopify/ordini", "shopify/prodotti", "shopify/clienti", "woocommerce/prodotti",
        "mexal/articoli", "sap-b1/ordini-testata", "sap-b1/ordini-righe", "gestionale/ordini",
    }


@pytest.mark.parametrize("name", shipped())
def test_every_tracciato_says_how_sure_it_is(name: str) -> None:
    text = tracciato(name).description
    assert len(text) > 100
    assert any(mark in text for mark in ("[V]", "[P]", "[NV]", "OUR OWN DESIGN"))


@pytest.mark.parametrize("name", shipped())
def test_sample_decodes_without_issues(name: str) -> None:
    out = decode(sample(name).read_bytes(), tracciato(name))
    assert out.issues == []
    assert sum(len(df) for df in out.tables.values()) >= 2


@pytest.mark.parametrize("name", shipped())
def test_sample_encodes_back_byte_for_byte(name: str) -> None:
    data = sample(name).read_bytes()
    t = tracciato(name)
    assert encode(decode(data, t).tables, t) == data


@pytest.mark.parametrize("name", shipped())
def test_sample_decodes_the_same_from_a_path_and_in_small_chunks(
    name: str, tmp_path: Path
) -> None:
    from bridge.codecs import iter_decode

    t = tracciato(name)
    copy = tmp_path / sample(name).name
    copy.write_bytes(sample(name).read_bytes())
    whole = decode(copy, t)
    parts = list(iter_decode(copy, t, chunk_bytes=256))
    for record, df in whole.tables.items():
        pieces = [p.tables[record] for p in parts if record in p.tables]
        joined = pd.concat(pieces, ignore_index=True)
        pd.testing.assert_frame_equal(joined, df)
    assert [i for p in parts for i in p.issues] == []


# --- typed values, one test per tracciato ---------------------------------------------


def test_shopify_ordini_values() -> None:
    name = "shopify/ordini"
    out = decode(sample(name).read_bytes(), tracciato(name))
    df = out.tables["riga"]
    # The Notes cell of #1001 spans two lines, so its continuation row starts on line 4.
    assert df["_line"].tolist() == [2, 4, 5, 6, 7]
    assert df["name"].tolist() == ["#1001", "#1001", "#1002", "#1003", "#1003"]
    assert column(name, "riga", "lineitem_price") == [
        Decimal("12.90"), Decimal("34.00"), Decimal("8.50"), Decimal("34.00"), Decimal("0.00")]
    assert column(name, "riga", "total") == [Decimal("65.70"), None, Decimal("22.95"),
                                             Decimal("39.90"), None]
    assert column(name, "riga", "lineitem_quantity") == [2, 1, 3, 1, 2]
    assert column(name, "riga", "billing_zip")[0] == "'00184"
    assert column(name, "riga", "billing_province")[2] == "NA"
    assert column(name, "riga", "notes")[0] == (
        'Citofono "Rossi", scala B\nLasciare al portiere se assente')
    paid = column(name, "riga", "paid_at")
    assert pd.Timestamp(paid[0]) == pd.Timestamp("2025-10-07 07:50:26", tz="UTC")
    assert pd.Timestamp(paid[3]) == pd.Timestamp("2025-12-01 09:15:00", tz="UTC")
    assert paid[2] is None
    assert str(df["total"].dtype) == "decimal128(18, 2)[pyarrow]"
    assert str(df["lineitem_quantity"].dtype) == "int64[pyarrow]"


def test_shopify_prodotti_values() -> None:
    name = "shopify/prodotti"
    assert column(name, "variante", "handle") == [
        "caffe-macinato-250g", "moka-3-tazze", "moka-3-tazze", "buono-regalo"]
    assert column(name, "variante", "variant_price") == [
        Decimal("12.90"), Decimal("34.00"), Decimal("36.00"), Decimal("25.00")]
    assert column(name, "variante", "published") == [True, True, None, False]
    assert column(name, "variante", "variant_barcode")[1] == "08001234500012"
    assert column(name, "variante", "variant_grams")[0] == 250
    assert column(name, "variante", "status") == ["active", "active", None, "draft"]


def test_shopify_clienti_values() -> None:
    name = "shopify/clienti"
    assert column(name, "cliente", "customer_id")[0] == "'7012345678901"
    assert column(name, "cliente", "zip") == ["'00184", "'80134", "'20124"]
    assert column(name, "cliente", "province_code")[1] == "NA"
    assert column(name, "cliente", "total_spent") == [
        Decimal("65.70"), Decimal("22.95"), Decimal("0.00")]
    assert column(name, "cliente", "accepts_email_marketing") == [True, False, True]
    assert column(name, "cliente", "company")[1] == "Esposito & Figli S.r.l."


def test_woocommerce_prodotti_values() -> None:
    name = "woocommerce/prodotti"
    assert sample(name).read_bytes().startswith(b"\xef\xbb\xbfID,Type,SKU,")
    assert column(name, "prodotto", "id")[0] == 101
    assert column(name, "prodotto", "gtin")[0] == "08001234567890"
    assert column(name, "prodotto", "published") == ["1", "1", "1", "1", "-1"]
    assert column(name, "prodotto", "regular_price")[0] == Decimal("12.90")
    assert column(name, "prodotto", "stock_status")[3] == "backorder"
    assert column(name, "prodotto", "stock")[2] == "parent"
    assert column(name, "prodotto", "featured")[0] is True
    assert column(name, "prodotto", "weight")[0] == Decimal("0.250")
    assert column(name, "prodotto", "parent")[2] == "moka-3-tazze"


def test_mexal_articoli_values() -> None:
    name = "mexal/articoli"
    assert column(name, "articolo", "codice") == ["CAF-250", "MOKA-3", "BUONO-25", "TE-SEN-100"]
    assert column(name, "articolo", "descrizione")[1] == "Moka 3 tazze; alluminio"
    assert column(name, "articolo", "descrizione")[2] == "Buono regalo 25 €"
    assert column(name, "articolo", "prezzo_1") == [
        Decimal("12.90"), Decimal("34.00"), Decimal("25.00"), Decimal("8.50")]
    assert column(name, "articolo", "coefficiente_um")[0] == Decimal("0.250")
    assert column(name, "articolo", "statistico_n")[0] == "0001"
    assert column(name, "articolo", "prezzo_3")[1] is None


def test_sap_b1_values() -> None:
    testata = "sap-b1/ordini-testata"
    assert column(testata, "testata", "record_key") == [1, 2]
    assert column(testata, "testata", "doc_date") == [dt.date(2025, 10, 7), dt.date(2025, 10, 8)]
    assert column(testata, "testata", "doc_num") == [None, None]
    assert column(testata, "testata", "comments")[1] == "Ritiro in negozio, sconto 2,55 €"
    righe = "sap-b1/ordini-righe"
    assert column(righe, "riga", "parent_key") == [1, 1, 2]
    assert column(righe, "riga", "quantity") == [Decimal("2.000"), Decimal("1.000"),
                                                 Decimal("3.000")]
    assert column(righe, "riga", "warehouse_code") == ["01", "01", "02"]
    # Every riga points to a testata of the other file.
    assert set(column(righe, "riga", "parent_key")) <= set(column(testata, "testata",
                                                                  "record_key"))


def test_gestionale_ordini_values() -> None:
    name = "gestionale/ordini"
    out = decode(sample(name).read_bytes(), tracciato(name))
    testata, righe, coda = out.tables["testata"], out.tables["righe"], out.tables["coda"]
    assert testata["_line"].tolist() == [1, 5]
    assert testata["numero_ordine"].tolist() == [1001, 1002]
    assert testata["data_ordine"].tolist() == [dt.date(2025, 10, 7), dt.date(2025, 10, 8)]
    assert testata["totale"].tolist() == [Decimal("54.80"), Decimal("25.50")]
    assert testata["provvigione"].tolist() == [Decimal("3.50"), Decimal("0.00")]
    assert column(name, "testata", "codice_agente") == ["A012", None]
    assert righe["_parent_line"].tolist() == [1, 1, 1, 5]
    # The overpunched "00000000050}" is -5.00.
    assert righe["importo"].tolist() == [Decimal("25.80"), Decimal("34.00"), Decimal("-5.00"),
                                         Decimal("25.50")]
    assert righe["quantita"].tolist()[0] == Decimal("2.000")
    assert righe["descrizione"].tolist()[2] == "Buono sconto 5 € (più caffè per tutti)"
    assert coda["numero_record"].tolist() == [7]


# --- broken copies ----------------------------------------------------------------------

#: For each tracciato, the issues its broken sample must give: (code, line, field).
BROKEN: dict[str, list[tuple[str, int | None, str | None]]] = {
    "shopify/ordini": [
        ("bad-decimal", 2, "lineitem_price"),       # 12,90 with a decimal comma
        ("bad-integer", 5, "lineitem_quantity"),    # "tre"
        ("not-in-enum", 6, "financial_status"),     # "shipped"
    ],
    "shopify/prodotti": [
        ("bad-boolean", 2, "published"),            # "yes"
        ("bad-pattern", 3, "handle"),               # "Moka 3 Tazze"
    ],
    "shopify/clienti": [
        ("missing-required", 3, "customer_id"),
        ("bad-pattern", 4, "country_code"),         # "Italia"
    ],
    "woocommerce/prodotti": [
        ("not-in-enum", 3, "published"),            # 3
        ("bad-decimal", 4, "regular_price"),        # 36,00
    ],
    "mexal/articoli": [
        ("bad-decimal", 2, "prezzo_1"),             # 12.90 with a decimal point
        ("too-long", 4, "descrizione"),             # 45 characters
    ],
    "sap-b1/ordini-testata": [
        ("bad-date", 3, "doc_date"),                # 2025-10-07
        ("duplicate-key", 4, "record_key"),         # RecordKey 1 twice
    ],
    "sap-b1/ordini-righe": [
        ("bad-decimal", 4, "quantity"),             # "uno"
        ("missing-required", 5, "item_code"),
    ],
    "gestionale/ordini": [
        ("control-total-mismatch", 1, "totale"),    # 54.80, righe add up to 64.80
        ("bad-decimal", 3, "importo"),              # an overpunch letter in the middle
        ("trailer-count-mismatch", 7, "numero_record"),
    ],
    "gestionale/clienti": [
        ("bad-partita-iva", 2, "partita_iva"),        # wrong check digit
        ("bad-codice-fiscale", 3, "codice_fiscale"),  # wrong check letter
        ("bad-decimal", 3, "provvigione"),            # 3.50 with a decimal point
        ("bad-pattern", 4, "codice_sede"),            # "C-110"
    ],
    "gestionale/listino": [
        ("bad-ean13", 3, "barcode"),                  # wrong check digit
        ("bad-decimal", 9, "prezzo"),                 # 1.318,85: a thousands separator
        ("not-in-enum", 10, "stato"),                 # "X"
    ],
    "gestionale/giacenze": [
        ("bad-integer", 2, "disponibile"),            # "00000OTTO"
        ("wrong-length", 4, None),                    # a record cut at 60 characters
    ],
    "gestionale/nuovi-clienti": [
        ("bad-partita-iva", 2, "partita_iva"),
        ("bad-codice-fiscale", 3, "codice_fiscale"),
        ("bad-pattern", 4, "nazione"),                # "Italia"
    ],
    "shopify/ordini-b2b": [
        ("bad-boolean", 3, "lineitem_taxable"),       # "yes"
        ("bad-decimal", 9, "lineitem_price"),         # "1,389.00": a thousands separator
    ],
    "shopify/clienti-b2b": [
        ("missing-required", 2, "email"),
        ("bad-boolean", 3, "accepts_email_marketing"),   # "maybe"
        ("bad-pattern", 4, "zip"),                        # "21"
    ],
    "shopify/inventario": [
        ("missing-required", 3, "location"),
        ("bad-integer", 5, "on_hand_new"),            # 114.5
    ],
    "woocommerce/giacenze": [
        ("not-in-enum", 4, "stock_status"),           # "yes"
        ("bad-integer", 6, "stock"),                  # "trenta"
    ],
}


@pytest.mark.parametrize("name", shipped())
def test_broken_sample_gives_the_expected_issues(name: str) -> None:
    out = decode(sample(name, broken=True).read_bytes(), tracciato(name))
    got = sorted((i.code, i.line, i.field) for i in out.issues)
    assert got == sorted(BROKEN[name])


# --- a property: whatever orders we write, we read back -------------------------------

MONEY = st.integers(min_value=-10**9, max_value=10**9)
TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZàèéìòù€ 0123456789-", max_size=40)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.tuples(MONEY, TEXT), min_size=1, max_size=4), min_size=1,
                max_size=5))
def test_gestionale_round_trip(orders: list[list[tuple[int, str]]]) -> None:
    t = tracciato("gestionale/ordini")
    testate: list[dict[str, object]] = []
    righe: list[dict[str, object]] = []
    line = 0
    for n, lines in enumerate(orders, start=1):
        line += 1
        head = line
        total = sum(cents for cents, _ in lines)
        testate.append({"numero_ordine": n, "data_ordine": dt.date(2025, 1, n),
                        "codice_cliente": f"C{n:07d}", "codice_pagamento": "BB30",
                        "totale": Decimal(total).scaleb(-2), "_line": head})
        for k, (cents, text) in enumerate(lines, start=1):
            line += 1
            righe.append({"numero_ordine": n, "numero_riga": k, "codice_articolo": f"ART{k}",
                          "descrizione": text.strip() or None, "quantita": Decimal("1.000"),
                          "importo": Decimal(cents).scaleb(-2), "_line": line,
                          "_parent_line": head})
    line += 1
    coda = [{"numero_record": line, "data_creazione": dt.date(2025, 2, 1), "_line": line}]
    tables = {name: pd.DataFrame(rows) for name, rows in
              (("testata", testate), ("righe", righe), ("coda", coda))}
    data = encode(tables, t)
    out = decode(data, t)
    assert out.issues == []
    assert [Decimal(str(v)) for v in out.tables["righe"]["importo"].tolist()] == [
        r["importo"] for r in righe]
    assert out.tables["testata"]["totale"].tolist() == [h["totale"] for h in testate]
    assert encode(out.tables, t) == data


# --- the WooCommerce tracciato on WooCommerce's own sample files ------------------------

WOO_REAL = ROOT.parent / "shared" / "realdata" / "woocommerce-sample-data"
needs_woo = pytest.mark.skipif(not WOO_REAL.is_dir(), reason="shared real data not present")


def woo_adapted(drop: set[str], units: dict[str, str]) -> Tracciato:
    """The shipped tracciato as a store of another version or unit system would adapt it."""
    import yaml

    data = yaml.safe_load((TRACCIATI / "woocommerce/prodotti.yaml").read_text("utf-8"))
    fields = data["records"]["prodotto"]["fields"]
    data["records"]["prodotto"]["fields"] = [
        {**f, "column": units.get(f["column"], f["column"])} for f in fields
        if f["name"] not in drop]
    return Tracciato.model_validate(data)


@needs_woo
def test_woocommerce_2018_sample_file() -> None:
    data = (WOO_REAL / "sample_products.woocommerce-2018.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    # As shipped, the tracciato refuses the file's header, and says why: the file predates
    # the GTIN column (2024) and Low stock amount (WooCommerce 3.5), and its store used
    # pounds and inches, so the unit columns have other names.
    out = decode(data, tracciato("woocommerce/prodotti"))
    assert sorted((i.code, i.line, i.field) for i in out.issues) == sorted(
        ("bad-header", 1, f) for f in ("gtin", "low_stock_amount", "weight", "length",
                                       "width", "height"))
    # Adapted to that store, every row reads cleanly.
    t = woo_adapted({"gtin", "low_stock_amount"},
                    {"Weight (kg)": "Weight (lbs)", "Length (cm)": "Length (in)",
                     "Width (cm)": "Width (in)", "Height (cm)": "Height (in)"})
    out = decode(data, t)
    assert out.issues == []
    df = out.tables["prodotto"]
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert len(df) == len(rows) - 1 == 25
    assert set(df["published"].tolist()) == {"1"}
    assert "simple, downloadable, virtual" in df["type"].tolist()
    prices = {v for v in df["regular_price"].tolist() if not pd.isna(v)}
    assert Decimal("11.05") in prices
    weights = {v for v in df["weight"].tolist() if not pd.isna(v)}
    assert Decimal("0.2") in weights  # written ".2" in the file
    assert set(df["parent"].dropna().tolist()) == {"woo-hoodie", "woo-vneck-tee"}


@needs_woo
def test_woocommerce_2020_sample_file() -> None:
    data = (WOO_REAL / "sample_products.classic-commerce-2020.csv").read_bytes()
    out = decode(data, tracciato("woocommerce/prodotti"))
    # Only the GTIN column, newer than the file, is missing.
    assert [(i.code, i.line, i.field) for i in out.issues] == [("bad-header", 1, "gtin")]
    # Declaring missing columns empty is the other way to read such a file: the issue
    # stays, as a note of what is absent, but every row is read.
    base = tracciato("woocommerce/prodotti")
    relaxed = Tracciato.model_validate(
        {**base.model_dump(), "delimited": {**base.dialect.model_dump(),
                                            "missing_columns": "empty"}})
    out = decode(data, relaxed)
    assert [(i.code, i.field) for i in out.issues] == [("bad-header", "gtin")]
    df = out.tables["prodotto"]
    assert len(df) == 24
    assert df["gtin"].isna().all()
    assert df["id"].tolist()[0] == 741
    assert Decimal("30.00") in set(df["regular_price"].dropna().tolist())
