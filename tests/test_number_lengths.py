"""A number of many digits is read as itself or refused, never as another number.

pyarrow's text-to-decimal cast overflows silently past 127 digits (`9` x 128 is -1, `5`
and 127 zeros is 0), loses a 1 followed by 200 decimal zeros (0.00), and raises on
trailing decimal zeros past its precision (`12,` and 40 zeros) instead of reading 12.
An ERP price of such a text went to the shop as -1.00 or 0.00, or stopped the flow.
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from bridge.codecs import decode
from bridge.spec import parse

LAYOUT = parse("""
format: delimited
encoding: utf-8
delimited: {delimiter: ';'}
records:
  prezzo:
    fields:
      - {name: codice, required: true}
      - {name: prezzo, type: decimal, scale: 2, decimal_separator: ','}
      - {name: qty, type: integer}
""", "prova/numeri.yaml")

V_LAYOUT = parse("""
format: fixed
encoding: ascii
fixed: {record_length: 140}
records:
  prezzo:
    fields:
      - {name: codice, start: 1, length: 2, required: true}
      - {name: prezzo, type: decimal, scale: 2, implied_decimals: true, sign: leading,
         start: 3, length: 138}
""", "prova/numeri-v.yaml")

D = Decimal


def read(cell: str, column: str = "prezzo") -> tuple[list[str], object]:
    text = f"codice;prezzo;qty\nA1;{cell if column == 'prezzo' else ''};" \
           f"{cell if column == 'qty' else ''}\nA2;3,50;7\n"
    got = decode(text.encode(), LAYOUT)
    table = got.tables["prezzo"]
    assert table[column].tolist()[1] == (D("3.50") if column == "prezzo" else 7)
    value = table[column].tolist()[0]
    return [i.code for i in got.issues], (None if pd.isna(value) else value)


@pytest.mark.parametrize(("cell", "codes", "value"), [
    ("9" * 128, ["bad-decimal"], None),
    ("9" * 1000, ["bad-decimal"], None),
    ("5" + "0" * 127, ["bad-decimal"], None),
    ("-" + "9" * 130, ["bad-decimal"], None),
    ("1," + "0" * 200, [], D("1.00")),
    ("12," + "0" * 40, [], D("12.00")),
    ("0" * 200 + "12,5", [], D("12.50")),
    ("-" + "0" * 200 + "12,5", [], D("-12.50")),
    ("0," + "0" * 200 + "1", ["too-many-decimals"], None),
    ("1," + "5" * 130, ["too-many-decimals"], None),
    ("9" * 16 + ",99", [], D("9999999999999999.99")),
    ("9" * 17, ["bad-decimal"], None),
])
def test_a_long_decimal_is_itself_or_refused(cell: str, codes: list[str], value: object
                                             ) -> None:
    assert read(cell) == (codes, value)


@pytest.mark.parametrize(("cell", "codes", "value"), [
    ("9" * 200, ["bad-integer"], None),
    ("0" * 300 + "5", [], 5),
])
def test_a_long_integer_is_itself_or_refused(cell: str, codes: list[str], value: object
                                             ) -> None:
    assert read(cell, "qty") == (codes, value)


@pytest.mark.parametrize(("digits", "codes", "value"), [
    ("9" * 138, ["bad-decimal"], None),
    ("0" * 130 + "12345678", [], D("123456.78")),
    ("-" + "0" * 129 + "12345678", [], D("-123456.78")),
])
def test_a_long_implied_decimal_is_itself_or_refused(digits: str, codes: list[str],
                                                     value: object) -> None:
    got = decode(f"A1{digits:>138}\n".encode(), V_LAYOUT)
    [read_value] = got.tables["prezzo"]["prezzo"].tolist()
    assert ([i.code for i in got.issues], None if pd.isna(read_value) else read_value) == (
        codes, value)


@pytest.mark.parametrize("text", ["9" * 128, "-" + "9" * 130, "1." + "0" * 200,
                                  "1" + "0" * 60 + "E-60", "5" + "0" * 127])
def test_a_long_text_written_as_a_decimal_is_refused_not_another_number(text: str) -> None:
    """A text column written in a decimal field (a source column read as text, a step's
    result too large for a decimal) went through the same cast: 9 x 128 was written
    -1,00, a 1 and 200 decimal zeros 0,00. Such a text is a bad-decimal on its row; a
    short one is written as it says."""
    import pyarrow as pa

    from bridge.codecs import encode_rows

    layout = parse("""
format: delimited
encoding: utf-8
delimited: {delimiter: ';'}
records:
  prezzo:
    fields:
      - {name: codice, required: true}
      - {name: prezzo, type: decimal, scale: 2, decimal_separator: ','}
""", "prova/scrivi.yaml")
    rows = pd.DataFrame({"codice": ["A1", "A2"], "_line": [2, 3],
                         "prezzo": pd.Series(pa.array([text, "12.5"], pa.string()),
                                             dtype=pd.ArrowDtype(pa.string()))})
    out = encode_rows({"prezzo": rows}, layout)
    assert [(i.code, i.line) for i in out.issues] == [("bad-decimal", 2)]
    fine = encode_rows({"prezzo": rows.iloc[1:]}, layout)
    assert fine.issues == [] and fine.data == b"codice;prezzo\r\nA2;12,50\r\n"
