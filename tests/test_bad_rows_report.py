"""The report of the rows a flow left out (`skip-rows`) is made from the rows kept while
the file was read, not from a second splitting of it: the same bytes as the report made
by splitting the file again, on files whose bad rows fall in many chunks; and when the
rows kept do not cover the issues listed (more bad rows than are kept), the file is split
again, to the same bytes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import bridge.codecs.split
import bridge.engine.transform
from bridge.codecs.raw import RawChunk
from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.ledger import open_ledger
from bridge.report import FileReport, rejected_rows_csv
from bridge.report_cells import RawRows
from bridge.spec import parse
from tests.test_samples import NOON, sample_copy
from tests.test_streaming import big_orders, outputs, with_chunks

#: Cells broken in the sample's orders, by column: (column, bad value).
BREAKS = [(15, b"x2"), (3, b"2024-13-45 25:00:00 +0100"), (15, b""), (16, b"1,2,3")]


def broken_orders(copies: int, every: int) -> bytes:
    """The sample's orders again and again, a cell broken on every ``every``-th line (a
    bad quantity, date, missing quantity or price, in turn)."""
    lines = big_orders(copies).split(b"\n")
    for k, at in enumerate(range(5, len(lines) - 1, every)):
        cells = lines[at].split(b",")
        column, value = BREAKS[k % len(BREAKS)]
        if column < len(cells) and not cells[column].startswith(b'"'):
            cells[column] = value
            lines[at] = b",".join(cells)
    return b"\n".join(lines)


@pytest.fixture
def splits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many chunks each splitting of a flow's file gave (bridge's copy of it in the
    work area, not the reference tables): the real splitter, counted."""
    real = bridge.codecs.split.split
    counts: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> Iterator[RawChunk]:
        mine = str(getattr(args[0], "name", "")).endswith("/source")
        if mine:
            counts.append(0)
        for chunk in real(*args, **kwargs):
            if mine:
                counts[-1] += 1
            yield chunk

    monkeypatch.setattr(bridge.codecs.split, "split", counted)
    return counts


def skipping_world(tmp_path: Path, name: str, data: bytes) -> Path:
    cfg_path = sample_copy(tmp_path / name)
    root = cfg_path.parent
    (root / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(data)
    cfg_path.write_text(cfg_path.read_text(encoding="utf-8").replace(
        "on_bad_rows: reject-file    # a bad line", "on_bad_rows: skip-rows    # a bad line"),
        encoding="utf-8")
    return cfg_path


def run_orders(cfg_path: Path, chunk: int) -> tuple[int, list[Any]]:
    cfg = with_chunks(load(cfg_path), chunk)
    run_pass(cfg, flows=["ordini"], clock=lambda: NOON)
    result = run_pass(cfg, flows=["ordini"], clock=lambda: NOON + 60)
    (ordini,) = result.outcomes
    assert ordini.state == "done", ordini
    ledger = open_ledger(cfg_path.parent / ".bridge" / "ledger.sqlite")
    try:
        return ordini.file_id or 0, ledger.issues(ordini.file_id or 0)
    finally:
        ledger.close()


def report_of(cfg_path: Path) -> bytes:
    (csv,) = (cfg_path.parent / "quarantine").glob("*.issues.csv")
    return csv.read_bytes()


def split_again(cfg_path: Path, issues: list[Any]) -> bytes:
    """The report's CSV as a second splitting of the file makes it."""
    from bridge.engine.tables import load_tracciato

    cfg = load(cfg_path)
    t = load_tracciato(cfg, cfg.flows["ordini"].tracciato)
    source = cfg_path.parent / "inbox" / "shopify" / "orders_export_1.csv"
    report = FileReport(flow="ordini", source_name="x", size=0, sha256="",
                        outcome="skipped-rows", rows={}, issues=[i for i in issues
                                                                 if i.is_error])
    return rejected_rows_csv(report, source.read_bytes(), t)


@pytest.mark.parametrize("chunk", [4096, 0])
def test_the_bad_rows_report_is_made_without_splitting_the_file_again(
        tmp_path: Path, splits: list[int], chunk: int) -> None:
    data = broken_orders(200, 97)
    cfg_path = skipping_world(tmp_path, "w", data)
    splits.clear()
    _, issues = run_orders(cfg_path, chunk)
    errors = [i for i in issues if i.is_error]
    assert len(errors) >= 20 and len({i.code for i in errors}) >= 3
    lines = sorted({i.line for i in errors if i.line})
    assert lines[0] < 100 and lines[-1] > data.count(b"\n") * 0.9  # many chunks apart
    # The file was split once: by its reading, not again by its report.
    assert len(splits) == 1 and splits[0] >= (len(data) // chunk if chunk else 1)
    got = report_of(cfg_path)
    # The run archived the inbox file: put it back for the second splitting.
    (cfg_path.parent / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(data)
    want = split_again(cfg_path, issues)
    assert got == want
    assert got.count(b"\n") == len(errors) + 1
    # A line the splitter makes no row of (too many cells) has no cells in either report:
    # its chunk settled it as the second splitting would.
    assert any(b",wrong-column-count," in ln and ln.endswith(b"," * 30)
               for ln in got.split(b"\n"))
    assert b",x2," in got and b"1,2,3" in got  # the sender's own cells of the bad rows


def test_a_refused_files_report_is_made_without_splitting_it_again(
        tmp_path: Path, splits: list[int]) -> None:
    """reject-file: the file goes to quarantine, its report lists every decoding error of
    every chunk (the reading goes on after the refusal, for them), from the rows kept."""
    data = broken_orders(200, 97)
    cfg_path = sample_copy(tmp_path / "refused")  # the sample refuses a file for a bad row
    (cfg_path.parent / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(data)
    cfg = with_chunks(load(cfg_path), 4096)
    run_pass(cfg, flows=["ordini"], clock=lambda: NOON)
    splits.clear()
    (ordini,) = run_pass(cfg, flows=["ordini"], clock=lambda: NOON + 60).outcomes
    assert ordini.state == "rejected" and ordini.issues >= 20
    ledger = open_ledger(cfg_path.parent / ".bridge" / "ledger.sqlite")
    issues = ledger.issues(ordini.file_id or 0)
    ledger.close()
    assert max(i.line or 0 for i in issues) > data.count(b"\n") * 0.9  # the last chunks too
    assert len(splits) == 1 and splits[0] >= len(data) // 4096
    got = report_of(cfg_path)
    (cfg_path.parent / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(data)
    assert got == split_again(cfg_path, issues)
    assert got.count(b"\n") == len([i for i in issues if i.is_error]) + 1


def test_more_bad_rows_than_kept_split_the_file_again_to_the_same_report(
        tmp_path: Path, splits: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    data = broken_orders(120, 61)
    kept = skipping_world(tmp_path, "kept", data)
    run_orders(kept, 4096)
    want = report_of(kept)
    # Only 3 rows are kept while reading: the report must split the file again for the
    # rest, and finds the same cells.
    monkeypatch.setattr(bridge.engine.transform, "MAX_ISSUES", 3)
    few = skipping_world(tmp_path, "few", data)
    splits.clear()
    _, issues = run_orders(few, 4096)
    assert len([i for i in issues if i.is_error]) > 3
    assert len(splits) == 2  # the reading, then the report's own splitting
    assert report_of(few) == want
    assert outputs(few.parent) == outputs(kept.parent)


T = parse("""
format: delimited
encoding: utf-8
delimited: {delimiter: ";", header_rows: 1}
records:
  r:
    fields:
      - {name: a, column: A}
      - {name: b, column: B}
""")


def test_raw_rows_kept_chunk_by_chunk_are_the_rows_of_one_splitting() -> None:
    from bridge.codecs.split import split

    body = "".join(f"k{i};{'=' if i % 7 == 0 else ''}v{i}{'x' * (i % 3) * 600}\n"
                   for i in range(300))
    data = ("A;B\n" + body).encode()
    wanted = np.array([2, 3, 50, 51, 52, 200, 301], dtype=np.int64)
    whole, pieces = RawRows(T), RawRows(T)
    for chunk in split(data, T, chunk_bytes=None):
        whole.feed(chunk, wanted)
    chunks = list(split(data, T, chunk_bytes=2048))
    assert len(chunks) > 10
    for chunk in chunks:
        pieces.feed(chunk, wanted)
    a, b = whole.found(), pieces.found()
    assert a.lines.tolist() == b.lines.tolist() == wanted.tolist()
    assert [c.to_pylist() for c in a.columns] == [c.to_pylist() for c in b.columns]
    assert a.columns[1].to_pylist()[0] == "'=v0"  # defused
    assert whole.has(wanted) and not whole.has(np.array([4]))
    few = RawRows(T, limit=3)
    for chunk in chunks:
        few.feed(chunk, wanted)
    kept = few.found().lines
    assert few.full and 0 < len(kept) <= 3 and kept.tolist() == wanted[:len(kept)].tolist()
    assert few.has(kept) and not few.has(wanted)
