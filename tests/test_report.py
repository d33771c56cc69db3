"""Per-file reports: the rejected rows as CSV (byte-exact) and the HTML summary."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
import time
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.display import printable
from bridge.issues import CODES, MAX_ISSUES, Issue
from bridge.report import FileReport, rejected_rows_csv, render_html, write_reports
from bridge.spec import parse
from bridge.spec.model import Tracciato

BOM = b"\xef\xbb\xbf"

DELIMITED = """
format: delimited
encoding: utf-8
newline: lf
delimited: {delimiter: ';'}
records:
  articolo:
    fields:
      - {name: codice, column: Codice, required: true, max_length: 6}
      - {name: quantita, column: Qta, type: integer}
      - {name: prezzo, column: Prezzo, type: decimal, scale: 2, decimal_separator: ','}
      - {name: data, column: Data, type: date, format: '%d/%m/%Y'}
      - {name: note, column: Note}
"""

FIXED = """
format: fixed
encoding: utf-8
newline: lf
fixed: {record_length: 20}
discriminator: {start: 1, length: 1}
records:
  testata:
    when: T
    fields:
      - {name: tipo, type: constant, value: T, start: 1, length: 1}
      - {name: numero, type: integer, start: 2, length: 5, required: true, sign: none}
      - {name: cliente, start: 7, length: 8}
      - {name: riservato, type: filler, start: 15, length: 6}
  riga:
    when: R
    parent: testata
    fields:
      - {name: tipo, type: constant, value: R, start: 1, length: 1}
      - {name: numero, type: integer, start: 2, length: 5, required: true, sign: none}
      - {name: articolo, start: 7, length: 6}
      - {name: quantita, type: integer, start: 13, length: 8, sign: none}
"""


@pytest.fixture
def delimited() -> Tracciato:
    return parse(DELIMITED)


@pytest.fixture
def fixed() -> Tracciato:
    return parse(FIXED)


def decoded_report(path: Path, t: Tracciato, flow: str = "shop-to-erp",
                   max_issues: int = MAX_ISSUES) -> FileReport:
    from bridge.codecs import decode

    data = path.read_bytes()
    result = decode(path, t, max_issues=max_issues)
    return FileReport(
        flow=flow,
        source_name=path.name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        outcome="rejected" if result.issues else "done",
        rows={name: len(df) for name, df in result.tables.items()},
        issues=result.issues,
    )


def hand_report(issues: list[Issue], **kw: object) -> FileReport:
    base: dict[str, object] = dict(
        flow="erp-in", source_name="ordini.txt", size=1234, sha256="ab" * 32,
        outcome="rejected", rows={"articolo": 3}, issues=issues,
    )
    base.update(kw)
    return FileReport(**base)  # type: ignore[arg-type]


# -- CSV of rejected rows ----------------------------------------------------------------


def test_csv_of_delimited_file_is_byte_exact(tmp_path: Path, delimited: Tracciato) -> None:
    src = tmp_path / "articoli.csv"
    src.write_bytes(
        "Codice;Qta;Prezzo;Data;Note\n"
        "A1;3;10,50;01/02/2024;ok\n"
        "A2;tre;1,00;31/02/2024;\"caffè, \"\"doppio\"\"\"\n"
        "TROPPOLUNGO;1;2,00;01/01/2024;<script>alert(1)</script>\n"
        "A4;-2;=SUM(A1);01/01/2024;=HYPERLINK(\"x\")\n".encode()
    )
    report = decoded_report(src, delimited)
    out = rejected_rows_csv(report, src.read_bytes(), delimited)
    # Row cells come back as the sender wrote them (un-quoted from ';', re-quoted for ','),
    # one CSV row per issue; would-be formulas get a leading quote.
    expected = (
        "line,record,code,field,value,message,Codice,Qta,Prezzo,Data,Note\n"
        "3,articolo,bad-integer,quantita,tre,'tre' is not an integer like 1234 or -1234,"
        'A2,tre,"1,00",31/02/2024,"caffè, ""doppio"""\n'
        "3,articolo,bad-date,data,31/02/2024,'31/02/2024' is not a date in the format "
        '%d/%m/%Y,A2,tre,"1,00",31/02/2024,"caffè, ""doppio"""\n'
        "4,articolo,too-long,codice,TROPPOLUNGO,'TROPPOLUNGO' is longer than 6 characters,"
        'TROPPOLUNGO,1,"2,00",01/01/2024,<script>alert(1)</script>\n'
        "5,articolo,bad-decimal,prezzo,'=SUM(A1),\"'=SUM(A1)' is not a decimal like 1234,56 "
        "or -1234,56\",A4,-2,'=SUM(A1),01/01/2024,\"'=HYPERLINK(\"\"x\"\")\"\n"
    )
    assert out == BOM + expected.encode("utf-8")


def test_csv_of_fixed_file_unions_record_fields(tmp_path: Path, fixed: Tracciato) -> None:
    src = tmp_path / "ordini.txt"
    src.write_bytes(
        b"T00001ROSSI         \n"
        b"R00001ART1  00000002\n"
        b"R00001ART2  0000000x\n"
        b"X00001ignored       \n"
        b"T0000xBIANCHI       \n"
        b"R00002@cmd  00000001\n"
    )
    report = decoded_report(src, fixed)
    assert {(i.line, i.code) for i in report.issues} == {
        (3, "bad-integer"), (4, "unknown-record"), (5, "bad-integer")}
    out = rejected_rows_csv(report, src.read_bytes(), fixed).decode("utf-8")
    # the union of both record types' fields by name, fillers left out; fixed-width cells
    # keep their padding: they are the sender's bytes, not typed values
    assert out == (
        "\ufeffline,record,code,field,value,message,tipo,numero,cliente,articolo,quantita\n"
        "3,riga,bad-integer,quantita,0000000x,'0000000x' is not an integer like 1234,"
        "R,00001,,ART2  ,0000000x\n"
        "4,,unknown-record,,X00001ignored       ,no record type is chosen by 'X',,,,,\n"
        "5,testata,bad-integer,numero,0000x,'0000x' is not an integer like 1234,"
        "T,0000x,BIANCHI ,,\n"
    )


def test_csv_defuses_formulas_in_raw_cells(tmp_path: Path, fixed: Tracciato) -> None:
    data = b"T00001ROSSI         \nR0000x@cmd  -0000001\n"
    issues = [Issue("bad-integer", "m", 2, "riga", "numero", "0000x")]
    out = rejected_rows_csv(hand_report(issues), data, fixed).decode("utf-8")
    # '@cmd' would run in a spreadsheet; '-0000001' is a signed number and stays as sent
    assert out.endswith("\n2,riga,bad-integer,numero,0000x,m,R,0000x,,'@cmd  ,-0000001\n")


def test_csv_shows_what_reorders_a_cell_as_an_escape(delimited: Tracciato) -> None:
    """A sender's value holding a right-to-left override (U+202E) went into issues.csv as it
    was: opened in a spreadsheet, `A1\u202e9,99` showed its characters in another order
    than the file holds, so the operator read a different value. The bidirectional
    controls are written as escapes, as the HTML report shows them; the rest is kept."""
    data = ("Codice;Qta;Prezzo;Data;Note\n"
            "A1\u202e9,99;x;1,00;01/01/2024;\u2067note\u2069 \u200fok\u061c\n").encode()
    issues = [Issue("bad-integer", "'x' is not an integer", 2, "articolo", "quantita",
                    "A1\u202e9,99")]
    out = rejected_rows_csv(hand_report(issues), data, delimited)
    assert out == BOM + (
        b"line,record,code,field,value,message,Codice,Qta,Prezzo,Data,Note\n"
        b"2,articolo,bad-integer,quantita,\"A1\\u202e9,99\",'x' is not an integer,"
        b"\"A1\\u202e9,99\",x,\"1,00\",01/01/2024,\\u2067note\\u2069 \\u200fok\\u061c\n")


def test_csv_hand_made_issues_golden(tmp_path: Path, delimited: Tracciato) -> None:
    data = "Codice;Qta;Prezzo;Data;Note\nA1;x;1,00;01/01/2024;a\nA2;1;2,00;01/01/2024;b\n"
    issues = [
        Issue("bad-integer", "'x' is not an integer", 2, "articolo", "quantita", "x"),
        Issue("duplicate-key", "codice 'A1' appears again", 3, "articolo", "codice", "A1"),
        Issue("too-few-rows", "2 rows, at least 5 expected"),
        Issue("control-total-mismatch", "line, with \"quotes\"", 2, None, None, None),
    ]
    out = rejected_rows_csv(hand_report(issues), data.encode(), delimited)
    assert out == BOM + (
        b"line,record,code,field,value,message,Codice,Qta,Prezzo,Data,Note\n"
        b",,too-few-rows,,,\"2 rows, at least 5 expected\",,,,,\n"
        b"2,articolo,bad-integer,quantita,x,'x' is not an integer,A1,x,\"1,00\",01/01/2024,a\n"
        b"2,articolo,control-total-mismatch,,,\"line, with \"\"quotes\"\"\","
        b"A1,x,\"1,00\",01/01/2024,a\n"
        b"3,articolo,duplicate-key,codice,A1,codice 'A1' appears again,"
        b"A2,1,\"2,00\",01/01/2024,b\n"
    )


def test_csv_with_file_level_issue_only(tmp_path: Path, delimited: Tracciato) -> None:
    src = tmp_path / "senza-colonna.csv"
    src.write_bytes(b"Codice;Qta;Prezzo;Data\nA1;1;1,00;01/01/2024\n")
    report = decoded_report(src, delimited)
    assert any(i.code == "bad-header" for i in report.issues)
    out = rejected_rows_csv(report, src.read_bytes(), delimited).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(out)))
    header_issue = next(r for r in rows if r[2] == "bad-header")
    assert header_issue[6:] == [""] * 5


def test_csv_without_issues_has_only_the_header(delimited: Tracciato) -> None:
    out = rejected_rows_csv(hand_report([]), b"Codice;Qta;Prezzo;Data;Note\n", delimited)
    assert out == BOM + b"line,record,code,field,value,message,Codice,Qta,Prezzo,Data,Note\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(max_size=30), message=st.text(min_size=1, max_size=30))
def test_csv_cells_read_back(value: str, message: str) -> None:
    t = parse(DELIMITED)
    issue = Issue("bad-pattern", message, None, None, None, value)
    out = rejected_rows_csv(hand_report([issue]), b"", t).decode("utf-8-sig")
    (row,) = list(csv.reader(io.StringIO(out, newline="")))[1:]
    for got, sent in ((row[4], value), (row[5], message)):
        # a would-be formula (at the start, or after , ; TAB) gets a quote before it;
        # everything else comes back as sent
        assert got.replace("'", "") == sent.replace("'", "")
        assert got == sent or re.search(r"(^|[,;\t])[=@+\t\r-]", sent)


@pytest.mark.parametrize("batch_bytes", [1, 200, 64 << 20])
def test_cells_of_many_columns_at_once_are_each_columns_own(
    monkeypatch: pytest.MonkeyPatch, batch_bytes: int
) -> None:
    """Cells are cut, defused and quoted many columns at a time: every column gets back
    what it would alone, whether the batch holds one column, a few or all of them."""
    import pyarrow as pa

    from bridge import report, report_cells
    from bridge.display import defuse_cells

    monkeypatch.setattr(report_cells, "_BATCH_BYTES", batch_bytes)
    columns = [
        pa.array(["a,b", None, '"q"', "=1+1", "x" * 1_200], pa.string()),
        pa.array(["", "riga\nnuova", "-3", "@SUM(A1)", "Niccolò 😀"], pa.string()),
        pa.chunked_array([["1", "2"], ["3", "+4", "ok"]]),
        pa.nulls(5, pa.string()),
    ]
    for fn in (report_cells._clipped, defuse_cells, report._quoted):
        alone = [fn(report_cells._plain(c)).to_pylist() for c in columns]
        assert [c.to_pylist() for c in report_cells._each_cell(columns, fn)] == alone
    rows = report._csv_rows(report_cells._each_cell(columns, report_cells._clipped))
    assert rows[0] == '"a,b",,1,\n'
    assert len(rows[4]) < 1_200 and rows[4].startswith("x" * 1_000 + "… [cut: 1200")
    assert report._csv_rows([]) == []


# -- HTML summary ------------------------------------------------------------------------


def test_html_holds_counts_codes_and_escaped_values(tmp_path: Path, delimited: Tracciato) -> None:
    src = tmp_path / "<img src=x>.csv"
    src.write_bytes(
        b"Codice;Qta;Prezzo;Data;Note\n"
        b"<script>alert(1)</script>;1;1,00;01/01/2024;x\n"
        b"A2;tre;1,00;01/01/2024;y\n"
        b"A3;quattro;1,00;01/01/2024;z\n"
    )
    report = decoded_report(src, delimited, flow="shop & <erp>")
    report.when = datetime(2024, 5, 6, 7, 8, 9)
    report.outputs = [("out<1>.txt", 2, "cd" * 32)]
    page = render_html(report)
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x>" not in page and "&lt;img src=x&gt;.csv" in page
    assert "shop &amp; &lt;erp&gt;" in page
    assert "out&lt;1&gt;.txt" in page and "cd" * 32 in page
    assert report.sha256 in page and f"{report.size:,} bytes" in page
    assert "2024-05-06 07:08:09" in page
    assert "outcome-rejected" in page
    assert re.search(r"<td>articolo</td><td class=\"num\">3</td>", page)
    assert re.search(r"<code>bad-integer</code>\s*</td>\s*<td class=\"num\">2</td>", page)
    text = html.unescape(page)
    assert CODES["bad-integer"] in text and CODES["too-long"] in text
    # self-contained: inline CSS, nothing fetched from elsewhere
    assert not re.search(r"(src|href)\s*=|@import|url\(", page.replace("&lt;img src=x&gt;", ""))


def test_html_of_a_clean_file(delimited: Tracciato) -> None:
    report = hand_report([], outcome="done", outputs=[("ART_0001.txt", 3, "ef" * 32)])
    page = render_html(report)
    assert "outcome-done" in page and "No issues." in page
    assert "ART_0001.txt" in page and "Outputs written" in page
    assert "<h2>Issues</h2>" not in page


def test_html_notes_apart_from_errors() -> None:
    issues = [Issue("already-sent", "order 1 already sent", 2, "articolo", "codice", "1")]
    page = render_html(hand_report(issues, outcome="skipped-rows"))
    assert "no issues, 1 note" in page and "(note)" in page


@settings(max_examples=40, deadline=None)
@given(value=st.text(max_size=40))
def test_html_escapes_any_value(value: str) -> None:
    page = render_html(hand_report([Issue("bad-pattern", "m", 2, "articolo", "note", value)]))
    cell = re.search(r'<td class="mono value">(.*?)</td>', page, re.S)
    assert cell is not None
    assert "<" not in cell.group(1)
    assert html.unescape(cell.group(1)) == printable(value)


def test_html_shows_what_steers_a_display_as_escapes() -> None:
    """A right-to-left override in a file's name showed `ordini_\u202egpj.exe.txt` as
    `ordini_txt.exe.jpg` in the report's title and table, and reversed the cells of a value
    holding one; an ESC went into the page raw. The report shows them as escapes, as the
    terminal does."""
    value = "A1\x1b[2J\u202eB2"
    page = render_html(hand_report(
        [Issue("bad-pattern", f"{value!r} is not a code", 2, "articolo", "codice", value)],
        source_name="ordini_\u202egpj.exe.txt"))
    for raw in ("\u202e", "\x1b"):
        assert raw not in page
    assert "ordini_\\u202egpj.exe.txt" in page
    assert "A1\\x1b[2J\\u202eB2" in page


def test_many_issues_render_fast_and_show_500(tmp_path: Path, delimited: Tracciato) -> None:
    n = 100_000
    body = "".join(f"C{i};x{i};1,00;01/01/2024;n\n" for i in range(n))
    src = tmp_path / "grande.csv"
    src.write_bytes(("Codice;Qta;Prezzo;Data;Note\n" + body).encode())
    report = decoded_report(src, delimited, max_issues=n)  # past the cap, on purpose
    assert len(report.issues) == n
    t0 = time.perf_counter()
    page = render_html(report)
    t1 = time.perf_counter()
    out = rejected_rows_csv(report, src.read_bytes(), delimited, max_issues=n)
    t2 = time.perf_counter()
    print(f"\n{n:,} issues: render_html {t1 - t0:.3f}s, rejected_rows_csv {t2 - t1:.3f}s")
    assert page.count('<td class="mono value">') == 500
    assert "The first 500 of 100,000 issues" in page and "99,500 more" in page
    assert out.count(b"\n") == n + 1
    assert out.split(b"\n")[-2].endswith(b"C99999,x99999,\"1,00\",01/01/2024,n")
    # With the default cap, the CSV lists the first MAX_ISSUES and says what it left out.
    rows = list(csv.reader(io.StringIO(rejected_rows_csv(report, src.read_bytes(), delimited)
                                       .decode("utf-8-sig"))))
    assert len(rows) == 1 + MAX_ISSUES + 1
    assert rows[-2][:3] == [str(MAX_ISSUES + 1), "articolo", "bad-integer"]
    assert rows[-1][2:5] == ["too-many-issues", "", f"{n - MAX_ISSUES}"]
    assert rows[-1][5].startswith(f"{n - MAX_ISSUES:,} more issues are left out")


# -- writing -----------------------------------------------------------------------------


def test_write_reports_is_atomic_and_names_files(tmp_path: Path, delimited: Tracciato) -> None:
    data = b"Codice;Qta;Prezzo;Data;Note\nA1;x;1,00;01/01/2024;a\n"
    quarantine = tmp_path / "quarantine"
    quarantine.mkdir()
    (quarantine / "articoli.csv").write_bytes(data)
    issues = [Issue("bad-integer", "'x' is not an integer", 2, "articolo", "quantita", "x")]
    report = hand_report(issues, source_name="articoli.csv")
    csv_path, html_path = write_reports(quarantine, report, data, delimited)
    assert csv_path == quarantine / "articoli.csv.issues.csv"
    assert html_path == quarantine / "articoli.csv.report.html"
    assert csv_path.read_bytes() == rejected_rows_csv(report, data, delimited)
    assert html_path.read_text("utf-8") == render_html(report, delimited)
    # a second write replaces both, and no temporary file is ever left behind
    write_reports(quarantine, report, data, delimited)
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "articoli.csv", "articoli.csv.issues.csv", "articoli.csv.report.html"]


def test_failed_write_leaves_no_temp_file(tmp_path: Path, delimited: Tracciato) -> None:
    (tmp_path / "x.csv.issues.csv").mkdir()  # a real obstacle: the final name is a folder
    with pytest.raises(OSError):
        write_reports(tmp_path, hand_report([], source_name="x.csv"), b"", delimited)
    assert [p.name for p in tmp_path.iterdir()] == ["x.csv.issues.csv"]


def test_sender_folders_in_the_name_are_dropped(tmp_path: Path, delimited: Tracciato) -> None:
    inner = tmp_path / "q"
    inner.mkdir()
    report = hand_report([], source_name="..\\..\\evil/../x.csv")
    csv_path, html_path = write_reports(inner, report, b"", delimited)
    assert csv_path.parent == inner and html_path.parent == inner
    assert sorted(p.name for p in inner.iterdir()) == ["x.csv.issues.csv", "x.csv.report.html"]


def test_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown outcome 'failed'"):
        hand_report([], outcome="failed")


def test_rows_are_found_in_every_chunk(
    tmp_path: Path, delimited: Tracciato, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = "".join(f"C{i};{'x' if i % 7 == 0 else i};1,00;01/01/2024;n{i}\n" for i in range(200))
    data = ("Codice;Qta;Prezzo;Data;Note\n" + body).encode()
    report = hand_report(decode_issues(data, delimited))
    whole = rejected_rows_csv(report, data, delimited)
    monkeypatch.setattr("bridge.report._CHUNK_BYTES", 256)  # many small chunks
    assert rejected_rows_csv(report, data, delimited) == whole
    rows = list(csv.reader(io.StringIO(whole.decode("utf-8-sig"))))[1:]
    assert len(rows) == 29
    assert all(r[6] == f"C{int(r[0]) - 2}" and r[7] == "x" for r in rows)


def decode_issues(data: bytes, t: Tracciato) -> list[Issue]:
    from bridge.codecs import decode

    return decode(data, t).issues


def test_importing_report_loads_no_heavy_library() -> None:
    import subprocess
    import sys

    code = ("import sys, bridge.cli, bridge.report; "
            "print(sorted(m for m in ('jinja2', 'pandas', 'pyarrow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "[]"
