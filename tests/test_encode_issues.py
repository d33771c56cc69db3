"""Writing never hides a bad value: each is an issue on its row's ``_line``, and no bytes
are made while there is one; what the layout cannot hold is never written silently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bridge.codecs import EncodeError, decode, encode, encode_rows
from bridge.errors import ConfigError
from bridge.issues import Issue
from bridge.spec import load_file, parse
from bridge.spec.model import Tracciato

ROOT = Path(__file__).resolve().parents[1]
ORDINI = load_file(ROOT / "tracciati" / "gestionale" / "ordini.yaml")
SAMPLE = (ROOT / "samples" / "tracciati" / "gestionale" / "ordini.txt").read_bytes()

#: A customer file for an ERP that reads ';' and no quotes: a ';' in a name would shift
#: the credit limit.
CLIENTI = """
format: delimited
encoding: cp1252
delimited: {delimiter: ';', quote_char: null}
records:
  cliente:
    fields:
      - {name: codice, required: true, max_length: 8}
      - {name: nome, max_length: 40}
      - {name: fido, type: decimal, decimal_separator: ','}
"""
SEMI = parse(CLIENTI, "prova/clienti.yaml")


def changed(t: Tracciato, record: str, name: str, **keys: Any) -> Tracciato:
    """The tracciato with one field's keys changed."""
    data = t.model_dump()
    for f in data["records"][record]["fields"]:
        if f["name"] == name:
            f.update(keys)
    return Tracciato.model_validate(data)


def ordini(t: Tracciato = ORDINI) -> dict[str, pd.DataFrame]:
    """The shipped sample's tables: testata on lines 1 and 5, righe on 2-4 and 6, coda 7."""
    return decode(SAMPLE, t).tables


def clienti(*names: str) -> dict[str, pd.DataFrame]:
    return {"cliente": pd.DataFrame({
        "codice": [f"C{i}" for i in range(1, len(names) + 1)], "nome": list(names),
        "fido": pa.array([1500] * len(names), pa.decimal128(18, 2)).to_pylist(),
        "_line": range(2, len(names) + 2)})}


def facts(issues: list[Issue]) -> list[tuple[object, ...]]:
    return [(i.code, i.line, i.record, i.field, i.value) for i in issues]


def test_an_emoji_in_cp1252_is_unencodable_on_its_row() -> None:
    tables = ordini()
    tables["righe"].loc[0, "descrizione"] = "Conti 😀"
    out = encode_rows(tables, ORDINI)
    assert out.data is None
    assert facts(out.issues) == [("unencodable", 2, "righe", "descrizione", "Conti 😀")]
    assert "U+1F600" in out.issues[0].message
    assert out.error_lines == {2}
    with pytest.raises(EncodeError) as err:
        encode(tables, ORDINI)
    assert err.value.issues == out.issues


def test_the_line_is_the_rows_own_line_not_its_place_in_the_output() -> None:
    tables = ordini()
    for df in tables.values():
        df["_line"] = df["_line"] * 100  # the rows came from lines 100, 200... of the source
    tables["righe"]["_parent_line"] = tables["righe"]["_parent_line"] * 100
    tables["righe"].loc[3, "codice_articolo"] = "TE-SEN-100-VERDE-BIO"
    out = encode_rows(tables, ORDINI)
    assert facts(out.issues) == [
        ("too-long", 600, "righe", "codice_articolo", "TE-SEN-100-VERDE-BIO")]
    assert out.data is None


def test_max_length_narrower_than_the_width_is_enforced() -> None:
    # descrizione is 40 wide; a layout may allow fewer characters than it has room for
    t = changed(ORDINI, "righe", "descrizione", max_length=30)
    tables = ordini(t)
    name = "Caffè macinato per moka 250 g, tostatura media"  # 46 characters
    tables["righe"].loc[1, "descrizione"] = name[:35]
    tables["righe"].loc[2, "descrizione"] = name
    out = encode_rows(tables, t)
    assert facts(out.issues) == [("too-long", 3, "righe", "descrizione", name[:35]),
                                 ("too-long", 4, "righe", "descrizione", name)]
    assert all("30 characters (its max_length)" in i.message for i in out.issues)


def test_min_length_and_pattern_hold_on_output_but_not_for_empty_cells() -> None:
    t = changed(ORDINI, "testata", "codice_agente", min_length=4)
    tables = ordini(t)
    tables["testata"].loc[0, "codice_agente"] = "A1"
    tables["testata"].loc[1, "valuta"] = "eur"
    assert pd.isna(tables["testata"].loc[1, "codice_agente"])  # empty: not too short
    out = encode_rows(tables, t)
    assert facts(out.issues) == [("too-short", 1, "testata", "codice_agente", "A1"),
                                 ("bad-pattern", 5, "testata", "valuta", "eur")]
    assert out.data is None


def test_an_enum_of_the_target_holds_on_output() -> None:
    t = parse(CLIENTI.replace("      - {name: fido, type: decimal, decimal_separator: ','}",
                              "      - {name: stato, type: enum, values: [A, S]}"),
              "prova/stati.yaml")
    rows = pd.DataFrame({"codice": ["C1", "C2"], "nome": ["Rossi", "Bianchi"],
                         "stato": ["A", "X"], "_line": [2, 3]})
    out = encode_rows({"cliente": rows}, t)
    assert facts(out.issues) == [("not-in-enum", 3, "cliente", "stato", "X")]
    assert out.data is None


@pytest.mark.parametrize("char", ["\r", "\n", "\r\n", "\t", "\x00", "\x1a", "\x7f", "\x85"])
def test_a_control_character_in_a_fixed_width_field(char: str) -> None:
    tables = ordini()
    value = f"Moka 3 tazze{char}R00000010010009FAKE"
    tables["righe"].loc[1, "descrizione"] = value
    out = encode_rows(tables, ORDINI)
    assert facts(out.issues) == [("control-character", 3, "righe", "descrizione", value)]
    assert out.data is None


def test_the_delimiter_in_an_unquoted_field_would_shift_the_columns() -> None:
    out = encode_rows(clienti("Rossi Srl", "Rossi; Bianchi", "Verdi"), SEMI)
    assert facts(out.issues) == [
        ("delimiter-in-field", 3, "cliente", "nome", "Rossi; Bianchi")]
    assert out.data is None


def test_a_line_break_in_an_unquoted_field() -> None:
    out = encode_rows(clienti("Rossi\r\nC9;Finto;999999"), SEMI)
    assert [(i.code, i.line, i.field) for i in out.issues] == [
        ("control-character", 2, "nome"), ("delimiter-in-field", 2, "nome")]


def test_a_quoted_layout_quotes_delimiters_and_line_ends_but_refuses_nul() -> None:
    t = parse(CLIENTI.replace("quote_char: null", "quote_char: '\"'"), "prova/quoted.yaml")
    good = encode_rows(clienti("Rossi; Bianchi", "Via Roma\r\n12"), t)
    assert good.issues == []
    assert good.data == (b'codice;nome;fido\r\nC1;"Rossi; Bianchi";1500,00\r\n'
                         b'C2;"Via Roma\r\n12";1500,00\r\n')
    bad = encode_rows(clienti("Rossi\x00"), t)
    assert facts(bad.issues) == [("control-character", 2, "cliente", "nome", "Rossi\x00")]


@pytest.mark.parametrize("escaped", [False, True])
def test_a_layout_may_refuse_control_characters_it_would_quote(escaped: bool) -> None:
    """An importer that reads a line at a time takes a quoted line break for the end of the
    record: its layout says `control_characters: refuse`, and the row is refused."""
    dialect = "quote_char: null, escape_char: '\\'" if escaped else "quote_char: '\"'"
    t = parse(CLIENTI.replace("quote_char: null", f"{dialect}, control_characters: refuse"),
              "prova/lines.yaml")
    out = encode_rows(clienti("Via Roma\r\n12", "Rossi; Bianchi", "Verdi\tSrl", "Bianchi\x1a"), t)
    assert [(i.code, i.line) for i in out.issues] == [
        ("control-character", 2), ("control-character", 4), ("control-character", 5)]
    assert out.data is None
    good = encode_rows(clienti("Rossi; Bianchi"), t)
    assert good.issues == [] and good.data is not None


def test_a_layout_may_refuse_cells_a_spreadsheet_would_run_as_formulas() -> None:
    """An operator opens the ERP's file in a spreadsheet before approving it: a customer
    who named the company `=HYPERLINK(...)` ran it there. With `formulas: refuse` such a
    cell is its row's `formula`; a phone or a signed number is data and goes."""
    t = parse(CLIENTI.replace("quote_char: null", "quote_char: '\"', formulas: refuse"),
              "prova/formulas.yaml")
    bad = ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "+cmd|' /C calc'!A0", "-2+3",
           "\t=1+1", "=", "+A1", "-5%"]
    good = ["+39 035 412233", "-12,50", "+39 (035) 41-22-33", "Rossi = Bianchi",
            "Rossi Srl", " =1", "-", "+"]
    out = encode_rows(clienti(*bad, *good), t)
    assert [(i.code, i.line, i.field, i.value) for i in out.issues] == [
        ("formula", line, "nome", value) for line, value in enumerate(bad, 2)]
    assert out.data is None
    fine = encode_rows(clienti(*good), t)
    assert fine.issues == [] and fine.data is not None
    # Without the key the layout writes every cell as it is.
    plain = parse(CLIENTI.replace("quote_char: null", "quote_char: '\"'"), "prova/plain.yaml")
    assert encode_rows(clienti(*bad), plain).issues == []


def test_a_phone_written_with_letters_is_data_not_a_formula() -> None:
    """A phone with its extension in words (`+39 035 412233 int. 12`) or a vanity number
    (`+1 800 FLOWERS`) was refused as a formula, and that customer never reached the
    file. Letters after a number are data now; a function call, a cell reference or an
    operator after the number are still refused."""
    t = parse(CLIENTI.replace("quote_char: null", "quote_char: '\"', formulas: refuse"),
              "prova/formulas.yaml")
    good = ["+39 035 412233 int. 12", "+1 800 FLOWERS", "+1-800-FLOWERS",
            "+39 02 1234567 (interno 5)", "+44 20 7946 0958 ext. 3"]
    bad = ["+1 HYPERLINK(A1)", "+1 SUM (A1)", "-1-A1", "+39 035 x12", "+1 LOG10(2)",
           "-2+3", "+A1", "=HYPERLINK(1)", "+1 A1:B2"]
    out = encode_rows(clienti(*good, *bad), t)
    assert [(i.code, i.line, i.value) for i in out.issues] == [
        ("formula", line, value) for line, value in enumerate(bad, 2 + len(good))]
    fine = encode_rows(clienti(*good), t)
    assert fine.issues == [] and fine.data is not None
    assert fine.data.count(b"FLOWERS") == 2


@pytest.mark.parametrize("layout", [SEMI, ORDINI])
def test_a_required_text_written_blank_is_missing_not_an_empty_cell(layout: Tracciato) -> None:
    """A required field given an empty or blank text (a name made of nothing) was written
    empty, and the ERP's file then held a row its own layout refuses: the file read back
    said `missing-required`. It is that issue on the row now, as a missing value is."""
    if layout is SEMI:
        t = changed(SEMI, "cliente", "nome", required=True, missing_values=["N/D"])
        tables = clienti("Rossi", "", "   ", "N/D", None)
        record, field, lines = "cliente", "nome", [3, 4, 5, 6]
    else:
        tables = ordini()
        tables["testata"]["codice_cliente"] = ["", " "]
        record, field = "testata", "codice_cliente"
        lines = tables["testata"]["_line"].tolist()
        t = layout
    out = encode_rows(tables, t)
    assert [(i.code, i.line, i.record, i.field) for i in out.issues] == [
        ("missing-required", line, record, field) for line in lines]
    assert out.data is None


def test_a_long_value_a_guard_refuses_is_kept_clipped_as_every_issue_s_value() -> None:
    """A cell of 300,000 characters refused for a control character, a character the
    encoding lacks or a formula kept its whole text as the issue's value (300 KB in the
    ledger per issue, and in `check --format json`); every other issue clips it."""
    t = parse(CLIENTI.replace("quote_char: null", "quote_char: '\"', control_characters: "
                              "refuse, formulas: refuse"), "prova/long.yaml")
    long = "Z" * 300_000
    t = changed(t, "cliente", "nome", max_length=None)
    out = encode_rows(clienti(long + "\x01", "=" + long, long + "\u0100"), t)
    assert sorted(i.code for i in out.issues) == ["control-character", "formula", "unencodable"]
    assert all(i.value is not None and len(i.value) <= 200 for i in out.issues), [
        len(i.value or "") for i in out.issues]


def test_an_escape_character_protects_delimiters_and_line_ends_only() -> None:
    t = parse(CLIENTI.replace("quote_char: null", "quote_char: null, escape_char: '\\'"),
              "prova/escaped.yaml")
    out = encode_rows(clienti("Rossi; Bianchi\r\n"), t)
    assert out.issues == []
    assert out.data == b"codice;nome;fido\r\nC1;Rossi\\; Bianchi\\\r\\\n;1500,00\r\n"
    tab = encode_rows(clienti("Rossi\tBianchi"), t)
    assert [i.code for i in tab.issues] == ["control-character"]


def test_replace_writes_the_encodings_question_mark_and_notes_it() -> None:
    t = changed(SEMI, "cliente", "nome", on_unencodable="replace")
    out = encode_rows(clienti("Conti 😀", "Łukasz"), t)
    assert out.data == b"codice;nome;fido\r\nC1;Conti ?;1500,00\r\nC2;?ukasz;1500,00\r\n"
    assert facts(out.issues) == [("replaced", 2, "cliente", "nome", "Conti 😀"),
                                 ("replaced", 3, "cliente", "nome", "Łukasz")]
    assert not any(i.is_error for i in out.issues)
    assert encode(clienti("Conti 😀", "Łukasz"), t) == out.data


def test_transliterate_keeps_what_cp1252_holds_and_writes_the_rest_closest() -> None:
    t = changed(ORDINI, "righe", "descrizione", on_unencodable="transliterate")
    tables = ordini(t)
    tables["righe"].loc[0, "descrizione"] = "Caffè Łódź, Győr 😀 e\u0301 ½"
    out = encode_rows(tables, t)
    written = "Caffè Lódz, Gyor  é ½"  # ó and ½ are in cp1252; the emoji is left out
    line = SAMPLE.split(b"\r\n")[1].decode("cp1252")
    new_line = line[:30] + written.ljust(40) + line[70:]
    assert out.data == SAMPLE.replace(line.encode("cp1252"), new_line.encode("cp1252"))
    assert facts(out.issues) == [("transliterated", 2, "righe", "descrizione",
                                  "Caffè Łódź, Győr 😀 e\u0301 ½")]
    assert repr(written) in out.issues[0].message


def test_a_transliteration_is_held_to_the_same_rules() -> None:
    t = changed(SEMI, "cliente", "nome", on_unencodable="transliterate")
    out = encode_rows(clienti("Rossi；Bianchi", "北京市朝阳区建国门外大街一号国贸大厦写字楼"), t)
    assert [(i.code, i.line) for i in out.issues] == [
        ("transliterated", 2), ("delimiter-in-field", 2), ("transliterated", 3),
        ("too-long", 3)]
    assert out.data is None


def test_on_too_long_cut_writes_the_width_and_notes_it() -> None:
    t = changed(ORDINI, "righe", "descrizione", on_too_long="cut")
    tables = ordini(t)
    name = "Caffè macinato per moka 250 g, tostatura media"  # 46 characters
    tables["righe"].loc[1, "descrizione"] = name
    out = encode_rows(tables, t)
    line = SAMPLE.split(b"\r\n")[2].decode("cp1252")
    new_line = line[:30] + name[:40] + line[70:]
    assert out.data == SAMPLE.replace(line.encode("cp1252"), new_line.encode("cp1252"))
    assert facts(out.issues) == [("cut", 3, "righe", "descrizione", name)]
    assert not out.issues[0].is_error and out.error_lines == set()
    assert "written cut" in out.issues[0].message
    # Without the option, the same value is a bad row and nothing is written
    plain = encode_rows({**ordini(ORDINI), "righe": tables["righe"]}, ORDINI)
    assert plain.data is None and [i.code for i in plain.issues] == ["too-long"]


def test_a_transliteration_longer_than_the_field_is_cut_after_it() -> None:
    # Cut before transliterating (a `truncate` in a step), a name of 16 Chinese characters
    # fits its field, then becomes three times as long: cut where it is written, it fits.
    t = changed(changed(SEMI, "cliente", "nome", on_unencodable="transliterate"),
                "cliente", "nome", on_too_long="cut")
    name = "北京市朝阳区建国门外大街一号国贸"
    out = encode_rows(clienti("Rossi", name), t)
    assert [(i.code, i.line) for i in out.issues] == [("transliterated", 3), ("cut", 3)]
    assert out.data is not None
    assert out.data.decode("cp1252").splitlines()[2] == \
        "C2;BeiJingShiChaoYangQuJianGuoMenWaiDaJieYi;1500,00"


def test_on_too_long_cut_on_a_delimited_max_length() -> None:
    t = changed(SEMI, "cliente", "nome", on_too_long="cut")
    name = "Cooperativa Agricola Produttori Riuniti della Valle"  # 51 characters
    out = encode_rows(clienti("Rossi", name), t)
    assert facts(out.issues) == [("cut", 3, "cliente", "nome", name)]
    assert out.data is not None
    # cut at 40 characters, the space the cut leaves at the end trimmed
    assert out.data.decode("cp1252").splitlines()[2] == f"C2;{name[:40].rstrip()};1500,00"


def test_a_value_cut_to_its_width_is_held_to_the_field_s_pattern() -> None:
    """Fixed width: the pattern was checked on the value before the cut, and the cut one
    was written unchecked (CSV cut first and checked after). Now both check what is
    written."""
    t = changed(ORDINI, "righe", "descrizione", on_too_long="cut",
                pattern="[^@ ]*@[^@ ]+[.][a-z]+|[^@]*")
    tables = ordini(t)
    tables["righe"].loc[1, "descrizione"] = \
        "amministrazione.contabilita@ferramenta-rossi-srl.it"  # 51 characters
    out = encode_rows(tables, t)
    assert out.data is None
    assert [(i.code, i.line, i.value) for i in out.issues] == [
        ("cut", 3, "amministrazione.contabilita@ferramenta-rossi-srl.it"),
        ("bad-pattern", 3, "amministrazione.contabilita@ferramenta-rossi-srl.it")]
    assert "'amministrazione.contabilita@ferramenta-r' does not match" in \
        out.issues[1].message


def test_only_text_may_be_cut() -> None:
    with pytest.raises(ValueError, match="on_too_long: cut is for text: a decimal cut"):
        changed(ORDINI, "righe", "quantita", on_too_long="cut")


def test_a_value_that_cannot_be_cast_is_an_issue_on_its_line() -> None:
    tables = ordini()
    righe = tables["righe"]
    righe["numero_riga"] = ["1", "due", "3", "1"]
    out = encode_rows(tables, ORDINI)
    assert facts(out.issues) == [("bad-integer", 3, "righe", "numero_riga", "due")]


def test_many_bad_values_in_one_column_are_summed_up() -> None:
    df = pd.DataFrame({"codice": ["C1"] * 3000, "fido": ["molto"] * 3000,
                       "_line": range(1, 3001)})
    out = encode_rows({"cliente": df}, SEMI)
    one_by_one = [i for i in out.issues if i.line is not None]
    [rest] = [i for i in out.issues if i.line is None]
    assert {i.code for i in out.issues} == {"bad-decimal"}
    assert 1000 <= len(one_by_one) < 1100
    assert rest.message.startswith(f"{3000 - len(one_by_one)} more rows")


def test_a_float_with_more_decimals_than_the_scale_is_not_rounded_silently() -> None:
    df = pd.DataFrame({"codice": ["C1", "C2"], "fido": [1500.5, 0.1 + 0.2], "_line": [2, 3]})
    out = encode_rows({"cliente": df}, SEMI)
    assert [(i.code, i.line, i.value) for i in out.issues] == [
        ("too-many-decimals", 3, "0.30000000000000004")]


def test_a_table_without_lines_names_the_row_in_the_message() -> None:
    df = pd.DataFrame({"codice": ["C1", "C2000000001"]})
    out = encode_rows({"cliente": df}, SEMI)
    [issue] = out.issues
    assert (issue.code, issue.line, issue.value) == ("too-long", None, "C2000000001")
    assert issue.message.endswith("(row 2 of the cliente table)")


@pytest.mark.parametrize("tables", [
    {"clienti": pd.DataFrame({"codice": ["C1"]})},
    {"cliente": pd.DataFrame({"codice": [["C1"]]})},
    {"cliente": pd.DataFrame({"codice": ["C1"], "fido": [pd.Timestamp("2025-10-07")]})},
])
def test_what_does_not_fit_the_layout_at_all_is_a_configuration_error(
        tables: dict[str, pd.DataFrame]) -> None:
    with pytest.raises(ConfigError):
        encode_rows(tables, SEMI)


@pytest.mark.parametrize("yaml", [
    CLIENTI.replace("decimal_separator: ','", "decimal_separator: ';'"),
    CLIENTI.replace("encoding: cp1252", "encoding: latin-1").replace(
        "{name: codice,", "{name: codice, column: 'Codice €',"),
])
def test_the_layouts_own_text_that_cannot_be_written_is_a_configuration_error(
        yaml: str) -> None:
    with pytest.raises(ConfigError):
        encode_rows(clienti("Rossi"), parse(yaml, "prova/sbagliato.yaml"))


def test_anyascii_is_imported_only_by_a_layout_that_transliterates() -> None:
    code = (
        "import sys\n"
        "from bridge.codecs import decode, encode_rows\n"
        "from bridge.spec import parse\n"
        "import pandas as pd\n"
        f"t = parse({CLIENTI!r}, 'prova/clienti.yaml')\n"
        "encode_rows({'cliente': pd.DataFrame({'codice': ['C1'], 'nome': ['Łukasz']})}, t)\n"
        "print('anyascii' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


def read_back(value: str | None) -> str | None:
    """What decoding gives for a written value: trimmed, and empty is null."""
    text = pc.utf8_trim_whitespace(pa.array([value], pa.string()))[0].as_py()
    return text or None


_how = st.sampled_from(["error", "replace", "transliterate"])


def as_written(t: Tracciato) -> Tracciato:
    """``t`` reading its own output back as declared: a cp1252 file whose only accented
    text happens to be valid UTF-8 (`Â` and a no-break space are C2 A0, UTF-8's no-break
    space) is refused by the reader's check of UTF-8 sent as cp1252, which is not what
    these tests are about (tests/test_utf8_as_cp1252.py is)."""
    return t.model_copy(update={"refuse_utf8": False})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=45), min_size=4, max_size=4), _how)
@example(["", "", "", "Â\xa0"], "error")
def test_fixed_width_never_raises_and_what_it_writes_reads_back(texts: list[str],
                                                                how: str) -> None:
    t = changed(ORDINI, "righe", "descrizione", on_unencodable=how)
    tables = ordini(t)
    tables["righe"]["descrizione"] = pd.array(texts, dtype=pd.ArrowDtype(pa.string()))
    out = encode_rows(tables, t)
    flagged = {i.line for i in out.issues}
    if out.data is None:
        assert any(i.is_error for i in out.issues)
        return
    back = decode(out.data, as_written(t))
    assert back.issues == []
    got = back.tables["righe"]["descrizione"].tolist()
    for line, value, read in zip([2, 3, 4, 6], texts, got, strict=True):
        if line not in flagged:
            assert (None if pd.isna(read) else read) == read_back(value)
        else:
            # a replaced or transliterated value: written whole (emoji alone: empty)
            assert pd.isna(read) or read.encode("cp1252")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.text(max_size=45), min_size=1, max_size=4), _how)
@example(["Â\xa0"], "error")
def test_unquoted_delimited_never_raises_and_what_it_writes_reads_back(
        texts: list[str], how: str) -> None:
    t = changed(SEMI, "cliente", "nome", on_unencodable=how)
    out = encode_rows(clienti(*texts), t)
    if out.data is None:
        assert any(i.is_error for i in out.issues)
        return
    back = decode(out.data, as_written(t))
    assert back.issues == []
    got = back.tables["cliente"]["nome"].tolist()
    assert len(got) == len(texts)
    flagged = {i.line for i in out.issues}
    for line, (value, read) in enumerate(zip(texts, got, strict=True), start=2):
        if line not in flagged:
            assert (None if pd.isna(read) else read) == read_back(value)


def _cases() -> list[tuple[str, dict[str, pd.DataFrame], Tracciato]]:
    bad = ordini()
    bad["righe"]["numero_riga"] = ["1", "due", "3", "1"]
    emoji = ordini()
    emoji["righe"].loc[0, "descrizione"] = "Conti 😀"
    return [
        ("the sample", ordini(), ORDINI),
        ("a value that cannot be cast", bad, ORDINI),
        ("an emoji in cp1252", emoji, ORDINI),
        ("many bad values", {"cliente": pd.DataFrame({
            "codice": ["C1"] * 3000, "fido": ["molto"] * 3000, "_line": range(1, 3001)})},
         SEMI),
        ("too many decimals", {"cliente": pd.DataFrame({
            "codice": ["C1", "C2"], "fido": [1500.5, 0.1 + 0.2], "_line": [2, 3]})}, SEMI),
        ("no lines, a ';' in a name", clienti("Rossi; Bianchi", "Verdi"), SEMI),
        ("no _line column", {"cliente": pd.DataFrame({"codice": ["C1", "C2000000001"]})},
         SEMI),
    ]


@pytest.mark.parametrize("case", range(7))
def test_arrow_tables_are_written_as_their_pandas_view(case: int) -> None:
    """A flow hands the steps' Arrow tables to the writer; the same tables as pandas (what
    every other caller gives) make the same bytes and the same issues, errors included."""
    name, frames, t = _cases()[case]
    arrow = {n: pa.Table.from_pandas(df, preserve_index=False) for n, df in frames.items()}
    assert all(isinstance(a, pa.Table) for a in arrow.values())
    by_pandas, by_arrow = encode_rows(frames, t), encode_rows(arrow, t)
    assert by_arrow.data == by_pandas.data, name
    assert facts(by_arrow.issues) == facts(by_pandas.issues), name
    assert [i.message for i in by_arrow.issues] == [i.message for i in by_pandas.issues]
    if case == 0:
        assert by_arrow.data == SAMPLE
    else:
        assert by_arrow.issues, name


RANGED = parse("""
format: fixed
encoding: cp1252
records:
  riga:
    fields:
      - {name: numero, type: integer, start: 1, length: 6, minimum: 1, maximum: 99999,
         sign: none}
      - {name: sconto, type: decimal, scale: 2, start: 7, length: 6, minimum: -10,
         maximum: 50}
""", "prova/ranged.yaml")


def test_a_number_out_of_its_fields_range_is_not_written() -> None:
    """The layout's minimum and maximum hold when writing, as when reading: order number 0
    made from a shop order named '#0' was written, and bridge check of the file refused it.
    A negative number in a field of no sign and a minimum is told once."""
    from decimal import Decimal

    rows = {"riga": pa.table({
        "numero": pa.array([0, 7, 100000, None, -3], pa.int64()),
        "sconto": pa.array([Decimal("0"), Decimal("-10.01"), Decimal("50.00"),
                            Decimal("50.01"), None], pa.decimal128(10, 2)),
        "_line": pa.array([2, 3, 4, 5, 6], pa.int64())})}
    out = encode_rows(rows, RANGED)
    assert out.data is None
    assert [(i.line, i.code, i.field, i.value) for i in out.errors] == [
        (2, "below-minimum", "numero", "0"),
        (3, "below-minimum", "sconto", "-10.01"),
        (4, "above-maximum", "numero", "100000"),
        (5, "above-maximum", "sconto", "50.01"),
        (6, "below-minimum", "numero", "-3"),
    ]
    good = {"riga": rows["riga"].slice(1, 1).set_column(
        1, "sconto", pa.array([Decimal("-10")], pa.decimal128(10, 2)))}
    assert encode_rows(good, RANGED).data == b"000007-10.00\r\n"
