"""`bridge report`: files, rows and money in and out per day and flow, exact."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import run_pass
from tests.flowkit import CONFIG, make_world, order_file

WITH_TOTALS = CONFIG.replace("retry_backoff: 0", "retry_backoff: 0\n"
                             "    totals: {money_in: articolo.prezzo, money_out: prezzo}")


def test_report_counts_rows_and_money_exactly(tmp_path: Path, runner: CliRunner) -> None:
    cfg = make_world(tmp_path, WITH_TOTALS)
    inbox = tmp_path / "inbox"
    (inbox / "a.csv").write_text("codice;descrizione;prezzo;qty\nA;x;0,10;1\nB;y;0,20;1\n",
                                 encoding="utf-8")
    (inbox / "b.csv").write_text(order_file(2, rows=3), encoding="utf-8")  # 2,05 2,15 2,25
    (inbox / "bad.csv").write_text("codice;descrizione;prezzo;qty\nC;z;1,00;x\n",
                                   encoding="utf-8")
    run_pass(load(cfg))
    out = tmp_path / "rep"
    result = runner.invoke(main, ["--config", str(cfg), "report"])
    assert result.exit_code == 0, result.output
    row = result.output.splitlines()[2].split()
    # day, flow, files in, rows in, done, rows out, rejected, rows rej., held, in, out
    assert row[1:] == ["articoli", "3", "6", "2", "5", "1", "1", "0", "7.75", "6.75"]
    assert not out.exists()  # a table asked for, nothing written
    as_csv = runner.invoke(main, ["--config", str(cfg), "report", "--format", "csv",
                                  "--out", str(out / "r.csv")])
    assert as_csv.exit_code == 0 and sorted(p.name for p in out.iterdir()) == ["r.csv"]
    data = list(csv.DictReader((out / "r.csv").read_text(encoding="utf-8").splitlines()))
    assert Decimal(data[0]["money_out"]) == Decimal("6.75")  # 0.10 + 0.20 is 0.30, exactly
    html = runner.invoke(main, ["--config", str(cfg), "report", "--format", "html"]).output
    assert "<td" in html and "6.75" in html
    only = runner.invoke(main, ["--config", str(cfg), "report", "--flow", "nothing"])
    assert "no files in this period" in only.output
    bad = runner.invoke(main, ["--config", str(cfg), "report", "--since", "yesterday"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_report_for_a_person_and_for_a_program(tmp_path: Path, runner: CliRunner) -> None:
    """Headers in words, the period, rejected and held rows marked, money "not configured"
    where a flow declares no totals (not a 0 nobody summed); JSON for programs."""
    import json
    import re

    cfg = make_world(tmp_path)  # no totals: money is not configured
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    (tmp_path / "inbox" / "bad.csv").write_text("codice;descrizione;prezzo;qty\nC;z;1,00;x\n",
                                                encoding="utf-8")
    run_pass(load(cfg))
    args = ["--config", str(cfg), "report"]
    html = runner.invoke(main, [*args, "--format", "html", "--since", "2000-01-01"]).output
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    assert "Files received Rows received Files written" in text
    assert re.search(r"Reconciliation, 2000-01-01 to \d{4}-\d\d-\d\d", text)
    assert '<tr class="rejected">' in html
    assert text.count("not configured") >= 2 + 1  # two cells, and the note above
    table = runner.invoke(main, args).output.splitlines()[2]
    assert table.endswith("not configured  not configured")
    [row] = json.loads(runner.invoke(main, [*args, "--format", "json"]).output)["rows"]
    assert (row["files_in"], row["files_rejected"], row["money_in"]) == (2, 1, None)
    written = runner.invoke(main, [*args, "--format", "html", "--out",
                                   str(tmp_path / "r" / "x.html")])
    assert written.output.startswith("html: ") and (tmp_path / "r" / "x.html").exists()
