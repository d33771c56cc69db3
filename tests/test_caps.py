"""What a sender's file can make bridge hold is bounded: issues, report bytes, columns.

Past the first ``max_issues`` issues of rows, decode counts issues without building them;
the issues CSV stops at its byte limit and cuts long cells; a header too wide for any
export is refused before it becomes columns. The measured figures (the memory of
``bridge check`` and ``bridge run`` on such files) are in tests/test_caps_measured.py.
"""

from __future__ import annotations

import csv
import io
import sys
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.codecs import Decoded, decode, iter_decode
from bridge.codecs.chunks import MAX_COLUMNS, WIDTH_MARGIN
from bridge.issues import MAX_ISSUES, Issue
from bridge.report import (
    MAX_CSV_BYTES,
    SHOWN_ISSUES,
    FileReport,
    rejected_rows_csv,
    render_html,
)
from bridge.report_cells import CELL_LIMIT
from bridge.spec import parse
from bridge.spec.model import Tracciato
from tests.conftest import ROOT
from tests.flowkit import CONFIG

ARTICOLI = """
format: delimited
encoding: utf-8
newline: lf
delimited: {delimiter: ';'}
records:
  articolo:
    fields:
      - {name: codice, column: Codice, required: true, max_length: 6}
      - {name: qta, column: Qta, type: integer}
      - {name: prezzo, column: Prezzo, type: decimal, scale: 2, decimal_separator: ','}
      - {name: note, column: Note}
checks:
  unique: [{record: articolo, fields: [codice]}]
"""


@pytest.fixture
def articoli() -> Tracciato:
    return parse(ARTICOLI)


def rows(n: int, qta: str = "x", prezzo: str = "1.0.0", codice: str = "C{i}") -> bytes:
    body = "".join(f"{codice.format(i=i)};{qta};{prezzo};nota {i}\n" for i in range(n))
    return ("Codice;Qta;Prezzo;Note\n" + body).encode()


def test_past_the_cap_issues_are_counted_by_code_and_field(articoli: Tracciato) -> None:
    got = decode(rows(50), articoli, max_issues=7)  # two bad cells on each of 50 rows
    listed = [i for i in got.issues if i.code != "too-many-issues"]
    assert [(i.line, i.field) for i in listed] == [
        (2, "qta"), (2, "prezzo"), (3, "qta"), (3, "prezzo"), (4, "qta"), (4, "prezzo"),
        (5, "prezzo")]  # on line 5, where the cap falls: by code, bad-decimal first
    assert got.left_out == {("bad-integer", "articolo", "qta"): 47,
                            ("bad-decimal", "articolo", "prezzo"): 46}
    (summary,) = [i for i in got.issues if i.code == "too-many-issues"]
    assert got.issues[0] == summary and summary.line is None and summary.value == "93"
    assert summary.message.startswith("93 more issues are not listed, only counted (a "
                                      "report lists the first 7): 47 bad-integer, "
                                      "46 bad-decimal; by field: articolo.qta 47, "
                                      "articolo.prezzo 46")


def test_under_the_cap_nothing_changes(articoli: Tracciato) -> None:
    got = decode(rows(50), articoli, max_issues=100)
    assert len(got.issues) == 100 and got.left_out == {}
    assert "too-many-issues" not in {i.code for i in got.issues}
    assert decode(rows(50), articoli).issues == got.issues  # the default is far above


@pytest.mark.parametrize("chunk", [1, 50, 1000])
def test_chunks_keep_what_the_whole_keeps(articoli: Tracciato, chunk: int) -> None:
    data = rows(200)
    whole = decode(data, articoli, max_issues=33)
    parts = list(iter_decode(data, articoli, chunk_bytes=chunk, max_issues=33))
    assert len(parts) > 1 or chunk == 1000
    assert [i for p in parts for i in p.issues if i.line is not None] == \
        [i for i in whole.issues if i.line is not None]
    assert parts[-1].left_out == whole.left_out
    assert sum(whole.left_out.values()) == 400 - 33


def test_file_checks_are_capped_too(articoli: Tracciato) -> None:
    got = decode(rows(1_000, qta="1", prezzo="1,00", codice="SAME"), articoli, max_issues=5)
    assert Counter(i.code for i in got.issues) == {"duplicate-key": 5, "too-many-issues": 1}
    assert got.left_out == {("duplicate-key", "articolo", "codice"): 994}


def traced(work: Callable[[], Decoded]) -> tuple[Decoded, int]:
    """What ``work`` returns, and the peak of Python's allocations while it ran."""
    tracemalloc.start()
    try:
        got = work()
        return got, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_cells_past_the_cap_never_become_python_strings(articoli: Tracciato) -> None:
    """200,000 bad cells: with the cap, Python holds a few MB, not one object per cell."""
    data = rows(100_000)
    decode(rows(1), articoli)  # the modules decode imports are not what is measured
    got, peak = traced(lambda: decode(data, articoli))
    assert len(got.issues) == MAX_ISSUES + 1
    print(f"\n200,000 bad cells: Python's peak {peak / 2**20:.1f} MB")
    assert peak < 64 << 20
    assert peak < 40 * 2**20  # measured 15 MB; every issue built took 160 MB


def test_skip_rows_refuses_a_file_whose_issues_were_not_all_kept(articoli: Tracciato) -> None:
    """The rows past the cap are not known one by one: none may slip through."""
    from bridge.engine.tables import drop_bad_rows

    got = decode(rows(50), articoli, max_issues=7)
    left = drop_bad_rows(got.tables, [i for i in got.issues if i.is_error], articoli)
    assert {name: len(df) for name, df in left.items()} == {"articolo": 0}


# -- the report --------------------------------------------------------------------------


def report(issues: list[Issue]) -> FileReport:
    return FileReport(flow="f", source_name="a.csv", size=1, sha256="0" * 64,
                      outcome="rejected", rows={"articolo": 1}, issues=issues)


def read(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def test_issues_csv_lists_at_most_max_issues(articoli: Tracciato) -> None:
    data = rows(40)
    issues = decode(data, articoli, max_issues=1_000).issues  # 80, none counted
    out = read(rejected_rows_csv(report(issues), data, articoli, max_issues=30))
    assert len(out) == 1 + 30 + 1
    assert out[30][0] == "16" and out[30][9] == "nota 14"  # the row of the 30th issue
    assert out[-1][2:6] == ["too-many-issues", "", "50", "50 more issues are left out: this "
                            "file lists at most 30 issues in at most 52,428,800 bytes"]


def test_issues_csv_is_bounded_in_bytes_and_cuts_long_cells(articoli: Tracciato) -> None:
    note = "lungo " * 10_000  # 60,000 characters in the sender's cell
    body = "".join(f"C{i};x;1,00;{note}\n" for i in range(200))
    data = ("Codice;Qta;Prezzo;Note\n" + body).encode()
    issues = decode(data, articoli).issues
    assert len(issues) == 200
    out = rejected_rows_csv(report(issues), data, articoli, max_bytes=100_000)
    assert len(out) <= 100_000
    got = read(out)
    assert got[1][9] == note[:CELL_LIMIT] + "… [cut: 60000 characters in all]"
    kept = len(got) - 2
    assert 50 < kept < 200  # as many rows as fit, then what was left out
    assert got[-1][2] == "too-many-issues" and got[-1][4] == str(200 - kept)
    # without a byte limit in sight, the rows are all there, each cell still cut
    assert len(read(rejected_rows_csv(report(issues), data, articoli))) == 1 + 200


def test_html_lists_500_and_cuts_long_messages() -> None:
    issues = [Issue("bad-pattern", "m" * 50_000, n, "articolo", "note", "v" * 50_000)
              for n in range(2, 5_000)]
    page = render_html(report(issues))
    assert page.count('<td class="mono value">') == 500
    assert len(page) < 500 * 2 * (CELL_LIMIT + 100) + 20_000


# -- columns -----------------------------------------------------------------------------


def shopify() -> tuple[Tracciato, bytes]:
    from bridge.spec import load

    sample = (ROOT / "samples" / "tracciati" / "shopify" / "ordini.csv").read_bytes()
    return load("shopify/ordini"), sample


@pytest.mark.parametrize("chunk", [None, 4096])
def test_a_header_too_wide_is_refused_before_it_becomes_columns(chunk: int | None) -> None:
    t, sample = shopify()
    header, rest = sample.split(b"\n", 1)
    data = header + b"," * 50_000 + b"\n" + rest  # 50 KB that took a gigabyte
    parts = list(iter_decode(data, t, chunk_bytes=chunk))
    issues = [i for p in parts for i in p.issues]
    assert [(i.code, i.line) for i in issues] == [("too-many-columns", 1)]
    assert issues[0].message == (f"more than {MAX_COLUMNS:,} cells in one row where the "
                                 "tracciato declares 28: the file is not read")
    assert sum(len(df) for p in parts for df in p.tables.values()) == 0
    # the limit leaves room: 1,900 columns more than declared are still a file
    ok = header + b"," * 1_900 + b"\n" + rest
    assert "too-many-columns" not in {i.code for i in decode(ok, t).issues}


def test_a_first_row_too_wide_is_refused_without_a_header() -> None:
    t = parse(ARTICOLI.replace("delimiter: ';'", "delimiter: ';', header_rows: 0, "
                                                 "match_columns: position"))
    got = decode(b"A;1;1,00;n\nB;1;1,00;n\nC;1;1,00;n\n" + b";" * 5_000 + b"\n", t)
    assert [(i.code, i.line) for i in got.issues] == [("wrong-column-count", 4)]
    got = decode(b";" * 5_000 + b"\n" + b"A;1;1,00;n\n", t)
    assert [(i.code, i.line) for i in got.issues] == [("too-many-columns", 1)]


def test_a_data_row_too_wide_is_counted_not_split_by_the_csv_module() -> None:
    t = parse(ARTICOLI.replace("delimiter: ';'", "delimiter: ';', comment_prefix: '#'"))
    data = b"Codice;Qta;Prezzo;Note\nA;1;1,00;n\nB" + b";ab" * 1_000_000 + b"\nC;2;1,00;n\n"
    decode(data[:40], t)  # the modules decode imports are not what is measured
    got, peak = traced(lambda: decode(data, t))
    assert [(i.code, i.line, i.message) for i in got.issues] == [
        ("wrong-column-count", 3, "1000001 cells where 4 are expected")]
    assert list(got.tables["articolo"]["codice"]) == ["A", "C"]
    print(f"\na row of a million cells: Python's peak {peak / 2**20:.1f} MB")
    assert peak < 40 * 2**20  # measured 20 MB; a string per cell took 80 MB


def test_the_docs_state_the_caps_in_force() -> None:
    text = " ".join((ROOT / "docs" / "issue-codes.md").read_text(encoding="utf-8").split())
    assert f"first {MAX_ISSUES:,} issues of rows" in text
    assert f"those {MAX_ISSUES:,} issues in at most {MAX_CSV_BYTES >> 20} MB" in text
    assert MAX_CSV_BYTES == 50 << 20
    assert f"every cell cut at {CELL_LIMIT:,} characters" in text
    assert f"lists the first {SHOWN_ISSUES}" in text
    assert f"more than {MAX_COLUMNS:,} cells, or {WIDTH_MARGIN} more than" in text



NOTING = CONFIG.replace(
    "    steps:\n      - dedupe: {key: [codice]}   # an article code already sent is not sent "
    "again\n",
    "    chunk_bytes: 2048\n    steps:\n"
    '      - filter: {keep: "qty != 3", note: "qty 3 waits"}\n'
    "      - check:\n"
    '          rules: [{that: "qty < 6", field: qty, code: tax-mismatch, message: "qty 6 or 7"}]\n'
    "      - dedupe: {key: [codice], keep: sent}\n")


def noted_run(root: Path, built: Counter[str], config: str = NOTING
              ) -> tuple[list[Issue], Counter[str]]:
    """One file of 400 rows, in chunks, through steps that note most of its rows: the
    issues the ledger keeps of it, and the issues made on the way, by code (``built``
    counts every issue made)."""
    from bridge.config import load
    from bridge.engine.runner import run_pass
    from bridge.ledger import open_ledger
    from tests.flowkit import make_world, order_file

    cfg = make_world(root, config)
    (root / "inbox" / "big.csv").write_text(order_file(1, 400), encoding="utf-8")
    conf = load(cfg)
    built.clear()
    [outcome] = run_pass(conf).outcomes
    assert outcome.state == "done", outcome
    made = Counter(built)
    ledger = open_ledger(conf.path(conf.ledger))
    try:
        return ledger.issues(outcome.file_id), made
    finally:
        ledger.close()


def test_notes_past_the_cap_are_counted_without_being_built(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The steps of a large file note far more rows than the file keeps (the sample's
    tax-mismatch on 190,000 orders of a million rows): they build no more notes of a kind
    than the file still keeps, and count the rest, and the file keeps the same issues as
    when every note is built."""
    import bridge.engine.chunking as chunking
    from bridge.steps.work import Work

    built: Counter[str] = Counter()
    checked = Issue.__post_init__

    def counting(self: Issue) -> None:
        built[self.code] += 1
        checked(self)

    monkeypatch.setattr(Issue, "__post_init__", counting)
    monkeypatch.setattr(chunking, "MAX_ISSUES", 5)
    kept, made = noted_run(tmp_path / "capped", built)
    with monkeypatch.context() as every:
        every.setattr(Work, "to_build", lambda self, code, count: count)
        all_kept, all_made = noted_run(tmp_path / "every", built)
    notes = ("waiting", "tax-mismatch", "never-sent")
    # 400 rows: qty 3 on 57 (waiting); of the 343 others, qty 6 or 7 on 114
    # (tax-mismatch); the 343 never sent before
    assert [all_made[c] for c in notes] == [57, 114, 343]
    assert kept == all_kept
    # the count of the others (an issue of the whole file) first, then the first notes of
    # the first chunk
    assert kept[0] == Issue("notes-counted", "509 more notes are not listed, only counted: "
                            "343 never-sent, 114 tax-mismatch, 52 waiting", value="509")
    assert [(i.code, i.line) for i in kept[1:]] == [("waiting", n) for n in (4, 11, 18, 25, 32)]
    # the first chunk builds at most 5 of each kind; the chunks after it, none
    assert [made[c] for c in notes] == [5, 5, 5], made


REFUSING = NOTING.replace(
    '      - filter: {keep: "qty != 3", note: "qty 3 waits"}\n', "").replace(
    "code: tax-mismatch", "code: rule-failed").replace(
    "      - dedupe: {key: [codice], keep: sent}\n", "").replace(
    "tracciato: test/in\n", "tracciato: test/in\n    on_bad_rows: skip-rows\n")


def test_errors_of_rows_left_out_past_the_cap_are_counted_not_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stale reference table makes an error on every row of a large file (a million
    rows: 3.6 million errors kept, 1.77 GB at the peak). Under skip-rows the file keeps
    the first errors and counts the others; every row with an error is left out all the
    same, and the rows without one are written as before."""
    import bridge.engine.chunking as chunking

    assert "skip-rows" in REFUSING and "rule-failed" in REFUSING
    assert "filter" not in REFUSING and "dedupe" not in REFUSING
    built: Counter[str] = Counter()
    every, _ = noted_run(tmp_path / "every", built, REFUSING)
    monkeypatch.setattr(chunking, "MAX_ISSUES", 5)
    kept, _ = noted_run(tmp_path / "capped", built, REFUSING)
    # 400 rows, qty 6 or 7 on 114 of them: each refused, the others written
    assert [i.code for i in every].count("rule-failed") == 114
    assert kept[1:6] == [i for i in every if i.code == "rule-failed"][:5]
    assert [i for i in kept if i.code == "rule-failed"] == kept[1:6]
    [summary] = [i for i in kept if i.code == "errors-counted"]
    assert (summary.value, summary.line) == ("109", None)
    assert summary.message == "109 more errors of rows are not listed, only counted: " \
        "109 rule-failed"
    written = {p.name: p.read_bytes() for p in (tmp_path / "capped" / "erp").glob("*.TXT")}
    assert written == {p.name: p.read_bytes() for p in (tmp_path / "every" / "erp").glob("*.TXT")}
    [data] = written.values()
    assert data.count(b"\r\n") == 400 - 114


FAILING = REFUSING.replace(
    'message: "qty 6 or 7"}]\n',
    'message: "qty 6 or 7"},\n'
    '                  {that: "(10 // (qty - 3)) is number", field: qty, code: rule-failed}]\n')


def test_errors_past_the_cap_are_not_built_in_full(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stale reference table fails every row of a large file, in several steps: the
    steps build no more errors in full (message, value, inputs) than the file still keeps;
    the others carry their line alone, enough to leave their rows out and count them. The
    file keeps the same issues and writes the same bytes as when every error is built."""
    import bridge.engine.chunking as chunking
    from bridge.steps.work import Work

    assert FAILING != REFUSING
    full: Counter[str] = Counter()
    checked = Issue.__post_init__

    def counting(self: Issue) -> None:  # issues with their text, made by the steps
        made_in = Path(sys._getframe(2).f_code.co_filename)
        full[self.code] += bool(self.message) and made_in.parent.name == "steps"
        checked(self)

    monkeypatch.setattr(Issue, "__post_init__", counting)
    monkeypatch.setattr(chunking, "MAX_ISSUES", 5)
    kept, made = noted_run(tmp_path / "capped", full, FAILING)
    with monkeypatch.context() as every:
        every.setattr(Work, "to_build", lambda self, code, count: count)
        all_kept, all_made = noted_run(tmp_path / "every", full, FAILING)
    # 400 rows: qty 6 or 7 on 114 (rule-failed), qty 3 on 57 (10 // 0: bad-expression)
    assert (all_made["rule-failed"], all_made["bad-expression"]) == (114, 57)
    assert kept == all_kept
    [summary] = [i for i in kept if i.code == "errors-counted"]
    assert summary.value == "166"
    assert (made["rule-failed"], made["bad-expression"]) == (5, 0), made
    written = {p.name: p.read_bytes() for p in (tmp_path / "capped" / "erp").glob("*.TXT")}
    assert written == {p.name: p.read_bytes() for p in (tmp_path / "every" / "erp").glob("*.TXT")}
    [data] = written.values()
    assert data.count(b"\r\n") == 400 - 114 - 57


def test_a_file_refused_past_the_cap_gives_its_first_error_as_the_reason(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issues of the whole file come first, the count of those not listed among them:
    the reason the ledger gives names the first error of a row, not that count."""
    import bridge.engine.chunking as chunking
    from bridge.config import load
    from bridge.engine.runner import run_pass
    from bridge.ledger import open_ledger
    from tests.flowkit import make_world, order_file

    monkeypatch.setattr(chunking, "MAX_ISSUES", 5)
    refusing = REFUSING.replace("    on_bad_rows: skip-rows\n", "")
    assert refusing != REFUSING
    conf = load(make_world(tmp_path, refusing))
    (tmp_path / "inbox" / "big.csv").write_text(order_file(1, 400), encoding="utf-8")
    [outcome] = run_pass(conf).outcomes
    assert outcome.state == "rejected"
    ledger = open_ledger(conf.path(conf.ledger))
    try:
        issues = ledger.issues(outcome.file_id)
        assert issues[0].code == "errors-counted"
        assert ledger.get(outcome.file_id).reason == f"{len(issues)} issue(s): rule-failed"
    finally:
        ledger.close()
