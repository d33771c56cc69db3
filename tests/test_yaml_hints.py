"""YAML's traps in a tracciato say what YAML did and how to write the value: a code read as a
number (``when: 01``), a ``,`` that ends a value inside ``{...}``, a ``#`` that starts a
comment, a value that cannot start unquoted (``%d/%m/%Y``), a ``: `` inside a value; and a
number key whose value YAML read as another number (``length: 010`` is 8) is refused, as
what bridge would use is not what was written. Texts that only YAML 1.1 makes booleans
(``yes``, ``no``) stay texts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.errors import TracciatoError
from bridge.spec import parse
from bridge.spec.loader import SHIPPED
from bridge.spec.model import Tracciato

BASE = """\
format: fixed
discriminator: {start: 1, length: 2}
records:
  testata:
    description: 'the header'
    when: '01'
    fields:
      - {name: tipo, type: constant, value: '01', start: 1, length: 2}
      - {name: numero, type: integer, sign: none, start: 3, length: 8}
      - {name: note, start: 11, length: 10, missing_values: ['-']}
      - {name: attivo, type: boolean, start: 21, length: 1, true_values: ['S']}
      - name: data
        type: date
        format: '%d/%m/%Y'
        start: 22
        length: 10
  coda:
    when: '99'
    fields:
      - {name: tipo, start: 1, length: 2, description: 'the trailer'}
"""

DELIMITED = """\
format: delimited
delimited:
  delimiter: ';'
  comment_prefix: '#'
records:
  riga:
    fields:
      - {name: codice, decimal_separator: ',', missing_values: ['-']}
"""


def line_with(text: str, needle: str) -> int:
    """The line (from 1) of the first line of ``text`` holding ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def mistake(old: str, new: str, base: str = BASE) -> str:
    """The message of the layout ``base`` with ``old`` written as ``new``."""
    assert old in base
    with pytest.raises(TracciatoError) as exc:
        parse(base.replace(old, new), "x/ordini.yaml")
    return str(exc.value)


def loads(old: str, new: str, base: str = BASE) -> Tracciato:
    assert old in base
    return parse(base.replace(old, new), "x/ordini.yaml")


def test_the_quoted_layouts_are_clean() -> None:
    t = parse(BASE, "x/ordini.yaml")
    assert t.records["testata"].when == ["01"]
    assert t.records["testata"].fields[0].value == "01"
    assert parse(DELIMITED, "x/righe.yaml").dialect.comment_prefix == "#"


@pytest.mark.parametrize(("old", "new", "message"), [
    ("when: '01'", "when: 01",
     "records.testata.when: 01 was read by YAML as the number 1, not as text; write it in "
     "quotes: when: '01' (line 6)"),
    ("when: '01'", "when: [01, 02]",
     "records.testata.when: 01 was read by YAML as the number 1, not as text; write it in "
     "quotes: when: ['01', '02'] (line 6)"),
    ("when: '01'", "when: 010",
     "records.testata.when: 010 was read by YAML as the octal number 8, not as text; write "
     "it in quotes: when: '010' (line 6)"),
    ("value: '01'", "value: 0001",
     "records.testata.fields[0].value: 0001 was read by YAML as the number 1, not as text; "
     "write it in quotes: value: '0001' (line 8)"),
    ("missing_values: ['-']", "missing_values: [-, 00]",
     "records.testata.fields[2].missing_values: 00 was read by YAML as the number 0, not as "
     "text; write it in quotes: missing_values: [-, '00'] (line 10)"),
    ("missing_values: ['-']", "missing_values: 01",
     "records.testata.fields[2].missing_values: 01 was read by YAML as the number 1, not as "
     "text; write it in quotes: missing_values: ['01'] (line 10)"),
    ("missing_values: ['-']", "missing_values: [~, NA]",
     "records.testata.fields[2].missing_values: ~ was read by YAML as nothing (null), not as "
     "text; write it in quotes: missing_values: ['~', NA] (line 10)"),
    ("true_values: ['S']", "true_values: [true]",
     "records.testata.fields[3].true_values: true was read by YAML as the boolean true, not "
     "as text; write it in quotes: true_values: ['true'] (line 11)"),
    ("description: 'the header'", "description: 2024-01-31",
     "records.testata.description: 2024-01-31 was read by YAML as the date 2024-01-31, not "
     "as text; write it in quotes: description: '2024-01-31' (line 5)"),
    ("description: 'the trailer'", "description: the trailer, this one included.",
     "records.coda.fields[0].this one included.: an unquoted ',' inside {...} ended the value "
     "of 'description', and YAML read 'this one included.' as a key; quote the whole value: "
     "description: 'the trailer, this one included.' (line 20)"),
    ("description: 'the trailer'", "description: trailer,last",
     "records.coda.fields[0].last: an unquoted ',' inside {...} ended the value of "
     "'description', and YAML read 'last' as a key; quote the whole value: description: "
     "'trailer,last' (line 20)"),
    ("records:\n  testata:", "records:\n  01:",
     "records: 01 was read by YAML as the number 1, not as a name; write it in quotes: "
     "'01': (line 4)"),
])
def test_a_text_yaml_read_as_something_else(old: str, new: str, message: str) -> None:
    assert mistake(old, new) == f"x/ordini.yaml: {message}"  # one line, not one per item


@pytest.mark.parametrize(("old", "new", "message"), [
    # The model would take these: an empty optional key is its default, 010 is 8.
    ("comment_prefix: '#'", "comment_prefix: #",
     "delimited.comment_prefix: '#' after a space starts a YAML comment, so YAML read "
     "comment_prefix as empty; write it in quotes: comment_prefix: '#' (line 4)"),
    ("decimal_separator: ',', missing_values: ['-']}",
     "missing_values: ['-'], decimal_separator: ,}",
     "records.riga.fields[0].decimal_separator: an unquoted ',' inside {...} ends the value, "
     "so YAML read decimal_separator as empty; write it in quotes: decimal_separator: ',' "
     "(line 8)"),
    ("missing_values: ['-']}", "thousands_separator: ,}",
     "records.riga.fields[0].thousands_separator: an unquoted ',' inside {...} ends the "
     "value, so YAML read thousands_separator as empty; write it in quotes: "
     "thousands_separator: ',' (line 8)"),
    ("      - {name: codice, decimal_separator: ',', missing_values: ['-']}\n",
     "      - name: codice\n        missing_values:\n          - #N/A\n",
     "records.riga.fields[0].missing_values[0]: '#' after a space starts a YAML comment, so "
     "YAML read an item of missing_values as empty; write it in quotes: - '#N/A' (line 10)"),
])
def test_a_value_emptied_by_a_comment_or_a_comma(old: str, new: str, message: str) -> None:
    assert mistake(old, new, DELIMITED) == f"x/ordini.yaml: {message}"


def test_a_number_yaml_read_as_another_number_is_refused() -> None:
    assert mistake("length: 8}", "length: 010}") == (
        "x/ordini.yaml: records.testata.fields[1].length: 010 was read by YAML as the octal "
        "number 8, not as 10; write it without leading zeros: length: 10 (line 9)")
    # First what YAML did, then what it caused (the fields overlap because 021 is 17).
    assert mistake("start: 22", "start: 021").splitlines() == [
        "x/ordini.yaml: records.testata.fields[4].start: 021 was read by YAML as the octal "
        "number 17, not as 21; write it without leading zeros: start: 21 (line 15)",
        "x/ordini.yaml: records.testata: fields 'note' and 'data' overlap"]


def test_texts_yaml_1_1_would_make_booleans_stay_texts() -> None:
    t = loads("missing_values: ['-']", "missing_values: [NA, no]")
    assert t.records["testata"].fields[2].missing_values == ["NA", "no"]
    t = loads("true_values: ['S']", "true_values: [yes], false_values: [no]")
    assert (t.records["testata"].fields[3].true_values,
            t.records["testata"].fields[3].false_values) == (["yes"], ["no"])


def test_numbers_where_numbers_are_meant_get_no_hint() -> None:
    t = parse(BASE, "x/ordini.yaml")  # length: 10 and start: 22, unquoted, are numbers
    assert (t.records["testata"].fields[4].start, t.records["testata"].fields[4].length) == (
        22, 10)
    # 08 and 008 are no octal numbers (8 is no octal digit): YAML reads the text, which the
    # model reads as 8; 007 is octal, and 7 all the same.
    for written in ("08", "008", "007"):
        got = loads("length: 8}", f"length: {written}}}").records["testata"].fields[1].length
        assert got == int(written), written
    assert loads("comment_prefix: '#'", "comment_prefix: null",
                 DELIMITED).dialect.comment_prefix is None
    got = mistake("length: 8}", "length: -8}")
    assert "must be > 0" in got and "read by YAML" not in got
    assert mistake("description: 'the trailer'", "descrption: 'the trailer'") == (
        f"x/ordini.yaml: line {line_with(BASE, 'the trailer')}: records.coda.fields[0]."
        "descrption: unknown key (a typo?)")
    assert mistake("sign: none", "sign: 1") == (
        f"x/ordini.yaml: line {line_with(BASE, 'sign: none')}: records.testata.fields[1].sign: "
        "Input should be 'none', 'leading', "
        "'trailing', 'leading_separate', 'trailing_separate' or 'overpunch'")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("format: '%d/%m/%Y'", "format: %d/%m/%Y",
     "line 14, column 17: not valid YAML: found character that cannot start any token (a "
     "value starting with '%' must be quoted: '%d/%m/%Y')"),
    ("missing_values: ['-']", "format: %d/%m/%Y",
     "line 10, column 53: not valid YAML: found character that cannot start any token (a "
     "value starting with '%' must be quoted: '%d/%m/%Y')"),
    ("description: 'the header'", "description: @home, @away",
     "line 5, column 18: not valid YAML: found character that cannot start any token (a "
     "value starting with '@' must be quoted: '@home, @away')"),
    ("description: 'the header'", "description: `ordini`",
     "line 5, column 18: not valid YAML: found character that cannot start any token (a "
     "value starting with '`' must be quoted: '`ordini`')"),
    ("description: 'the header'", "description: , first",
     "line 5, column 18: not valid YAML: did not find expected node content (a value "
     "starting with ',' must be quoted: ', first')"),
    ("description: 'the header'", "description: the header: one a file",
     "line 5, column 28: not valid YAML: mapping values are not allowed in this context (a "
     "value holding ': ' must be quoted: description: 'the header: one a file')"),
    ("description: 'the trailer'", "description: the trailer: last",
     "line 20, column 67: not valid YAML: did not find expected ',' or '}' (inside {...}, a "
     "value holding ':', ',', '#', '{' or '}' must be quoted); write description: 'the "
     "trailer: last'"),
    ("missing_values: ['-']", "missing_values: [#N/A]",
     "line 11, column 7: not valid YAML: did not find expected node content (line 10: '#' "
     "starts a YAML comment there, which hides the rest of the line, the closing bracket "
     "too: quote the value: '#N/A')"),
    ("value: '01'", "value: #01",
     "line 9, column 7: not valid YAML: did not find expected node content (line 8: '#' "
     "starts a YAML comment there, which hides the rest of the line, the closing bracket "
     "too: quote the value: value: '#01')"),
])
def test_a_value_yaml_cannot_read_unquoted(old: str, new: str, message: str) -> None:
    assert mistake(old, new) == f"x/ordini.yaml: {message}"


def test_a_comma_value_inside_braces_that_yaml_cannot_read() -> None:
    assert mistake("delimited:\n  delimiter: ';'\n  comment_prefix: '#'",
                   "delimited: {delimiter: ,, comment_prefix: '#'}", DELIMITED).endswith(
        "(inside {...}, a value holding ':', ',', '#', '{' or '}' must be quoted); write "
        "delimiter: ','")


def test_every_shipped_tracciato_loads_clean() -> None:
    files = sorted(SHIPPED.glob("*/*.yaml"))
    assert len(files) >= 10
    for path in files:
        assert parse(path.read_text(encoding="utf-8"), path).records, path


def test_lint_prints_the_hint_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x" / "ordini.yaml"
    path.parent.mkdir()
    path.write_text(BASE.replace("value: '01'", "value: 0001").replace(
        "length: 8}", "length: 010}"), encoding="utf-8")
    got = CliRunner().invoke(main, ["tracciati", "lint", str(path)])
    assert got.exit_code == 2
    assert got.output.splitlines() == [
        f"{path}: records.testata.fields[1].length: 010 was read by YAML as the octal number "
        "8, not as 10; write it without leading zeros: length: 10 (line 9)",
        f"{path}: records.testata.fields[0].value: 0001 was read by YAML as the number 1, not "
        "as text; write it in quotes: value: '0001' (line 8)"]
    path.write_text(BASE, encoding="utf-8")
    got = CliRunner().invoke(main, ["tracciati", "lint", str(path)])
    assert (got.exit_code, got.output) == (0, "no mistakes found\n")
