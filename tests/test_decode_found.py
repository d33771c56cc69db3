"""What the decode fuzz (tests/test_fuzz_decode.py) and reports found, one minimal input
each: every one decodes without raising, and in chunks of any size as it does whole."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.spec import load
from bridge.spec.model import Tracciato
from tests.test_fuzz_decode import SAMPLES, codes, decoded, lines, orders

ORDINI = lines(SAMPLES.joinpath("gestionale", "ordini.txt").read_bytes())
T1, R1, R2, R3 = ORDINI[:4]  # order 1001 and its three righe (total 54.80)
CODA = ORDINI[-1]
CLIENTI = b"CODICE;RAGIONE_SOCIALE;EMAIL;PARTITA_IVA;CODICE_FISCALE;AGENTE;PROVVIGIONE;" \
          b"SEDE;PAGAMENTO\r\n"
CLIENTE = b"C00101;Edilizia Moretti S.r.l.;acquisti@ediliziamoretti.it;01234567897;" \
          b"01234567897;A01;5,00;;BB30\r\n"
GIACENZE = b"SKU,In stock?,Stock\n"


def test_righe_without_a_testata_are_orphans_not_an_index_error() -> None:
    out = decoded(R1 + R2, load("gestionale/ordini"))
    assert [(c, ln) for c, ln in codes(out) if c == "orphan-riga"] == [("orphan-riga", 1),
                                                                      ("orphan-riga", 2)]
    assert out.tables["righe"]["_parent_line"].tolist() == [-1, -1]


@pytest.mark.parametrize(("count", "code"), [(b"       ", "missing-required"),
                                             (b"ABCDEFG", "bad-integer")])
def test_a_blank_or_garbled_trailer_count_is_a_cell_issue(count: bytes, code: str) -> None:
    coda = CODA[:1] + count + CODA[8:]
    out = decoded(T1 + R1 + R2 + R3 + coda, load("gestionale/ordini"))
    assert codes(out) == [(code, 5)]


def with_rule(**change: object) -> Tracciato:
    """gestionale/ordini with its control total changed, past the loader that refuses it."""
    t = load("gestionale/ordini")
    [rule] = t.checks.control_totals
    return t.model_copy(update={"checks": t.checks.model_copy(update={
        "control_totals": [rule.model_copy(update=change)]})})


def test_a_control_total_on_records_that_are_not_its_children_never_crashes() -> None:
    # The coda comes after the testata it would total (see test_spec for the loader).
    bad = with_rule(parent="coda", field="numero_record", child="testata", sum="totale")
    out = decoded(T1 + R1 + R2 + R3 + CODA[:1] + b"0000005" + CODA[8:], bad)
    assert out.issues == []


def test_a_control_total_tolerance_of_many_digits_never_crashes() -> None:
    # 25.80 where 54.80 is due, within a tolerance of 10**20 (21 digits: ArrowInvalid).
    out = decoded(T1 + R1 + CODA[:1] + b"0000003" + CODA[8:], with_rule(
        tolerance=Decimal("1E+20")))
    assert out.issues == []


def test_a_control_total_of_integers() -> None:
    # Sums of integers have no scale: the check used to raise AttributeError.
    data = b"T;1;15\r\nR;A;10\r\nR;B;4\r\nT;2;3\r\nR;C;3\r\nZ;6\r\n"
    assert codes(decoded(data, orders("integer"))) == [("control-total-mismatch", 1)]


def test_a_row_of_delimiters_is_a_row_an_empty_line_is_none() -> None:
    t = load("gestionale/clienti")
    out = decoded(CLIENTI + b";;;;;;;;\r\n\r\n;;;;;;;;", t)
    assert out.tables["cliente"]["_line"].tolist() == [2, 4]
    assert codes(out) == [("missing-required", 2)] * 2 + [("missing-required", 4)] * 2
    assert codes(decoded(CLIENTI + b"\r\n\r\n", t)) == [("no-data", None)]


@pytest.mark.parametrize("header", [True, False])
def test_six_megabytes_of_empty_lines_then_a_row(header: bool) -> None:
    # Without a header the first row gives the number of columns; with one, the header
    # comes after the empty lines. Either was found in the first block or not at all.
    t = load("gestionale/clienti")
    if not header:
        t = t.model_copy(update={"delimited": t.dialect.model_copy(update={
            "header_rows": 0, "match_columns": "position"})})
    data = b"\r\n" * (3 << 20) + (CLIENTI if header else b"") + CLIENTE
    out = decoded(data, t, sizes=(1 << 20, 5 << 20))
    assert out.issues == []
    assert out.tables["cliente"]["_line"].tolist() == [(3 << 20) + 1 + header]


def test_empty_lines_before_the_header() -> None:
    out = decoded(b"\r\n\r\n" + CLIENTI + CLIENTE, load("gestionale/clienti"))
    assert out.issues == []
    assert out.tables["cliente"]["_line"].tolist() == [4]


def test_nul_bytes_are_reported_once_whatever_the_chunks() -> None:
    out = decoded(GIACENZE + b"A\x00,1,2\nB,1,2\nC\x00,1,2\n", load("woocommerce/giacenze"))
    [nul] = [i for i in out.issues if i.code == "nul-byte"]
    assert nul.line == 2


def test_bytes_after_a_bad_header_are_still_checked() -> None:
    out = decoded(b"ID;NOME\r\n1;x\r\n2;\x90\r\n", load("gestionale/nuovi-clienti"))
    assert ("bad-encoding", 3) in codes(out)
    assert all(len(df) == 0 for df in out.tables.values())


#: With an escape character, chunks are read by the csv module, the whole by pyarrow.
ESCAPED = Tracciato(format="delimited", delimited={"escape_char": "\\"},
                    records={"r": {"fields": [{"name": "a"}, {"name": "b"}]}})


def test_both_readers_word_a_wrong_cell_count_alike() -> None:
    out = decoded(b"a,b\n1,2,3\n4,5\n", ESCAPED)
    [issue] = out.issues
    assert (issue.code, issue.line, issue.record, issue.value) == (
        "wrong-column-count", 2, "r", "1,2,3")


def test_a_block_that_starts_with_a_byte_order_mark_keeps_it() -> None:
    out = decoded(GIACENZE + b"A,1,2\n\xef\xbb\xbfB,1,2\n", load("woocommerce/giacenze"))
    assert out.tables["prodotto"]["sku"].tolist() == ["A", "\ufeffB"]
    assert codes(out) == [("bom-in-middle", 3)]


def test_a_riga_after_the_coda_still_counts_for_its_testata() -> None:
    # A chunk may not end before the coda: the riga after it belongs to order 1001.
    out = decoded(T1 + R1 + R2 + CODA + R3, load("gestionale/ordini"))
    assert codes(out) == [("bad-order", 5), ("trailer-count-mismatch", 4)]


def test_a_quote_that_closes_early_then_one_never_closed() -> None:
    # A"B's quote is text, so quote counting finds a cut after line 3; pyarrow and the
    # csv module read "1"2 as 12 and the quote before x as never closed.
    out = decoded(GIACENZE + b'A"B,1,2\nC,"1"2,3,"x\nD,1,2\n', load("woocommerce/giacenze"))
    assert codes(out) == [("unterminated-quote", 3)]
    assert out.tables["prodotto"]["sku"].tolist() == ['A"B']


def test_a_quote_left_open_in_the_last_row() -> None:
    out = decoded(GIACENZE + b'A,1,2\nB,1,"12\nC,1,9\n', load("woocommerce/giacenze"))
    assert codes(out) == [("unterminated-quote", 3)]
    assert out.tables["prodotto"]["sku"].tolist() == ["A"]


@pytest.mark.parametrize("last", [b'3,"4\n', b'3,"4,5\n'])
def test_a_quote_left_open_on_the_last_line_whichever_reader(last: bytes) -> None:
    # One line, well-formed or not: its line end is inside the quote, and so is the end.
    out = decoded(b"a,b\n1,2\n" + last, ESCAPED)
    assert codes(out) == [("unterminated-quote", 3)]
    assert out.tables["r"]["a"].tolist() == ["1"]


def test_the_year_zero_is_a_bad_date_not_a_value() -> None:
    line = b"GTRAP-18V            01 00000001400000000200000001200001220     \r\n"
    out = decoded(line, load("gestionale/giacenze"))
    assert codes(out) == [("bad-date", 1)]
    assert out.tables["giacenza"]["data"].isna().all()


def test_a_bad_row_inside_an_order_held_back_comes_with_the_order() -> None:
    """Rows of an order that may go on are held back to the next chunk; a bad row among
    them was reported with the chunk before, ahead of the order's own issues, and then a
    cap on issues kept other issues read in chunks than read whole."""
    from bridge.codecs import decode, iter_decode

    t = load("shopify/ordini")
    head, *rows = lines(SAMPLES.joinpath("shopify", "ordini.csv").read_bytes())
    one = rows[2]  # a line item of order #1001
    two = rows[5].replace(b"#1003", b"#1002")  # one of order #1002
    data = head + one + two.replace(b",0.00,", b",\"0,00\",") + b";;;;\n" + two
    assert codes(decoded(data, t, (16, 64))) == [("bad-decimal", 3), ("wrong-column-count", 4)]
    whole = decode(data, t, max_issues=1).issues
    assert [(i.code, i.line) for i in whole] == [("too-many-issues", None), ("bad-decimal", 3)]
    for size in (16, 64, 150):
        parts = list(iter_decode(data, t, chunk_bytes=size, max_issues=1))
        assert [i for p in parts for i in p.issues if i.line] == whole[1:]
