"""Typed decoding of real public files, with tracciati written here.

The files (frictionless-py data, the W3C CSVW test suite) live outside the repository, in
``../shared/realdata``; the tests skip when it is absent. Where a file comes with the
values its authors expect (the CSVW ``testNNN.json``), we compare with those.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from bridge.codecs import decode
from bridge.spec import parse

REALDATA = Path(__file__).resolve().parents[2] / "shared" / "realdata"
FRICTIONLESS = REALDATA / "frictionless-py"
CSVW = REALDATA / "w3c-csvw"

pytestmark = pytest.mark.skipif(not REALDATA.is_dir(), reason="shared real data not present")


def values(df: pd.DataFrame, field: str) -> list[object]:
    return [None if pd.isna(v) else v for v in df[field].tolist()]


def expected_rows(test: str) -> list[dict[str, Any]]:
    """The rows a CSVW test expects, as the JSON of its ToJson result gives them."""
    data = json.loads((CSVW / f"{test}.json").read_text(encoding="utf-8"))
    return [row["describes"][0] for row in data["tables"][0]["row"]]


# --- frictionless-py ------------------------------------------------------------------

ACCENTS = """
format: delimited
encoding: cp1252
newline: crlf
delimited: {delimiter: ";"}
records:
  riga:
    fields:
      - {name: classement, column: Classement, required: true}
      - {name: quartier, column: Quartier, required: true}
      - {name: data, column: Date, type: date, format: '%d-%m-%y'}
      - {name: anno, column: Année, type: integer}
      - {name: occupazione, column: Occupancy rate, type: decimal, scale: 9,
         decimal_separator: ','}
      - {name: prezzo_medio, column: Average Price, type: decimal, scale: 8,
         decimal_separator: ','}
      - {name: revpar, column: RevPAR, type: decimal, scale: 8, decimal_separator: ','}
      - {name: fonte, column: Source}
"""


def test_table_with_accents_cp1252_semicolon_decimal_comma() -> None:
    raw = (FRICTIONLESS / "table-with-accents.csv").read_bytes()
    out = decode(raw, parse(ACCENTS, "realdata/accents.yaml"))
    assert out.issues == []
    df = out.tables["riga"]
    # An independent reading with the csv module, to compare every value.
    rows = list(csv.reader(io.StringIO(raw.decode("cp1252"), newline=""), delimiter=";"))[1:]
    assert len(df) == len(rows) == 638
    assert values(df, "classement")[:3] == ["3 stars", "4 stars", "5 stars"]
    assert "Quartier Européen" in values(df, "quartier")
    assert values(df, "data")[0] == dt.date(2013, 1, 1)
    assert values(df, "data")[-1] == dt.date(2017, 10, 1)
    assert values(df, "anno") == [int(r[3]) for r in rows]
    for i, field in ((4, "occupazione"), (5, "prezzo_medio"), (6, "revpar")):
        assert values(df, field) == [Decimal(r[i].replace(",", ".")) for r in rows]
    assert values(df, "occupazione")[0] == Decimal("0.611553068")
    assert str(df["occupazione"].dtype) == "decimal128(18, 9)[pyarrow]"
    # Exact sums: decimals are never floats.
    assert sum(values(df, "revpar"), Decimal(0)) == sum(
        (Decimal(r[6].replace(",", ".")) for r in rows), Decimal(0))


def test_leading_zeros_kept_as_text_and_read_as_integers() -> None:
    raw = (FRICTIONLESS / "leading-zeros.csv").read_bytes()
    as_text = parse("format: delimited\nrecords: {r: {fields: [{name: value}]}}")
    out = decode(raw, as_text)
    assert out.issues == []
    assert values(out.tables["r"], "value") == ["01", "002", "00003"]
    as_int = parse("format: delimited\nrecords: {r: {fields: [{name: value, type: integer}]}}")
    assert values(decode(raw, as_int).tables["r"], "value") == [1, 2, 3]


def test_semicolon_file_keeps_the_leading_zero() -> None:
    t = parse("""
format: delimited
newline: lf
delimited: {delimiter: ";"}
records:
  r:
    fields:
      - {name: a, column: fieldNameA}
      - {name: b, column: fieldNameB}
""")
    out = decode((FRICTIONLESS / "issue-1009-semicolon.csv").read_bytes(), t)
    assert out.issues == []
    assert values(out.tables["r"], "a") == ["0123"]
    assert values(out.tables["r"], "b") == ["c"]


def test_latin1_file() -> None:
    t = parse("""
format: delimited
encoding: latin-1
records:
  r:
    fields:
      - {name: id, type: integer}
      - {name: name}
""")
    out = decode((FRICTIONLESS / "latin1.csv").read_bytes(), t)
    assert out.issues == []
    assert values(out.tables["r"], "name") == ["english", "©"]
    assert values(out.tables["r"], "id") == [1, 2]


def test_latin1_file_read_as_utf8_is_a_bad_encoding_issue() -> None:
    t = parse("format: delimited\nrecords: {r: {fields: [{name: id}, {name: name}]}}")
    out = decode((FRICTIONLESS / "latin1.csv").read_bytes(), t)
    assert [(i.code, i.line) for i in out.issues] == [("bad-encoding", 3)]


# --- W3C CSVW -------------------------------------------------------------------------


def test_csvw_158_decimal_comma_with_group_char() -> None:
    t = parse("""
format: delimited
newline: lf
records:
  r:
    fields:
      - {name: integer, type: integer}
      - {name: decimal, type: decimal, scale: 3}
      - {name: decimal1, type: decimal, scale: 3, decimal_separator: ',',
         thousands_separator: '.'}
""")
    out = decode((CSVW / "test158.csv").read_bytes(), t)
    assert out.issues == []
    df = out.tables["r"]
    want = expected_rows("test158")
    assert values(df, "decimal1") == [Decimal("10000.1"), Decimal("1.1")]
    for field in ("integer", "decimal", "decimal1"):
        assert values(df, field) == [Decimal(str(w[field])) for w in want]


def test_csvw_168_decimal_with_group_char() -> None:
    t = parse("""
format: delimited
newline: lf
records:
  r:
    fields:
      - {name: decimal, type: decimal, scale: 3, thousands_separator: ','}
""")
    out = decode((CSVW / "test168.csv").read_bytes(), t)
    assert out.issues == []
    want = expected_rows("test168")
    assert values(out.tables["r"], "decimal") == [Decimal(str(w["decimal"])) for w in want]
    assert values(out.tables["r"], "decimal") == [Decimal("123456.789")]


#: CSVW (UAX35) date patterns of test188 and their strftime equivalents.
DATE_FORMATS = {
    "yyyy-MM-dd": "%Y-%m-%d",
    "yyyyMMdd": "%Y%m%d",
    "dd-MM-yyyy": "%d-%m-%Y",
    "MM-dd-yyyy": "%m-%d-%Y",
    "dd/MM/yyyy": "%d/%m/%Y",
    "MM/dd/yyyy": "%m/%d/%Y",
    "dd.MM.yyyy": "%d.%m.%Y",
    "MM.dd.yyyy": "%m.%d.%Y",
}


def test_csvw_188_date_formats() -> None:
    fields = "\n".join(
        f"      - {{name: f{i}, column: '{title}', type: date, format: '{fmt}'}}"
        for i, (title, fmt) in enumerate(DATE_FORMATS.items())
    )
    t = parse(f"format: delimited\nnewline: lf\nrecords:\n  r:\n    fields:\n{fields}\n")
    out = decode((CSVW / "test188.csv").read_bytes(), t)
    assert out.issues == []
    want = expected_rows("test188")[0]
    for i, title in enumerate(DATE_FORMATS):
        got = values(out.tables["r"], f"f{i}")
        assert got == [dt.date.fromisoformat(want[title])], title


TREE_FIELDS = """
      - {name: GID, type: integer}
      - {name: on_street}
      - {name: species}
      - {name: trim_cycle}
      - {name: inventory_date}
"""


def _tree(dialect: str) -> Any:
    return parse(f"format: delimited\nnewline: lf\ndelimited: {dialect}\n"
                 f"records:\n  r:\n    fields:{TREE_FIELDS}")


def test_csvw_025_skip_rows_without_header() -> None:
    t = _tree("{skip_rows: 1, header_rows: 0, match_columns: position}")
    out = decode((CSVW / "tree-ops.csv").read_bytes(), t)
    assert out.issues == []
    df = out.tables["r"]
    want = expected_rows("test025")
    assert values(df, "GID") == [int(w["GID"]) for w in want]
    assert values(df, "on_street") == [w["on_street"] for w in want]
    assert values(df, "inventory_date") == [w["inventory_date"] for w in want]
    # Lines count in the file, the skipped row included: the CSVW "#row=2".
    assert df["_line"].tolist() == [2, 3]


def test_csvw_024_header_row_matched_by_position() -> None:
    t = _tree("{header_rows: 1, match_columns: position}")
    out = decode((CSVW / "tree-ops.csv").read_bytes(), t)
    assert out.issues == []
    want = expected_rows("test024")
    assert values(out.tables["r"], "species") == [w["Species"] for w in want]


def test_two_header_rows() -> None:
    t = _tree("{header_rows: 2, header_names_row: 1, match_columns: position}")
    out = decode((CSVW / "tree-ops.csv").read_bytes(), t)
    assert out.issues == []
    df = out.tables["r"]
    # The second row is a header now: only the last tree is data, on line 3.
    assert df["_line"].tolist() == [3]
    assert values(df, "on_street") == [expected_rows("test024")[1]["On Street"]]


MANIFEST_COLUMNS = ["test", "name", "comment", "approval", "rdf", "json", "validate",
                    "action-metadata", "user-metadata", "link-metadata", "extra"]


def test_cr_only_line_ends() -> None:
    fields = "\n".join(f"      - {{name: f{i}, column: {c}, trim: none}}"
                       for i, c in enumerate(MANIFEST_COLUMNS))
    t = parse(f"format: delimited\nnewline: cr\nrecords:\n  r:\n    fields:\n{fields}\n")
    raw = (CSVW / "manifest.csv").read_bytes()
    assert b"\n" not in raw
    out = decode(raw, t)
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))[1:]
    df = out.tables["r"]
    assert len(rows) == 301
    # The suite's own manifest has rows of 8 cells among rows of 11: each is reported on
    # its line and left out of the table, which keeps the others.
    short = [n for n, r in enumerate(rows, start=2) if len(r) != len(MANIFEST_COLUMNS)]
    assert len(short) == 93
    assert sorted((i.code, i.line) for i in out.issues) == [
        ("wrong-column-count", n) for n in short]
    full = [r for r in rows if len(r) == len(MANIFEST_COLUMNS)]
    assert df["_line"].tolist() == [n for n in range(2, 303) if n not in short]
    for i, c in enumerate(MANIFEST_COLUMNS):
        assert values(df, f"f{i}") == [r[i] or None for r in full], c
    assert values(df, "f0")[0] == "test001"
