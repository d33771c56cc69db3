"""The ``spread`` step against the rule written out row by row with Decimal.

The step works on whole columns of unscaled integers; this oracle walks the rows one by one
as the rule reads (docs/steps.md, ``spread``), so that any order, sign, tie, zero, null or
scale the vectorised step gets wrong shows as a difference.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from typing import Any

import pyarrow as pa
import pytest

from bridge.steps.apply import apply_steps
from bridge.steps.context import StepContext
from bridge.steps.spec import Spread

SCHEMA = pa.schema([("_parent_line", pa.int64()), ("codice", pa.string()),
                    ("lordo", pa.decimal128(12, 2)), ("prezzo", pa.decimal128(14, 4)),
                    ("pezzi", pa.int64()), ("aliquota", pa.int64()),
                    ("codice_iva", pa.string()), ("n", pa.int64())])


def oracle(rows: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    with localcontext() as exact:
        exact.prec = 120  # every digit of a product of two 38-digit amounts
        return _oracle(rows, mode)


def _oracle(rows: list[dict[str, Any]], mode: str) -> list[dict[str, Any]]:
    parts: dict[int, dict[Any, list[Any]]] = {}  # parent -> rate -> [weight, first row]
    for r in rows:
        if r["codice"] != "X" and r["lordo"] is not None and r["aliquota"] is not None:
            got = parts.setdefault(r["_parent_line"], {}).setdefault(
                r["aliquota"], [Decimal(0), r])
            got[0] += r["lordo"]
    out: list[dict[str, Any]] = []
    renumber = False
    for r in rows:
        mine = parts.get(r["_parent_line"]) if r["codice"] == "X" else None
        if not mine:
            out.append(r)
            continue
        largest = max(mine, key=lambda v: mine[v][0])
        if len(mine) == 1 or mode == "largest":
            out.append({**r, "aliquota": largest, "codice_iva": mine[largest][1]["codice_iva"]})
            continue
        renumber = True
        whole = r["lordo"]
        if whole is None:
            out.append(r)
            continue
        total = sum((w for w, _ in mine.values()), Decimal(0))
        if total == 0:
            shares = {v: (whole if v == largest else Decimal(0)) for v in mine}
        else:
            shares = {v: (whole * w / total).quantize(Decimal("0.01"), ROUND_HALF_UP)
                      for v, (w, _) in mine.items()}
            shares[largest] += whole - sum(shares.values(), Decimal(0))
        for v, (_, first) in mine.items():
            if shares[v] == 0 and v != largest:
                continue
            new = {**r, "aliquota": v, "codice_iva": first["codice_iva"], "lordo": shares[v]}
            for f, unit in (("prezzo", Decimal("0.0001")), ("pezzi", Decimal(1))):
                if r[f] is not None and whole != 0:
                    new[f] = (Decimal(r[f]) * shares[v] / whole).quantize(unit, ROUND_HALF_UP)
                    new[f] = int(new[f]) if f == "pezzi" else new[f]
            out.append(new)
    if renumber:
        seen: dict[int, int] = {}
        for r in out:
            seen[r["_parent_line"]] = seen.get(r["_parent_line"], 0) + 1
            r["n"] = seen[r["_parent_line"]]
    return out


def exact(units: int, places: int) -> Decimal:
    """The decimal of ``units`` at ``places`` decimals, every digit kept (38 at most)."""
    return Decimal(units).scaleb(-places, Context(prec=100))


def generated(seed: int, big: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for parent in rng.sample(range(1, 10_000), 40):
        for _ in range(rng.randint(0, 6)):
            code = rng.choice("ABCDX")
            lordo = rng.choice([None, Decimal(0),
                                exact(rng.randint(-5000, 90000) * big + rng.randint(0, 99), 2),
                                Decimal(rng.choice([1, 2, 3, 7])) / 100])
            rows.append({
                "_parent_line": parent, "codice": code, "lordo": lordo,
                "prezzo": rng.choice([None, exact(rng.randint(-99999, 999999) * big
                                                  + rng.randint(0, 9999), 4)]),
                "pezzi": rng.choice([None, rng.randint(-3, 40)]),
                "aliquota": rng.choice([None, 4, 10, 22, 22]),
                "codice_iva": rng.choice(["N4", "IVA", "E"]), "n": 0})
    # weights that cancel out: one order whose rates sum to zero
    rows += [{"_parent_line": 0, "codice": c, "lordo": Decimal(v), "prezzo": None,
              "pezzi": None, "aliquota": a, "codice_iva": "Z", "n": 0}
             for c, v, a in (("A", "5.00", 4), ("B", "-5.00", 22), ("X", "1.00", 10))]
    return rows


#: Amounts past 64 bits (up to 9e35: 38 digits with the cents), in columns wide enough.
WIDE = pa.schema([pa.field(f.name, pa.decimal128(38, f.type.scale))
                  if pa.types.is_decimal(f.type) else f for f in SCHEMA])


@pytest.mark.parametrize("mode", ["proportional", "largest"])
@pytest.mark.parametrize(("seed", "big"), [*((s, 1) for s in range(12)),
                                           (12, 10**19), (13, 10**21), (14, 10**22),
                                           (15, 10**31)])
def test_the_step_follows_the_rule_row_by_row(seed: int, big: int, mode: str) -> None:
    """Every order spread as the rule says; with ``big``, amounts whose unscaled integers
    or their products pass 64 bits: worked on as Python integers, never a stopped flow."""
    import pandas as pd

    rows = generated(seed, big)
    step = Spread.model_validate({"spread": {
        "table": "righe", "rows": "codice == 'X'", "amount": "lordo",
        "same": ["prezzo", "pezzi"], "weight": "lordo", "by": "aliquota",
        "take": ["codice_iva"], "number": "n", "mode": mode}})
    table = pa.Table.from_pylist(rows, schema=SCHEMA if big == 1 else WIDE)
    out = apply_steps([step], {"righe": table.to_pandas(types_mapper=pd.ArrowDtype)},
                      StepContext())
    got = pa.Table.from_pandas(out.tables["righe"], preserve_index=False).to_pylist()
    want = oracle(rows, mode)
    assert any(r["codice"] == "X" and r["_parent_line"] for r in rows)
    assert got == want


def test_products_past_64_bits_are_exact() -> None:
    """Amounts whose products pass 2**63 take Python integers, not a wrapped int64."""
    import pandas as pd

    big = Decimal("9000000000.00")  # 9e11 cents: amount x weight is 8.1e23
    rows = [{"_parent_line": 1, "codice": c, "lordo": v, "prezzo": None, "pezzi": None,
             "aliquota": a, "codice_iva": "", "n": 0}
            for c, v, a in (("A", big, 4), ("B", big * 2, 22), ("X", big, 10))]
    step = Spread.model_validate({"spread": {
        "table": "righe", "rows": "codice == 'X'", "amount": "lordo", "weight": "lordo",
        "by": "aliquota"}})
    wide = SCHEMA.set(SCHEMA.get_field_index("lordo"), pa.field("lordo", pa.decimal128(20, 2)))
    table = pa.Table.from_pylist(rows, schema=wide)
    out = apply_steps([step], {"righe": table.to_pandas(types_mapper=pd.ArrowDtype)},
                      StepContext())
    got = pa.Table.from_pandas(out.tables["righe"], preserve_index=False).to_pylist()
    assert [(r["aliquota"], r["lordo"]) for r in got] == [
        (4, big), (22, big * 2), (4, Decimal("3000000000.00")), (22, Decimal("6000000000.00"))]
