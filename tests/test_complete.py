"""A file whose last record is visibly not whole is not ready: ``incomplete`` against every
shipped tracciato cut at every offset, each rule on its own, any bytes, and large files."""

from __future__ import annotations

import csv
import io
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.codecs.chunks import csv_options
from bridge.codecs.complete import BLOCK_BYTES, incomplete
from bridge.codecs.quotes import QuoteScanner
from bridge.codecs.text import BOM
from bridge.issues import CODES, Issue
from bridge.spec import load_file
from bridge.spec.model import Tracciato

ROOT = Path(__file__).resolve().parents[1]
TRACCIATI = ROOT / "tracciati"
SAMPLES = ROOT / "samples"
SENTINEL = "\x01END"


def shipped() -> list[str]:
    return sorted(f"{p.parent.name}/{p.stem}" for p in TRACCIATI.glob("*/*.yaml"))


def tracciato(name: str) -> Tracciato:
    return load_file(TRACCIATI / f"{name}.yaml")


def golden(name: str) -> Path:
    system, stem = name.split("/")
    found = [p for p in (SAMPLES / "tracciati" / system).glob(f"{stem}.*")
             if ".broken." not in p.name]
    assert len(found) == 1
    return found[0]


#: The other golden files of the samples (outputs bridge must write byte for byte, and the
#: inputs of the sample flows), with the tracciato they are in.
OTHER_GOLDEN = {
    "expected/erp/ordini/ORD000001.TXT": "gestionale/ordini",
    "expected/erp/clienti/CLI000001.CSV": "gestionale/nuovi-clienti",
    "expected/shop/shopify/inventory_0001.csv": "shopify/inventario",
    "expected/shop/shopify/products_0001.csv": "shopify/prodotti",
    "expected/shop/woocommerce/prodotti_0001.csv": "woocommerce/prodotti",
    "expected/shop/woocommerce/stock_0001.csv": "woocommerce/giacenze",
    "inbox/shopify/orders_export_1.csv": "shopify/ordini-b2b",
    "inbox/shopify/customers_export_1.csv": "shopify/clienti",
    "erp-exports/articoli.csv": "mexal/articoli",
    "erp-exports/clienti.csv": "gestionale/clienti",
    "erp-exports/giacenze.txt": "gestionale/giacenze",
    "erp-exports/listino.csv": "gestionale/listino",
}
CASES = [(name, golden(name)) for name in shipped()] + [
    (name, SAMPLES / path) for path, name in OTHER_GOLDEN.items()]


def layout(**kw: Any) -> Tracciato:
    fields = [{"name": "a"}, {"name": "b"}]
    return Tracciato.model_validate({"format": "delimited", "records": {"r": {"fields": fields}},
                                     **kw})


def ends_in_quote(data: bytes, t: Tracciato) -> bool:
    """The reference: Python's csv module reads the text followed by a line of its own, and
    that line comes back as a row of its own only when no quoted cell was left open."""
    text = data.decode(t.encoding, "replace") + "\r\n" + SENTINEL + "\r\n"
    rows = list(csv.reader(io.StringIO(text, newline=""), **csv_options(t.dialect)))
    return rows[-1] != [SENTINEL]


def visibly_partial(data: bytes, k: int, t: Tracciato) -> bool:
    """Whether the first ``k`` bytes of a whole file in layout ``t`` end mid-record."""
    cut = data[:k]
    content = cut[len(BOM):] if cut.startswith(BOM) else cut
    if not content.strip(b"\r\n") or k == len(data):
        return False  # complete and empty, or whole
    if any(rec.occurs == "last" for rec in t.records.values()):
        return True  # only the whole file ends with its closing record
    if not cut.endswith(t.newline_chars.encode()):
        return True  # a line, or a CR LF, cut in the middle
    return t.format == "delimited" and t.dialect.quote_char is not None and ends_in_quote(
        cut, t)


def offsets(data: bytes) -> list[int]:
    """Every offset of a small file; of a large one, those around line ends and a sample."""
    if len(data) <= 4096:
        return list(range(len(data) + 1))
    near = {i + d for i, b in enumerate(data) if b in b"\r\n" for d in (-1, 0, 1, 2)}
    return sorted({k for k in near if 0 <= k <= len(data)} | set(range(0, len(data), 97)))


# --- the shipped tracciati and their golden files ---------------------------------------


@pytest.mark.parametrize("name,path", CASES, ids=[str(p.relative_to(SAMPLES)) for _, p in CASES])
def test_every_golden_file_is_complete(name: str, path: Path) -> None:
    t = tracciato(name)
    assert incomplete(path, t) is None
    assert incomplete(path.read_bytes(), t) is None


@pytest.mark.parametrize("name,path", CASES, ids=[str(p.relative_to(SAMPLES)) for _, p in CASES])
def test_a_cut_is_reported_exactly_when_the_last_record_is_visibly_partial(
        name: str, path: Path) -> None:
    t = tracciato(name)
    data = path.read_bytes()
    wrong = [(k, incomplete(data[:k], t)) for k in offsets(data)
             if (incomplete(data[:k], t) is not None) != visibly_partial(data, k, t)]
    assert wrong == []


def test_every_shipped_tracciato_has_a_golden_file() -> None:
    assert {name for name, _ in CASES} == set(shipped())


def without_closing_record() -> list[str]:
    return [n for n in shipped()
            if all(rec.occurs != "last" for rec in tracciato(n).records.values())]


def test_only_gestionale_ordini_ships_a_closing_record() -> None:
    # docs/tracciati.md says so, in "When a file is complete".
    assert sorted(set(shipped()) - set(without_closing_record())) == ["gestionale/ordini"]


@pytest.mark.parametrize("name", without_closing_record())
def test_a_cut_at_a_record_boundary_cannot_be_seen_without_a_closing_record(name: str) -> None:
    # The one case no rule can see: whole records, no closing record, no open quote. A
    # sender that pauses there is caught only by the readiness window or a done file.
    t = tracciato(name)
    data = golden(name).read_bytes()
    nl = t.newline_chars.encode()
    ends = [i + len(nl) for i in range(len(data)) if data.startswith(nl, i)]
    boundaries = [k for k in ends[1:-1] if not ends_in_quote(data[:k], t)]
    assert boundaries
    assert [k for k in boundaries if incomplete(data[:k], t) is not None] == []


def test_a_closing_record_makes_a_cut_at_a_record_boundary_visible() -> None:
    t = tracciato("gestionale/ordini")
    data = golden("gestionale/ordini").read_bytes()
    before_coda = data.rindex(b"\r\nZ") + 2
    assert incomplete(data[:before_coda], t) == (
        "the last record is a righe record, not the closing coda record")


@pytest.mark.parametrize("name", shipped())
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.binary(max_size=600),
    st.lists(st.sampled_from([b'"', b",", b";", b"\r", b"\n", b"\r\n", b"Z", b"T", b"R",
                              b"\\", b"\x1a", BOM, b"\xc3", b"\xa8", b"a" * 64]),
             max_size=60).map(b"".join)))
def test_never_raises_on_any_bytes(name: str, data: bytes) -> None:
    reason = incomplete(data, tracciato(name))
    assert reason is None or (isinstance(reason, str) and reason)


# --- each rule --------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", BOM, b"\r\n", b"\n\n\n", b"\x1a", BOM + b"\r\n\x1a"])
@pytest.mark.parametrize("name", ["gestionale/ordini", "shopify/ordini", "woocommerce/giacenze"])
def test_an_empty_file_is_complete(name: str, data: bytes) -> None:
    assert incomplete(data, tracciato(name)) is None


def test_a_line_end_cut_between_cr_and_lf() -> None:
    t = layout(newline="crlf")
    assert incomplete(b"a,b\r\n1,2\r", t) == (
        "the file ends between the CR and the LF of a line end")
    assert incomplete(b"a,b\r1,2\r", t) is None  # the file's line ends are lone CRs
    assert incomplete(b"a,b\r", layout(newline="lf")) is None


def test_final_newline_decides_whether_a_missing_line_end_is_visible() -> None:
    data = b"a,b\r\n1,2"
    assert incomplete(data, layout()) == (
        "the last line has no line end, and the tracciato says the file ends with one")
    assert incomplete(data, layout(final_newline=False)) is None


def test_an_end_of_file_byte_is_not_part_of_the_last_record() -> None:
    t = tracciato("gestionale/ordini")
    data = golden("gestionale/ordini").read_bytes()
    assert incomplete(data + b"\x1a", t) is None
    assert incomplete(data[:-5] + b"\x1a", t) is not None
    marked = tracciato("gestionale/ordini").model_copy(update={"eof_marker": True})
    assert incomplete(data, marked) is None  # written by bridge, not required on input
    fixed = fixed_layout("cp1252", 3, final_newline=False)
    assert incomplete(b"ABC\r\nABC\x1a", fixed) is None
    assert incomplete(b"ABC\r\nAB\x1a", fixed) == (
        "the last record has 2 characters, the record length is 3")


def fixed_layout(encoding: str, length: int, **kw: Any) -> Tracciato:
    fields = [{"name": "x", "start": 1, "length": length}]
    return Tracciato.model_validate({"format": "fixed", "encoding": encoding,
                                     "fixed": {"record_length": length},
                                     "records": {"r": {"fields": fields}}, **kw})


def test_a_short_fixed_record_counts_characters_as_the_decoder_does() -> None:
    utf8 = fixed_layout("utf-8", 5, final_newline=False)
    assert incomplete("àèìòù\nàèìòù".encode(), utf8) is None  # 5 characters, 10 bytes
    assert incomplete("àèìòù\nàèìò".encode(), utf8) == (
        "the last record has 4 characters, the record length is 5")
    assert incomplete("àèìòù\nàèìò".encode("cp1252"), fixed_layout("cp1252", 4)) == (
        "the last line has no line end, and the tracciato says the file ends with one")
    assert incomplete("àèìò\r\n".encode("cp1252"), fixed_layout("cp1252", 4)) is None


def test_a_character_cut_in_the_middle() -> None:
    utf8 = fixed_layout("utf-8", 5, final_newline=False)
    assert incomplete("àèìòù".encode()[:-1], utf8) == "the file ends in the middle of a character"
    assert incomplete("a,b\nè".encode()[:-1], layout(final_newline=False)) == (
        "the file ends in the middle of a character")


def test_a_delimited_file_ending_inside_a_quoted_cell() -> None:
    t = layout(newline="lf")
    assert incomplete(b'a,b\n1,"note\non two lines"\n', t) is None
    assert incomplete(b'a,b\n1,"note\n', t) == (
        "the file ends inside a quoted cell opened on line 2")
    assert incomplete(b'a,b\n1,"said ""hi"" twice"\n', t) is None
    assert incomplete(b'a,b\n1,"said ""hi\n', t) is not None
    # A quote inside a cell that is not quoted is plain text, as the csv module reads it:
    # counting quotes would hold this file for ever.
    assert incomplete(b'a,b\n1,12" monitor\n2,x\n', t) is None


def test_quotes_follow_the_dialect() -> None:
    escaped = layout(newline="lf", delimited={"double_quote": False, "escape_char": "\\"})
    assert incomplete(b'a,b\n1,"say \\"hi\\""\n', escaped) is None
    assert incomplete(b'a,b\n1,"say \\"hi\n', escaped) is not None
    assert incomplete(b'a,b\n1,\\"x\n', escaped) is None  # an escaped quote opens nothing
    unquoted = layout(newline="lf", delimited={"quote_char": None})
    assert incomplete(b'a,b\n1,"x\n', unquoted) is None


def test_an_escaped_last_line_end_leaves_the_record_open() -> None:
    t = layout(newline="lf", delimited={"quote_char": None, "escape_char": "\\"})
    assert incomplete(b"a,b\n1,two\\\n", t) == (
        "the file ends with an escaped line end: its last record goes on")
    assert incomplete(b"a,b\n1,two\\\\\n", t) is None  # an escaped escape character


def test_specials_are_found_as_characters_not_bytes() -> None:
    # In Shift JIS the second byte of "ソ" is 0x5C, the byte of "\": it escapes nothing.
    sjis = layout(encoding="shift_jis", newline="lf",
                  delimited={"quote_char": None, "escape_char": "\\"})
    assert incomplete("a,b\n1,ソ\n".encode("shift_jis"), sjis) is None
    assert incomplete("a,b\n1,ソ\\\n".encode("shift_jis"), sjis) is not None
    section = layout(newline="lf", delimited={"delimiter": "§"})
    assert incomplete('a§b\n1§"x§\n'.encode(), section) is not None
    assert incomplete('a§b\n1§"x§"\n'.encode(), section) is None
    assert incomplete('a§b\n1§x"§\n'.encode(), section) is None


def with_coda(**delimited: Any) -> Tracciato:
    fields = [{"name": "tipo", "column": "Tipo"}, {"name": "valore", "column": "Valore"}]
    return Tracciato.model_validate({
        "format": "delimited", "newline": "crlf",
        "delimited": {"delimiter": ";", **delimited},
        "discriminator": {"column": "Tipo"},
        "records": {"testata": {"when": "T", "fields": fields},
                    "riga": {"when": "R", "parent": "testata", "fields": fields},
                    "coda": {"when": "Z", "occurs": "last", "fields": fields}}})


@pytest.mark.parametrize("quote", ['"', None])
def test_a_delimited_closing_record_is_found_by_its_column(quote: str | None) -> None:
    t = with_coda(quote_char=quote)
    whole = b"Valore;Tipo\r\n1;T\r\nx;R\r\n3;Z\r\n"
    assert incomplete(whole, t) is None
    assert incomplete(whole + b"\r\n;\r\n", t) is None  # blank rows after the coda
    assert incomplete(whole[:-5], t) == (
        "the last record is a riga record, not the closing coda record")
    assert incomplete(b"Valore;Tipo\r\n", t) == (
        "the last record is a record of no known type, not the closing coda record")


def test_a_quoted_last_record_over_several_lines_is_read_whole() -> None:
    t = with_coda()
    assert incomplete(b'Valore;Tipo\r\n1;T\r\n"a\r\nZ";R\r\n', t) == (
        "the last record is a riga record, not the closing coda record")
    assert incomplete(b'Valore;Tipo\r\n1;T\r\n"a\r\nR";Z\r\n', t) is None


def test_the_reason_names_an_issue_code_the_engine_can_raise() -> None:
    reason = incomplete(b'a,b\n1,"x\n', layout())
    assert reason is not None
    assert Issue("truncated-file", reason).code in CODES


def strange_layouts() -> dict[str, Tracciato]:
    coda_fixed = Tracciato.model_validate({
        "format": "fixed", "encoding": "utf-8", "fixed": {"record_length": 4},
        "discriminator": {"start": 1, "length": 1},
        "records": {"r": {"when": "R", "fields": [{"name": "x", "start": 1, "length": 4}]},
                    "z": {"when": "Z", "occurs": "last",
                          "fields": [{"name": "x", "start": 1, "length": 4}]}}})
    return {
        "coda by column": with_coda(),
        "coda, no quotes": with_coda(quote_char=None, escape_char="\\"),
        "escape only": layout(delimited={"quote_char": None, "escape_char": "\\"}),
        "shift_jis": layout(encoding="shift_jis", delimited={"escape_char": "\\"}),
        "EBCDIC": layout(encoding="cp500", final_newline=False),
        "non-ASCII delimiter": layout(delimited={"delimiter": "§", "double_quote": False}),
        "fixed utf-8 with a coda": coda_fixed,
    }


@pytest.mark.parametrize("name", list(strange_layouts()))
@settings(max_examples=60, deadline=None)
@given(data=st.one_of(
    st.binary(max_size=300),
    st.lists(st.sampled_from([b'"', b",", b";", b"\r", b"\n", b"Z", b"R", b"\\", b"\x1a",
                              "§".encode(), "ソ".encode("shift_jis"), b"\xc3", b"\x00"]),
             max_size=40).map(b"".join)))
def test_never_raises_on_any_bytes_in_unusual_layouts(name: str, data: bytes) -> None:
    reason = incomplete(data, strange_layouts()[name])
    assert reason is None or (isinstance(reason, str) and reason)


# --- the quote scan, block by block -----------------------------------------------------


DIALECTS = [{"double_quote": True, "escape_char": None},
            {"double_quote": False, "escape_char": None},
            {"double_quote": True, "escape_char": "\\"},
            {"double_quote": False, "escape_char": "\\"}]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: f"dq={d['double_quote']}"
                         f",esc={d['escape_char']}")
@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet='ab,"\r\n\\ ', max_size=40), cuts=st.lists(
    st.integers(0, 40), max_size=4))
def test_the_scan_agrees_with_the_csv_module(dialect: dict[str, Any], text: str,
                                             cuts: list[int]) -> None:
    if dialect["double_quote"] and dialect["escape_char"]:
        # After a closing quote the csv module takes an escape character as plain text:
        # a malformed file, where the scan (documented) reads it as an escape.
        while '"\\' in text:
            text = text.replace('"\\', '"a\\')
    t = layout(delimited=dialect)
    data = text.encode()
    scanner = QuoteScanner(ord('"'), ord(","), ord("\\") if dialect["escape_char"] else None,
                           dialect["double_quote"])
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    for a, b in itertools.pairwise(bounds):
        scanner.feed(data[a:b])  # the same text in pieces: runs and escapes cross them
    assert (scanner.finish().open_at is not None) == ends_in_quote(data, t)


def test_an_open_quote_across_a_block_boundary_in_a_large_file(tmp_path: Path) -> None:
    t = tracciato("shopify/ordini")
    head, body = golden("shopify/ordini").read_bytes().split(b"\n", 1)
    # A note that opens a quoted cell before the end of the second block and goes on, with
    # doubled quotes and line ends, over the boundary.
    note = b'#9999,"Nota ""urgente"":\n' + b'riga ""x""\n' * 4000
    copies = (2 * BLOCK_BYTES - len(note) // 2) // len(body)
    before = head + b"\n" + body * copies
    assert len(before) < 2 * BLOCK_BYTES < len(before) + len(note)
    path = tmp_path / "orders_export.csv"
    path.write_bytes(before + note)
    line = before.count(b"\n") + 1
    assert incomplete(path, t) == f"the file ends inside a quoted cell opened on line {line}"
    path.write_bytes(before + note + b'fine"\n')
    assert incomplete(path, t) is None


#: Three where the quote and the escape character are bytes of their own (UTF-8-SIG's
#: ``'"'.encode`` starts with its byte order mark), and one where a byte of them may be
#: the second byte of another character (the scan reads characters).
ENCODINGS = ["utf-8", "utf-8-sig", "cp1252", "shift_jis"]


@pytest.mark.parametrize("dialect", DIALECTS, ids=lambda d: f"dq={d['double_quote']}"
                         f",esc={d['escape_char']}")
@pytest.mark.parametrize("encoding", ENCODINGS)
@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # patched per example
@given(text=st.text(alphabet='ab,"\r\n\\ é€ソ', max_size=40),
       final=st.booleans())
def test_a_small_file_is_judged_as_the_full_scan_judges_it(
        dialect: dict[str, Any], encoding: str, text: str, final: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A file read whole whose text holds neither the quote nor the escape character is
    judged without the scan of its quotes: the answer is the scan's, on texts with and
    without them, in encodings whose special characters are bytes of their own and one
    where they are not."""
    from bridge.codecs import complete

    t = layout(delimited=dialect, encoding=encoding, final_newline=final)
    data = text.encode(encoding, "replace")
    quick = incomplete(data, t)
    with monkeypatch.context() as m:
        m.setattr(complete, "_plain", lambda *_: False)  # every file scanned
        assert incomplete(data, t) == quick


def test_a_quote_without_its_byte_is_still_found() -> None:
    """In UTF-7 a quote may be written in base64 (``+ACI-``), without the byte of ``"``:
    such a file is scanned, as the text it decodes to says."""
    t = layout(encoding="utf-7")
    assert incomplete(b'a,b\r\n1,+ACI-x\r\n', t) == (
        "the file ends inside a quoted cell opened on line 2")
    assert incomplete(b'a,b\r\n1,+ACI-x+ACI-\r\n', t) is None


def test_an_open_quote_is_found_in_a_utf8_sig_file() -> None:
    """``bridge tracciati draft`` proposes ``utf-8-sig`` for a file opening with a byte order
    mark; ``'"'.encode("utf-8-sig")`` is that mark and the quote, so the quote's byte is
    taken without it (before, the scan looked for the mark's first byte and found no
    quote at all)."""
    t = layout(encoding="utf-8-sig")
    for bom in (b"", b"\xef\xbb\xbf"):
        assert incomplete(bom + b'a,b\r\n1,"x\r\n', t) == (
            "the file ends inside a quoted cell opened on line 2")
        assert incomplete(bom + b'a,b\r\n1,"x\r\n"\r\n', t) is None
