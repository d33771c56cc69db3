"""A step's `| decimal` of a text that names no number (`inf`, `NaN`) is an issue on its
row. Python's Decimal reads both: `NaN` went on as the text "NaN" in place of a number,
and `inf` stopped the whole file with a TypeError, as a fault of bridge's."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from tests.test_steps import frame, run


@pytest.mark.parametrize("expression", ["s | decimal", "(s | decimal) * 2",
                                        "s | decimal | round2"])
def test_a_text_that_is_no_number_is_an_issue_on_its_row(expression: str) -> None:
    rows = frame(s=pa.array(["inf", "NaN", "-Infinity", "1.5", "sNaN"], pa.string()))
    result = run(f'- compute: {{fields: {{x: "{expression}"}}}}', {"o": rows})
    assert [(i.code, i.line) for i in result.issues] == [
        ("bad-expression", 2), ("bad-expression", 3), ("bad-expression", 4),
        ("bad-expression", 6)]
    assert result.arrow["o"].schema.field("x").type != pa.string()
    assert result.tables["o"]["x"].tolist()[3] in (Decimal("1.5"), Decimal("3.0"),
                                                   Decimal("1.50"))


@pytest.mark.parametrize(("texts", "expression"), [
    (["9" * 200, "1.5", "2"], "s | decimal"),
    (["1E+50", "1.5", "2"], "s | decimal"),
    (["0.000000000000000000000000000000000000001", "1.5", "2"], "s | decimal"),
    (["9" * 30, "1.5", "2"], "s | int if s != '1.5' else s | decimal"),
])
def test_a_number_no_column_holds_fails_its_row_not_every_other(texts: list[str],
                                                                  expression: str) -> None:
    """One row's number too large for a decimal column (more than 38 digits) or an
    integer past 64 bits made the whole column text: every other row's `x * 2` was then
    a text repeated, and the ERP got 22 for 2 x 2. That row is now the step's issue; the
    others stay numbers."""
    rows = frame(s=pa.array(texts, pa.string()))
    result = run(f'- compute: {{fields: {{x: "{expression}", y: "x * 2"}}}}', {"o": rows})
    assert [(i.code, i.line) for i in result.issues][:1] == [("bad-expression", 2)]
    assert {i.line for i in result.issues} == {2}
    assert result.tables["o"]["y"].tolist()[1:] == [Decimal("3.0"), 4]
