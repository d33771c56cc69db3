"""The quarantine report is for a person who must act: it says in words what went wrong
(a header that did not match, not "5 issues in 0 rows"), what to do next, and the mistakes
grouped (the same two mistakes in 300 rows each are two lines with their counts and first
lines), in the sender's own column names."""

from __future__ import annotations

import html
import re
from pathlib import Path

from bridge.issues import Issue
from bridge.report import render_html
from bridge.spec import parse
from tests.test_report import DELIMITED, hand_report

T = parse(DELIMITED)


def visible(page: str) -> str:
    """The text a reader sees: tags out, entities decoded, spaces folded."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page))).strip()


def test_the_same_mistakes_in_many_rows_are_grouped_with_their_first_lines() -> None:
    issues = []
    for n in range(300):
        issues.append(Issue("bad-integer", f"'q{n}' is not an integer", 2 + 2 * n,
                            "articolo", "quantita", f"q{n}"))
        issues.append(Issue("bad-date", f"'d{n}' is not a date", 3 + 2 * n, "articolo",
                            "data", f"d{n}"))
    page = render_html(hand_report(issues, rows={"articolo": 600}), T)
    groups = page.split("The mistakes, grouped", 1)[1].split("</table>", 1)[0]
    assert groups.count("<tr class=") == 2
    text = visible(groups)
    assert ('bad-integer articolo.quantita (column "Qta") 300 2, 4, 6, 8, 10, ... q0 '
            "'q0' is not an integer") in text
    assert 'bad-date articolo.data (column "Data") 300 3, 5, 7, 9, 11, ... d0' in text
    assert "600 issues in 600 rows" in visible(page)


def test_a_header_that_does_not_match_is_said_in_words() -> None:
    issues = [Issue("bad-header", "the header lacks the column 'Qta' (articolo.quantita)",
                    1, None, None, None),
              Issue("bad-header", "the header lacks the column 'Data' (articolo.data)", 1,
                    None, None, None)]
    text = visible(render_html(hand_report(issues, rows={}), T))
    assert "2 issues : no row could be read" in text
    assert "in 0 rows" not in text
    assert ("The file itself does not match its layout ( bad-header ): its rows were not "
            "read. the header lacks the column 'Qta'") in text


def test_each_outcome_says_what_to_do_next() -> None:
    bad = [Issue("bad-integer", "'x' is not an integer", 2, "articolo", "quantita", "x")]
    rejected = visible(render_html(hand_report(bad, source_name="ordini.csv"), T))
    assert "What to do next Nothing of ordini.csv was written to the ERP" in rejected
    assert "ordini.csv.issues.csv" in rejected and "bridge replay" in rejected
    held = visible(render_html(hand_report([], outcome="held"), T))
    assert "bridge approve ID" in held and "bridge reject ID --reason TEXT" in held
    skipped = visible(render_html(hand_report(bad, outcome="skipped-rows"), T))
    assert "The rows without issues were written" in skipped
    done = visible(render_html(hand_report([], outcome="done"), T))
    assert "Nothing to do: the file went through." in done


def test_a_hostile_column_title_is_escaped(tmp_path: Path) -> None:
    t = parse(DELIMITED.replace("column: Qta", "column: '<b>Qta</b>'"))
    bad = [Issue("bad-integer", "'x' is not an integer", 2, "articolo", "quantita", "x")]
    page = render_html(hand_report(bad), t)
    assert "<b>Qta</b>" not in page and "&lt;b&gt;Qta&lt;/b&gt;" in page
