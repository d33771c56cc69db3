"""The commission and sales reports show codes that came from the files (an agent's code,
a VAT rate): the CSV is opened in a spreadsheet and the table printed on a terminal, so
neither may run what a sender put in them."""

from __future__ import annotations

import csv
import io

from bridge import sales

COLUMNS = ["agent", "orders", "base", "rate", "commission", "reversals", "net"]
EVIL = '=HYPERLINK("http://example.com","A01")\x1b[2J\x1b]0;t\x07'
ROWS = [[EVIL, "2", "100.00", "5.00", "5.00", "-1.25", "3.75"],
        ["@SUM(A1)", "1", "10.00", "5.00", "0.50", "0", "0.50"]]


def test_the_csv_defuses_every_formula_and_escapes_control_characters() -> None:
    rows = list(csv.reader(io.StringIO(sales.as_csv(COLUMNS, ROWS))))
    assert rows[0] == COLUMNS
    assert rows[1][0] == "'=HYPERLINK(\"http://example.com\",\"A01\")\\x1b[2J\\x1b]0;t\\x07"
    assert rows[2][0] == "'@SUM(A1)"
    # the numbers stay numbers, a negative one too
    assert rows[1][1:] == ROWS[0][1:] and rows[2][1:] == ROWS[1][1:]


def test_the_table_shows_control_characters_as_escapes() -> None:
    text = sales.as_text(COLUMNS, ROWS)
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b[2J\\x1b]0;t\\x07" in text


def test_the_html_shows_what_steers_a_display_as_escapes() -> None:
    page = sales.as_html("Commissions", "all", COLUMNS, ROWS, total=False)
    assert "\x1b" not in page and "\x07" not in page
    assert "\\x1b[2J\\x1b]0;t\\x07" in page
    rtl = sales.as_html("Sales", "all", ["agent"], [["A\u202e10"]])
    assert "\u202e" not in rtl and "A\\u202e10" in rtl
