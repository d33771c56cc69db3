"""Optional columns of a delimited layout (`missing_columns: optional`): a Shopify export
from another store or year that lacks a column bridge does not need is read, the column
as missing values; one that lacks a required column is still refused whole."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bridge.check import check_file
from bridge.codecs import decode
from bridge.spec import load
from tests.conftest import ROOT

SAMPLE = ROOT / "samples" / "tracciati" / "shopify" / "ordini.csv"


def without(columns: set[str], tmp_path: Path) -> Path:
    rows = list(csv.reader(io.StringIO(SAMPLE.read_text(encoding="utf-8"))))
    keep = [i for i, name in enumerate(rows[0]) if name not in columns]
    assert len(keep) == len(rows[0]) - len(columns)  # every column named was there
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([[r[i] for i in keep] for r in rows])
    path = tmp_path / "orders_export.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def test_an_export_without_id_and_vendor_checks_clean(tmp_path: Path) -> None:
    t = load("shopify/ordini")
    assert t.dialect.missing_columns == "optional"
    older = without({"Id", "Vendor"}, tmp_path)
    result = check_file(older, t)
    assert result.clean, result.issues
    assert result.rows == check_file(SAMPLE, t).rows
    table = decode(older.read_bytes(), t).tables["riga"]
    assert table["id"].isna().all() and table["vendor"].isna().all()
    whole = decode(SAMPLE.read_bytes(), t).tables["riga"]
    assert table["name"].tolist() == whole["name"].tolist()


@pytest.mark.parametrize("column", ["Name", "Lineitem quantity"])
def test_an_export_without_a_required_column_is_refused(tmp_path: Path, column: str) -> None:
    t = load("shopify/ordini")
    result = check_file(without({column}, tmp_path), t)
    assert [(i.code, i.value) for i in result.issues] == [("bad-header", column)]
    assert sum(result.rows.values()) == 0  # refused whole: no row read
