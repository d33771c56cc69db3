"""Streamed runs write what whole-file runs write, on hostile files made up by hypothesis.

Each example is a file a shop or an ERP may really send: quoted cells holding the
delimiter, quotes and line ends, letters of two and four bytes, a byte order mark, CRLF or
LF, no final line end, empty lines, an order whose rows are apart, orders of many rows
across the chunk cuts, bad rows (a wrong VAT number, a bad date) under either policy; cut
in chunks from 64 bytes to more than the file. Read whole (``chunk_bytes: 0``) and in
chunks in two fresh copies of the sample company, it must give the same bytes, the same
outcome, the same issues (codes and lines) and the same keys sent.
"""

from __future__ import annotations

import csv
import io
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import bridge.codecs
from bridge.config import load
from bridge.engine.runner import run_pass
from tests.test_samples import NOON, SAMPLES, sample_copy
from tests.test_streaming import ORDERS, outputs, with_chunks

HEAD, *BODY = list(csv.reader(io.StringIO(ORDERS.read_text(encoding="utf-8"))))
#: The sample's orders, each its rows (the first holds the order's fields).
SAMPLE_ORDERS = [[r for r in BODY if r[0] == name] for name in dict.fromkeys(r[0] for r in BODY)]
#: A row of a line item only (the order's fields are on its first row).
LINE_ONLY = list(SAMPLE_ORDERS[0][1])
NOTES, ATTRIBUTES, CREATED, ITEM, BILLING_NAME, PRICE = (
    HEAD.index(c) for c in ("Notes", "Note Attributes", "Created at", "Lineitem name",
                            "Billing Name", "Lineitem price"))
LINE_ONLY[PRICE] = "0.00"

#: Few characters, so that the separators, quotes and line ends fall everywhere.
HOSTILE = st.lists(st.sampled_from([",", ";", '"', "\n", "\r\n", " ", "a", "è", "ß", "😀",
                                    "€"]), max_size=12).map("".join)

#: Few examples, each two runs of a flow: the file's tests take under a minute; always
#: the same ones (CI can tell a fault of bridge from a new example).
RUNS = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@dataclass(frozen=True)
class Order:
    sample: int  # which of the sample's orders it copies
    more: int  # line items repeated past the sample's
    note: str
    item: str  # added to every line item's name
    billing: str
    #: "", "vat" (a wrong VAT number), "date" (a created_at that is no date), "twin" (named
    #: as the order before it without its "#": another order of the same ERP number)
    fault: str


#: A line item's name goes to the ERP's fixed-width file, in cp1252, on one line.
ONE_LINE = st.lists(st.sampled_from([",", ";", '"', " ", "a", "è", "ß", "€"]),
                    max_size=12).map("".join)
ORDER = st.builds(Order, st.integers(0, len(SAMPLE_ORDERS) - 1), st.integers(0, 12),
                  HOSTILE, ONE_LINE, HOSTILE,
                  st.sampled_from([""] * 8 + ["vat", "date", "twin"]))


@dataclass(frozen=True)
class Export:
    orders: list[Order]
    crlf: bool
    bom: bool
    final_newline: bool
    blanks: list[int]  # rows before which an empty line is written
    apart: bool  # the last row of the first order of several rows moved to the end


#: A last line without its line end: the file waits, then is refused unread; seldom.
ENDED = st.sampled_from([True] * 7 + [False])
EXPORT = st.builds(Export, st.lists(ORDER, min_size=1, max_size=14), st.booleans(),
                   st.booleans(), ENDED, st.lists(st.integers(1, 60), max_size=3),
                   st.booleans())
CHUNK = st.one_of(st.sampled_from([64, 97, 10_000_000]), st.integers(64, 4096))
SMALL_CHUNK = st.one_of(st.sampled_from([64, 97, 10_000_000]), st.integers(64, 1024))
POLICY = st.sampled_from(["reject-file", "skip-rows"])


def order_rows(n: int, o: Order) -> list[list[str]]:
    rows = [list(r) for r in SAMPLE_ORDERS[o.sample]]
    rows += [list(LINE_ONLY) for _ in range(o.more)]  # free: the order's totals hold
    for r in rows:
        r[0] = f"{3000 + n - 1}" if o.fault == "twin" and n else f"#{3000 + n}"
        r[ITEM] += o.item
    first = rows[0]
    first[NOTES] += o.note
    first[BILLING_NAME] += o.billing
    if o.fault == "vat":
        first[ATTRIBUTES] = "partita_iva: 12345678901"
    elif o.fault == "date":
        first[CREATED] = "2025-02-30 10:00:00 +0100"
    return rows


def export_bytes(e: Export) -> bytes:
    end = "\r\n" if e.crlf else "\n"
    rows = [row for n, o in enumerate(e.orders) for row in order_rows(n, o)]
    if e.apart:
        split = next((k for k, o in enumerate(e.orders)
                      if len(SAMPLE_ORDERS[o.sample]) + o.more > 1), None)
        if split is not None:
            name = f"#{3000 + split}"
            last = max(i for i, r in enumerate(rows) if r[0] == name)
            rows.append(rows.pop(last))
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator=end)
    w.writerow(HEAD)
    for i, r in enumerate(rows):
        if i in e.blanks:
            out.write(end)
        w.writerow(r)
    text = out.getvalue()
    if not e.final_newline:
        text = text[:-len(end)]
    return (b"\xef\xbb\xbf" if e.bom else b"") + text.encode("utf-8")


@dataclass
class Seen:
    outputs: dict[str, bytes]
    outcomes: list[tuple[str, str, list[tuple[str, int]]]]
    issues: list[tuple[int | None, str, str | None, str | None]]
    keys: list[tuple[str, str]]
    chunks: list[int]


class Counted:
    """The real decoder, counting the chunks of each reading."""

    def __init__(self) -> None:
        self.real = bridge.codecs.iter_decode
        self.counts: list[int] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Iterator[bridge.codecs.Decoded]:
        self.counts.append(0)
        for part in self.real(*args, **kwargs):
            self.counts[-1] += 1
            yield part


def run_world(top: Path, name: str, place: str, data: bytes, flow: str, chunk: int,
              policy: str) -> Seen:
    """``data`` as the file at ``place`` of a fresh sample company, ``flow`` run on it."""
    cfg_path = sample_copy(top / name)
    root = cfg_path.parent
    (root / place).write_bytes(data)
    cfg = with_chunks(load(cfg_path), chunk)
    cfg = cfg.model_copy(update={"flows": {
        n: f.model_copy(update={"on_bad_rows": policy}) for n, f in cfg.flows.items()}})
    counted = Counted()
    bridge.codecs.iter_decode = counted  # type: ignore[assignment]
    try:
        assert run_pass(cfg, flows=[flow], clock=lambda: NOON).outcomes == []
        result = run_pass(cfg, flows=[flow], clock=lambda: NOON + 60)
        if [o.state for o in result.outcomes] == ["waiting"]:
            # Its last line has no line end: it waits for the rest, an hour at most.
            result = run_pass(cfg, flows=[flow], clock=lambda: NOON + 3700)
    finally:
        bridge.codecs.iter_decode = counted.real  # type: ignore[assignment]
    with sqlite3.connect(root / ".bridge" / "ledger.sqlite") as db:
        issues = db.execute("SELECT line, code, record, field FROM issues ORDER BY id"
                            ).fetchall()
        keys = db.execute("SELECT flow, key FROM sent_keys ORDER BY flow, key").fetchall()
    db.close()
    return Seen(outputs(root), [(o.flow, o.state, o.outputs) for o in result.outcomes],
                issues, keys, counted.counts)


def same_in_chunks(place: str, data: bytes, flow: str, chunk: int, policy: str,
                   groups: int) -> Seen:
    """The flow run whole and in chunks of ``chunk`` bytes: what each wrote and said must
    be the same (a chunked reading that found a group apart adds its note, no more)."""
    with tempfile.TemporaryDirectory(prefix="props-") as top:
        whole = run_world(Path(top), "whole", place, data, flow, 0, policy)
        chunked = run_world(Path(top), "chunked", place, data, flow, chunk, policy)
    assert set(whole.chunks) <= {1}
    if chunk == 64 and groups > 1 and (None, "truncated-file", None, None) not in whole.issues:
        assert max(chunked.chunks) > 1, chunked.chunks  # really read in chunks
    assert [o[:2] for o in chunked.outcomes] == [o[:2] for o in whole.outcomes]
    assert len(whole.outcomes) == 1
    assert [i for i in chunked.issues if i[1] != "read-whole"] == whole.issues
    assert chunked.keys == whole.keys
    assert sorted(chunked.outputs) == sorted(whole.outputs)
    for name, want in whole.outputs.items():
        assert chunked.outputs[name] == want, name
    assert chunked.outcomes == whole.outcomes
    return whole


ORDERS_AT = "inbox/shopify/orders_export_1.csv"


@settings(RUNS, max_examples=25)
@given(EXPORT, CHUNK, POLICY)
@example(Export([Order(0, 12, "a,\r\n😀\"", "è", ";", ""), Order(2, 0, "", "", "", "vat"),
                 Order(1, 9, "\n", "😀", "", "date")], crlf=True, bom=True,
                final_newline=True, blanks=[3], apart=False), 64, "skip-rows")
def test_hostile_orders_stream_as_they_read_whole(export: Export, chunk: int,
                                                  policy: str) -> None:
    same_in_chunks(ORDERS_AT, export_bytes(export), "ordini", chunk, policy,
                   len(export.orders))


def order(fault: str = "") -> Order:
    """The sample's third order (of three rows), with ``fault``."""
    return Order(2, 0, "", "", "", fault)


@pytest.mark.parametrize("orders, want", [
    # Read whole, the steps never run on a file whose rows are bad as decoded: the VAT
    # numbers are not checked.
    ([order("vat"), order("date")], [(5, "bad-datetime")]),
    ([order("vat"), order("vat")], [(2, "bad-partita-iva"), (5, "bad-partita-iva")]),
    ([order(), order("vat"), order(), order("vat")], [(5, "bad-partita-iva"),
                                                      (11, "bad-partita-iva")]),
])
def test_a_refused_file_lists_the_errors_the_whole_file_lists(
        orders: list[Order], want: list[tuple[int, str]]) -> None:
    """Refused (reject-file) by the errors of one chunk, a file read in chunks listed
    those and the notes and errors of the chunks before, not the errors of the chunks
    after: the operator fixed the first order, replayed the file, and was refused again.
    It lists what the whole file read at once lists."""
    data = export_bytes(Export(orders, crlf=False, bom=False, final_newline=True, blanks=[],
                               apart=False))
    whole = same_in_chunks(ORDERS_AT, data, "ordini", 64, "reject-file", len(orders))
    assert [o[1] for o in whole.outcomes] == ["rejected"]
    assert [(line, code) for line, code, *_ in whole.issues] == want


def test_a_key_of_a_row_left_out_is_still_met_again_in_a_later_chunk() -> None:
    """An article twice in the price list, at 0,00 on sale first (a bad row, left out)
    and at its price at the end: read whole, the second row is a duplicate key of the
    first and the article is not sent; read in chunks, the first row's key was forgotten
    with the row, and the shops got the article at the second row's price."""
    lines = (SAMPLES / "erp-exports" / "listino.csv").read_bytes().split(b"\r\n")
    assert lines[1].startswith(b"TRAP-18V;1;")
    data = b"\r\n".join([lines[0], b"TRAP-18V;1;0,00;8001234000011;A", *lines[2:-1],
                         lines[1], b""])
    whole = same_in_chunks("erp-exports/listino.csv", data, "articoli", 64, "skip-rows", 12)
    assert [(line, code) for line, code, *_ in whole.issues] == [(2, "below-minimum"),
                                                                  (14, "duplicate-key")]
    assert [o[1] for o in whole.outcomes] == ["done"]
    assert b"TRAP-18V" not in whole.outputs["shop/shopify/products_0001.csv"]


@pytest.mark.parametrize("policy", ["reject-file", "skip-rows"])
@pytest.mark.parametrize("again", [b"3000", b"3001"])
def test_an_erp_order_number_of_a_row_left_out_is_still_met_again(policy: str,
                                                                   again: bytes) -> None:
    """Orders #3000 (a tab in a line item's name: the ERP's file cannot hold it), #3001,
    and `3000` or `3001` (the same ERP order number): read whole, the last is a duplicate
    of an earlier order number, refused. Read in chunks, the number of an order left out
    (or of one read after the file was refused) was forgotten: `3000` reached the ERP
    under skip-rows, and a refused file did not list the duplicate."""
    orders = [Order(3, 0, "", "x\ty", "", ""), Order(3, 0, "", "", "", ""),
              Order(3, 0, "", "", "", "")]
    data = export_bytes(Export(orders, crlf=False, bom=False, final_newline=True, blanks=[],
                               apart=False)).replace(b"\n#3002,", b"\n" + again + b",")
    whole = same_in_chunks(ORDERS_AT, data, "ordini", 64, policy, 3)
    assert [(line, code) for line, code, *_ in whole.issues] == [(2, "control-character"),
                                                                  (4, "duplicate-key")]
    assert whole.keys == ([("ordini", "#3001")] if policy == "skip-rows" else [])


# --- the ERP's stock, fixed width in cp1252, to the shops ------------------------------

STOCK = (SAMPLES / "erp-exports" / "giacenze.txt").read_bytes().decode("cp1252").split("\r\n")
CODES = sorted({line[1:21].strip() for line in STOCK if line})


@dataclass(frozen=True)
class Stock:
    code: str
    store: str
    available: int
    fault: str  # "", "date" (no such day), "number" (not a number), "short" (a record cut)


STOCK_ROW = st.builds(
    Stock, st.one_of(*[st.sampled_from(CODES)] * 9, st.text(alphabet="AÈé-9 ", min_size=1,
                                                          max_size=20)),
    st.sampled_from(["01", "02"]), st.integers(-999, 99_999),
    st.sampled_from([""] * 30 + ["date", "number", "short"]))


def stock_line(s: Stock) -> str:
    sign = "-" if s.available < 0 else "0"
    line = (f"G{s.code:<20}{s.store:<3}{100:09d}{0:09d}{sign}{abs(s.available):08d}"
            f"{'20251340' if s.fault == 'date' else '20251108'}{'':5}")
    if s.fault == "number":
        line = line[:42] + "12x456789" + line[51:]
    return line[:40] if s.fault == "short" else line


@RUNS
@given(st.lists(STOCK_ROW, min_size=1, max_size=80), st.booleans(), ENDED,
       st.lists(st.integers(0, 80), max_size=3), SMALL_CHUNK, POLICY)
def test_hostile_stock_streams_as_it_reads_whole(rows: list[Stock], crlf: bool,
                                                 final_newline: bool, blanks: list[int],
                                                 chunk: int, policy: str) -> None:
    end = "\r\n" if crlf else "\n"
    lines = [stock_line(s) for s in rows]
    for at in sorted(blanks, reverse=True):
        lines.insert(min(at, len(lines)), "")
    text = end.join(lines) + (end if final_newline else "")
    same_in_chunks("erp-exports/giacenze.txt", text.encode("cp1252"), "giacenze", chunk,
                   policy, len(rows))
