"""The ``each`` block rendered on columns writes what jinja2 writes, byte for byte.

Every construct the column renderer takes (text, fields of the record and of its lines,
``default`` in its forms, ``a if c else b``, ``not``, ``if``/``elif``/``else``, ``for`` over
the lines with its ``else``, the file's variables), over every type a step can make, with
hostile values (markup, quotes, emoji, control characters, empty and missing values, zeros)
and hostile links (lines of no record, records sharing a line, a missing ``_line``); a
block it does not take, and tables it cannot render, go to jinja2 and still write the same.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bridge.engine.parts
from bridge.engine.parts import EachRenderer
from bridge.template_columns import ColumnBlock, compile_block
from tests.test_streaming import big_orders, outputs, run

EVERYTHING = """{% block head %}<h>{% endblock %}
{%- block each %}
<o n="{{ testata.s }}" i="{{ testata['n'] }}">{{ testata.dec2 }}|{{ testata.dec10 }}
{{ testata.day }}|{{ testata.flag }}|{{ testata.f }}|{{ testata.at }}|{{ testata.np }}
{{ testata.obj }}|{{ testata.big }}|{{ testata.none }}|{{ testata.gap }}
{{ testata.s | default('', true) }}|{{ testata.s | default('a&b', true) }}
{{ testata.n | default('zero') }}|{{ testata.dec2 | d('<0>', boolean=true) }}
{{ 'yes' if testata.flag else 'no' }}|{{ testata.s if testata.n else testata.dec2 }}
{{ not testata.s }}|{{ 'a<b' }}|{{ 5 }}|{{ source_name }}|{{ now }}
{%- if testata.dec2 %} paid{% elif not testata.n %} none{% elif testata.f %} f
{%- else %} else{% endif %}
{%- if testata.day | default(false, true) %} day{% endif %}
{%- for r in righe %}
  <r c="{{ r.c }}" q="{{ r['q'] }}">{{ r.c | default('-', true) }}|{{ testata.s }}
  {%- if r.q %}{{ r.q }}{% else %}{{ testata.n }}{% endif %}</r>
{%- else %}
  <empty/>
{%- endfor %}
</o>
{%- endblock %}
{% block tail %}</h>{% endblock %}
"""


def records() -> pd.DataFrame:
    n = 9
    table = pa.table({
        "_line": pa.array([2, 5, 9, 12, None, 20, 24, 30, 33], pa.int64()),
        "s": pa.array(["Niccolò D'Amico", "<x/> & \"y\"", "", None, "\U0001F600",
                       "a\x01b", "  ", "0", "plain"]),
        "n": pa.array([1, 0, None, -5, 7, 0, 3, 2**40, 1]),
        "dec2": pa.array([Decimal("12.50"), Decimal("0.00"), None, Decimal("-0.50"),
                          Decimal("1"), Decimal("0.01"), Decimal("-0.00"), Decimal("999.99"),
                          Decimal("7")], pa.decimal128(9, 2)),
        "dec10": pa.array([Decimal("0"), Decimal("1E-10"), None, Decimal("1.5")] * 2
                          + [Decimal("0.0000001")], pa.decimal128(20, 10)),
        "day": pa.array([dt.date(2025, 1, 2), None, dt.date(1, 1, 1), dt.date(9999, 12, 31),
                         dt.date(999, 3, 4), dt.date(2024, 2, 29), None, dt.date(2025, 12, 31),
                         dt.date(1970, 1, 1)]),
        "flag": pa.array([True, False, None, True, False, True, None, False, True]),
        "f": pa.array([0.1, 0.0, None, float("nan"), 1e-7, -2.5, 1e22, 3.0, 1 / 3]),
        "at": pa.array([dt.datetime(2025, 1, 1, 10, 30)] * 8 + [None],
                       pa.timestamp("us", tz="Europe/Rome")),
        "big": pa.array(["x" * 3, None, "&", "'", '"', ">", "<", "&amp;", "é"],
                        pa.large_string()),
        "none": pa.nulls(n),
        "gap": pa.array([dt.timedelta(days=1)] * 4 + [None] * 5),
    }).to_pandas(types_mapper=pd.ArrowDtype)
    table["np"] = np.array([1.5, np.nan, 0.0, 2.0, 3.0, 4.0, 5.0, 6.0, -0.0])
    table["obj"] = pd.Series([1, "a&b", None, np.int64(3), 2.5, True, "", 0, Decimal("1.0")],
                             dtype=object)
    return table


def lines() -> pd.DataFrame:
    return pa.table({
        # lines of record 1 apart, a line of no record, one with no record named, none for
        # the record whose line is missing, record 9 (line 33) with none
        "_parent_line": pa.array([2, 5, 2, 99, None, 12, 12, 20, 2, 24, 30, 5], pa.int64()),
        "c": pa.array(["A&1", "B", None, "orphan", "nobody", "", "C'", "D", "E", "F", "G",
                       "H"]),
        "q": pa.array([1, 0, 2, 3, 4, None, 5, 6, 7, 8, 9, 10], pa.int64()),
    }).to_pandas(types_mapper=pd.ArrowDtype)


def renderer(tmp_path: Path, text: str, kind: str, lines_name: str | None = "righe"
             ) -> EachRenderer:
    template = tmp_path / f"t-{kind}.tmpl"
    template.write_text(text, encoding="utf-8")
    target = SimpleNamespace(template=template, format=kind, template_encoding="utf-8",
                             each=SimpleNamespace(table="testata", lines=lines_name))
    row = SimpleNamespace(path="in/orders & co.csv", created=1_700_000_000.0)
    return EachRenderer(cast(Any, SimpleNamespace(path=lambda p: p)), cast(Any, target),
                        cast(Any, row))


def both(r: EachRenderer, tables: dict[str, pd.DataFrame]) -> tuple[str, str]:
    """The records' text on columns, then through jinja2. On the way, the same batches as
    the UTF-8 bytes a target written in UTF-8 takes (:meth:`EachRenderer.pieces`) are
    checked to be that text's bytes."""
    assert r.columns is not None and r.utf8
    by_columns = "".join(r.records(tables))
    pieces = list(r.pieces(tables))
    assert b"".join(p if isinstance(p, memoryview) else p.encode("utf-8")
                    for p in pieces) == by_columns.encode("utf-8")
    r.columns = None
    return by_columns, "".join(r.records(tables))


@pytest.mark.parametrize("kind", ["xml", "html", "text"])
def test_every_construct_and_type_writes_what_jinja_writes(tmp_path: Path, kind: str) -> None:
    r = renderer(tmp_path, EVERYTHING, kind)
    block = r.columns
    assert block is not None
    rendered: list[str | memoryview | None] = []
    real = ColumnBlock.render

    def counted(self: ColumnBlock, *args: Any, **kwargs: Any) -> str | memoryview | None:
        rendered.append(real(self, *args, **kwargs))
        return rendered[-1]

    with pytest.MonkeyPatch.context() as m:
        m.setattr(ColumnBlock, "render", counted)
        got, want = both(r, {"testata": records(), "righe": lines()})
    assert rendered and all(t is not None for t in rendered)  # no batch went to jinja
    assert got == want
    # what the tables hold reached the text, escaped by the kind
    assert ("&lt;x/&gt; &amp; &#34;y&#34;" in got) == (kind != "text")
    assert ('<x/> & "y"' in got) == (kind == "text")
    assert "\U0001F600" in got and "<empty/>" in got and "orphan" not in got


@pytest.mark.parametrize("batch", [1, 2, 4, 2000])
def test_batches_cutting_records_and_their_lines_write_the_same(
        tmp_path: Path, batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge.engine.parts, "BATCH", batch)
    got, want = both(renderer(tmp_path, EVERYTHING, "xml"),
                     {"testata": records(), "righe": lines()})
    assert got == want and got.count("<o ") == 9


@pytest.mark.parametrize("case", ["no lines table", "no parent column", "no line column",
                                  "no records", "lines of no record"])
def test_records_without_their_lines_write_the_same(tmp_path: Path, case: str) -> None:
    tables = {"testata": records(), "righe": lines()}
    if case == "no lines table":
        del tables["righe"]
    elif case == "no parent column":
        tables["righe"] = tables["righe"].drop(columns=["_parent_line"])
    elif case == "no line column":
        tables["testata"] = tables["testata"].drop(columns=["_line"])
    elif case == "no records":
        tables["testata"] = tables["testata"].iloc[:0]
    else:
        tables["righe"]["_parent_line"] = pd.Series([77] * 12, dtype=pd.ArrowDtype(pa.int64()))
    got, want = both(renderer(tmp_path, EVERYTHING, "xml"), tables)
    assert got == want
    assert got.count("<empty/>") == (0 if case == "no records" else 9)


@pytest.mark.parametrize("source", [
    "{% block each %}{{ loop.index }}{% endblock %}",
    "{% block each %}{{ testata.s | upper }}{% endblock %}",
    "{% block each %}{% set x = 1 %}{{ x }}{% endblock %}",
    "{% block each %}{{ testata.s ~ testata.n }}{% endblock %}",
    "{% block each %}{% for r in righe if r.q %}{{ r.c }}{% endfor %}{% endblock %}",
    "{% block each %}{% for r in righe %}{{ loop.index }}{% endfor %}{% endblock %}",
    "{% block each %}{{ testata }}{% endblock %}",
    "{% block each %}{{ righe | length }}{% endblock %}",
    "{% block each %}{{ 'a' if testata.flag }}{% endblock %}",
    "{% block each %}{{ testata.s | default(testata.n) }}{% endblock %}",
    "{% block each %}{{ testata.n + 1 }}{% endblock %}",
    "{% block each %}{{ testata.get('s') }}{% endblock %}",
    "{% block each %}{% for r in righe %}{% for x in righe %}{% endfor %}{% endfor %}"
    "{% endblock %}",
    "{% extends 'base.tmpl' %}{% block each %}{{ testata.s }}{% endblock %}",
    "{% block head %}{% endblock %}",
])
def test_a_block_the_columns_do_not_take_is_left_to_jinja(source: str) -> None:
    assert compile_block(source, "each", "testata", "righe", escape=True) is None


@pytest.mark.parametrize("case", ["a field no table holds", "records sharing a line",
                                  "a field no line holds"])
def test_tables_the_columns_cannot_render_go_to_jinja_and_write_the_same(
        tmp_path: Path, case: str) -> None:
    template = ("{% block head %}{% endblock %}{% block each %}[{{ testata.s }}"
                "{{ testata.missing | default('-') }}"
                "{% for r in righe %}{{ r.c }}{{ r.gone | default('?') }}{% endfor %}]"
                "{% endblock %}{% block tail %}{% endblock %}")
    tables = {"testata": records(), "righe": lines()}
    if case != "a field no table holds":
        tables["testata"]["missing"] = tables["testata"]["s"]
    if case == "records sharing a line":
        tables["righe"]["gone"] = tables["righe"]["c"]
        tables["testata"]["_line"] = pd.Series([2] * 9, dtype=pd.ArrowDtype(pa.int64()))
    r = renderer(tmp_path, template, "xml")
    assert r.columns is not None
    assert r.columns.render(tables["testata"], tables["righe"], np.array(
        tables["righe"]["_parent_line"].to_numpy(dtype=np.int64, na_value=-1)),
        r.variables) is None
    got, want = both(r, tables)
    assert got == want and got.count("[") == 9


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cs",)))),
                min_size=1, max_size=12))
def test_any_text_is_escaped_as_jinja_escapes_it(tmp_path: Path, values: list[str | None]
                                                 ) -> None:
    template = ("{% block head %}{% endblock %}{% block each %}<{{ testata.s }}|"
                "{{ testata.s | default('&', true) }}|{% if testata.s %}t{% endif %}>"
                "{% endblock %}{% block tail %}{% endblock %}")
    table = pa.table({"s": pa.array(values, pa.string())}).to_pandas(
        types_mapper=pd.ArrowDtype)
    for kind in ("xml", "text"):
        block = compile_block(template, "each", "testata", None, kind == "xml")
        assert block is not None
        r = renderer(tmp_path, template, kind, None)
        got = block.render(table, None, None, r.variables)
        r.columns = None
        assert got == "".join(r.records({"testata": table}))


def test_every_sample_flow_writes_the_same_xml_on_columns_as_through_jinja(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped Easyfatt template, on the sample's orders and on 1,800 orders in batches
    of 7 (batches cut orders' lines apart), is rendered on columns, and writes what jinja2
    writes."""
    monkeypatch.setattr(bridge.engine.parts, "BATCH", 7)
    rendered: list[str | memoryview | None] = []
    real = ColumnBlock.render

    def counted(self: ColumnBlock, *args: Any, **kwargs: Any) -> str | memoryview | None:
        rendered.append(real(self, *args, **kwargs))
        return rendered[-1]

    monkeypatch.setattr(ColumnBlock, "render", counted)
    data = big_orders(300)
    by_columns = {n: outputs(run(tmp_path, f"col-{n}", 0, orders)[0])
                  for n, orders in (("sample", None), ("big", data))}
    assert len(rendered) > 250 and None not in rendered
    monkeypatch.setattr(bridge.engine.parts, "compile_block", lambda *a, **k: None)
    rendered.clear()
    for n, orders in (("sample", None), ("big", data)):
        through_jinja = outputs(run(tmp_path, f"jinja-{n}", 0, orders)[0])
        assert [k for k in through_jinja if k.endswith(".xml")]
        assert through_jinja == by_columns[n], n
    assert rendered == []


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | st.text(alphabet=st.sampled_from(list("&<>'\"ab è日\n\r🙂")),
                                    max_size=12), max_size=30))
def test_text_is_escaped_on_its_bytes_as_markupsafe_escapes_it(values: list[str | None]
                                                                ) -> None:
    """Each of the five characters, anywhere in a cell, among characters of several bytes
    and empty or missing cells, and a carriage return as ``&#13;``; a column without any of
    them is given back as it is."""
    import markupsafe

    from bridge.template_cells import escaped

    column = pa.array(values, pa.string())
    got = escaped(column)
    assert got.to_pylist() == [None if v is None else
                               str(markupsafe.escape(v)).replace("\r", "&#13;")
                               for v in values]
    if not any(c in v for v in values if v for c in "&<>'\"\r"):
        assert got is column


def test_a_lone_surrogate_in_the_template_s_own_text_is_an_issue_not_a_crash(
        tmp_path: Path) -> None:
    """Text of the template itself (a constant in ``each``) that UTF-8 cannot write comes
    as a text, whose check says what XML cannot hold, not as bytes that fail to be made."""
    r = renderer(tmp_path, '{% block head %}{% endblock %}{% block each %}<a>{{ "\\ud800" }}'
                 '</a>{% endblock %}{% block tail %}{% endblock %}', "xml")
    assert r.columns is not None and r.utf8
    tables = {"testata": records()}
    pieces = list(r.pieces(tables))
    assert pieces and all(isinstance(p, str) for p in pieces)
    data, issues = r.encoded(pieces[0], tables)
    assert data is None and [i.code for i in issues] == ["not-xml-character"]
    # A constant of ASCII stays bytes.
    r = renderer(tmp_path, "{% block head %}{% endblock %}{% block each %}<a/>{% endblock %}"
                 "{% block tail %}{% endblock %}", "xml")
    assert [bytes(p) for p in r.pieces(tables) if isinstance(p, memoryview)] == [
        b"<a/>" * len(records())]
