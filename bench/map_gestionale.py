"""The benchmark's transform: decoded Shopify order rows -> the ``gestionale/ordini`` records.

Written as a user of bridge would write it: pandas on the typed tables that
``bridge.codecs.iter_decode`` yields, nothing private. Every step works on whole columns
(a Shopify order is a run of rows with the same Name, so group boundaries come from one
comparison with the previous row, not from a Python loop).

Per order: one testata, a riga per line item, a riga for the shipping cost when there is one
and a negative riga for the discount when there is one, so the testata's total is the sum of
its righe to the cent. Orders with an issue on any of their rows are left out (a real flow
would quarantine them); they are counted in :attr:`Mapped.dropped_orders`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bridge.issues import Issue

ZONE = "Europe/Rome"
#: The ERP's payment terms for the shop's payment methods; unknown methods fall to "ZZ99".
PAYMENT_CODES = {
    "Shopify Payments": "CC01",
    "PayPal Express Checkout": "PP01",
    "Bonifico bancario": "BB30",
    "Contrassegno": "CO01",
    "Satispay": "SP01",
}
UNKNOWN_PAYMENT = "ZZ99"
SHIPPING_SKU = "SPESE-SPED"
DISCOUNT_SKU = "SCONTO"
VAT_CODE = "22"
VAT_RATE = Decimal("22.00")
DESCRIPTION_WIDTH = 40
LINE_FIELDS = ["name", "_line", "lineitem_quantity", "lineitem_price", "lineitem_sku",
               "lineitem_name"]
ORDER_FIELDS = ["created_at", "email", "payment_method", "total", "currency", "shipping",
                "discount_amount", "shipping_method", "discount_code"]
MONEY = pd.ArrowDtype(pa.decimal128(18, 2))
QUANTITY = pd.ArrowDtype(pa.decimal128(18, 3))
INT = pd.ArrowDtype(pa.int64())
TEXT = pd.ArrowDtype(pa.string())


@dataclass
class Mapped:
    """The gestionale tables of one chunk, ready for ``bridge.codecs.encode``."""

    testata: pd.DataFrame
    righe: pd.DataFrame
    dropped_orders: int

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return {"testata": self.testata, "righe": self.righe}

    @property
    def records(self) -> int:
        return len(self.testata) + len(self.righe)


def arrow(s: pd.Series) -> pa.ChunkedArray:
    """The pyarrow data behind an ArrowDtype column (no copy)."""
    return pa.chunked_array(s.array.__arrow_array__())


def series(values: pa.Array | pa.ChunkedArray, index: pd.Index | None = None) -> pd.Series:
    return pd.Series(pd.arrays.ArrowExtensionArray(values), index=index)


def const(value: object, n: int, dtype: pd.ArrowDtype) -> pd.Series:
    """One value n times, built by pyarrow rather than from a Python list of n objects."""
    one = pa.array([value], dtype.pyarrow_dtype)
    return series(pc.take(one, pa.array(np.zeros(n, dtype=np.int32))))


def decimal(s: pd.Series, scale: int) -> pd.Series:
    """Integers or decimals as decimal128(18, scale); via 38 digits, as int64 needs 19."""
    wide = pc.cast(arrow(s), pa.decimal128(38, scale))
    return series(pc.cast(wide, pa.decimal128(18, scale)), s.index)


def lookup(s: pd.Series, table: Mapping[str, str], default: str) -> pd.Series:
    """Map text through a small table with one hash join, not a dict call per row."""
    keys = pa.array(list(table), pa.string())
    codes = pa.array([*table.values(), default], pa.string())
    at = pc.fill_null(pc.index_in(arrow(s), value_set=keys), len(table))
    return series(pc.take(codes, at), s.index)


def customer_code(email: pd.Series) -> pd.Series:
    """A stable 8-character customer code from the e-mail (a stand-in for a master-data lookup)."""
    folded = pc.fill_null(pc.utf8_lower(arrow(email)), "").combine_chunks()
    # A customer orders more than once: hash each distinct e-mail once, then spread.
    coded = pc.dictionary_encode(folded)
    unique = coded.dictionary.to_numpy(zero_copy_only=False)
    hashed = pd.util.hash_array(unique.astype(object)) % np.uint64(10_000_000)
    digits = pc.utf8_lpad(pc.cast(pa.array(hashed), pa.string()), width=7, padding="0")
    codes = pc.binary_join_element_wise("C", digits, "")
    return series(pc.take(codes, coded.indices), email.index)


def order_day(created: pd.Series) -> pd.Series:
    """The order's calendar day in Rome, whatever zone the timestamps were typed in."""
    values = arrow(created)
    if pa.types.is_timestamp(values.type) and values.type.tz is not None:
        local = pc.local_timestamp(pc.cast(values, pa.timestamp(values.type.unit, ZONE)))
        values = local
    return series(pc.cast(values, pa.date32()), created.index)


def bad_lines(issues: Iterable[Issue]) -> np.ndarray:
    return np.unique(np.array([i.line for i in issues if i.line is not None], dtype=np.int64))


def to_gestionale(rows: pd.DataFrame, issues: Iterable[Issue]) -> Mapped:
    """Map one chunk of decoded Shopify rows (whole orders) to testate and righe."""
    name = rows["name"]
    # The first row compares with nothing (NA): it starts an order all the same.
    total_orders = int((name != name.shift()).fillna(True).sum())
    bad_names = name[rows["_line"].isin(bad_lines(issues))].unique()
    # Taking rows costs a copy per column: take only the columns the mapping reads
    rows = rows[LINE_FIELDS + ORDER_FIELDS]
    if len(bad_names):
        rows = rows.loc[~name.isin(bad_names).to_numpy(dtype=bool)].reset_index(drop=True)

    name = rows["name"]
    first = (name != name.shift()).to_numpy(dtype=bool, na_value=True)
    order_of_row = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    numero = name.str.lstrip("#").astype(INT)

    head = rows.loc[first, ["name", "_line", *ORDER_FIELDS]].reset_index(drop=True)
    testata = pd.DataFrame({
        "numero_ordine": numero[first].reset_index(drop=True),
        "data_ordine": order_day(head["created_at"]),
        "codice_cliente": customer_code(head["email"]),
        "codice_pagamento": lookup(head["payment_method"], PAYMENT_CODES, UNKNOWN_PAYMENT),
        "riferimento": head["name"],
        "totale": head["total"].astype(MONEY),
        "valuta": head["currency"],
        "_line": head["_line"],
    })

    qty = rows["lineitem_quantity"]
    price = rows["lineitem_price"].astype(MONEY)
    parent_line = head["_line"].to_numpy(dtype=np.int64)
    items = pd.DataFrame({
        "numero_ordine": numero,
        "numero_riga": pd.Series(np.arange(len(rows)) - starts[order_of_row] + 1, dtype=INT),
        "codice_articolo": rows["lineitem_sku"],
        "descrizione": rows["lineitem_name"].str.slice(0, DESCRIPTION_WIDTH).str.rstrip(),
        "quantita": decimal(qty, 3),
        "prezzo_unitario": price,
        "importo": decimal(price * qty, 2),
        "_parent_line": pd.Series(parent_line[order_of_row], dtype=INT),
    })
    per_order = np.diff(np.append(starts, len(rows)))
    extra = _extra_righe(head, testata["numero_ordine"], per_order, parent_line)
    righe = pd.concat([items, *extra], ignore_index=True)
    righe["codice_iva"] = const(VAT_CODE, len(righe), TEXT)
    righe["aliquota_iva"] = const(VAT_RATE, len(righe), MONEY)
    return Mapped(testata, righe, total_orders - len(testata))


def _extra_righe(head: pd.DataFrame, numero: pd.Series, per_order: np.ndarray,
                 parent_line: np.ndarray) -> list[pd.DataFrame]:
    """A shipping riga and a (negative) discount riga for the orders that have them."""
    zero = Decimal("0.00")

    def amount(col: str) -> pd.Series:
        values = arrow(head[col].astype(MONEY))
        return series(pc.fill_null(values, pa.scalar(zero, values.type)), head.index)

    shipping, discount = amount("shipping"), amount("discount_amount")
    has_ship = (shipping > zero).to_numpy(dtype=bool)
    has_disc = (discount > zero).to_numpy(dtype=bool)
    one = Decimal("1.000")

    def riga(mask: np.ndarray, offset: np.ndarray, sku: str, text: pd.Series,
             price: pd.Series | None, amount: pd.Series) -> pd.DataFrame:
        n = int(mask.sum())

        def pick(s: pd.Series) -> pd.Series:
            return s[mask].reset_index(drop=True)

        return pd.DataFrame({
            "numero_ordine": pick(numero),
            "numero_riga": pd.Series(per_order[mask] + offset[mask] + 1, dtype=INT),
            "codice_articolo": const(sku, n, TEXT),
            "descrizione": pick(text).fillna("").str.slice(0, DESCRIPTION_WIDTH),
            "quantita": const(one, n, QUANTITY),
            "prezzo_unitario": const(None, n, MONEY) if price is None else pick(price),
            "importo": pick(amount),
            "_parent_line": pd.Series(parent_line[mask], dtype=INT),
        })

    return [
        riga(has_ship, np.zeros(len(head), dtype=np.int64), SHIPPING_SKU,
             head["shipping_method"], shipping, shipping),
        riga(has_disc, has_ship.astype(np.int64), DISCOUNT_SKU,
             head["discount_code"], None, -discount),
    ]


def coda(records: int, today: dt.date) -> pd.DataFrame:
    """The trailer: every record written, itself included."""
    return pd.DataFrame({
        "numero_record": pd.Series([records + 1], dtype=INT),
        "data_creazione": pd.Series([today], dtype=pd.ArrowDtype(pa.date32())),
    })
