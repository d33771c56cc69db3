"""The benchmark's order generator: exact shape, sums that add up, seeded quirks and faults."""

from __future__ import annotations

import csv
import importlib.util
import re
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


gen = _load("gen_orders")
STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}")
MONEY = re.compile(r"\d+\.\d\d")


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    out = tmp_path_factory.mktemp("gen") / "orders.csv"
    assert gen.main(["--rows", "20000", "--seed", "3", str(out)]) == 0
    with out.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == gen.COLUMNS
        return list(reader)


def _orders(rows: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    orders: list[list[dict[str, str]]] = []
    for row in rows:
        if not orders or orders[-1][0]["Name"] != row["Name"]:
            orders.append([])
        orders[-1].append(row)
    return orders


def test_exact_row_count_and_columns(rows: list[dict[str, str]]) -> None:
    assert len(rows) == 20000
    assert all(len(r) == len(gen.COLUMNS) and None not in r for r in rows)


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    def make(seed: int) -> bytes:
        path = tmp_path / f"{seed}.csv"
        with path.open("wb") as fh:
            gen.generate(fh, 3000, seed)
        return path.read_bytes()

    assert make(5) == make(5)
    assert make(5) != make(6)


def test_order_fields_only_on_first_row(rows: list[dict[str, str]]) -> None:
    orders = _orders(rows)
    assert len({o[0]["Name"] for o in orders}) == len(orders)  # names never repeat apart
    order_cols = [c for c in gen.COLUMNS if c not in gen.LINE_COLUMNS]
    for order in orders:
        assert order[0]["Email"] and order[0]["Currency"] == "EUR"
        for later in order[1:]:
            assert all(later[c] == "" for c in order_cols)
            assert later["Lineitem name"] and later["Lineitem sku"]


def test_money_adds_up(rows: list[dict[str, str]]) -> None:
    checked = 0
    for order in _orders(rows):
        head = order[0]
        qty = [r["Lineitem quantity"] for r in order]
        price = [r["Lineitem price"] for r in order]
        if not all(q.isdigit() for q in qty) or not all(MONEY.fullmatch(p) for p in price):
            continue  # a seeded fault
        lines = sum(Decimal(p) * int(q) for p, q in zip(price, qty, strict=True))
        assert Decimal(head["Subtotal"]) == lines
        total = (Decimal(head["Subtotal"]) - Decimal(head["Discount Amount"])
                 + Decimal(head["Shipping"]))
        assert Decimal(head["Total"]) == total
        assert Decimal(0) <= Decimal(head["Taxes"]) < Decimal(head["Total"]) or total == 0
        checked += 1
    assert checked > 10000


def test_italian_quirks(rows: list[dict[str, str]]) -> None:
    heads = [o[0] for o in _orders(rows)]
    zips = {h["Billing Zip"] for h in heads}
    assert "00184" in zips and all(re.fullmatch(r"\d{5}", z) for z in zips)
    assert all(STAMP.fullmatch(h["Created at"]) for h in heads
               if not h["Created at"].startswith("31/02"))
    assert {h["Created at"][-5:] for h in heads} >= {"+0100", "+0200"}
    notes = {h["Notes"] for h in heads}
    assert any("\n" in n for n in notes)
    assert any('"' in n for n in notes) and any("," in n for n in notes)
    assert any("'" in h["Billing Name"] for h in heads)
    assert any("ò" in h["Billing Name"] for h in heads)


def test_seeded_faults_are_rare_but_present(rows: list[dict[str, str]]) -> None:
    bad_price = sum(r["Lineitem price"] == "12,5x" for r in rows)
    no_qty = sum(r["Lineitem quantity"] == "" for r in rows)
    bad_date = sum(r["Created at"].startswith("31/02") for r in rows)
    total = bad_price + no_qty + bad_date
    assert bad_price and no_qty and bad_date
    assert 5 <= total <= 60  # about 0.1% of 20,000


def test_money_formatting() -> None:
    import numpy as np

    cents = np.array([0, 5, 99, 100, 123456], dtype=np.int64)
    assert gen.money(cents).to_pylist() == ["0.00", "0.05", "0.99", "1.00", "1234.56"]
