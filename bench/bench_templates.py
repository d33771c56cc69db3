"""The rows a templated target sees: ``DataFrame.to_dict("records")`` against bridge's
``template_rows``, and the render of the sample Easyfatt template over them, in one run.

    python bench/bench_templates.py [--orders 20000]

Builds an order table (22 columns) and a line table (3 lines an order, 9 columns) typed as
bridge decodes them (Arrow-backed), times both ways of making the rows (best of 3), checks
they render byte-identical output, and prints the ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TEMPLATE = ROOT / "samples" / "templates" / "easyfatt-ordini.xml"
TEXT = ["codice_cliente", "cliente_nome", "cliente_indirizzo", "cliente_cap", "cliente_citta",
        "cliente_provincia", "cliente_nazione", "partita_iva", "codice_fiscale", "email",
        "codice_agente", "codice_pagamento", "riferimento", "note"]


def tables(orders: int) -> dict[str, Any]:
    import pandas as pd
    import pyarrow as pa

    money = pa.decimal128(18, 2)
    testata: dict[str, pa.Array] = {c: pa.array([f"{c}{i}" for i in range(orders)])
                                    for c in TEXT}
    testata["numero_ordine"] = pa.array(range(orders), pa.int64())
    testata["data_ordine"] = pa.array([dt.date(2025, 1, 1)] * orders)
    for c in ("totale", "totale_iva", "totale_lordo"):
        testata[c] = pa.array([Decimal("12.34")] * orders, money)
    testata["pagato"] = pa.array([True] * orders)
    testata["_line"] = pa.array(range(orders), pa.int64())
    n = 3 * orders
    righe: dict[str, pa.Array] = {c: pa.array([f"{c}{i}" for i in range(n)])
                                  for c in ("codice_articolo", "descrizione", "codice_iva")}
    righe["numero_ordine"] = pa.array([i // 3 for i in range(n)], pa.int64())
    for c in ("quantita", "prezzo_unitario", "aliquota_iva", "importo"):
        righe[c] = pa.array([Decimal("1.50")] * n, money)
    righe["_line"] = pa.array(range(n), pa.int64())
    return {name: pa.table(cols).to_pandas(types_mapper=pd.ArrowDtype)
            for name, cols in (("testata", testata), ("righe", righe))}


def best(make: Callable[[], object], times: int = 3) -> tuple[float, Any]:
    took, got = float("inf"), None
    for _ in range(times):
        start = time.perf_counter()
        got = make()
        took = min(took, time.perf_counter() - start)
    return took, got


def main() -> None:
    from bridge.engine.render import template_rows
    from bridge.templating import render_file

    ap = argparse.ArgumentParser()
    ap.add_argument("--orders", type=int, default=20_000)
    args = ap.parse_args()
    frames = tables(args.orders)
    ways: dict[str, Callable[[], object]] = {
        "to_dict": lambda: {k: df.to_dict("records") for k, df in frames.items()},
        "template_rows": lambda: {k: template_rows(df) for k, df in frames.items()},
    }
    figures = {}
    for name, make in ways.items():
        rows_took, records = best(make)
        render_took, text = best(lambda r=records: render_file(
            TEMPLATE, {"tables": r, "source_name": "x", "now": dt.datetime(2025, 1, 1)},
            "xml"), times=1)
        figures[name] = (rows_took, render_took, hashlib.sha256(text.encode()).hexdigest())
        print(f"{name:>13}: rows {rows_took:.2f} s, render {render_took:.2f} s")
    assert figures["to_dict"][2] == figures["template_rows"][2], "outputs differ"
    rows_ratio = figures["to_dict"][0] / figures["template_rows"][0]
    total = [f[0] + f[1] for f in figures.values()]
    print(f"{4 * args.orders:,} rows: making the rows {rows_ratio:.1f}x faster; rows + render "
          f"{total[0]:.2f} s -> {total[1]:.2f} s ({total[0] / total[1]:.2f}x); same bytes")


if __name__ == "__main__":
    main()
