"""Row-level supervision of held files: `bridge pending ID --rows` shows what each row would
write, `bridge approve ID --rows/--except` sends only some of them (whole orders only), the
rows left out are recorded before anything is written and never reach the ERP, and
`approval.alert_after` makes `bridge status --check` fail once a held file waits too long.

The world: a `;`-separated export of order lines grouped by order number, written to the
ERP as a fixed-width file of testata (T) and riga (R) records closed by a coda (Z) that
counts the records written."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bridge.cli import main
from bridge.config import load
from bridge.errors import ConfigError
from bridge.ledger import open_ledger
from bridge.ledger.base import Ledger
from tests.flowkit import ledger_at_schema

IN = """
description: order lines, one row per line, grouped by order
format: delimited
encoding: utf-8
newline: lf
delimited: {delimiter: ";"}
group_by: [ordine]
records:
  riga:
    fields:
      - {name: ordine, required: true}
      - {name: articolo, required: true, max_length: 10}
      - {name: qty, type: integer}
      - {name: prezzo, type: decimal, scale: 2, decimal_separator: ","}
"""

OUT = """
description: orders for the ERP, fixed width, a coda counting the records
format: fixed
encoding: cp1252
newline: crlf
fixed: {record_length: 40}
discriminator: {start: 1, length: 1}
records:
  testata:
    when: T
    fields:
      - {name: tipo, type: constant, value: T, start: 1, length: 1}
      - {name: ordine, start: 2, length: 10}
      - {name: totale, type: decimal, scale: 2, implied_decimals: true, start: 12, length: 10}
      - {name: riservato, type: filler, start: 22, length: 19}
  riga:
    when: R
    parent: testata
    fields:
      - {name: tipo, type: constant, value: R, start: 1, length: 1}
      - {name: ordine, start: 2, length: 10}
      - {name: articolo, start: 12, length: 10}
      - {name: qty, type: integer, start: 22, length: 5}
      - {name: importo, type: decimal, scale: 2, implied_decimals: true, start: 27, length: 10}
      - {name: riservato, type: filler, start: 37, length: 4}
  coda:
    when: Z
    occurs: last
    fields:
      - {name: tipo, type: constant, value: Z, start: 1, length: 1}
      - {name: numero_record, type: integer, start: 2, length: 7}
      - {name: riservato, type: filler, start: 9, length: 32}
"""

ARTICOLI = """
description: the ERP's articles
format: delimited
encoding: utf-8
newline: lf
delimited: {delimiter: ";"}
records:
  articolo:
    fields:
      - {name: codice, required: true}
"""

CONFIG = """
ledger: state/ledger.sqlite
work_dir: state/work
lock_file: state/run.lock
tracciati: [tracciati]
references:
  articoli: {file: articoli.csv, tracciato: test/articoli}
flows:
  ordini:
    source:
      folder: inbox
      patterns: ["*.csv"]
      ready: {window: 0, min_age: 0}
    tracciato: test/ordini
    approval: {alert_after: 4h}
    retry_backoff: 0
    steps:
      - dedupe: {key: [ordine]}
      - compute: {fields: {importo: "qty * prezzo"}}
      - group:
          by: [ordine]
          header: {into: testata, fields: {ordine: ordine}}
          lines:
            into: riga
            fields: {ordine: ordine, articolo: articolo, qty: qty, importo: importo}
          totals: {totale: {sum: importo}}
      - trailer: {into: coda, count: numero_record}
    targets:
      - folder: erp
        tracciato: test/erp
        filename: "ORD{{ seq | zfill(5) }}.TXT"
        done_file: {content: rows}
"""

#: Three orders: 1001 (rows 2 and 3), 1002 (row 4), 1003 (rows 5 and 6); line 1 is the
#: header, so a row's id is its line.
ORDERS = ("ordine;articolo;qty;prezzo\n1001;A1;2;10,00\n1001;A2;1;5,50\n1002;B1;3;1,00\n"
          "1003;C1;1;7,00\n1003;C2;4;2,00\n")
#: The clock every command reads in these tests (BRIDGE_FAKE_CLOCK): no sleeping.
T0 = 1_800_000_000.0


def t_record(ordine: str, cents: int) -> str:
    return f"T{ordine:<10}{cents:010d}{'':19}"


def r_record(ordine: str, articolo: str, qty: int, cents: int) -> str:
    return f"R{ordine:<10}{articolo:<10}{qty:05d}{cents:010d}{'':4}"


def z_record(records: int) -> str:
    return f"Z{records:07d}{'':32}"


ORDER = {
    "1001": [t_record("1001", 2550), r_record("1001", "A1", 2, 2000),
             r_record("1001", "A2", 1, 550)],
    "1002": [t_record("1002", 300), r_record("1002", "B1", 3, 300)],
    "1003": [t_record("1003", 1500), r_record("1003", "C1", 1, 700),
             r_record("1003", "C2", 4, 800)],
}


def erp_file(*orders: str) -> bytes:
    """The ERP file holding these orders, its coda counting them and itself."""
    records = [r for o in orders for r in ORDER[o]]
    return "".join(f"{r}\r\n" for r in [*records, z_record(len(records) + 1)]).encode("cp1252")


def make_world(root: Path, config: str = CONFIG, orders: str = ORDERS) -> Path:
    layouts = root / "tracciati" / "test"
    layouts.mkdir(parents=True)
    for name, text in (("ordini", IN), ("erp", OUT), ("articoli", ARTICOLI)):
        (layouts / f"{name}.yaml").write_text(text, encoding="utf-8")
    (root / "articoli.csv").write_text("codice\nA1\nA2\nC1\nC2\nD1\n", encoding="utf-8")
    (root / "inbox").mkdir()
    (root / "inbox" / "a.csv").write_text(orders, encoding="utf-8")
    cfg = root / "bridge.yaml"
    cfg.write_text(textwrap.dedent(config), encoding="utf-8")
    return cfg


@pytest.fixture
def clock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """bridge's clock, set by writing seconds in this file."""
    path = tmp_path / "clock"
    path.write_text(f"{T0}", encoding="ascii")
    monkeypatch.setenv("BRIDGE_FAKE_CLOCK", str(path))
    return path


def cli(cfg: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--config", str(cfg), *args])


def ledger_of(cfg: Path) -> Ledger:
    conf = load(cfg)
    return open_ledger(conf.path(conf.ledger))


def erp(root: Path) -> dict[str, bytes]:
    folder = root / "erp"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def held_world(root: Path, config: str = CONFIG, orders: str = ORDERS) -> Path:
    cfg = make_world(root, config, orders)
    ran = cli(cfg, "run")
    assert ran.exit_code == 1 and "a.csv: held (file 1)" in ran.output, ran.output
    return cfg


def test_approve_rows_writes_only_their_orders_counted_in_the_coda(tmp_path: Path,
                                                                  clock: Path) -> None:
    cfg = held_world(tmp_path)
    ok = cli(cfg, "approve", "1", "--rows", "2,3,5-6", "--reason", "prezzo sbagliato")
    assert ok.exit_code == 0, ok.output
    assert ok.output == ("file 1 (a.csv): approved 4 of 5 rows; left out, never written: "
                         "row 4 (prezzo sbagliato); the next run writes the rest\n")
    ledger = ledger_of(cfg)
    # Recorded before any output: the rows left out, the reason, the file approved.
    assert ledger.left_out(1) == {4: "prezzo sbagliato"}
    assert ledger.get(1).state == "approved" and ledger.outputs(1) == []
    assert ledger.events(1)[-1].detail == ("approved by an operator: 4 of 5 rows; left out: "
                                           "row 4: prezzo sbagliato")
    assert erp(tmp_path) == {}
    assert cli(cfg, "run").exit_code == 0
    # Orders 1001 and 1003 only; the coda counts the 7 records written, itself included.
    assert erp(tmp_path) == {"ORD00001.TXT": erp_file("1001", "1003"),
                             "ORD00001.TXT.ok": b"7\n"}
    [out] = ledger.outputs(1)
    assert (out.state, out.rows) == ("written", 7)
    assert ledger.get(1).state == "done"
    # Only the orders written count as sent: 1002 goes when a file brings it again.
    assert ledger.sent_keys("ordini", ["1001", "1002", "1003"]) == {"1001", "1003"}
    # Byte for byte what a file holding only those orders gives, approved whole.
    clean = make_world(tmp_path / "clean", CONFIG.replace("approval: {alert_after: 4h}",
                                                          "approval: false"),
                       "".join(ORDERS.splitlines(keepends=True)[i] for i in (0, 1, 2, 4, 5)))
    assert cli(clean, "run").exit_code == 0
    assert erp(tmp_path / "clean") == erp(tmp_path)


def test_except_writes_every_other_row(tmp_path: Path, clock: Path) -> None:
    cfg = held_world(tmp_path)
    ok = cli(cfg, "approve", "1", "--except", "2-3", "--reason", "cliente sospeso")
    assert ok.exit_code == 0, ok.output
    assert ledger_of(cfg).left_out(1) == {2: "cliente sospeso", 3: "cliente sospeso"}
    assert cli(cfg, "run").exit_code == 0
    assert erp(tmp_path) == {"ORD00001.TXT": erp_file("1002", "1003"),
                             "ORD00001.TXT.ok": b"6\n"}


def test_the_rows_left_out_are_in_show_and_in_the_report(tmp_path: Path, clock: Path) -> None:
    cfg = held_world(tmp_path)
    assert cli(cfg, "approve", "1", "--except", "4", "--reason", "prezzo sbagliato"
               ).exit_code == 0
    assert cli(cfg, "run").exit_code == 0
    shown = cli(cfg, "show", "1").output
    assert ("  issue line 4: operator-rejected: riga: left out by an operator: prezzo "
            "sbagliato") in shown.splitlines()
    assert "approved by an operator: 4 of 5 rows; left out: row 4: prezzo sbagliato" in shown
    assert "state done" in shown
    report = (tmp_path / "quarantine" / "a.csv.report.html").read_text(encoding="utf-8")
    assert "operator-rejected" in report and "left out by an operator: prezzo sbagliato" in report
    assert "refused by an operator who approved the others" in report
    rows = (tmp_path / "quarantine" / "a.csv.issues.csv").read_text(encoding="utf-8-sig")
    assert rows.splitlines() == [
        "line,record,code,field,value,message,ordine,articolo,qty,prezzo",
        '4,riga,operator-rejected,,,left out by an operator: prezzo sbagliato,1002,B1,3,"1,00"']


def test_half_an_order_is_refused_and_nothing_changes(tmp_path: Path, clock: Path) -> None:
    cfg = held_world(tmp_path)
    ledger = ledger_of(cfg)
    before = ledger.events(1)
    for args in (["--rows", "2,4,5,6"], ["--except", "3"]):
        no = cli(cfg, "approve", "1", *args, "--reason", "x")
        assert no.exit_code == 2, no.output
        assert ("rows 2-3 are written together (one group, such as an order and its lines); "
                "row 3 would be left out and row 2 approved" in no.output), no.output
        assert "approve or leave out every row of a group, or none" in no.output
    assert ledger.get(1).state == "held" and ledger.left_out(1) == {}
    assert ledger.events(1) == before
    assert cli(cfg, "run").exit_code == 0 and erp(tmp_path) == {}  # still held: nothing


def test_a_group_step_by_a_field_of_the_source_makes_groups_too(tmp_path: Path,
                                                                clock: Path) -> None:
    """No group_by in the layout: the group step's own `by` keeps an order whole."""
    cfg = make_world(tmp_path)
    layout = tmp_path / "tracciati" / "test" / "ordini.yaml"
    layout.write_text(IN.replace("group_by: [ordine]\n", ""), encoding="utf-8")
    assert cli(cfg, "run").exit_code == 1
    no = cli(cfg, "approve", "1", "--rows", "5", "--reason", "x")
    assert no.exit_code == 2 and "rows 5-6 are written together" in no.output, no.output
    assert cli(cfg, "approve", "1", "--rows", "5,6", "--reason", "x").exit_code == 0
    assert cli(cfg, "run").exit_code == 0
    assert erp(tmp_path)["ORD00001.TXT"] == erp_file("1003")


def test_rows_without_groups_are_chosen_one_by_one(tmp_path: Path, clock: Path) -> None:
    flat = CONFIG.replace("""      - group:
          by: [ordine]
          header: {into: testata, fields: {ordine: ordine}}
          lines:
            into: riga
            fields: {ordine: ordine, articolo: articolo, qty: qty, importo: importo}
          totals: {totale: {sum: importo}}
""", "").replace("dedupe: {key: [ordine]}", "dedupe: {key: [ordine, articolo]}")
    cfg = make_world(tmp_path, flat)
    (tmp_path / "tracciati" / "test" / "ordini.yaml").write_text(
        IN.replace("group_by: [ordine]\n", ""), encoding="utf-8")
    assert cli(cfg, "run").exit_code == 1
    ok = cli(cfg, "approve", "1", "--rows", "3", "--reason", "solo A2")
    assert ok.exit_code == 0, ok.output
    assert ledger_of(cfg).left_out(1) == {n: "solo A2" for n in (2, 4, 5, 6)}
    assert cli(cfg, "run").exit_code == 0
    assert erp(tmp_path)["ORD00001.TXT"] == (f"{r_record('1001', 'A2', 1, 550)}\r\n"
                                             f"{z_record(2)}\r\n").encode("cp1252")


def test_a_row_that_does_not_exist_is_exit_2_and_changes_nothing(tmp_path: Path,
                                                                 clock: Path) -> None:
    cfg = held_world(tmp_path)
    no = cli(cfg, "approve", "1", "--rows", "2,3,99", "--reason", "x")
    assert no.exit_code == 2
    assert "file 1 has no row 99: its rows are 2-6 (bridge pending 1 --rows)" in no.output
    header = cli(cfg, "approve", "1", "--except", "1", "--reason", "x")  # the header line
    assert header.exit_code == 2 and "file 1 has no row 1:" in header.output
    bad = cli(cfg, "approve", "1", "--rows", "two")
    assert bad.exit_code == 2 and "'two' is not a row id" in bad.output
    both = cli(cfg, "approve", "1", "--rows", "2", "--except", "4")
    assert both.exit_code == 2 and "give --rows or --except, not both" in both.output
    everything = cli(cfg, "approve", "1", "--except", "2-6", "--reason", "x")
    assert everything.exit_code == 2 and "bridge reject 1 --reason" in everything.output
    ledger = ledger_of(cfg)
    assert ledger.get(1).state == "held" and ledger.left_out(1) == {}
    assert [e.state for e in ledger.events(1)] == ["claimed", "fetched", "held"]


def test_rows_left_out_need_a_reason(tmp_path: Path, clock: Path) -> None:
    cfg = held_world(tmp_path)
    no = cli(cfg, "approve", "1", "--except", "4")
    assert no.exit_code == 2
    assert "row 4 would be left out: say why with --reason" in no.output
    assert ledger_of(cfg).get(1).state == "held"
    every = cli(cfg, "approve", "1", "--rows", "2-6")  # every row: a whole approval
    assert every.output == "file 1 (a.csv): approved\n"
    assert ledger_of(cfg).left_out(1) == {}
    assert cli(cfg, "run").exit_code == 0
    assert erp(tmp_path)["ORD00001.TXT"] == erp_file("1001", "1002", "1003")


def test_approving_twice_or_a_file_not_held_is_a_clear_error(tmp_path: Path,
                                                             clock: Path) -> None:
    cfg = held_world(tmp_path)
    assert cli(cfg, "approve", "1", "--rows", "2,3", "--reason", "x").exit_code == 0
    again = cli(cfg, "approve", "1", "--rows", "5,6", "--reason", "y")
    assert again.exit_code == 2
    assert "file 1 is approved already, not held: the next run writes it" in again.output
    assert ledger_of(cfg).left_out(1) == {4: "x", 5: "x", 6: "x"}  # the first decision
    assert cli(cfg, "run").exit_code == 0
    done = cli(cfg, "approve", "1", "--rows", "2,3", "--reason", "x")
    assert done.exit_code == 2 and "file 1 is done, not held: nothing to approve" in done.output
    assert cli(cfg, "pending", "1", "--rows").exit_code == 2
    missing = cli(cfg, "approve", "7", "--rows", "2")
    assert missing.exit_code == 2 and "no file 7 in the ledger" in missing.output
    assert erp(tmp_path)["ORD00001.TXT"] == erp_file("1001")


def test_pending_rows_shows_what_each_row_would_write(tmp_path: Path, clock: Path) -> None:
    cfg = held_world(tmp_path)
    clock.write_text(f"{T0 + 3 * 3600 + 12 * 60}", encoding="ascii")
    text = cli(cfg, "pending", "1", "--rows")
    assert text.exit_code == 0, text.output
    assert text.output.splitlines() == [
        "file 1: a.csv (flow ordini), held 3h12m: waits for an operator's approval",
        "5 rows: the records each would write to erp; the rows of one group are approved or "
        "left out together",
        "   row  group  record       values",
        "     2      2  testata      ordine=1001 totale=25.50",
        "               riga         ordine=1001 articolo=A1 qty=2 importo=20.00",
        "     3      2  riga         ordine=1001 articolo=A2 qty=1 importo=5.50",
        "     4         testata      ordine=1002 totale=3.00",
        "               riga         ordine=1002 articolo=B1 qty=3 importo=3.00",
        "     5      5  testata      ordine=1003 totale=15.00",
        "               riga         ordine=1003 articolo=C1 qty=1 importo=7.00",
        "     6      5  riga         ordine=1003 articolo=C2 qty=4 importo=8.00"]
    assert cli(cfg, "pending", "--rows", "1").output == text.output  # either order
    limited = cli(cfg, "pending", "1", "--rows", "--limit", "2").output.splitlines()
    assert limited[-1] == "... 3 more rows (--limit 0 shows all)"
    got = json.loads(cli(cfg, "pending", "1", "--rows", "--format", "json").output)
    assert (got["file"], got["state"], got["held_seconds"]) == (1, "held", 11520)
    assert [(r["row"], r["group"], r["group_rows"]) for r in got["rows"]] == [
        (2, 2, [2, 3]), (3, 2, [2, 3]), (4, 4, [4]), (5, 5, [5, 6]), (6, 5, [5, 6])]
    assert got["rows"][0]["records"] == [
        {"record": "testata", "values": {"ordine": "1001", "totale": "25.50"}},
        {"record": "riga", "values": {"ordine": "1001", "articolo": "A1", "qty": "2",
                                      "importo": "20.00"}}]
    # Nothing was written or recorded by looking.
    assert erp(tmp_path) == {} and ledger_of(cfg).get(1).state == "held"
    assert [p.name for p in (tmp_path / "state" / "work" / "1").iterdir()
            if p.name.startswith(".rows-")] == []
    assert cli(cfg, "pending", "--rows").exit_code == 2  # --rows needs a file
    alone = cli(cfg, "pending", "1")
    assert alone.exit_code == 2 and "bridge pending 1 --rows" in alone.output


def test_pending_rows_shows_each_rows_notes(tmp_path: Path, clock: Path) -> None:
    """A second export repeats order 1001, already sent: its rows would write nothing."""
    cfg = held_world(tmp_path)
    assert cli(cfg, "approve", "1").exit_code == 0
    assert cli(cfg, "run").exit_code == 0
    (tmp_path / "inbox" / "b.csv").write_text(
        "ordine;articolo;qty;prezzo\n1004;D1;1;1,00\n1001;A1;2;10,00\n1001;A2;1;5,50\n",
        encoding="utf-8")
    assert cli(cfg, "run").exit_code == 1
    lines = cli(cfg, "pending", "2", "--rows").output.splitlines()
    assert lines[3:] == [
        "     2         testata      ordine=1004 totale=1.00",
        "               riga         ordine=1004 articolo=D1 qty=1 importo=1.00",
        "     3      3  -            nothing written",
        "               note         already-sent: riga.ordine: steps[0].dedupe: '1001' was "
        "sent before; its rows are skipped",
        "     4      3  -            nothing written"]
    got = json.loads(cli(cfg, "pending", "2", "--rows", "--format", "json").output)
    assert [i["code"] for i in got["rows"][1]["issues"]] == ["already-sent"]
    assert got["rows"][1]["records"] == []


def test_rows_that_hold_a_file_are_named_and_can_be_left_out(tmp_path: Path,
                                                             clock: Path) -> None:
    """A lookup that holds the file for an unknown article: the row says so, and the
    operator sends the rest."""
    lookup = CONFIG.replace("    approval: {alert_after: 4h}\n", "").replace(
        "      - dedupe: {key: [ordine]}\n", """      - dedupe: {key: [ordine]}
      - lookup:
          reference: articoli
          match: [{field: articolo, on: codice}]
          take: {codice_erp: codice}
          missing: hold
""")
    cfg = held_world(tmp_path, lookup)
    got = json.loads(cli(cfg, "pending", "1", "--rows", "--format", "json").output)
    held = {r["row"]: r["held"] for r in got["rows"] if r["held"]}
    assert held == {4: ["no row of 'articoli' for articolo='B1'"]}
    text = cli(cfg, "pending", "1", "--rows").output
    assert "               held         no row of 'articoli' for articolo='B1'" in text
    assert cli(cfg, "approve", "1", "--except", "4", "--reason", "articolo sconosciuto"
               ).exit_code == 0
    assert cli(cfg, "run").exit_code == 0
    assert erp(tmp_path)["ORD00001.TXT"] == erp_file("1001", "1003")


def test_pending_says_how_long_each_file_waits(tmp_path: Path, clock: Path) -> None:
    cfg = held_world(tmp_path)
    clock.write_text(f"{T0 + 3 * 3600 + 12 * 60 + 30}", encoding="ascii")
    assert cli(cfg, "pending").output == (
        "     1 ordini           held 3h12m     a.csv  (waits for an operator's approval)\n")
    got = json.loads(cli(cfg, "pending", "--format", "json").output)
    assert got["files"] == [{"id": 1, "flow": "ordini", "state": "held", "path": "a.csv",
                             "reason": "waits for an operator's approval", "seconds": 11550}]


def test_alert_after_fails_status_check_only_past_its_age(tmp_path: Path, clock: Path) -> None:
    two = CONFIG + textwrap.indent(textwrap.dedent("""
      resi:
        source: {folder: resi, patterns: ["*.csv"], ready: {window: 0, min_age: 0}}
        tracciato: test/ordini
        approval: true
        targets: [{folder: erp-resi, tracciato: test/erp, filename: "RES{{ seq }}.TXT"}]
    """), "  ")
    cfg = make_world(tmp_path, two)
    (tmp_path / "resi").mkdir()
    (tmp_path / "resi" / "r.csv").write_text(ORDERS, encoding="utf-8")
    assert cli(cfg, "run").exit_code == 1
    clock.write_text(f"{T0 + 3 * 3600}", encoding="ascii")
    calm = cli(cfg, "status", "--check")
    assert calm.exit_code == 0 and "needs a person" not in calm.output, calm.output
    # --held-for 1h is for the flows without alert_after: ordini keeps its 4 h.
    strict = cli(cfg, "status", "--check", "--held-for", "1h")
    assert strict.exit_code == 1
    assert strict.output.splitlines()[-2:] == [
        "needs a person: resi: 1 held for more than 1h",
        "held too long: resi: file 2 r.csv: held 3h, more than 1h"]
    clock.write_text(f"{T0 + 5 * 3600 + 60}", encoding="ascii")
    late = cli(cfg, "status", "--check")
    assert late.exit_code == 1
    assert late.output.splitlines()[-2:] == [
        "needs a person: ordini: 1 held for more than 4h",
        "held too long: ordini: file 1 a.csv: held 5h1m, more than 4h"]
    got = json.loads(cli(cfg, "status", "--format", "json").output)
    assert got["held"] == [
        {"flow": "ordini", "id": 1, "path": "a.csv", "seconds": 18060, "alert_after": 14400,
         "overdue": True},
        {"flow": "resi", "id": 2, "path": "r.csv", "seconds": 18060, "alert_after": 86400,
         "overdue": False}]
    assert [f["attention"] for f in got["flows"]] == [["1 held for more than 4h"], []]


def test_approval_takes_true_or_a_mapping_with_alert_after(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    flow = load(cfg).flows["ordini"]
    assert flow.approval is not None and flow.alert_after == 4 * 3600
    assert cli(cfg, "validate").exit_code == 0
    for shape, alert in (("true", None), ("false", None), ("{alert_after: 90m}", 5400.0)):
        cfg.write_text(textwrap.dedent(CONFIG).replace("{alert_after: 4h}", shape),
                       encoding="utf-8")
        flow = load(cfg).flows["ordini"]
        assert (bool(flow.approval), flow.alert_after) == (shape != "false", alert)
    cfg.write_text(textwrap.dedent(CONFIG).replace("4h}", "soon}"), encoding="utf-8")
    with pytest.raises(ConfigError) as bad:
        load(cfg)
    line = next(n for n, text in enumerate(cfg.read_text().splitlines(), 1) if "soon" in text)
    assert str(bad.value) == (f"{cfg}: line {line}: flows.ordini.approval.alert_after: 'soon': "
                              "give a number of seconds, or a number with d, h, m or s (30d, "
                              "12h)")
    refused = cli(cfg, "validate")
    assert refused.exit_code == 2 and "approval.alert_after" in refused.output
    cfg.write_text(textwrap.dedent(CONFIG).replace("{alert_after: 4h}", "sometimes"),
                   encoding="utf-8")
    with pytest.raises(ConfigError, match="approval: give true, false, or a mapping"):
        load(cfg)


def test_a_replay_leaves_out_what_the_operator_left_out(tmp_path: Path, clock: Path) -> None:
    cfg = held_world(tmp_path)
    assert cli(cfg, "approve", "1", "--except", "4", "--reason", "x").exit_code == 0
    assert cli(cfg, "run").exit_code == 0
    dry = cli(cfg, "replay", "1", "--dry-run")
    assert dry.exit_code == 0 and "ORD00001.TXT: identical" in dry.output, dry.output
    again = cli(cfg, "replay", "1")  # waits for approval like any file of the flow
    assert again.exit_code == 1 and "held (file 2)" in again.output, again.output
    assert cli(cfg, "approve", "2").exit_code == 0
    assert cli(cfg, "run").exit_code == 0
    assert erp(tmp_path)["ORD00002.TXT"] == erp_file("1001", "1003")


@pytest.mark.sqlite_only
def test_the_decision_survives_sigkill_until_the_approved_rows_are_written_once(
        tmp_path: Path) -> None:
    """The approval is committed before anything of the file is written; bridge killed
    with SIGKILL at each moment from there to the end of the write (the decision made,
    the rows transformed, the report written, the output planned, being written, written
    and not recorded, recorded, archived) ends, run after run, with the approved orders
    written once."""
    cfg = held_world(tmp_path)

    def bridge(*args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"BRIDGE_KILL_AT": kill_at} if kill_at else {}
        import os

        return subprocess.run([sys.executable, "-m", "bridge", "--config", str(cfg), *args],
                              capture_output=True, text=True, timeout=120, check=False,
                              env={**os.environ, **env})

    killed = bridge("approve", "1", "--except", "4", "--reason", "prezzo sbagliato",
                    kill_at="after-approve:1")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    ledger = ledger_of(cfg)
    assert ledger.left_out(1) == {4: "prezzo sbagliato"}  # recorded before the kill
    assert ledger.get(1).state == "approved"
    for point in ("stream-part", "mid-write", "after-rename", "after-plan", "mid-write",
                  "before-output-commit", "before-written", "after-archive"):
        run = bridge("run", kill_at=f"{point}:1")
        assert run.returncode == -signal.SIGKILL, (point, run.stdout, run.stderr)
    last = bridge("run")
    assert last.returncode == 0, last.stdout + last.stderr
    assert erp(tmp_path) == {"ORD00001.TXT": erp_file("1001", "1003"),
                             "ORD00001.TXT.ok": b"7\n"}
    assert [(o.name, o.state, o.rows) for o in ledger.outputs(1)] == [
        ("ORD00001.TXT", "written", 7)]
    assert ledger.get(1).state == "done"
    assert [i.line for i in ledger.issues(1) if i.code == "operator-rejected"] == [4]
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith((".part", ".download"))]
    assert leftovers == []
    assert "nothing to do" in bridge("run").stdout


@pytest.mark.sqlite_only
def test_migration_11_keeps_an_older_ledger_and_records_row_decisions(tmp_path: Path
                                                                      ) -> None:
    from bridge.ledger.migrations import MIGRATIONS

    path = tmp_path / "ledger.sqlite"
    old = ledger_at_schema(path, 10)  # a ledger of the bridge before row decisions
    old.execute("INSERT INTO files (flow, path, size, sha256, state, updated) VALUES "
                "('ordini', 'a.csv', 1, 'x', 'held', 0)")
    old.commit()
    old.close()
    ledger = open_ledger(path)
    assert ledger.schema_version == len(MIGRATIONS) == 19  # type: ignore[attr-defined]
    assert ledger.left_out(1) == {}
    with pytest.raises(ValueError):
        ledger.approve(1, 5.0, "approved", left_out=[4])  # rows left out need a reason
    ledger.approve(1, 5.0, "approved by an operator", left_out=[4, 2, 4], reason="no")
    assert ledger.left_out(1) == {2: "no", 4: "no"}
    assert (ledger.get(1).state, ledger.get(1).approved) == ("approved", True)
    from bridge.ledger import IllegalTransition

    with pytest.raises(IllegalTransition):
        ledger.approve(1, 6.0, "again", left_out=[2], reason="no")
    assert ledger.left_out(1) == {2: "no", 4: "no"}


def test_a_parent_record_and_its_children_are_one_group(tmp_path: Path, clock: Path) -> None:
    """A source of testata and riga records (the ERP's own layout, read back): a riga
    goes with its testata."""
    again = CONFIG.replace("tracciato: test/ordini\n", "tracciato: test/erp\n").replace(
        'patterns: ["*.csv"]', 'patterns: ["*.TXT"]')
    steps = again[again.index("    steps:\n"):again.index("    targets:\n")]
    again = again.replace(steps, "    steps:\n      - drop: {tables: [coda]}\n"
                                 "      - trailer: {into: coda, count: numero_record}\n")
    cfg = make_world(tmp_path, again)
    (tmp_path / "inbox" / "a.csv").unlink()
    (tmp_path / "inbox" / "IN.TXT").write_bytes(erp_file("1001", "1002", "1003"))
    assert cli(cfg, "run").exit_code == 1
    got = json.loads(cli(cfg, "pending", "1", "--rows", "--format", "json").output)
    assert [(r["row"], r["group"]) for r in got["rows"]] == [
        (1, 1), (2, 1), (3, 1), (4, 4), (5, 4), (6, 6), (7, 6), (8, 6), (9, 9)]
    no = cli(cfg, "approve", "1", "--rows", "1,2,6-8", "--reason", "x")
    assert no.exit_code == 2 and "rows 1-3 are written together" in no.output, no.output
    assert cli(cfg, "approve", "1", "--except", "4-5", "--reason", "x").exit_code == 0
    assert cli(cfg, "run").exit_code == 0
    assert erp(tmp_path)["ORD00001.TXT"] == erp_file("1001", "1003")


def test_pending_rows_json_clips_a_long_value_as_the_text_does(tmp_path: Path,
                                                              clock: Path) -> None:
    """A sender's value of thousands of characters went into `pending --rows --format json`
    whole, every time it was asked for (the text clips at 40): a screenful, or megabytes,
    for a script that shows rows to an operator. JSON values are clipped as the issues'
    are (200 characters, the last one `…`); short values are whole."""
    long = "X" * 5000
    orders = ORDERS.replace("1002;B1;3;1,00", f"1002{long};B1;3;1,00")
    lines = CONFIG[CONFIG.index("      - group:"):CONFIG.index("    targets:")]
    config = CONFIG.replace(lines, "").replace("tracciato: test/erp", "tracciato: test/ordini")
    cfg = held_world(tmp_path, config, orders)
    got = json.loads(cli(cfg, "pending", "1", "--rows", "--format", "json").output)
    [row] = [r for r in got["rows"] if r["row"] == 4]
    [riga] = row["records"]
    assert riga["values"]["ordine"] == "1002" + "X" * 195 + "…"
    assert got["rows"][0]["records"][0]["values"] == {
        "ordine": "1001", "articolo": "A1", "qty": "2", "prezzo": "10.00", "importo": "20.00"}
    text = cli(cfg, "pending", "1", "--rows").output
    assert f"ordine=1002{'X' * 35}… articolo=B1" in text and long not in text
