"""From an ERP manual page to a tracciato: the worked example of docs/tracciati.md (an
AS/400 order file, cp850, three record types, a sign in its own column, a grand total in
the trailer, a link between a line and its order, a row rule) runs as the doc shows, and
each mistake the doc names is caught by the check it names."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.codecs import decode, encode, iter_decode
from bridge.spec import parse
from bridge.spec.model import Tracciato
from tests.conftest import ROOT

DOC = (ROOT / "docs" / "tracciati.md").read_text(encoding="utf-8")
SECTION = DOC[DOC.index("## From the manual page to the YAML"):
              DOC.index("## Writing a new tracciato")]
YAML = re.search(r"<!-- tracciato -->\n```yaml\n(.*?)\n```", SECTION, re.DOTALL)
SAMPLE = re.search(r"```text\n(.*?)\n```", SECTION, re.DOTALL)
CONSOLE = re.findall(r"```console\n\$ (bridge check .*?)\n(.*?)\n```", SECTION, re.DOTALL)
assert YAML and SAMPLE and len(CONSOLE) == 2
TEXT = YAML.group(1)
WIDTH = 100


def layout(text: str = TEXT) -> Tracciato:
    return parse(text, "as400/ordini.yaml")


def sample_bytes() -> bytes:
    """The doc's sample as the file is: each line padded to 100 characters, CR LF, cp850."""
    assert SAMPLE is not None
    return "".join(line.ljust(WIDTH) + "\r\n"
                   for line in SAMPLE.group(1).splitlines()).encode("cp850")


def issues(data: bytes, t: Tracciato | None = None) -> list[tuple[str, int | None, str | None]]:
    return [(i.code, i.line, i.field) for i in decode(data, t or layout()).issues]


def put(data: bytes, line: int, start: int, text: str) -> bytes:
    """``data`` with ``text`` written at 1-based column ``start`` of 1-based ``line``."""
    lines = data.split(b"\r\n")
    row = lines[line - 1].decode("cp850")
    lines[line - 1] = (row[:start - 1] + text + row[start - 1 + len(text):]).encode("cp850")
    return b"\r\n".join(lines)


def test_the_doc_sample_decodes_clean_with_the_values_of_the_manual() -> None:
    out = decode(sample_bytes(), layout())
    assert out.issues == []
    riga = out.tables["riga"]
    # the sign in column 58, away from the digits of the quantity in 80-88
    assert riga["quantita"].tolist() == [Decimal("3.000"), Decimal("10.000"),
                                         Decimal("1.000"), Decimal("-2.000")]
    assert riga["importo"].tolist() == [Decimal("12.75"), Decimal("1.95"), Decimal("89.90"),
                                        Decimal("-8.50")]
    assert riga["prezzo"].tolist()[1] == Decimal("0.1950")
    assert out.tables["testata"]["ragione_sociale"].tolist() == ["Ferramenta Nardò Srl",
                                                                "Cantù Arredi Sas"]
    assert out.tables["coda"]["totale_generale"].tolist() == [Decimal("96.10")]


def test_the_doc_sample_encodes_back_to_the_same_bytes() -> None:
    data = sample_bytes()
    assert encode(decode(data, layout()).tables, layout()) == data


@pytest.mark.parametrize(("command", "shown"), CONSOLE)
def test_the_console_output_in_the_doc_is_what_bridge_prints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, shown: str) -> None:
    (tmp_path / "as400").mkdir()
    (tmp_path / "as400" / "ordini.yaml").write_text(TEXT, encoding="utf-8")
    (tmp_path / "as400" / "ordini-cp1252.yaml").write_text(
        TEXT.replace("encoding: cp850", "encoding: cp1252"), encoding="utf-8")
    (tmp_path / "ORDINI.TXT").write_bytes(sample_bytes())
    monkeypatch.chdir(tmp_path)
    args = command.split()[1:]
    got = CliRunner().invoke(main, ["--tracciati", str(tmp_path), *args])
    assert got.output.rstrip("\n") == shown


def test_forgetting_implied_decimals_shows_in_the_values_and_the_totals() -> None:
    old = ("{name: totale, type: decimal, scale: 2, implied_decimals: true, sign: none,\n"
           "         start: 56, length: 13}")
    wrong = TEXT.replace(old, "{name: totale, type: decimal, scale: 2, sign: none, start: 56, "
                              "length: 13}")
    assert wrong != TEXT
    out = decode(sample_bytes(), layout(wrong))
    assert out.tables["testata"]["totale"].tolist() == [Decimal("1470.00"), Decimal("8140.00")]
    assert [(i.code, i.line) for i in out.issues] == [
        ("control-total-mismatch", 1), ("control-total-mismatch", 4),
        ("file-total-mismatch", 7)]


def test_a_sign_read_as_a_plain_field_is_caught_by_the_row_rule() -> None:
    wrong = TEXT.replace(", sign_from: segno", ", sign: none")
    assert wrong != TEXT
    assert issues(sample_bytes(), layout(wrong)) == [("rule-failed", 6, "importo")]


def test_a_grand_total_off_by_one_cent() -> None:
    data = put(sample_bytes(), 7, 9, "000000000009611")
    got = decode(data, layout()).issues
    assert [(i.code, i.line, i.record, i.field, i.value) for i in got] == [
        ("file-total-mismatch", 7, "coda", "totale_generale", "96.11")]
    assert "the sum of testata.totale over the file is 96.10" in got[0].message


def test_a_grand_total_within_its_tolerance() -> None:
    loose = TEXT.replace("over: testata, sum: totale}", "over: testata, sum: totale, "
                         "tolerance: 0.01}")
    assert loose != TEXT
    assert issues(put(sample_bytes(), 7, 9, "000000000009611"), layout(loose)) == []
    assert issues(put(sample_bytes(), 7, 9, "000000000009612"), layout(loose)) == [
        ("file-total-mismatch", 7, "totale_generale")]


def test_a_grand_total_over_records_that_come_after_it() -> None:
    # The total first, in a header record, and the records it sums after it.
    text = """
format: fixed
encoding: cp850
discriminator: {start: 1, length: 1}
records:
  testa:
    when: H
    occurs: first
    fields:
      - {name: tipo, type: constant, value: H, start: 1, length: 1}
      - {name: totale, type: decimal, implied_decimals: true, sign: none, start: 2, length: 8}
  riga:
    when: D
    fields:
      - {name: tipo, type: constant, value: D, start: 1, length: 1}
      - {name: importo, type: decimal, implied_decimals: true, start: 2, length: 8}
checks:
  file_totals: [{record: testa, field: totale, over: riga, sum: importo}]
"""
    t = parse(text, "x/testa.yaml")
    body = b"D00000150\r\nD-0000050\r\n"
    assert decode(b"H00000100\r\n" + body, t).issues == []
    assert [(i.code, i.line) for i in decode(b"H00000101\r\n" + body, t).issues] == [
        ("file-total-mismatch", 1)]


def test_a_line_under_the_wrong_order_number() -> None:
    data = put(sample_bytes(), 6, 2, "00004713")
    got = decode(data, layout()).issues
    assert [(i.code, i.line, i.record, i.field, i.value) for i in got] == [
        ("link-mismatch", 6, "riga", "numero_ordine", "4713")]
    assert "its testata (line 4) has numero_ordine 4712" in got[0].message


def test_a_sign_that_is_neither_kind() -> None:
    data = put(sample_bytes(), 6, 58, "X")
    got = decode(data, layout())
    assert [(i.code, i.line, i.field, i.value) for i in got.issues] == [
        ("bad-sign", 6, "quantita", "X")]
    # the number is not guessed: left out, so the rule that reads it does not judge it
    assert got.tables["riga"]["quantita"].isna().tolist() == [False, False, False, True]


@pytest.mark.parametrize("sign", ["+", " "])
def test_a_blank_or_plus_sign_is_positive(sign: str) -> None:
    data = put(sample_bytes(), 2, 58, sign)
    assert decode(data, layout()).tables["riga"]["quantita"].tolist()[0] == Decimal("3.000")


def test_a_broken_row_rule_names_its_values() -> None:
    data = put(sample_bytes(), 2, 68, "00000000128E")  # 12.85 for 3 x 4.25
    got = decode(data, layout()).issues
    assert [(i.code, i.line, i.field) for i in got] == [
        ("control-total-mismatch", 1, "totale"), ("rule-failed", 2, "importo")]
    rule = got[1]
    assert rule.value == "12.85"
    assert rule.message == ("'importo == (quantita * prezzo) | round2' does not hold "
                            "(importo=12.85, prezzo=4.2500, quantita=3.000)")


def test_the_checks_hold_when_the_file_is_read_in_chunks() -> None:
    """Many orders, read in chunks of a few hundred bytes: the grand total is summed across
    the chunks, and the links and rules are checked in each."""
    t = layout()
    data = sample_bytes()
    lines = data.split(b"\r\n")
    orders = b"\r\n".join(lines[:6]) + b"\r\n"
    many = orders * 50
    count = f"{50 * 6 + 1:07d}"
    total = f"{Decimal('96.10') * 50:.2f}".replace(".", "").rjust(15, "0")
    trailer = ("Z" + count + total).ljust(WIDTH).encode("cp850") + b"\r\n"
    whole = many + trailer
    # order numbers repeat: only the unique check complains, once per repeat
    parts = list(iter_decode(whole, t, chunk_bytes=700))
    assert len(parts) > 10
    codes = {i.code for p in parts for i in p.issues}
    assert codes == {"duplicate-key"}
    broken = put(whole, len(whole.split(b"\r\n")) - 1, 9, "0" * 15)
    last = list(iter_decode(broken, t, chunk_bytes=700))
    assert [i.code for p in last for i in p.issues if i.code != "duplicate-key"] == [
        "file-total-mismatch"]
