"""Templated targets are escaped by the kind they declare (`format`), never by the template's
file name; and a character XML cannot hold is an issue on the row it came from.

The attack: an order note holding markup, and another holding a control character, sent to
the sample's Easyfatt target whose template is named in upper case (``EASYFATT.XML``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import load
from bridge.engine.render import _not_xml, template_bytes, template_utf8
from bridge.errors import ConfigError
from bridge.templating import render_file
from tests.conftest import ROOT
from tests.test_business_orders import ORDERS, with_orders
from tests.test_samples import run_twice

if TYPE_CHECKING:
    from bridge.config import Target

TEMPLATE = "template: templates/easyfatt-ordini.xml"


def upper_case_template(tmp_path: Path, policy: str) -> Path:
    """The sample, its Easyfatt template renamed EASYFATT.XML, with two hostile notes: markup
    in order #2001, a control character (U+0001) in order #2005."""
    cfg = with_orders(tmp_path, ('"Consegna in cantiere, chiedere di Paolo"',
                                 '"<x/> chiedere di Paolo"'))
    text = cfg.read_text(encoding="utf-8")
    assert TEMPLATE in text and "on_bad_rows: reject-file" in text
    cfg.write_text(text.replace(TEMPLATE, "template: templates/EASYFATT.XML").replace(
        "on_bad_rows: reject-file", f"on_bad_rows: {policy}"), encoding="utf-8")
    templates = cfg.parent / "templates"
    (templates / "easyfatt-ordini.xml").rename(templates / "EASYFATT.XML")
    orders = cfg.parent / ORDERS
    data = orders.read_text(encoding="utf-8")
    assert '"Citofono ' in data
    orders.write_text(data.replace('"Citofono ', '"Citofono \x01'),
                      encoding="utf-8")
    return cfg


def order_line(cfg: Path, number: str) -> int:
    """The line of the order's first row in the export (the header is line 1)."""
    lines = (cfg.parent / ORDERS).read_text(encoding="utf-8").splitlines()
    return next(i for i, text in enumerate(lines, start=1) if text.startswith(number + ","))


def test_an_upper_case_xml_template_escapes_markup_and_skips_the_control_character(
        tmp_path: Path) -> None:
    cfg = upper_case_template(tmp_path, "skip-rows")
    line_2005 = order_line(cfg, "#2005")
    result = run_twice(cfg, ["ordini"])
    assert [o.state for o in result.outcomes] == ["done"]
    files = list((cfg.parent / "erp" / "easyfatt").glob("*.xml"))
    assert len(files) == 1
    doc = ET.fromstring(files[0].read_bytes())  # the whole batch parses
    documents = {d.findtext("Number"): d for d in doc.findall("./Documents/Document")}
    # The markup is text, not an element the importer would read.
    assert documents["2001"].findtext("InternalComment") == "<x/> chiedere di Paolo"
    assert documents["2001"].find("InternalComment/x") is None
    # The order with the control character is left out, from both targets, and reported
    # on its own line.
    assert "2005" not in documents and len(documents) == 5
    assert b"#2005" not in next((cfg.parent / "erp" / "ordini").glob("*.TXT")).read_bytes()
    report = (cfg.parent / "quarantine" / f"{ORDERS.name}.issues.csv").read_text(
        encoding="utf-8-sig")
    row = next(r for r in report.splitlines() if "not-xml-character" in r)
    assert row.startswith(f"{line_2005},testata,not-xml-character,note,")
    assert "U+0001" in row


def test_with_reject_file_the_control_character_refuses_the_whole_file(tmp_path: Path) -> None:
    cfg = upper_case_template(tmp_path, "reject-file")
    result = run_twice(cfg, ["ordini"])
    assert [o.state for o in result.outcomes] == ["rejected"]
    assert not list((cfg.parent / "erp").rglob("*.xml"))


@pytest.mark.parametrize("name", ["ORDERS.XML", "orders.Xml", "orders.tmpl", "orders.xml.j2"])
def test_the_declared_kind_escapes_whatever_the_name(tmp_path: Path, name: str) -> None:
    template = tmp_path / name
    template.write_text("<a n=\"{{ v }}\">{{ v }}</a>", encoding="utf-8")
    v = "<x/> & \"q\" 'a'"
    xml = render_file(template, {"v": v}, "xml")
    assert ET.fromstring(xml).text == v and ET.fromstring(xml).get("n") == v
    assert render_file(template, {"v": v}, "text") == f"<a n=\"{v}\">{v}</a>"


def test_a_template_without_its_kind_is_a_configuration_error(tmp_path: Path) -> None:
    cfg = with_orders(tmp_path, config=("        format: xml\n", ""))
    with pytest.raises(ConfigError) as err:
        load(cfg)
    assert "targets[1]" in str(err.value) and "format: xml, html or text" in str(err.value)


def test_an_encoding_python_does_not_know_is_a_configuration_error(tmp_path: Path) -> None:
    """Not an internal error of every run and of `bridge validate`, as it was."""
    cfg = with_orders(tmp_path, config=("template_encoding: utf-8",
                                        "template_encoding: no-such-codec"))
    with pytest.raises(ConfigError) as err:
        load(cfg)
    assert "targets[1]" in str(err.value) and "unknown encoding 'no-such-codec'" in str(
        err.value)


def test_a_character_no_row_holds_refuses_the_whole_file() -> None:
    # Say it came from the sender's file name: no row to blame, so the file is refused.
    tables = {"testata": pd.DataFrame({"_line": [2], "note": ["fine"]})}
    issues = _not_xml(tables, "\x1b", "T.XML")
    assert [(i.code, i.line) for i in issues] == [("not-xml-character", None)]
    assert "U+001B" in issues[0].message


def _same(a: list[dict[str, object]], b: list[dict[str, object]]) -> bool:
    """Equal values of equal types, NaN equal to NaN."""
    def cell(v: object) -> object:
        return ("nan", float) if isinstance(v, float) and v != v else (v, type(v))

    return [{k: cell(v) for k, v in r.items()} for r in a] == \
        [{k: cell(v) for k, v in r.items()} for r in b]


SAMPLE_FILES = sorted(p for p in (ROOT / "samples" / "tracciati").glob("*/*")
                      if ".broken." not in p.name)


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_template_rows_are_what_to_dict_gives_on_every_sample(sample: Path) -> None:
    """Templates see the rows ``DataFrame.to_dict("records")`` would give (values and their
    types), built faster: the tables of every shipped sample, as decoded."""
    from bridge.codecs import decode
    from bridge.engine.render import template_rows
    from bridge.spec import load

    t = load(f"{sample.parent.name}/{sample.stem}")
    tables = decode(sample.read_bytes(), t).tables
    assert sum(len(df) for df in tables.values()) > 0
    for df in tables.values():
        assert _same(template_rows(df), df.to_dict("records"))


def test_template_rows_box_what_steps_make_as_to_dict_does() -> None:
    """Columns steps may make: numpy floats with NaN, objects holding numpy scalars, numpy
    times with NaT, Arrow times and durations with nulls, and a table with no columns."""
    import datetime as dt
    from decimal import Decimal

    import numpy as np
    import pyarrow as pa

    from bridge.engine.render import template_rows

    df = pa.table({
        "n": pa.array([1, None]), "s": pa.array(["x", None]),
        "d": pa.array([Decimal("1.20"), None], pa.decimal128(9, 2)),
        "day": pa.array([dt.date(2025, 1, 2), None]),
        "at": pa.array([dt.datetime(2025, 1, 1, 10), None], pa.timestamp("us", tz="Europe/Rome")),
        "gap": pa.array([dt.timedelta(1), None]),
    }).to_pandas(types_mapper=pd.ArrowDtype)
    df["f"] = np.array([1.5, np.nan])
    df["o"] = pd.Series([np.int64(3), None], dtype=object)
    df["t"] = pd.to_datetime(["2025-01-01", None])
    assert _same(template_rows(df), df.to_dict("records"))
    assert template_rows(df)[1]["at"] is None and template_rows(df)[1]["n"] is None
    assert template_rows(pd.DataFrame(index=range(2))) == [{}, {}]


def test_python_values_are_arrow_s_own_values_and_types() -> None:
    """Decimals made from their text and dates from their day numbers are the values, the
    exponents and the types ``to_pylist`` gives, nulls and chunks included."""
    import datetime as dt
    from decimal import Decimal

    import pyarrow as pa

    from bridge.fields.buffers import python_values

    cases = [
        pa.array([Decimal("12.50"), None, Decimal("-0.01"), Decimal("0.00")], pa.decimal128(12, 2)),
        pa.array([Decimal("7"), Decimal("-3")], pa.decimal128(5, 0)),
        pa.array([Decimal("1.2E+4")], pa.decimal128(5, -2)),
        pa.array([Decimal("1.0000")], pa.decimal256(40, 4)),
        pa.chunked_array([[dt.date(1, 1, 1), None], [dt.date(9999, 12, 31)],
                          [dt.date(1969, 12, 31)]]),
        pa.array([dt.date(2025, 10, 7)], pa.date64()),
        pa.array(["a", None]), pa.array([], pa.decimal128(9, 2)),
    ]
    for values in cases:
        got, want = python_values(values), values.to_pylist()
        assert [(type(v), str(v)) for v in got] == [(type(v), str(v)) for v in want]


def test_a_row_field_is_found_first_and_the_sandbox_still_holds(tmp_path: Path) -> None:
    """``row.field`` takes the row's value even where a dict has a method of that name;
    what is not a field still goes through the sandbox, which refuses internals."""
    page = tmp_path / "rows.xml"
    page.write_text("{% for r in tables.righe %}<r n='{{ r.items }}'>{{ r.nome }}</r>"
                    "{% endfor %}", encoding="utf-8")
    rows = [{"items": 3, "nome": "A&B"}, {"items": 0, "nome": "<x/>"}]
    assert render_file(page, {"tables": {"righe": rows}}, "xml") == (
        "<r n='3'>A&amp;B</r><r n='0'>&lt;x/&gt;</r>")
    for n, attack in enumerate(("{{ tables.righe.__class__.__mro__ }}",
                                "{{ tables.__class__.__init__.__globals__ }}",
                                "{% for r in tables.righe %}{{ r.__class__.__subclasses__() }}"
                                "{% endfor %}",
                                "{{ tables.righe.append(1) }}")):
        page = tmp_path / f"attack{n}.xml"  # a new name: jinja caches by name
        page.write_text(attack, encoding="utf-8")
        with pytest.raises(ConfigError, match=r"unsafe|not safely|access"):
            render_file(page, {"tables": {"righe": rows}}, "xml")


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.text(alphabet="&<>'\"ab è\r\n"), st.integers(), st.none(),
                 st.decimals(), st.floats(), st.booleans(), st.dates(),
                 st.datetimes(timezones=st.timezones())))
def test_values_are_escaped_exactly_as_markupsafe_escapes_them(value: object) -> None:
    """bridge writes a plain text for a value (see templating.escape_value), with the very
    characters markupsafe's escape would write, in a template and alone; and a carriage
    return as ``&#13;``, which an XML parser reads back as one (a raw one, as a line feed)."""
    from markupsafe import Markup, escape

    from bridge.templating import environment, escape_value

    want = str(escape(value)).replace("\r", "&#13;")
    assert str(escape_value(value)) == want
    page = environment(True).from_string("<v>{{ v }}</v>{{ m }}")
    assert page.render(v=value, m=Markup("<b>")) == f"<v>{want}</v><b>"


EACH = "{% block head %}{% endblock %}{% block tail %}{% endblock %}{% block each %}BODY" \
       "{% endblock %}"


def test_the_each_block_is_given_only_the_fields_it_reads(tmp_path: Path) -> None:
    """A record is handed to the `each` block with the fields the block names, not every
    column of its table (the sample's order: 26 of 38, its lines 7 of 17)."""
    from bridge.templating import Blocks

    sample = Blocks(ROOT / "samples" / "templates" / "easyfatt-ordini.xml", "xml")
    fields = sample.fields("each", "testata", "righe")
    assert fields is not None
    assert fields["righe"] == {"codice_articolo", "descrizione", "quantita",
                               "prezzo_unitario", "aliquota_iva", "codice_iva", "importo"}
    assert {"numero_ordine", "dest_indirizzo", "pagato", "totale_lordo"} <= fields["testata"]
    assert not {"provvigione", "_line", "importo_provvigione"} & fields["testata"]
    page = tmp_path / "keyed.xml"
    page.write_text(EACH.replace("BODY", "{{ testata['a'] }}{% for r in righe if r.b %}"
                                 "{{ r['c'] }}{% else %}{{ testata.d }}{% endfor %}"))
    assert Blocks(page, "xml").fields("each", "testata", "righe") == {
        "testata": {"a", "d"}, "righe": {"b", "c"}}


@pytest.mark.parametrize("body", [
    "{{ testata.get('note', '-') }}",           # a method of the row
    "{% set t = testata %}{{ t.note }}",        # the row under another name
    "{% for k in testata %}{{ k }}{% endfor %}",  # its keys
    "{{ testata[field] }}",                     # a computed key
    "{{ testata | tojson }}",                   # the whole row to a filter
    "{{ righe | length }}",                     # the lines as a whole
    "{% for r in righe %}{{ r | list }}{% endfor %}",
    "{% for a, b in righe %}{{ a }}{% endfor %}",
])
def test_a_block_that_may_read_any_field_gets_whole_rows(tmp_path: Path, body: str) -> None:
    from bridge.templating import Blocks

    page = tmp_path / "whole.xml"
    page.write_text(EACH.replace("BODY", body), encoding="utf-8")
    assert Blocks(page, "xml").fields("each", "testata", "righe") is None


def test_a_template_reading_a_row_by_its_method_still_sees_every_field(tmp_path: Path) -> None:
    """The sample's Easyfatt template, its comment taken with `testata.get(...)` from a
    column the template names nowhere else: the rows stay whole, the value is written."""
    import xml.etree.ElementTree as ET

    cfg = with_orders(tmp_path)
    template = cfg.parent / "templates" / "easyfatt-ordini.xml"
    text = template.read_text(encoding="utf-8")
    old = "{{ testata.note | default('', true) }}"
    assert old in text
    template.write_text(text.replace(old, "{{ testata.get('codice_spedizione') }}"),
                        encoding="utf-8")
    run_twice(cfg, ["ordini"])
    [xml] = (cfg.parent / "erp" / "easyfatt").glob("*.xml")
    comments = [d.findtext("InternalComment")
                for d in ET.fromstring(xml.read_bytes()).iter("Document")]
    assert comments and all(c for c in comments) and "None" not in comments, comments


def _target(fmt: str, encoding: str) -> Target:
    return cast("Target", SimpleNamespace(template=Path("T.XML"), format=fmt,
                                          template_encoding=encoding))


NOT_XML_CHARS = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x1f", "\ufffe", "\uffff",
                 "\ud800", "\udfff"]


@pytest.mark.parametrize("encoding", ["utf-8", "UTF8", "cp1252", "latin-1", "utf-16",
                                      "iso2022_jp"])
@pytest.mark.parametrize("char", NOT_XML_CHARS, ids=lambda c: f"U+{ord(c):04X}")
def test_a_character_xml_cannot_hold_is_found_in_every_encoding(char: str, encoding: str
                                                                 ) -> None:
    """The bytes are checked for XML's controls only where an encoding writes them as
    themselves; whatever the encoding, the character is the issue, not a missing glyph."""
    surrogate = "\ud800" <= char <= "\udfff"  # Arrow's text cannot hold one: no row can
    tables = {"testata": pd.DataFrame({"_line": [2, 3], "note": ["ok", f"a{char}b"]},
                                      dtype=object if surrogate else None)}
    data, issues = template_bytes(_target("xml", encoding), f"<a>ok</a><a>a{char}b</a>",
                                  tables)
    assert data is None
    assert [(i.code, i.line) for i in issues] == [("not-xml-character",
                                                   None if surrogate else 3)]
    assert f"U+{ord(char):04X}" in issues[0].message


def _same_as_text(fmt: str, text: str, tables: dict[str, pd.DataFrame]) -> None:
    """The UTF-8 bytes of ``text`` given to :func:`template_utf8` make what ``text`` given to
    :func:`template_bytes` makes: the same bytes, or the same issues."""
    want = template_bytes(_target(fmt, "utf-8"), text, tables)
    data, issues = template_utf8(_target(fmt, "utf-8"), memoryview(text.encode("utf-8")),
                                 tables)
    assert (None if data is None else bytes(data), issues) == want


@pytest.mark.parametrize("char", [c for c in NOT_XML_CHARS if not "\ud800" <= c <= "\udfff"],
                         ids=lambda c: f"U+{ord(c):04X}")
def test_utf8_bytes_find_what_the_text_finds(char: str) -> None:
    """A template's records rendered on columns reach a UTF-8 target as bytes: a character
    XML cannot hold is found there too, on its row."""
    tables = {"testata": pd.DataFrame({"_line": [2, 3], "note": ["ok", f"a{char}b"]})}
    _same_as_text("xml", f"<a>ok</a><a>a{char}b</a>", tables)
    data, issues = template_utf8(_target("xml", "utf-8"),
                                 memoryview(f"<a>a{char}b</a>".encode()), tables)
    assert data is None and [(i.code, i.line) for i in issues] == [("not-xml-character", 3)]


@pytest.mark.parametrize("text", [
    "<a>\tè日本\r\n</a><b x='&amp;'>\x7f ~ \x20</b>",
    # Lead byte 0xEF, and XML holds them: the long way, the same bytes.
    "<a>\ufeff \ufffd \uf8ff \ufffc \uff21</a>",
    "", "\n" * 3,
])
def test_utf8_bytes_xml_can_hold_are_written_as_they_are(text: str) -> None:
    _same_as_text("xml", text, {})
    _same_as_text("text", text + "\x01\ufffe", {})  # not markup: nothing to look for
    given_bytes = memoryview(text.encode("utf-8"))
    if max(text, default=" ") < "\uf000":  # no lead byte 0xEF: the bytes given, not a copy
        assert template_utf8(_target("xml", "utf-8"), given_bytes, {})[0] is given_bytes


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_utf8_bytes_and_text_agree_on_any_text(text: str) -> None:
    tables = {"testata": pd.DataFrame({"_line": [7], "note": [text]})}
    _same_as_text("xml", f"<a>{text}</a>", tables)


@pytest.mark.parametrize("encoding", ["utf-8", "cp1252", "utf-16", "iso2022_jp"])
def test_text_xml_can_hold_is_its_encoding_s_bytes(encoding: str) -> None:
    text = "<a>\t" + {"cp1252": "è€", "iso2022_jp": "日本"}.get(encoding, "è日本") + \
        "\r\n</a><b x='&amp;'>\x7f ~ \x20</b>"
    assert template_bytes(_target("xml", encoding), text, {}) == (text.encode(encoding), [])
    # Not markup: controls are the text's own business, a missing glyph is still unencodable.
    assert template_bytes(_target("text", encoding), "a\x01b", {}) == (
        "a\x01b".encode(encoding), [])
    data, issues = template_bytes(_target("xml", "cp1252"), "<a>日</a>", {})
    assert data is None and [i.code for i in issues] == ["unencodable"]


TEXT_TEMPLATE = """{% block head %}ORDINI
{% endblock %}{% block each %}{{ testata.numero_ordine }};{{ testata.note | default('', true) }}
{% endblock %}{% block tail %}FINE
{% endblock %}"""
WHOLE_TEMPLATE = """ORDINI
{% for testata in tables.testata -%}
{{ testata.numero_ordine }};{{ testata.note | default('', true) }}
{% endfor %}FINE
"""


@pytest.mark.parametrize("each", [True, False], ids=["each", "whole"])
@pytest.mark.parametrize("char", ["\x1b", "\x01", "\x7f", "\x9b", "\r", "\x0c"],
                         ids=lambda c: f"U+{ord(c):04X}")
def test_a_control_character_in_a_value_stays_out_of_a_text_output(
        tmp_path: Path, each: bool, char: str) -> None:
    """A text template (`format: text`) wrote a note holding ESC, DEL, a C1 control or a
    lone carriage return into the ERP's file as it was: a line cut in two, an escape
    sequence on the terminal that shows it. That order is now its row's
    `control-character` issue and stays out; the others are written byte for byte."""
    cfg = upper_case_template(tmp_path, "skip-rows")
    (cfg.parent / "templates" / "ordini.txt").write_text(
        TEXT_TEMPLATE if each else WHOLE_TEMPLATE, encoding="utf-8")
    text = cfg.read_text(encoding="utf-8")
    old = ("        template: templates/EASYFATT.XML\n        format: xml\n"
           "        each: {table: testata, lines: righe}   # one order at a time, as the file "
           "streams\n")
    assert old in text
    text = text.replace(old, "        template: templates/ordini.txt\n        format: text\n"
                        + ("        each: {table: testata, lines: righe}\n" if each else ""))
    cfg.write_text(text.replace('filename: "ordini_{{ seq | zfill(6) }}.xml"',
                                'filename: "ordini_{{ seq | zfill(6) }}.txt"'), encoding="utf-8")
    orders = cfg.parent / ORDERS
    orders.write_bytes(orders.read_bytes().replace(b"Citofono \x01", b"Citofono " + (
        char.encode("utf-8") + b"x")))
    line_2005 = order_line(cfg, "#2005")
    result = run_twice(cfg, ["ordini"])
    assert [o.state for o in result.outcomes] == ["done"]
    [written] = (cfg.parent / "erp" / "easyfatt").glob("*.txt")
    lines = written.read_bytes().split(b"\n")
    assert lines[0] == b"ORDINI" and lines[-2:] == [b"FINE", b""]
    assert [x.split(b";")[0] for x in lines[1:-2]] == [
        b"2001", b"2002", b"2003", b"2004", b"2006"]
    assert char.encode("utf-8") not in written.read_bytes()
    report = (cfg.parent / "quarantine" / f"{ORDERS.name}.issues.csv").read_text(
        encoding="utf-8-sig")
    assert [r.split(",")[:4] for r in report.splitlines() if "control-character" in r] == [
        [str(line_2005), "testata", "control-character", "note"]]


@pytest.mark.parametrize("char", ["\x1b", "\x85", "\r", "\x7f"], ids=lambda c: f"U+{ord(c):04X}")
def test_utf8_bytes_of_a_text_output_find_a_control_character_as_the_text_does(
        char: str) -> None:
    """The records of a text template rendered as UTF-8 bytes find the row holding a
    control character as the text does; CR LF line ends and the template's own form feed
    are written as they are."""
    tables = {"testata": pd.DataFrame({"_line": [2, 3], "note": ["ok", f"a{char}b"]})}
    _same_as_text("text", f"ok\r\na{char}b\r\n", tables)
    data, issues = template_utf8(_target("text", "utf-8"),
                                 memoryview(f"a{char}b\n".encode()), tables)
    assert data is None and [(i.code, i.line, i.field) for i in issues] == [
        ("control-character", 3, "note")]
    clean = b"ok\r\n\x0cpage 2\r\n"
    fine = {"testata": pd.DataFrame({"_line": [2], "note": ["ok"]})}
    data, issues = template_utf8(_target("text", "utf-8"), memoryview(clean), fine)
    assert data is not None and (bytes(data), issues) == (clean, [])


@pytest.mark.parametrize("text", ["n° 5 «Rossi»\u00a0srl, 2³ piano\r\n", "ok\r\n", "",
                                  "¿\u00a0\r\n\r\n", "\u00bf"])
def test_a_clean_text_output_is_given_back_as_its_bytes(text: str) -> None:
    """A text output holding `°`, `«` or a no-break space (U+00A0-U+00BF, whose lead byte
    it shares with the C1 controls) and no control character is the bytes given, not
    decoded, searched and encoded again whole: common in Italian data, it cost every
    chunk that holds one a second pass over its text."""
    given_bytes = memoryview(text.encode("utf-8"))
    fine = {"testata": pd.DataFrame({"_line": [2], "note": ["n° 5"]})}
    data, issues = template_utf8(_target("text", "utf-8"), given_bytes, fine)
    assert data is given_bytes and issues == []
    _same_as_text("text", text, fine)
