"""Work a small file no longer pays for: pandas frames nobody reads, characters nobody
needs to count. What is left out must not change a result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pandas.testing as pdt
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.codecs import decode, frames, rows_in
from bridge.codecs.frames import Frames
from bridge.fields import parse_column, render_column
from bridge.spec import parse
from bridge.spec.model import FieldSpec
from tests.flowkit import CONFIG, IN, make_world, order_file

LAYOUT = parse(IN)


def test_decoded_frames_are_made_when_first_read_and_once() -> None:
    decoded = decode(order_file(7, rows=5).encode(), LAYOUT)
    tables = decoded.tables
    assert isinstance(tables, Frames)
    assert decoded.counts == {"articolo": 5}
    assert rows_in(tables, "articolo") == 5
    assert list(tables) == ["articolo"] and len(tables) == 1 and "articolo" in tables
    assert "riga" not in tables and tables.get("riga") is None
    assert "5 rows" in repr(tables)
    assert not tables._made  # counting its rows made no frame
    frame = tables["articolo"]
    assert tables["articolo"] is frame  # made once
    pdt.assert_frame_equal(frame, decoded.arrow["articolo"].to_pandas(
        types_mapper=pd.ArrowDtype))
    assert frame["codice"].tolist() == [f"A0007{i}" for i in range(5)]
    with pytest.raises(KeyError):
        tables["riga"]
    with pytest.raises(TypeError):
        tables["articolo"] = frame  # type: ignore[index]
    # A table of plain pandas frames is counted as well.
    assert rows_in({"articolo": frame}, "articolo") == 5


def test_a_flow_of_arrow_steps_makes_no_pandas_frame(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The test world's flow (a dedupe, a fixed-width target with a done-file) reads
    and writes Arrow tables only: no file of it pays for a frame. The outputs are those
    of the flow with every frame made, as before."""
    made: list[int] = []
    real = frames.as_frame

    def counted(table: pa.Table) -> pd.DataFrame:
        made.append(table.num_rows)
        return real(table)

    from bridge.config import Config, load
    from bridge.engine.runner import run_pass

    def world(name: str) -> Config:
        root = tmp_path / name
        cfg = make_world(root, "transform_ahead: false\n" + CONFIG)
        for n in range(3):
            (root / "inbox" / f"o{n}.csv").write_text(order_file(n, 4), encoding="utf-8")
        return load(cfg)

    monkeypatch.setattr(frames, "as_frame", counted)
    outcomes = run_pass(world("lazy")).outcomes
    assert [o.state for o in outcomes] == ["done"] * 3
    # One of no rows: the check of the flow's steps on empty tables, once per pass.
    assert made == [0]
    # The same world with a frame made for every table read (as before): same bytes.
    monkeypatch.setattr(Frames, "__init__", _eager_init)
    outcomes = run_pass(world("eager")).outcomes
    assert [o.state for o in outcomes] == ["done"] * 3
    assert made == [0, 0, 4, 4, 4]
    lazy, eager = sorted((tmp_path / "lazy" / "erp").iterdir()), \
        sorted((tmp_path / "eager" / "erp").iterdir())
    assert [p.name for p in lazy] == [p.name for p in eager] and len(lazy) == 6
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(lazy, eager, strict=True))


def test_the_money_of_a_file_is_summed_without_a_frame(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A flow that reconciles the money it takes in (``totals.money_in``) sums it from
    the decoded Arrow tables: no frame is made for the sum, and the sum is exact."""
    from decimal import Decimal

    from bridge.config import load
    from bridge.engine.runner import run_pass
    from bridge.ledger import open_ledger

    made: list[int] = []
    real = frames.as_frame

    def counted(table: pa.Table) -> pd.DataFrame:
        made.append(table.num_rows)
        return real(table)

    totals = "    retry_backoff: 0\n    totals: {money_in: articolo.prezzo}\n"
    cfg = make_world(tmp_path, "transform_ahead: false\n"
                     + CONFIG.replace("    retry_backoff: 0\n", totals))
    for n in range(3):
        (tmp_path / "inbox" / f"o{n}.csv").write_text(order_file(n, 4), encoding="utf-8")
    monkeypatch.setattr(frames, "as_frame", counted)
    outcomes = run_pass(load(cfg)).outcomes
    assert [o.state for o in outcomes] == ["done"] * 3
    assert made == [0]  # the check of the steps on empty tables, as without the sum
    ledger = open_ledger(tmp_path / "state" / "ledger.sqlite")
    try:
        got = sorted(ledger.figures(o.file_id or 0).money_in for o in outcomes)
    finally:
        ledger.close()
    # order_file(n, 4): prices n,05 n,15 n,25 n,35 (its rows' i % 10 after the comma)
    assert got == [Decimal(n * 4) + Decimal("0.80") for n in range(3)]


def _eager_init(self: Frames, arrow: dict[str, pa.Table]) -> None:
    self.arrow = arrow
    self._made = {name: frames.as_frame(table) for name, table in arrow.items()}


def test_a_bad_row_is_left_out_as_before(tmp_path: Path) -> None:
    """The path that does read the frames (skip-rows leaving a bad row out) still does."""
    from bridge.config import load
    from bridge.engine.runner import run_pass

    root = tmp_path / "w"
    cfg = make_world(root, CONFIG.replace("    retry_backoff: 0\n",
                                          "    retry_backoff: 0\n    on_bad_rows: skip-rows\n"))
    text = order_file(1, 3).replace("A00011;", "A00011-TOO-LONG;")
    (root / "inbox" / "o1.csv").write_text(text, encoding="utf-8")
    (outcome,) = run_pass(load(cfg)).outcomes
    assert outcome.state == "done" and outcome.issues == 1
    (written,) = [p for p in (root / "erp").iterdir() if p.suffix == ".TXT"]
    lines = written.read_bytes().split(b"\r\n")
    assert [ln[:10].strip() for ln in lines if ln] == [b"A00010", b"A00012"]


_texts = st.text(alphabet=st.sampled_from("ab Zè€\U0001F600-"), min_size=0, max_size=9)


@settings(max_examples=150, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), _texts), min_size=1, max_size=10),
       max_length=st.integers(1, 10), width=st.integers(1, 10))
def test_lengths_read_from_bytes_flag_what_counted_characters_flag(
        cells: list[str | None], max_length: int, width: int) -> None:
    """``max_length`` on reading and a fixed width on writing: a cell of many bytes and
    few characters (è, €, an emoji) is not too long; one of more characters is."""
    field = FieldSpec(name="x", max_length=max_length, trim="none")
    _, bad = parse_column(pa.array(cells, pa.string()), field)
    expected = [i for i, c in enumerate(cells) if c and len(c) > max_length]
    assert _rows(bad, "too-long") == expected
    out, bad = render_column(pa.array(cells, pa.string()), FieldSpec(name="x"), width)
    texts = out.to_pylist()
    assert all(len(t) == width for t in texts)
    assert _rows(bad, "too-long") == [i for i, c in enumerate(cells) if c and len(c) > width]
    assert texts == [(c or "")[:width].ljust(width) for c in cells]


def _rows(bad: Any, code: str) -> list[int]:
    return sorted(int(r) for r, c in zip(bad.rows.tolist(), bad.codes, strict=True)
                  if c == code)


def test_has_column_says_what_the_list_of_names_says() -> None:
    """``has_column`` answers from the schema's index what ``name in schema.names`` does:
    for a column there once, twice (an export may repeat a header) or not at all, of a
    table or of its schema."""
    from bridge.codecs.frames import has_column

    table = pa.table([pa.array([1]), pa.array([2]), pa.array([3])], names=["a", "dup", "dup"])
    for name in ("a", "dup", "absent", ""):
        assert has_column(table, name) is (name in table.schema.names)
        assert has_column(table.schema, name) is (name in table.schema.names)
