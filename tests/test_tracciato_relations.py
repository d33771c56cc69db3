"""The checks a manual asks for, declared in the tracciato: a trailer row in a delimited
file, and the lint errors of links, file totals, signs and rules that could not run (what
lints, runs: none of these reaches `bridge check` to crash there)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.codecs import decode, encode, iter_decode
from bridge.codecs.complete import incomplete
from bridge.errors import TracciatoError
from bridge.spec import parse
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "tracciati.md").read_text(encoding="utf-8")
TRAILER = DOC[DOC.index("## Trailer rows in delimited files"):
              DOC.index("## When a file is complete")]
BLOCK = re.search(r"<!-- tracciato -->\n```yaml\n(.*?)\n```", TRAILER, re.DOTALL)
CSV = re.search(r"```csv\n(.*?)\n```", TRAILER, re.DOTALL)
assert BLOCK and CSV
RIGHE = parse(BLOCK.group(1), "esempio/righe.yaml")
GOOD = (CSV.group(1) + "\n").encode()


def codes(data: bytes) -> list[tuple[str, int | None]]:
    return [(i.code, i.line) for i in decode(data, RIGHE).issues]


def test_the_doc_trailer_example_checks_clean_and_writes_back() -> None:
    out = decode(GOOD, RIGHE)
    assert out.issues == []
    assert out.tables["riga"]["importo"].tolist() == [Decimal("10.50"), Decimal("2.00"),
                                                      Decimal("7.25")]
    assert out.tables["coda"][["righe", "totale"]].values.tolist() == [[3, Decimal("19.75")]]
    assert encode(out.tables, RIGHE) == GOOD


def test_a_trailer_that_counts_wrong_or_sums_wrong() -> None:
    assert codes(GOOD.replace(b"#END;3;", b"#END;4;")) == [("trailer-count-mismatch", 5)]
    assert codes(GOOD.replace(b";19,75", b";19,76")) == [("file-total-mismatch", 5)]


def test_a_file_without_its_trailer_is_not_complete(tmp_path: Path) -> None:
    cut = GOOD[:GOOD.index(b"#END")]
    assert codes(cut) == [("missing-record", None)]
    path = tmp_path / "righe.csv"
    path.write_bytes(cut)
    assert incomplete(path, RIGHE) == ("the last record is a riga record, not the closing "
                                       "coda record")
    path.write_bytes(GOOD)
    assert incomplete(path, RIGHE) is None


def test_data_rows_still_need_the_header_s_cells_and_a_trailer_its_own() -> None:
    bad = GOOD.replace(b"1001;B;2,00\n", b"1001;B\n").replace(b"#END;3;19,75", b"#END;3")
    assert codes(bad) == [("missing-record", None), ("wrong-column-count", 3),
                          ("wrong-column-count", 5)]


def test_a_row_after_the_trailer_is_out_of_order() -> None:
    assert codes(GOOD + b"1003;D;1,00\n") == [("trailer-count-mismatch", 5),
                                             ("file-total-mismatch", 5), ("bad-order", 6)]


def test_a_big_file_with_a_trailer_read_in_chunks_is_checked_whole() -> None:
    rows = "".join(f"{1000 + i // 3};A{i};1,25\n" for i in range(3000))
    body = ("Ordine;Articolo;Importo\n" + rows).encode()
    good = body + b"#END;3000;3750,00\n"
    parts = list(iter_decode(good, RIGHE, chunk_bytes=4096))
    assert len(parts) > 5
    assert [i for p in parts for i in p.issues] == []
    assert sum(len(p.tables["riga"]) for p in parts) == 3000
    bad = list(iter_decode(body + b"#END;3000;3750,01\n", RIGHE, chunk_bytes=4096))
    assert [(i.code, i.line) for p in bad for i in p.issues] == [("file-total-mismatch", 3002)]


# --- lint: what cannot run is refused when the tracciato loads ----------------------------

FIXED = """
format: fixed
discriminator: {start: 1, length: 1}
records:
  testata:
    when: T
    fields:
      - {name: tipo, type: constant, value: T, start: 1, length: 1}
      - {name: numero, type: integer, sign: none, start: 2, length: 6}
      - {name: totale, type: decimal, implied_decimals: true, sign: none, start: 8, length: 9}
  riga:
    when: R
    parent: testata
    fields:
      - {name: tipo, type: constant, value: R, start: 1, length: 1}
      - {name: numero, type: integer, sign: none, start: 2, length: 6}
      - {name: segno, start: 8, length: 1}
      - {name: codice, start: 9, length: 6}
      - {name: importo, type: decimal, implied_decimals: true, start: 15, length: 9}
  coda:
    when: Z
    fields:
      - {name: tipo, type: constant, value: Z, start: 1, length: 1}
      - {name: totale_generale, type: decimal, implied_decimals: true, sign: none,
         start: 2, length: 11}
"""


def lint_error(extra: str = "", **replace: str) -> str:
    text = FIXED
    for old, new in replace.items():
        assert old.replace("_", " ") in text or old in text
        text = text.replace(old, new)
    with pytest.raises(TracciatoError) as exc:
        parse(text + extra, "x/ordini.yaml")
    return str(exc.value)


def test_the_fixed_base_lints_clean() -> None:
    parse(FIXED, "x/ordini.yaml")


def test_a_grand_total_written_as_a_control_total_lints_with_the_way_out() -> None:
    # A control total sums children into the parent before them: a trailer over the
    # testate is no such pair. It used to lint clean and crash `bridge check`.
    error = lint_error("checks:\n  control_totals:\n    - {parent: coda, field: totale_generale,"
                       " child: testata, sum: totale}\n")
    assert "checks.control_totals[0]: 'testata' records are not children of 'coda'" in error
    assert ("use checks.file_totals: {record: coda, field: totale_generale, over: testata, "
            "sum: totale}") in error


def test_the_same_as_a_file_total_checks_and_runs(tmp_path: Path) -> None:
    t = parse(FIXED + "checks:\n  file_totals:\n    - {record: coda, field: totale_generale,"
              " over: testata, sum: totale}\n", "x/ordini.yaml")
    data = (b"T000001000001250\r\nR000001 ABC001000001250\r\nZ00000001250\r\n")
    assert decode(data, t).issues == []
    path = tmp_path / "f.txt"
    path.write_bytes(data.replace(b"Z00000001250", b"Z00000001251"))
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "t.yaml").write_text(FIXED + "checks:\n  file_totals:\n    - {record: "
                                           "coda, field: totale_generale, over: testata, "
                                           "sum: totale}\n", encoding="utf-8")
    got = CliRunner().invoke(main, ["--tracciati", str(tmp_path), "check", str(path),
                                    "-t", "x/t"])
    assert got.exit_code == 1, got.output
    assert "file-total-mismatch" in got.output and "Traceback" not in got.output


@pytest.mark.parametrize(("extra", "message"), [
    ("checks:\n  file_totals: [{record: coda, field: tipo, over: testata, sum: totale}]\n",
     "checks.file_totals[0].field: coda.tipo is a constant field; the check needs integer "
     "or decimal"),
    ("checks:\n  file_totals: [{record: coda, field: totale_generale, over: riga, "
     "sum: prezzo}]\n", "checks.file_totals[0]: record 'riga' has no field 'prezzo'"),
    ("checks:\n  file_totals: [{record: coda, field: totale_generale, over: testata, "
     "sum: totale, tolerance: -1}]\n", "checks.file_totals[0].tolerance: -1 is not a decimal"),
])
def test_file_totals_that_cannot_run(extra: str, message: str) -> None:
    assert message in lint_error(extra)


def test_links_that_cannot_run() -> None:
    no_parent = lint_error(**{"    when: T\n": "    when: T\n    link: {field: numero, "
                                               "parent: numero}\n"})
    assert "records.testata.link[0]: 'testata' has no parent" in no_parent
    unknown = lint_error(**{"    parent: testata\n": "    parent: testata\n    link: {field: "
                                                     "numero, parent: ordine}\n"})
    assert "records.riga.link[0]: record 'testata' has no field 'ordine'" in unknown
    types = lint_error(**{"    parent: testata\n": "    parent: testata\n    link: {field: "
                                                   "codice, parent: numero}\n"})
    assert ("records.riga.link[0]: riga.codice is a string field and testata.numero a "
            "integer one") in types


def test_a_link_as_a_list_and_its_mismatch() -> None:
    t = parse(FIXED.replace("    parent: testata\n", "    parent: testata\n    link:\n"
                            "      - {field: numero, parent: numero}\n"), "x/o.yaml")
    good = b"T000001000000100\r\nR000001 ABC001000000100\r\n"
    assert decode(good, t).issues == []
    bad = good.replace(b"R000001", b"R000002")
    assert [(i.code, i.line) for i in decode(bad, t).issues] == [("link-mismatch", 2)]
    # an orphan has no parent to compare with: it is an orphan, not a mismatch
    assert [i.code for i in decode(b"R000002 ABC001000000100\r\n", t).issues] == [
        "orphan-riga"]


@pytest.mark.parametrize(("field", "message"), [
    ("{name: importo, type: decimal, implied_decimals: true, sign_from: segno, sign: leading, "
     "start: 15, length: 9}", "sign_from: the sign is in 'segno', so the digits carry none: "
     "drop sign: leading"),
    ("{name: importo, type: decimal, implied_decimals: true, sign_from: manca, start: 15, "
     "length: 9}", "records.riga.fields[4].sign_from: record 'riga' has no field 'manca'"),
    ("{name: importo, type: decimal, implied_decimals: true, sign_from: importo, start: 15, "
     "length: 9}", "a field cannot take its sign from itself"),
    ("{name: importo, type: decimal, implied_decimals: true, sign_from: numero, start: 15, "
     "length: 9}", "riga.numero is a integer field; a sign is read from a string"),
    ("{name: importo, type: decimal, implied_decimals: true, sign_from: {field: segno, "
     "negative: ['-', 'CR']}, start: 15, length: 9}", "'CR' is longer than 'segno' (1 "
     "characters)"),
    ("{name: importo, type: decimal, implied_decimals: true, sign_from: {field: segno, "
     "negative: ['-'], positive: ['-']}, start: 15, length: 9}", "'-' is both negative and "
     "positive"),
    ("{name: importo, implied_decimals: true, sign_from: segno, start: 15, length: 9}",
     "sign_from: a string field has no sign"),
])
def test_signs_from_another_field_that_cannot_work(field: str, message: str) -> None:
    old = "{name: importo, type: decimal, implied_decimals: true, start: 15, length: 9}"
    assert message in lint_error(**{old: field})


def test_two_numbers_cannot_share_one_sign_field_on_writing() -> None:
    old = "      - {name: importo, type: decimal, implied_decimals: true, start: 15, length: 9}\n"
    new = ("      - {name: importo, type: decimal, implied_decimals: true, sign_from: segno, "
           "start: 15, length: 9}\n      - {name: sconto, type: decimal, implied_decimals: true,"
           " sign_from: segno, start: 24, length: 5}\n")
    assert "'segno' already gives its sign to 'importo'" in lint_error(**{old: new})


@pytest.mark.parametrize(("rule", "message"), [
    ("{that: 'importo > prezzo'}", "records.riga.rules[0].that: table 'riga' has no field "
     "'prezzo'"),
    ("{that: 'importo >'}", "records.riga.rules[0].that: cannot read expression"),
    ("{that: 'importo > 0', when: 'segno =='}", "records.riga.rules[0].when: cannot read "
     "expression"),
    ("{that: 'importo > 0', code: importo-negativo}", "unknown issue code 'importo-negativo'"),
    ("{that: 'importo > 0', code: already-sent}", "unknown issue code 'already-sent'"),
    ("{that: 'importo > 0', field: prezzo}", "records.riga.rules[0].field: record 'riga' has "
     "no field 'prezzo'"),
])
def test_rules_that_cannot_run(rule: str, message: str) -> None:
    error = lint_error(**{"    parent: testata\n": f"    parent: testata\n    rules: [{rule}]\n"})
    assert message in error


def test_rules_with_when_a_named_code_and_missing_values() -> None:
    t = parse(FIXED.replace("    parent: testata\n", "    parent: testata\n    rules:\n"
                            "      - {that: 'importo < 0', when: \"segno == 'R'\", "
                            "code: below-minimum, message: a return takes money back}\n"
                            "      - {that: 'codice is not none', when: 'importo > 50'}\n"),
              "x/o.yaml")
    head = b"T000001000000000\r\n"
    ok = [b"R000001RABC001-00000100", b"R000001 ABC001000000100", b"R000001 ABC001000009000",
          b"R000001R      000000100"]
    data = head + b"".join(r + b"\r\n" for r in ok)
    got = decode(data, t).issues
    # a return with a positive amount breaks the first rule (its own code); the rest keep
    # both (line 5 has no codice, and an amount under 50)
    assert [(i.code, i.line, i.field) for i in got] == [("below-minimum", 5, "importo")]
    assert got[0].message.startswith("a return takes money back (")
    # a missing codice is seen by `is not none`: over 50 without one breaks the second rule,
    # which names the first field it reads
    data += b"R000001  " + b" " * 5 + b"000009000\r\n"
    assert [(i.code, i.line, i.field) for i in decode(data, t).issues] == [
        ("below-minimum", 5, "importo"), ("rule-failed", 6, "codice")]


def test_a_trailer_with_an_empty_total_is_not_compared_and_does_not_crash() -> None:
    # Found by the lint's rehearsal: an empty total was a pandas NA, and comparing it raised.
    assert codes(GOOD.replace(b";19,75", b";")) == []


def test_every_shipped_and_documented_tracciato_rehearses_clean() -> None:
    from bridge.codecs import rehearse
    from bridge.spec.loader import available, load_file

    for path in available().values():
        assert rehearse(load_file(path)) is None, path
    assert rehearse(RIGHE) is None
    assert rehearse(parse(FIXED, "x/o.yaml")) is None
