"""File checks across rows: keys, linkage, order, control totals, trailer and row counts."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

from bridge.codecs import EncodeError, decode, encode, iter_decode
from bridge.spec import parse

LAYOUT = """
format: fixed
encoding: cp1252
newline: crlf
fixed: {record_length: 24}
discriminator: {start: 1, length: 1}
records:
  testata:
    when: T
    min_children: 1
    fields:
      - {name: tipo, start: 1, length: 1, type: constant, value: T}
      - {name: numero, start: 2, length: 6, type: integer, sign: none, required: true}
      - {name: totale, start: 8, length: 9, type: decimal, scale: 2, implied_decimals: true,
         sign: trailing_separate}
  righe:
    when: R
    parent: testata
    fields:
      - {name: tipo, start: 1, length: 1, type: constant, value: R}
      - {name: articolo, start: 2, length: 6}
      - {name: importo, start: 8, length: 9, type: decimal, scale: 2, implied_decimals: true,
         sign: overpunch}
  coda:
    when: Z
    occurs: last
    fields:
      - {name: tipo, start: 1, length: 1, type: constant, value: Z}
      - {name: righe, start: 2, length: 6, type: integer, sign: none}
checks:
  unique: [{record: testata, fields: [numero]}]
  control_totals: [{parent: testata, field: totale, child: righe, sum: importo}]
  trailer_count: {record: coda, field: righe}
  rows: [{record: righe, max: 500}]
"""
T = parse(LAYOUT, "tracciati/test/ordini.yaml")


def lines(*records: str) -> bytes:
    return "".join(r.ljust(24) + "\r\n" for r in records).encode("cp1252")


GOOD = lines(
    "T00000100001500+",
    "RART1  00000100{",
    "RART2  00000050{",
    "T00000200000250-",
    "RART3  00000025}",
    "Z000006",
)


def codes(data: bytes) -> list[tuple[str, int | None]]:
    return [(i.code, i.line) for i in decode(data, T).issues]


def test_a_good_file_decodes_clean_and_linked() -> None:
    result = decode(GOOD, T)
    assert result.issues == []
    testata, righe = result.tables["testata"], result.tables["righe"]
    assert testata["totale"].tolist() == [Decimal("15.00"), Decimal("-2.50")]
    assert righe["importo"].tolist() == [Decimal("10.00"), Decimal("5.00"), Decimal("-2.50")]
    assert righe["_parent_line"].tolist() == [1, 1, 4]
    assert result.tables["coda"]["righe"].tolist() == [6]


def test_round_trip_is_byte_exact() -> None:
    assert encode(decode(GOOD, T).tables, T) == GOOD


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (GOOD.replace(b"T000002", b"T000001"), [("duplicate-key", 4)]),
        (GOOD.replace(b"00000250-", b"00000350-"), [("control-total-mismatch", 4)]),
        (GOOD.replace(b"Z000006", b"Z000007"), [("trailer-count-mismatch", 6)]),
        (lines("RART0  00000100{") + GOOD.replace(b"Z000006", b"Z000007"),
         [("orphan-riga", 1)]),
        (GOOD.replace(b"RART3  00000025}", b"Z000006         "),
         [("missing-record", 4), ("control-total-mismatch", 4), ("too-many-records", None)]),
        (GOOD + lines("RART9  00000000{"), [("bad-order", 7), ("trailer-count-mismatch", 6)]),
        (lines("T00000100001500+", "RART1  00000100{", "Z000003"), [("control-total-mismatch", 1)]),
        (GOOD.replace(b"Z000006", b"X000006"), [("unknown-record", 6), ("missing-record", None)]),
    ],
)
def test_file_checks_report_code_and_line(data: bytes, expected: list[tuple[str, int | None]]
                                          ) -> None:
    assert sorted(codes(data), key=str) == sorted(expected, key=str)


def test_row_count_limits() -> None:
    many = lines("T00000100501000+", *["RART1  00000100{"] * 501, "Z000503")
    assert codes(many) == [("too-many-rows", None)]


def test_chunked_decoding_keeps_state_across_chunks() -> None:
    body = []
    for n in range(1, 201):
        body += [f"T{n:06d}00003000+", "RART1  00000100{", "RART2  00000200{"]
    data = lines(*body, "Z000601")
    parts = list(iter_decode(data, T, chunk_bytes=1000))
    assert len(parts) > 5
    assert sum(len(p.tables["testata"]) for p in parts) == 200
    assert all(not p.issues for p in parts)
    dup = data.replace(b"T000150", b"T000003")
    issues = [i for p in iter_decode(dup, T, chunk_bytes=1000) for i in p.issues]
    assert [(i.code, i.line) for i in issues] == [("duplicate-key", 448)]


def test_money_is_exact_on_output() -> None:
    a = pa.array([Decimal("0.10")], pa.decimal128(18, 2))
    b = pa.array([Decimal("0.20")], pa.decimal128(18, 2))
    total = pa.compute.add(a, b).cast(pa.decimal128(18, 2))
    tables = {
        "testata": pd.DataFrame({"numero": pd.array([7], dtype="int64"),
                                 "totale": pd.Series(total, dtype=pd.ArrowDtype(total.type)),
                                 "_line": [1]}),
        "righe": pd.DataFrame({"articolo": ["A", "B"],
                               "importo": pd.Series(pa.concat_arrays([a, b]),
                                                    dtype=pd.ArrowDtype(a.type)),
                               "_parent_line": [1, 1]}),
        "coda": pd.DataFrame({"righe": [4]}),
    }
    out = encode(tables, T)
    assert out == lines("T00000700000030+", "RA     00000001{", "RB     00000002{", "Z000004")
    assert decode(out, T).issues == []


def test_encode_refuses_what_does_not_fit() -> None:
    tables = {"testata": pd.DataFrame({"numero": [12345678], "totale": [Decimal("1")]}),
              "coda": pd.DataFrame({"righe": [1]})}
    with pytest.raises(EncodeError) as err:
        encode(tables, T)
    assert [i.code for i in err.value.issues] == ["too-long"]


def test_encode_names_a_column_that_cannot_be_converted() -> None:
    tables = {"testata": pd.DataFrame({"numero": [1], "totale": ["dodici"]}),
              "coda": pd.DataFrame({"righe": [1]})}
    with pytest.raises(EncodeError) as err:
        encode(tables, T)
    [issue] = err.value.issues
    assert (issue.code, issue.record, issue.field) == ("bad-decimal", "testata", "totale")
