"""The HTML reports as a person sees them: rendered by a real browser (Debian's chromium,
headless), their visible text checked (the browser's own innerText: what CSS hides is not
there), and a screenshot taken of each. With BRIDGE_SCREENSHOTS=FOLDER the screenshots are
kept there (docs/images holds the ones the docs show)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bridge.issues import Issue
from bridge.reconcile import DayFlow, as_html
from bridge.report import render_html
from bridge.spec import parse
from tests.test_report import DELIMITED, hand_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed here")
#: Put after the page's content: the browser writes what it shows into the DOM it dumps.
READ_TEXT = "<script>document.body.setAttribute('data-text', document.body.innerText)</script>"


def browse(page: str, folder: Path, name: str) -> str:
    """The page's visible text as chromium renders it; a screenshot of it beside."""
    assert CHROMIUM is not None
    path = folder / f"{name}.html"
    path.write_text(page.replace("</body>", READ_TEXT + "</body>"), encoding="utf-8")
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={folder / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", path.as_uri()], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    shot = Path(os.environ.get("BRIDGE_SCREENSHOTS", folder)) / f"{name}.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1100,900", path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    found = re.search(r'data-text="([^"]*)"', dom)
    assert found is not None, dom[:500]
    return re.sub(r"\s+", " ", html.unescape(found.group(1)))


def test_the_quarantine_report_reads_as_it_should(tmp_path: Path) -> None:
    issues = [Issue("bad-integer", f"'q{n}' is not an integer", 2 + n, "articolo",
                    "quantita", f"q{n}") for n in range(40)]
    issues.append(Issue("bad-date", "'31/02/2025' is not a date", 7, "articolo", "data",
                        "31/02/2025"))
    page = render_html(hand_report(issues, source_name="ordini_shop.csv",
                                   rows={"articolo": 41}), parse(DELIMITED))
    seen = browse(page, tmp_path, "quarantine-report")
    assert "ordini_shop.csv rejected 41 issues in 41 rows" in seen
    assert "What to do next Nothing of ordini_shop.csv was written to the ERP" in seen
    assert 'bad-integer articolo.quantita (column "Qta") 40 2, 3, 4, 5, 6, ...' in seen
    assert "<" not in seen  # markup is rendered, not shown


def test_the_reconciliation_reads_as_it_should(tmp_path: Path) -> None:
    rows = [DayFlow("2025-11-03", "ordini", 4, 120, 3, 300, 1, 40, 0, Decimal("1234.50"),
                    Decimal("1011.89")),
            DayFlow("2025-11-04", "clienti", 2, 9, 1, 5, 0, 0, 1)]
    page = as_html(rows, made=datetime(2025, 11, 5, 9, 30), flow=None,
                   configured={"ordini": (True, True), "clienti": (False, False)})
    seen = browse(page, tmp_path, "reconciliation")
    assert "Reconciliation, 2025-11-03 to 2025-11-04" in seen
    assert "Day Flow Files received Rows received Files written" in seen
    assert "2025-11-03 ordini 4 120 3 300 1 40 0 1234.50 1011.89" in seen
    assert "2025-11-04 clienti 2 9 1 5 0 0 1 not configured not configured" in seen


def test_the_demo_page_reads_as_it_should(tmp_path: Path) -> None:
    """`bridge demo`'s page: every export with its outcome, the rejected one with its
    report's words."""
    from bridge.demo import run_demo

    result = run_demo(tmp_path / "demo", at=datetime(2025, 11, 8, 12, 0))
    assert result.report is not None and result.exit_code == 0
    seen = browse(result.report.read_text(encoding="utf-8"), tmp_path, "demo")
    assert "orders_export_1.csv" in seen and "orders_export_broken.csv" in seen
    assert "done" in seen and "rejected" in seen
    assert "<" not in seen
