"""VAT that an e-invoice accepts, on an order export written for the purpose: shipping and
discounts follow the goods' rates (split in proportion when an order mixes them), unit
prices carry 4 decimals so that quantity x price gives every line amount within the SdI's
cent, and the shop's own Taxes are compared (a note when they differ).

The expected values are computed here, with Decimal, from the rules as an accountant states
them; the flow is the sample company's, run on this export instead of the sample one.
"""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from bridge import spec
from bridge.codecs import decode
from bridge.config import load
from bridge.errors import ConfigError
from bridge.ledger import open_ledger
from bridge.steps.apply import apply_steps
from bridge.steps.context import StepContext
from bridge.steps.spec import Spread
from tests.test_samples import SAMPLES, run_twice, sample_copy

D = Decimal
CENT, BP = D("0.01"), D("0.0001")
RATES = {"SMALTO-750": 22, "LEGNA-15": 10, "MANUALE-FAI": 4, "VITI-4X40": 22,
         "PENN-50": 22, "GUANTI-NIT": 22}
HEADER = (SAMPLES / "inbox" / "shopify" / "orders_export_1.csv").read_text(
    encoding="utf-8").splitlines()[0].split(",")


def q(x: Decimal, unit: Decimal = CENT) -> Decimal:
    return x.quantize(unit, rounding=ROUND_HALF_UP)


def shares(amount: Decimal, weights: dict[int, Decimal]) -> list[tuple[int, Decimal]]:
    """The amount over the rates in proportion to their weights, half up, the cents left
    over to the largest weight (the first of equals)."""
    total = sum(weights.values(), D(0))
    part = {r: q(amount * w / total) for r, w in weights.items()}
    largest = max(weights, key=lambda r: weights[r])
    part[largest] += amount - sum(part.values(), D(0))
    return [(r, part[r]) for r in weights if part[r] or r == largest]


# (sku, quantity, gross unit price) per order; shipping; discount; the shop's Taxes, or
# None for "the VAT these rules give" (no note expected).
ORDERS: dict[str, dict[str, Any]] = {
    # goods at 22, 10 and 4%: shipping and discount split over the three
    "#3001": {"email": "acquisti@ediliziamoretti.it", "shipping": D("9.90"),
              "discount": D("12.00"), "taxes": None,
              "lines": [("SMALTO-750", 4, D("18.30")), ("LEGNA-15", 3, D("8.80")),
                        ("MANUALE-FAI", 1, D("19.90"))]},
    # books only: shipping at 4%, where the shop taxed it at 22% (its Taxes say 3.62)
    "#3002": {"email": "ordini@ferramentaverdi.it", "shipping": D("11.59"),
              "discount": D("0.00"), "taxes": D("3.62"),
              "lines": [("MANUALE-FAI", 2, D("19.90"))]},
    # the SdI's case: 100 x 0.99 gross is 81.15 net, 0.81 x 100 would be 81.00
    "#3003": {"email": "torino@colorificioserra.it", "shipping": D("0.00"),
              "discount": D("0.00"), "taxes": None,
              "lines": [("VITI-4X40", 100, D("0.99")), ("PENN-50", 1000, D("0.99"))]},
    # one rate: shipping and discount stay whole at 22%
    "#3004": {"email": "acquisti@ediliziamoretti.it", "shipping": D("12.20"),
              "discount": D("5.00"), "taxes": None,
              "lines": [("GUANTI-NIT", 5, D("10.00"))]},
}


def expected_lines(order: dict[str, Any]) -> list[tuple[str, Decimal, Decimal, Decimal, int,
                                                        Decimal]]:
    """(sku, quantity, net unit price, amount, rate, VAT) of each line, as the ERP gets it."""
    weights: dict[int, Decimal] = {}
    rows: list[tuple[str, Decimal, Decimal, Decimal, int]] = []  # sku, qty, unit, gross, rate
    for sku, qty, price in order["lines"]:
        rate = RATES[sku]
        weights[rate] = weights.get(rate, D(0)) + qty * price
        rows.append((sku, D(qty), price, qty * price, rate))
    if order["shipping"]:
        rows += [("TRASPORTO", D(1), s, s, r) for r, s in shares(order["shipping"], weights)]
    if order["discount"]:
        rows += [("SCONTO", D(1), -s, s, r) for r, s in shares(-order["discount"], weights)]
    out = []
    for sku, qty, unit, gross, rate in rows:
        net_unit = q(abs(unit) / (1 + D(rate) / 100), BP)
        amount = q(qty * net_unit) * (1 if gross >= 0 else -1)
        out.append((sku, qty, net_unit, amount, rate, gross - amount))
    return out


def export() -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, HEADER, lineterminator="\n")
    w.writeheader()
    for name, order in ORDERS.items():
        goods = sum((qty * p for _, qty, p in order["lines"]), D(0))
        total = goods + order["shipping"] - order["discount"]
        vat = sum((v for *_, v in expected_lines(order)), D(0))
        taxes = order["taxes"] if order["taxes"] is not None else vat
        for k, (sku, qty, price) in enumerate(order["lines"]):
            row = {"Name": name, "Lineitem quantity": qty, "Lineitem name": f"Articolo {sku}",
                   "Lineitem price": price, "Lineitem sku": sku, "Lineitem taxable": "true"}
            if k == 0:
                row.update({
                    "Email": order["email"], "Financial Status": "paid", "Currency": "EUR",
                    "Paid at": "2025-12-01 10:00:00 +0100", "Subtotal": goods,
                    "Shipping": order["shipping"], "Taxes": taxes, "Total": total,
                    "Discount Code": "PROMO" if order["discount"] else "",
                    "Discount Amount": order["discount"],
                    "Shipping Method": "Corriere standard",
                    "Created at": "2025-12-01 09:58:00 +0100", "Billing Name": "Cliente",
                    "Billing Street": "Via Roma 1", "Billing City": "Milano",
                    "Billing Zip": "'20121", "Billing Province": "MI",
                    "Billing Country": "IT", "Payment Method": "Bonifico bancario"})
            w.writerow(row)
    return buf.getvalue()


@pytest.fixture(scope="module")
def erp(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cfg = sample_copy(tmp_path_factory.mktemp("vat"))
    orders = cfg.parent / "inbox" / "shopify" / "orders_export_1.csv"
    orders.write_text(export(), encoding="utf-8")
    result = run_twice(cfg, ["ordini"])
    [outcome] = result.outcomes
    assert outcome.state == "done", outcome
    [txt] = sorted((cfg.parent / "erp" / "ordini").glob("*.TXT"))
    back = decode(txt.read_bytes(), spec.load("gestionale/ordini"))
    assert back.issues == []
    ledger = open_ledger(load(cfg).path(load(cfg).ledger))
    try:
        notes = ledger.issues(outcome.file_id)
    finally:
        ledger.close()
    return {"tables": back.tables, "notes": notes}


@pytest.mark.parametrize("name", list(ORDERS))
def test_each_order_s_lines_are_the_accountant_s(erp: dict[str, Any], name: str) -> None:
    testata = erp["tables"]["testata"].set_index("riferimento")
    number = testata.loc[name, "numero_ordine"]
    righe = erp["tables"]["righe"]
    mine = righe[righe["numero_ordine"] == number]
    got = [(r.codice_articolo, r.quantita, r.prezzo_unitario, r.importo, int(r.aliquota_iva),
            r.imposta) for r in mine.itertuples()]
    want = expected_lines(ORDERS[name])
    assert got == want
    assert mine["numero_riga"].tolist() == list(range(1, len(want) + 1))
    assert testata.loc[name, "totale"] == sum((w[3] for w in want), D(0))
    assert testata.loc[name, "totale_iva"] == sum((w[5] for w in want), D(0))


def test_mixed_rates_split_shipping_and_discount_in_proportion(erp: dict[str, Any]) -> None:
    # 73.20 / 26.40 / 19.90 of goods: 9.90 of shipping is 6.06 + 2.19 + 1.65 (6.0643,
    # 2.1871, 1.6486), the 12.00 discount -7.35 - 2.65 - 2.00 (7.3506, 2.6510, 1.9983).
    righe = erp["tables"]["righe"]
    mine = righe[righe["numero_ordine"] == 3001]
    gross = {(r.codice_articolo, int(r.aliquota_iva)): r.importo + r.imposta
             for r in mine.itertuples() if r.codice_articolo in ("TRASPORTO", "SCONTO")}
    assert gross == {("TRASPORTO", 22): D("6.06"), ("TRASPORTO", 10): D("2.19"),
                     ("TRASPORTO", 4): D("1.65"), ("SCONTO", 22): D("-7.35"),
                     ("SCONTO", 10): D("-2.65"), ("SCONTO", 4): D("-2.00")}


def test_every_line_is_within_the_sdi_cent(erp: dict[str, Any]) -> None:
    righe = erp["tables"]["righe"]
    assert len(righe) == sum(len(expected_lines(o)) for o in ORDERS.values())
    for r in righe.itertuples():
        assert abs(r.quantita * r.prezzo_unitario - abs(r.importo)) <= CENT, r
    viti = righe[righe["codice_articolo"] == "VITI-4X40"].iloc[0]
    assert (viti["prezzo_unitario"], viti["importo"]) == (D("0.8115"), D("81.15"))


def test_the_shop_s_taxes_differing_is_a_note_on_that_order_only(erp: dict[str, Any]) -> None:
    notes = [(i.code, i.value) for i in erp["notes"]]
    assert notes == [("tax-mismatch", "3.62")]
    ours = sum((w[5] for w in expected_lines(ORDERS["#3002"])), D(0))
    assert ours == D("1.98")  # 1.53 on the books, 0.45 on shipping at 4%


# --- the step alone ----------------------------------------------------------------------

def run_spread(rows: list[dict[str, Any]], **args: Any) -> list[dict[str, Any]]:
    import pandas as pd

    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("_parent_line", pa.int64()), ("codice", pa.string()),
        ("lordo", pa.decimal128(18, 2)), ("prezzo", pa.decimal128(18, 2)),
        ("aliquota", pa.int64()), ("codice_iva", pa.string()), ("n", pa.int64())]))
    step = Spread.model_validate({"spread": {
        "table": "righe", "rows": "codice == 'X'", "amount": "lordo", "same": ["prezzo"],
        "weight": "lordo", "by": "aliquota", "take": ["codice_iva"], "number": "n", **args}})
    out = apply_steps([step], {"righe": table.to_pandas(types_mapper=pd.ArrowDtype)},
                      StepContext())
    return pa.Table.from_pandas(out.tables["righe"], preserve_index=False).to_pylist()


def row(parent: int, code: str, lordo: str, rate: int | None, iva: str = "") -> dict[str, Any]:
    return {"_parent_line": parent, "codice": code, "lordo": D(lordo), "prezzo": abs(D(lordo)),
            "aliquota": rate, "codice_iva": iva or str(rate), "n": 0}


def test_spread_keeps_orders_apart_and_adds_up_exactly() -> None:
    got = run_spread([row(1, "A", "10.00", 22), row(1, "B", "10.00", 10),
                      row(1, "B", "10.00", 10), row(1, "X", "-1.00", 22, "22"),
                      row(2, "C", "5.00", 4, "N4"), row(2, "X", "3.00", 22)])
    # order 1: 1/3 and 2/3 of -1.00: -0.33 and -0.67 (-0.6667); order 2: all at 4%
    assert [(r["_parent_line"], r["codice"], r["lordo"], r["prezzo"], r["aliquota"],
             r["codice_iva"], r["n"]) for r in got] == [
        (1, "A", D("10.00"), D("10.00"), 22, "22", 1),
        (1, "B", D("10.00"), D("10.00"), 10, "10", 2),
        (1, "B", D("10.00"), D("10.00"), 10, "10", 3),
        (1, "X", D("-0.33"), D("0.33"), 22, "22", 4),
        (1, "X", D("-0.67"), D("0.67"), 10, "10", 5),
        (2, "C", D("5.00"), D("5.00"), 4, "N4", 1),
        (2, "X", D("3.00"), D("3.00"), 4, "N4", 2)]


def test_spread_largest_and_ties_and_no_goods() -> None:
    rows = [row(1, "A", "10.00", 22), row(1, "B", "10.00", 10), row(1, "X", "5.00", 22)]
    assert [(r["aliquota"], r["lordo"]) for r in run_spread(rows, mode="largest")] == [
        (22, D("10.00")), (10, D("10.00")), (22, D("5.00"))]
    # 2.50 each, exactly
    assert [(r["aliquota"], r["lordo"]) for r in run_spread(rows)][2:] == [
        (22, D("2.50")), (10, D("2.50"))]
    # an order with nothing to weigh keeps its row as it was
    alone = run_spread([row(7, "X", "4.00", 22)])
    assert [(r["aliquota"], r["lordo"]) for r in alone] == [(22, D("4.00"))]


def test_spread_mistakes_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="has no field 'peso'"):
        run_spread([row(1, "X", "1.00", 22)], weight="peso")
    with pytest.raises(ConfigError, match="'codice' holds string, not numbers"):
        run_spread([row(1, "X", "1.00", 22)], amount="codice")
    with pytest.raises(ConfigError, match="have no parent"):
        import pandas as pd

        step = Spread.model_validate({"spread": {"table": "t", "rows": "true", "amount": "a",
                                                 "weight": "a", "by": "b"}})
        apply_steps([step], {"t": pd.DataFrame({"a": [1], "b": [2]})}, StepContext())


def test_the_sample_flow_declares_the_rules(tmp_path: Path) -> None:
    text = (SAMPLES / "bridge.yaml").read_text(encoding="utf-8")
    assert "- spread:" in text and "code: line-amount-mismatch" in text
    assert "code: tax-mismatch" in text and "scale: 4" in text


# --- discounts the export gives per line -------------------------------------------------

#: (sku, quantity, gross unit price, the line's share of the discounts)
PER_LINE = [("SMALTO-750", 3, D("18.30"), D("1.83")), ("LEGNA-15", 3, D("10.00"), D("1.00")),
            ("MANUALE-FAI", 2, D("19.90"), D("1.99")), ("GUANTI-NIT", 1, D("10.00"), D("0"))]


def per_line_export() -> str:
    """One order whose export has `Lineitem discount`: 4.82 of discounts, spread by the
    shop over three of its four lines."""
    header = [*HEADER, "Lineitem discount"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, header, lineterminator="\n")
    w.writeheader()
    goods = sum((qty * p for _, qty, p, _ in PER_LINE), D(0))
    discount = sum((d for *_, d in PER_LINE), D(0))
    vat = sum((v for *_, v in per_line_expected()), D(0))
    for k, (sku, qty, price, disc) in enumerate(PER_LINE):
        row: dict[str, Any] = {
            "Name": "#3101", "Lineitem quantity": qty, "Lineitem name": f"Articolo {sku}",
            "Lineitem price": price, "Lineitem sku": sku, "Lineitem taxable": "true",
            "Lineitem discount": disc}
        if k == 0:
            row.update({
                "Email": "acquisti@ediliziamoretti.it", "Financial Status": "paid",
                "Currency": "EUR", "Subtotal": goods, "Shipping": "0.00", "Taxes": vat,
                "Total": goods - discount, "Discount Code": "PROMO",
                "Discount Amount": discount, "Shipping Method": "Corriere standard",
                "Created at": "2025-12-01 09:58:00 +0100", "Billing Name": "Cliente",
                "Billing Street": "Via Roma 1", "Billing City": "Milano",
                "Billing Zip": "'20121", "Billing Province": "MI", "Billing Country": "IT",
                "Payment Method": "Bonifico bancario"})
        w.writerow(row)
    return buf.getvalue()


def per_line_expected() -> list[tuple[str, Decimal, Decimal, Decimal, int, Decimal]]:
    """Each line net of its own discount, at its own rate: the net unit price is what the
    line costs over its quantity, net of VAT, rounded once to 4 decimals; no discount
    line."""
    out = []
    for sku, qty, price, disc in PER_LINE:
        rate, gross = RATES[sku], qty * price - disc
        net_unit = q(gross / qty / (1 + D(rate) / 100), BP)
        amount = q(qty * net_unit)
        out.append((sku, D(qty), net_unit, amount, rate, gross - amount))
    return out


def test_a_discount_the_export_gives_per_line_stays_on_its_line(tmp_path: Path) -> None:
    cfg = sample_copy(tmp_path)
    orders = cfg.parent / "inbox" / "shopify" / "orders_export_1.csv"
    orders.write_text(per_line_export(), encoding="utf-8")
    [outcome] = run_twice(cfg, ["ordini"]).outcomes
    assert outcome.state == "done", outcome
    [txt] = sorted((cfg.parent / "erp" / "ordini").glob("*.TXT"))
    back = decode(txt.read_bytes(), spec.load("gestionale/ordini"))
    got = [(r.codice_articolo, r.quantita, r.prezzo_unitario, r.importo, int(r.aliquota_iva),
            r.imposta) for r in back.tables["righe"].itertuples()]
    assert got == per_line_expected()  # the 4% book's discount is taken at 4%, and so on
    assert all(abs(g[1] * g[2] - g[3]) <= CENT for g in got)
    # what the lines add up to is what the shop charged
    assert sum((g[3] + g[5] for g in got), D(0)) == sum(
        (qty * p - d for _, qty, p, d in PER_LINE), D(0)) == D("129.88")


@pytest.mark.parametrize("expr, want", [
    ("x | decimals(4)", [D("9.6667"), D("-9.6667"), None]),
    ("x | decimals(0)", [D("10"), D("-10"), None]),
])
def test_decimals_rounds_half_up_on_columns_and_rows_alike(expr: str, want: list[Any]) -> None:
    from bridge.steps.expr import compile_expression
    from bridge.steps.limits import Budget

    table = pa.table({"x": pa.array([D("9.66665"), D("-9.66665"), None],
                                    pa.decimal128(18, 5))})
    e = compile_expression(expr, table.column_names, "test", {}, "y")
    assert e._vectorised(table, {}, ["x"], lambda: Budget(3, 0)) is not None  # on columns
    values, failures = e.evaluate(table, {})
    assert failures == [] and values.to_pylist() == want
    rows, row_failures = e._per_row(table, {}, ["x"])  # and in jinja, row by row
    assert row_failures == [] and rows == want


def test_decimals_refuses_places_that_are_no_whole_number() -> None:
    from bridge.steps.expr import decimals

    with pytest.raises(ValueError, match="0 to 18"):
        decimals(D("1.5"), 19)
    assert decimals("2.345", 2) == D("2.35")


def test_vat_per_unit_divides_once_and_leaves_no_quantity_empty() -> None:
    import pandas as pd

    from bridge.steps.spec import Vat

    table = pa.table({"lordo": pa.array([D("29.00"), D("9.99"), D("5.00"), D("1.00")],
                                        pa.decimal128(18, 2)),
                      "qty": pa.array([D("3"), D("1"), D("0"), None], pa.decimal128(19, 0)),
                      "rate": pa.array([10, 22, 22, 22], pa.int64())})
    step = Vat.model_validate({"vat": {"gross": "lordo", "per": "qty", "rate": "rate",
                                       "net": "unit", "scale": 4}})
    out = apply_steps([step], {"t": table.to_pandas(types_mapper=pd.ArrowDtype)},
                      StepContext())
    # 29.00 / 3 / 1.10 = 8.787878...: 8.7879, not 9.6667 / 1.10 rounded twice
    assert out.tables["t"]["unit"].tolist()[:2] == [D("8.7879"), D("8.1885")]
    assert out.tables["t"]["unit"].isna().tolist()[2:] == [True, True]  # 0 or no quantity
    with pytest.raises(ValueError, match="per: the net is a unit price"):
        Vat.model_validate({"vat": {"gross": "lordo", "per": "qty", "rate": "rate",
                                    "net": "unit", "tax": "iva"}})


# --- amounts past 64 bits ------------------------------------------------------------------

def test_vat_and_percent_past_64_bits_are_exact_or_a_bad_row() -> None:
    """A product of unscaled amounts past 2**63 is worked out on Python integers, exact
    (it used to wrap around silently); a result of more than 18 digits is null with an
    ``amount-too-large`` issue on its row, and the other rows are untouched."""
    import pandas as pd

    from bridge.steps.spec import Percent, Vat

    big = D("9000000000000000.00")  # 9e17 unscaled: times a rate of 225 passes 2**63
    table = pa.table({
        "_line": pa.array([2, 3, 4], pa.int64()),
        "lordo": pa.array([big, D("122.00"), D("10.00")], pa.decimal128(18, 2)),
        "rate": pa.array([D("22.5"), D("22.0"), D("22.0")], pa.decimal128(4, 1)),
        "wide": pa.array([D("1E+30"), D("1.00"), None], pa.decimal128(38, 2))})
    steps = [Percent.model_validate({"percent": {"base": "lordo", "rate": "rate",
                                                 "into": "provvigione"}}),
             Vat.model_validate({"vat": {"gross": "lordo", "rate": "rate", "net": "netto",
                                         "tax": "iva"}}),
             Percent.model_validate({"percent": {"base": "wide", "rate": "rate",
                                                 "into": "troppo"}})]
    out = apply_steps(steps, {"t": table.to_pandas(types_mapper=pd.ArrowDtype)},
                      StepContext())
    t = out.tables["t"]
    assert t["provvigione"].tolist() == [D("2025000000000000.00"), D("26.84"), D("2.20")]
    assert t["netto"].tolist()[0] == (big * 1000 / D("1225")).quantize(D("0.01"),
                                                                       ROUND_HALF_UP)
    assert t["netto"].tolist()[1:] == [D("100.00"), D("8.20")]
    assert t["netto"].tolist()[0] + t["iva"].tolist()[0] == big
    assert t["troppo"].isna().tolist() == [True, False, True]
    assert t["troppo"].tolist()[1] == D("0.22")
    assert [(i.code, i.line, i.field) for i in out.issues] == [
        ("amount-too-large", 2, "troppo")]


def test_a_huge_amount_in_the_shop_s_export_rejects_its_file_not_the_flow(
        tmp_path: Path) -> None:
    """A quantity and a price whose product has more digits than an amount may hold: the
    file is rejected with the rows' issues, and the flow is not stopped by it (it used to
    stop with a configuration error at every run)."""
    cfg = sample_copy(tmp_path)
    inbox = cfg.parent / "inbox" / "shopify"
    (inbox / "customers_export_1.csv").unlink()
    src = inbox / "orders_export_1.csv"
    rows = list(csv.reader(io.StringIO(src.read_text(encoding="utf-8"))))
    rows[1][rows[0].index("Lineitem quantity")] = "999999999999"
    rows[1][rows[0].index("Lineitem price")] = "99999999.99"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    src.write_text(out.getvalue(), encoding="utf-8")
    result = run_twice(cfg, ["ordini"])
    assert result.config_errors == [] and result.internal_errors == []
    assert [o.state for o in result.outcomes] == ["rejected"]
    issues = (cfg.parent / "quarantine" / "orders_export_1.csv.issues.csv").read_text(
        encoding="utf-8-sig")
    assert "amount-too-large" in issues


def test_a_vat_rate_of_minus_100_is_a_bad_row_not_a_stopped_flow() -> None:
    import pandas as pd

    from bridge.steps.spec import Vat

    table = pa.table({"_line": pa.array([2, 3, 4], pa.int64()),
                      "lordo": pa.array([D("122.00")] * 3, pa.decimal128(18, 2)),
                      "rate": pa.array([22, -100, -150], pa.int64())})
    step = Vat.model_validate({"vat": {"gross": "lordo", "rate": "rate", "net": "netto"}})
    out = apply_steps([step], {"t": table.to_pandas(types_mapper=pd.ArrowDtype)},
                      StepContext())
    assert out.tables["t"]["netto"].tolist()[0] == D("100.00")
    assert out.tables["t"]["netto"].isna().tolist() == [False, True, True]
    assert [(i.code, i.line, i.value) for i in out.issues] == [
        ("bad-vat-rate", 3, "-100"), ("bad-vat-rate", 4, "-150")]
