"""The tracciato language: loading, mistakes reported with file and location, schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.errors import TracciatoError
from bridge.spec import load, parse
from bridge.spec.loader import available, lint
from bridge.spec.model import Tracciato
from bridge.spec.show import describe

FIXED = """
description: a small fixed layout
format: fixed
encoding: cp1252
fixed: {record_length: 20}
discriminator: {start: 1, length: 1}
records:
  testata:
    when: T
    fields:
      - {name: tipo, start: 1, length: 1, type: constant, value: T}
      - {name: numero, start: 2, length: 6, type: integer, required: true}
      - {name: totale, start: 8, length: 9, type: decimal, scale: 2, implied_decimals: true}
  righe:
    when: R
    parent: testata
    fields:
      - {name: tipo, start: 1, length: 1, type: constant, value: R}
      - {name: importo, start: 2, length: 9, type: decimal, implied_decimals: true,
         sign: overpunch}
checks:
  control_totals:
    - {parent: testata, field: totale, child: righe, sum: importo}
"""


def test_a_valid_layout_loads_with_its_name_from_the_path() -> None:
    t = parse(FIXED, "tracciati/erp/ordini.yaml")
    assert t.name == "erp/ordini"
    assert list(t.records) == ["testata", "righe"]
    assert t.records["righe"].parent == "testata"
    assert t.record_of("R") == "righe" and t.record_of("X") is None
    assert t.newline_chars == "\r\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("length: 6", "length: 0"), "records.testata.fields[1].length: length must be > 0"),
        (("type: integer", "type: intger"), "records.testata.fields[1].type"),
        (("when: R", "when: [R]\n    colour: red"), "records.righe.colour: unknown key"),
        (("parent: testata", "parent: nowhere"), "records.righe.parent: no record type 'nowhere'"),
        (("start: 8, length: 9", "start: 7, length: 9"), "fields 'numero' and 'totale' overlap"),
        (("start: 8, length: 9", "start: 18, length: 9"), "past the record length 20"),
        (("sum: importo", "sum: amount"), "checks.control_totals[0]: record 'righe' has no "
                                          "field 'amount'"),
        (("{parent: testata, field: totale, child: righe, sum: importo}",
          "{parent: righe, field: importo, child: testata, sum: totale}"),
         "checks.control_totals[0]: 'testata' records are not children of 'righe' "
         "(records.testata.parent is not set)"),
        (("field: totale, child", "field: tipo, child"),
         "checks.control_totals[0].field: testata.tipo is a constant field; the check needs "
         "integer or decimal"),
        (("sum: importo}", "sum: importo}\n  trailer_count: {record: testata, field: totale}"),
         "checks.trailer_count.field: testata.totale is a decimal field; the check needs "
         "integer"),
        (("sum: importo}", "sum: importo, tolerance: -0.01}"),
         "checks.control_totals[0].tolerance: -0.01 is not a decimal from 0 with at most 18"),
        (("    parent: testata", "    parent: righe"),
         "records.righe.parent: the parents go round in a loop (righe -> righe)"),
        (("encoding: cp1252", "encoding: klingon"), "encoding: unknown encoding 'klingon'"),
        # Records are found on the bytes: a line end of two bytes, or a mark before every
        # text encoded, is misread (a UTF-16 file was reported as a NUL byte and bad lines).
        (("encoding: cp1252", "encoding: utf-16"), "encoding: encoding 'utf-16' does not "
         "write a line end as one byte: bridge finds records on a file's bytes and cannot "
         "read or write it (UTF-16 and UTF-32 are such); convert the file first"),
        (("encoding: cp1252", "encoding: utf-16-le"), "encoding 'utf-16-le' does not write"),
        (("encoding: cp1252", "encoding: UTF-32"), "encoding 'UTF-32' does not write"),
        (("encoding: cp1252", "encoding: rot13"), "encoding 'rot13' does not write"),
        (("format: fixed", "format: fixed\nformat: [x"), "not valid YAML"),
    ],
)
def test_mistakes_name_file_and_location(change: tuple[str, str], message: str) -> None:
    text = FIXED.replace(*change, 1)
    assert text != FIXED
    with pytest.raises(TracciatoError) as err:
        parse(text, "tracciati/x/ordini.yaml")
    assert str(err.value).startswith("tracciati/x/ordini.yaml: ")
    assert message in str(err.value)


def test_lint_refuses_a_control_total_whose_parent_comes_after_its_children(
        tmp_path: Path) -> None:
    # A coda holding the sum of the testata totals: the testata are no children of the
    # coda, so there is nothing the check could sum (decoding it used to raise KeyError).
    shipped = Path(__file__).resolve().parents[1] / "tracciati" / "gestionale" / "ordini.yaml"
    text = shipped.read_text(encoding="utf-8")
    rule = "    - {parent: coda, field: numero_record, child: testata, sum: totale}\n"
    changed = text.replace("  control_totals:\n", "  control_totals:\n" + rule, 1)
    assert changed != text
    path = tmp_path / "erp" / "ordini.yaml"
    path.parent.mkdir()
    path.write_text(changed, encoding="utf-8")
    assert lint([path]) == [
        f"{path}: checks.control_totals[0]: 'testata' records are not children of 'coda' "
        "(records.testata.parent is not set); a control total compares each coda with the "
        "sum over its own children, which follow it and name it as their parent; for a "
        "total over the whole file (a grand total in a trailer) use checks.file_totals: "
        "{record: coda, field: numero_record, over: testata, sum: totale}"]


def test_a_date_needs_a_format_and_an_enum_its_values() -> None:
    base = "format: delimited\nrecords:\n  r:\n    fields:\n      - {name: d, type: %s}\n"
    with pytest.raises(TracciatoError, match=r"records.r.fields\[0\]: a date field needs"):
        parse(base % "date")
    with pytest.raises(TracciatoError, match="an enum field needs values"):
        parse(base % "enum")


def test_several_record_types_need_a_discriminator() -> None:
    text = FIXED.replace("discriminator: {start: 1, length: 1}\n", "")
    with pytest.raises(TracciatoError, match="discriminator: needed"):
        parse(text)


def test_user_folders_are_searched_first(tmp_path: Path) -> None:
    (tmp_path / "erp").mkdir()
    (tmp_path / "erp" / "ordini.yaml").write_text(FIXED, encoding="utf-8")
    assert "erp/ordini" in available([tmp_path])
    assert load("erp/ordini", [tmp_path]).records["testata"].fields[1].name == "numero"
    with pytest.raises(TracciatoError, match="no tracciato named 'erp/nothing'"):
        load("erp/nothing", [tmp_path])


def test_lint_lists_every_broken_file(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "good.yaml").write_text(FIXED, encoding="utf-8")
    (tmp_path / "a" / "bad.yaml").write_text(FIXED.replace("length: 6", "length: -1"),
                                             encoding="utf-8")
    problems = lint([tmp_path])
    assert len(problems) == 1
    line = next(n for n, text in enumerate(FIXED.splitlines(), 1) if "length: 6" in text)
    assert (f"bad.yaml: line {line}: records.testata.fields[1].length: length must be > 0"
            in problems[0])


def test_json_schema_describes_the_language() -> None:
    schema = Tracciato.model_json_schema()
    text = json.dumps(schema)
    assert schema["properties"]["format"]["enum"] == ["delimited", "fixed"]
    for key in ("implied_decimals", "overpunch", "missing_values", "control_totals", "titles"):
        assert key in text


def test_show_reads_like_a_manual_page() -> None:
    page = describe(parse(FIXED, "tracciati/erp/ordini.yaml"))
    assert "tracciato erp/ordini" in page
    assert "encoding cp1252, newline CRLF" in page
    assert "record righe, when 'R', child of testata" in page
    row = next(line for line in page.splitlines() if " totale " in line)
    assert row.split()[:6] == ["3", "totale", "8", "16", "9", "decimal"]
    assert "testata.totale = sum of righe.importo (tolerance 0)" in page
