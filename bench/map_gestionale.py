"""The benchmark's transform: decoded Shopify order rows -> the ``gestionale/ordini`` records.

Written as a user of bridge would write it: pyarrow compute on the data behind the typed
(ArrowDtype) tables that ``bridge.codecs.iter_decode`` yields, and pandas tables handed back
to ``bridge.codecs.encode``; nothing private. Every step works on whole columns
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


def const(value: object, n: int, typ: pa.DataType) -> pa.Array:
    """One value n times, built by pyarrow rather than from a Python list of n objects."""
    one = pa.array([value], typ)
    return pc.take(one, pa.array(np.zeros(n, dtype=np.int32)))


def decimal(values: pa.Array | pa.ChunkedArray, scale: int) -> pa.Array | pa.ChunkedArray:
    """Integers or decimals as decimal128(18, scale); via 38 digits, as int64 needs 19."""
    wide = pc.cast(values, pa.decimal128(38, scale))
    return pc.cast(wide, pa.decimal128(18, scale))


def lookup(values: pa.ChunkedArray, table: Mapping[str, str], default: str) -> pa.Array:
    """Map text through a small table with one hash join, not a dict call per row."""
    keys = pa.array(list(table), pa.string())
    codes = pa.array([*table.values(), default], pa.string())
    at = pc.fill_null(pc.index_in(values, value_set=keys), len(table))
    return pc.take(codes, at)


def customer_code(email: pa.ChunkedArray) -> pa.Array:
    """A stable 8-character customer code from the e-mail (a stand-in for a master-data lookup)."""
    folded = pc.fill_null(pc.utf8_lower(email), "").combine_chunks()
    # A customer orders more than once: hash each distinct e-mail once, then spread.
    coded = pc.dictionary_encode(folded)
    unique = coded.dictionary.to_numpy(zero_copy_only=False)
    # The values are distinct already: no categorizing before hashing.
    hashed = pd.util.hash_array(unique.astype(object), categorize=False) % np.uint64(10_000_000)
    digits = pc.utf8_lpad(pc.cast(pa.array(hashed), pa.string()), width=7, padding="0")
    codes = pc.binary_join_element_wise("C", digits, "")
    return pc.take(codes, coded.indices)


def order_day(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """The order's calendar day in Rome, whatever zone the timestamps were typed in."""
    if pa.types.is_timestamp(values.type) and values.type.tz is not None:
        values = pc.local_timestamp(pc.cast(values, pa.timestamp(values.type.unit, ZONE)))
    return pc.cast(values, pa.date32())


def bad_lines(issues: Iterable[Issue]) -> np.ndarray:
    return np.unique(np.array([i.line for i in issues if i.line is not None], dtype=np.int64))


def starts_of(name: pa.ChunkedArray) -> np.ndarray:
    """Where each order starts: a row whose Name differs from the previous row's (or is NA)."""
    n = len(name)
    first = np.ones(n, dtype=bool)
    if n > 1:
        differs = pc.fill_null(pc.not_equal(name[1:], name[:-1]), True)
        first[1:] = differs.to_numpy()
    return first


def frame(table: pa.Table) -> pd.DataFrame:
    """The table as ArrowDtype columns, in one conversion rather than a Series per column."""
    return table.to_pandas(types_mapper=pd.ArrowDtype)


def to_gestionale(rows: pd.DataFrame, issues: Iterable[Issue]) -> Mapped:
    """Map one chunk of decoded Shopify rows (whole orders) to testate and righe."""
    # The mapping runs on the pyarrow data behind the typed columns: no pandas copies.
    table = pa.table({c: arrow(rows[c]) for c in LINE_FIELDS + ORDER_FIELDS})
    total_orders = int(starts_of(table["name"]).sum())
    bad = bad_lines(issues)
    if len(bad):
        name = rows["name"]
        bad_names = name[rows["_line"].isin(bad)].unique()
        if len(bad_names):
            table = table.filter(pa.array(~name.isin(bad_names).to_numpy(dtype=bool)))

    name = table["name"]
    first = starts_of(name)
    order_of_row = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    numero = pc.cast(pc.utf8_ltrim(name, characters="#"), pa.int64())
    head = table.select(["name", "_line", *ORDER_FIELDS]).take(pa.array(starts))
    head_numero = numero.take(pa.array(starts))
    testata = pa.table({
        "numero_ordine": head_numero,
        "data_ordine": order_day(head["created_at"]),
        "codice_cliente": customer_code(head["email"]),
        "codice_pagamento": lookup(head["payment_method"], PAYMENT_CODES, UNKNOWN_PAYMENT),
        "riferimento": head["name"],
        "totale": pc.cast(head["total"], MONEY.pyarrow_dtype),
        "valuta": head["currency"],
        "_line": head["_line"],
    })

    qty = table["lineitem_quantity"]
    price = pc.cast(table["lineitem_price"], MONEY.pyarrow_dtype)
    parent_line = np.asarray(head["_line"].to_numpy(), dtype=np.int64)
    items = {
        "numero_ordine": numero,
        "numero_riga": pa.array(np.arange(len(table)) - starts[order_of_row] + 1, pa.int64()),
        "codice_articolo": table["lineitem_sku"],
        "descrizione": pc.utf8_rtrim_whitespace(
            pc.utf8_slice_codeunits(table["lineitem_name"], 0, DESCRIPTION_WIDTH)),
        "quantita": decimal(qty, 3),
        "prezzo_unitario": price,
        "importo": decimal(pc.multiply_checked(price, qty), 2),
        "_parent_line": pa.array(parent_line[order_of_row], pa.int64()),
    }
    per_order = np.diff(np.append(starts, len(table)))
    parts = [pa.table(items), *_extra_righe(head, head_numero, per_order, parent_line)]
    righe = pa.concat_tables(parts)
    righe = righe.append_column("codice_iva", const(VAT_CODE, len(righe), pa.string()))
    righe = righe.append_column("aliquota_iva",
                                const(VAT_RATE, len(righe), MONEY.pyarrow_dtype))
    return Mapped(frame(testata), frame(righe), total_orders - len(testata))


def _extra_righe(head: pa.Table, numero: pa.Array | pa.ChunkedArray, per_order: np.ndarray,
                 parent_line: np.ndarray) -> list[pa.Table]:
    """A shipping riga and a (negative) discount riga for the orders that have them."""
    money = MONEY.pyarrow_dtype
    zero = pa.scalar(Decimal("0.00"), money)

    def amount(col: str) -> pa.ChunkedArray:
        return pc.fill_null(pc.cast(head[col], money), zero)

    shipping, discount = amount("shipping"), amount("discount_amount")
    has_ship = pc.greater(shipping, zero).to_numpy()
    has_disc = pc.greater(discount, zero).to_numpy()
    one = Decimal("1.000")

    def riga(mask: np.ndarray, offset: np.ndarray, sku: str, text: pa.ChunkedArray,
             price: pa.ChunkedArray | None, amount: pa.ChunkedArray) -> pa.Table:
        at = pa.array(np.flatnonzero(mask))
        n = len(at)
        return pa.table({
            "numero_ordine": numero.take(at),
            "numero_riga": pa.array(per_order[mask] + offset[mask] + 1, pa.int64()),
            "codice_articolo": const(sku, n, pa.string()),
            "descrizione": pc.utf8_slice_codeunits(pc.fill_null(text.take(at), ""), 0,
                                                   DESCRIPTION_WIDTH),
            "quantita": const(one, n, QUANTITY.pyarrow_dtype),
            "prezzo_unitario": const(None, n, money) if price is None else price.take(at),
            "importo": amount.take(at),
            "_parent_line": pa.array(parent_line[mask], pa.int64()),
        })

    return [
        riga(has_ship, np.zeros(len(head), dtype=np.int64), SHIPPING_SKU,
             head["shipping_method"], shipping, shipping),
        riga(has_disc, has_ship.astype(np.int64), DISCOUNT_SKU,
             head["discount_code"], None, pc.negate_checked(discount)),
    ]


def coda(records: int, today: dt.date) -> pd.DataFrame:
    """The trailer: every record written, itself included."""
    return pd.DataFrame({
        "numero_record": pd.Series([records + 1], dtype=INT),
        "data_creazione": pd.Series([today], dtype=pd.ArrowDtype(pa.date32())),
    })
