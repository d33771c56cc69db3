"""Flows that stream: a file read in chunks writes the same bytes as the file read whole.

Each flow runs twice on the same input in two copies of the sample company: once with
``chunk_bytes: 0`` (the whole file at once) and once in chunks small enough that every
file is cut many times, groups (an order's rows) straddling the cuts. The outputs must be
byte-identical, and the chunked run must really have been chunked (counted by a wrapper
around the real decoder).
"""

from __future__ import annotations

import csv
import io
import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import bridge.codecs
import bridge.engine.chunking
import bridge.engine.parts
from bridge.config import Config, load
from bridge.engine.runner import PassResult, run_pass
from tests.test_samples import NOON, sample_copy, written

ORDERS = Path(__file__).parent.parent / "samples" / "inbox" / "shopify" / "orders_export_1.csv"


def with_chunks(cfg: Config, chunk: int) -> Config:
    """The configuration with every flow read in chunks of ``chunk`` bytes, and no flow
    waiting for an operator (so that every output is written and can be compared)."""
    flows = {name: f.model_copy(update={"chunk_bytes": chunk, "approval": None})
             for name, f in cfg.flows.items()}
    return cfg.model_copy(update={"flows": flows})


@pytest.fixture
def chunks_read(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many chunks each reading of a file took (the real decoder, counted)."""
    real = bridge.codecs.iter_decode
    counts: list[int] = []

    def counted(*args: object, **kwargs: object) -> Iterator[bridge.codecs.Decoded]:
        counts.append(0)
        for part in real(*args, **kwargs):  # type: ignore[arg-type]
            counts[-1] += 1
            yield part

    monkeypatch.setattr(bridge.codecs, "iter_decode", counted)
    return counts


def run(tmp_path: Path, name: str, chunk: int, orders: bytes | None = None,
        skip_rows: bool = False) -> tuple[Path, PassResult]:
    cfg_path = sample_copy(tmp_path / name)
    root = cfg_path.parent
    if orders is not None:
        (root / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(orders)
    cfg = with_chunks(load(cfg_path), chunk)
    if skip_rows:
        cfg = cfg.model_copy(update={"flows": {
            n: f.model_copy(update={"on_bad_rows": "skip-rows"}) for n, f in cfg.flows.items()}})
    first = run_pass(cfg, clock=lambda: NOON)
    assert first.outcomes == []
    return root, run_pass(cfg, clock=lambda: NOON + 60)


def outputs(root: Path) -> dict[str, bytes]:
    return {**{f"erp/{k}": v for k, v in written(root / "erp").items()},
            **{f"shop/{k}": v for k, v in written(root / "shop").items()}}


def test_every_sample_flow_writes_the_same_bytes_in_chunks_as_whole(
        tmp_path: Path, chunks_read: list[int]) -> None:
    whole_root, whole = run(tmp_path, "whole", 0)
    assert chunks_read and set(chunks_read) == {1}
    chunks_read.clear()
    root, chunked = run(tmp_path, "chunked", 256)
    assert [(o.flow, o.state) for o in chunked.outcomes] == \
        [(o.flow, o.state) for o in whole.outcomes]
    assert {o.state for o in whole.outcomes} == {"done"}
    assert {o.flow for o in whole.outcomes} == {"ordini", "clienti", "clienti-negozio",
                                                "articoli", "giacenze"}
    got, want = outputs(root), outputs(whole_root)
    assert sorted(got) == sorted(want) and len(want) >= 7
    for name in want:
        assert got[name] == want[name], name
    # Every file was really read in several chunks (the reference tables, read once
    # whole, are the readings of one chunk).
    assert len([n for n in chunks_read if n > 1]) == len(whole.outcomes)


def big_orders(copies: int) -> bytes:
    """The sample's orders again and again under new order numbers: orders of one to four
    rows, so that chunk cuts fall inside orders."""
    text = ORDERS.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    head, body = rows[0], rows[1:]
    names = sorted({r[0] for r in body})
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(head)
    for k in range(copies):
        for r in body:
            w.writerow([f"#{100000 + k * 10 + names.index(r[0])}", *r[1:]])
    return out.getvalue().encode("utf-8")


def edited(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """``data`` (rows without quoted commas) with each (line index, cell, value) set."""
    lines = data.split(b"\n")
    for n, column, value in edits:
        cells = lines[n].split(b",")
        cells[column] = value
        lines[n] = b",".join(cells)
    return b"\n".join(lines)


def hostile_orders(copies: int) -> bytes:
    """The sample's orders again and again, as a shop may really export them: a byte order
    mark, CRLF line ends, and every few rows one of a note of three lines (quoted, with
    quotes inside and a CRLF), an emoji and letters of two bytes, a line separator
    (U+2028) in a name, an SKU longer than the ERP's field, a quantity that is not a
    number."""
    text = ORDERS.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    head, body = rows[0], rows[1:]
    names = sorted({r[0] for r in body})
    faults = itertools.cycle(["note", "emoji", "", "separator", "sku", "", "quantity", ""])
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(head)
    for k in range(copies):
        for r in body:
            r = [f"#{100000 + k * 10 + names.index(r[0])}", *r[1:]]
            fault = next(faults)
            if fault == "note":
                r[30] += '\nseconda riga "citata"\r\nterza 😀'
            elif fault == "emoji":
                r[16] += " 😀 ümlaut ß"
            elif fault == "separator" and r[22]:
                r[22] = "Nome\u2028Cognome"
            elif fault == "sku":
                r[19] = "SKU-" + "X" * 40
            elif fault == "quantity":
                r[15] = "abc"
            w.writerow(r)
    return b"\xef\xbb\xbf" + out.getvalue().encode("utf-8")


def test_hostile_orders_in_small_chunks_write_what_the_whole_file_writes(
        tmp_path: Path, chunks_read: list[int]) -> None:
    """Skip-rows on orders whose bad rows, multi-line notes and characters of several bytes
    fall on chunk cuts of 97 bytes (inside a line, a quoted note, a character): the same
    outcomes, the same issues and the same bytes as the file read whole."""
    data = hostile_orders(20)
    whole_root, whole = run(tmp_path, "whole", 0, data, skip_rows=True)
    chunks_read.clear()
    root, chunked = run(tmp_path, "chunked", 97, data, skip_rows=True)
    assert max(chunks_read) >= 100  # the orders (200 rows) were read in many chunks
    seen = [(o.flow, o.state, o.issues, o.outputs) for o in whole.outcomes]
    assert [(o.flow, o.state, o.issues, o.outputs) for o in chunked.outcomes] == seen
    orders = next(o for o in whole.outcomes if o.flow == "ordini")
    assert orders.state == "done" and orders.issues > 0  # bad rows were found and skipped
    got, want = outputs(root), outputs(whole_root)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name
    xml = next(v for k, v in want.items() if k.endswith(".xml"))
    # The note of three lines, its emoji, and the name with a line separator went through.
    assert 'seconda riga &#34;citata&#34;&#13;\nterza 😀'.encode() in xml
    # read back by an XML parser as sent: a raw CR (and CR LF) would come back as LF
    import xml.etree.ElementTree as ET

    texts = list(ET.fromstring(xml).itertext())
    assert any('seconda riga "citata"\r\nterza 😀' in t for t in texts)
    assert "<CustomerName>Nome\u2028Cognome</CustomerName>".encode() in xml


def test_orders_straddling_chunks_write_the_same_bytes(
        tmp_path: Path, chunks_read: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    data = big_orders(300)
    lines = data.split(b"\n")

    def inside_an_order(cut: int) -> bool:
        at = data[:cut].count(b"\n")
        return lines[at].split(b",")[0] == lines[at - 1].split(b",")[0]

    # The first cut falls inside an order of several rows: the codec carries it over.
    chunk = next(c for c in range(8192, 9000, 16) if inside_an_order(c))
    whole_root, whole = run(tmp_path, "whole", 0, data)
    # The XML is rendered a few orders at a time: batches straddle chunks too.
    monkeypatch.setattr(bridge.engine.parts, "BATCH", 7)
    # and the order numbers sent go to a file of the work area past the first 100.
    monkeypatch.setattr(bridge.engine.chunking, "SPOOL_FROM", 100)
    spooled: list[Path] = []
    real_open = bridge.engine.chunking.os.open

    def noted(path: Any, *args: Any) -> int:
        spooled.append(Path(path))
        return real_open(path, *args)

    monkeypatch.setattr(bridge.engine.chunking.os, "open", noted)
    root, chunked = run(tmp_path, "chunked", chunk, data)
    assert [o.state for o in whole.outcomes if o.flow == "ordini"] == ["done"]
    assert [o.outputs for o in chunked.outcomes] == [o.outputs for o in whole.outcomes]
    got, want = outputs(root), outputs(whole_root)
    assert got == want
    ordini = want["erp/ordini/ORD000001.TXT"]
    assert ordini.count(b"\r\n") > 3000  # 1,800 orders: testate, righe and the coda
    assert max(chunks_read) >= len(data) // chunk
    # The order numbers sent (gathered chunk by chunk in a file) are in the ledger, once;
    # and the customer the ERP does not know, of an order of every copy, went once.
    assert sent_keys(root) == sent_keys(whole_root)
    assert len([k for k in sent_keys(root) if k.startswith("#")]) == 1800
    assert [k for k in sent_keys(root) if not k.startswith("#")] == [
        "cliente|laura.conti@example.com"]
    assert ordini.count(b"\r\nC") == 1
    assert [p.name[:6] for p in spooled if p.name.startswith(".keys")] == [".keys-"]
    assert [p for p in (root / ".bridge" / "work").rglob(".*")] == []


def sent_keys(root: Path) -> list[str]:
    import sqlite3

    db = sqlite3.connect(root / ".bridge" / "ledger.sqlite")
    try:
        return [k for (k,) in db.execute("SELECT key FROM sent_keys WHERE flow = 'ordini' "
                                         "ORDER BY key")]
    finally:
        db.close()


def test_an_order_whose_rows_are_apart_is_read_whole_with_a_note(
        tmp_path: Path, chunks_read: list[int]) -> None:
    data = big_orders(300)
    lines = data.split(b"\n")
    # The first order's last row moved to the end of the file: the order is in two places.
    moved = lines.pop(2)
    assert moved.startswith(b"#100000,")
    data = b"\n".join([*lines[:-1], moved, b""])
    whole_root, _ = run(tmp_path, "whole", 0, data)
    root, chunked = run(tmp_path, "chunked", 8192, data)
    assert outputs(root) == outputs(whole_root)
    ordini = next(o for o in chunked.outcomes if o.flow == "ordini")
    assert ordini.state == "done"
    # Each riga of the ERP file under its own testata (an ERP takes a riga for the order of
    # the testata before it): the moved row too, not under the last order of the file.
    [erp] = [v for k, v in outputs(root).items() if k.endswith(".TXT")]
    testata = b""
    for record in erp.split(b"\r\n"):
        if record[:1] == b"T":
            testata = record[1:11]
        elif record[:1] == b"R":
            assert record[1:11] == testata, (record[:40], testata)
    assert b"R0000100000" in erp
    from bridge.ledger import open_ledger

    ledger = open_ledger(root / ".bridge" / "ledger.sqlite")
    notes = [i for i in ledger.issues(ordini.file_id or 0) if i.code == "read-whole"]
    ledger.close()
    assert [n.message for n in notes] == [
        "read whole, not in chunks: the rows of a group are not together in the file"]
    # The chunked reading stopped at the repeated order, then the file was read whole.
    assert any(a >= len(data) // 8192 and b == 1
               for a, b in itertools.pairwise(chunks_read)), str(chunks_read)


def test_a_bad_row_in_a_late_chunk_skips_its_order_only(tmp_path: Path) -> None:
    data = big_orders(200)
    # a row near the end, in the last chunks: its Lineitem quantity
    data = edited(data, [(data.count(b"\n") - 39, 15, b"x2")])
    results = {}
    for name, chunk in (("whole", 0), ("chunked", 4096)):
        root = sample_copy(tmp_path / name).parent
        (root / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(data)
        cfg_path = root / "bridge.yaml"
        cfg_path.write_text(cfg_path.read_text(encoding="utf-8").replace(
            "on_bad_rows: reject-file    # a bad line", "on_bad_rows: skip-rows    # a bad line"),
            encoding="utf-8")
        cfg = with_chunks(load(cfg_path), chunk)
        run_pass(cfg, flows=["ordini"], clock=lambda: NOON)
        result = run_pass(cfg, flows=["ordini"], clock=lambda: NOON + 60)
        results[name] = (result, outputs(root))
    (whole, want), (chunked, got) = results["whole"], results["chunked"]
    assert [o.state for o in whole.outcomes] == ["done"] and want
    assert got == want
    assert chunked.outcomes[0].issues == whole.outcomes[0].issues >= 1


def test_the_issues_are_the_same_list_in_chunks_as_whole(tmp_path: Path) -> None:
    """An unknown SKU early (found by the lookup step) and a quantity that is not a number
    late (found by the decoder): read whole, the decoder's issues of every line came
    first; now the list is in the order of the lines either way."""
    import sqlite3

    data = big_orders(100)
    last = data.count(b"\n") - 39
    data = edited(data, [(5, 19, b"NOPE-1"), (last, 15, b"x2")])
    found = {}
    for name, chunk in (("whole", 0), ("chunked", 4096)):
        root = sample_copy(tmp_path / name).parent
        (root / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(data)
        cfg = with_chunks(load(root / "bridge.yaml"), chunk)
        cfg = cfg.model_copy(update={"flows": {  # every row read, under reject-file too
            n: f.model_copy(update={"on_bad_rows": "skip-rows"}) for n, f in cfg.flows.items()}})
        run_pass(cfg, flows=["ordini"], clock=lambda: NOON)
        [outcome] = run_pass(cfg, flows=["ordini"], clock=lambda: NOON + 60).outcomes
        assert outcome.state == "done"
        with sqlite3.connect(root / ".bridge" / "ledger.sqlite") as db:
            found[name] = (db.execute("SELECT reason FROM files").fetchall(), db.execute(
                "SELECT line, code, record, field FROM issues ORDER BY id").fetchall())
    _, issues = found["whole"]
    assert issues[0][:2] == (6, "no-match")
    assert [line for line, *_ in issues] == sorted(line for line, *_ in issues)
    assert (last + 1, "bad-integer") in [issue[:2] for issue in issues]
    assert found["chunked"] == found["whole"]


def test_reject_file_in_chunks_publishes_nothing(tmp_path: Path) -> None:
    data = big_orders(200)
    lines = data.split(b"\n")
    cells = lines[-40].split(b",")
    cells[15] = b"x2"
    lines[-40] = b",".join(cells)
    root, result = run(tmp_path, "chunked", 4096, b"\n".join(lines))
    ordini = next(o for o in result.outcomes if o.flow == "ordini")
    assert ordini.state == "rejected" and ordini.outputs == []
    assert not (root / "erp" / "ordini").exists() or not any((root / "erp" / "ordini").iterdir())
    left = [p for p in (root / ".bridge" / "work").rglob("*") if "stream" in p.name]
    assert left == []


def test_parts_laid_end_to_end_are_the_file(tmp_path: Path) -> None:
    """The codec's parts: header and BOM once, the last line end and the end-of-file byte
    only at the very end, as one encode of the whole table."""
    import pandas as pd

    from bridge.codecs import encode_rows
    from bridge.codecs.split import file_tail
    from bridge.engine.parts import PartFile
    from bridge.spec.loader import parse

    t = parse("""
format: delimited
encoding: utf-8-sig
newline: crlf
final_newline: false
eof_marker: true
delimited: {delimiter: ";"}
records:
  r:
    fields:
      - {name: a}
      - {name: b, type: integer}
""")
    df = pd.DataFrame({"a": [f"x{i}" for i in range(10)], "b": list(range(10)),
                       "_line": list(range(2, 12))})
    whole = encode_rows({"r": df}, t).data
    assert whole is not None and whole.startswith(b"\xef\xbb\xbfa;b\r\n")
    assert whole.endswith(b"x9;9\x1a")
    out = PartFile(tmp_path / "out")
    for start in range(0, 10, 3):
        part = encode_rows({"r": df.iloc[start:start + 3]}, t, head=start == 0, tail=False)
        assert part.data is not None
        out.write(part.data, keep_back=2)
    digest, size = out.finish(*file_tail(t))
    assert (tmp_path / "out").read_bytes() == whole and size == len(whole)
    import hashlib

    assert digest == hashlib.sha256(whole).hexdigest()


def test_a_killed_part_leaves_no_file(tmp_path: Path) -> None:
    from bridge.engine.parts import PartFile

    out = PartFile(tmp_path / "out")
    out.write(b"abc")
    out.discard()
    assert list(tmp_path.iterdir()) == []


def test_samples_template_is_not_copied_whole(tmp_path: Path) -> None:
    """A template with `each` renders only its three blocks."""
    shutil.copy(Path(__file__).parent.parent / "samples" / "templates" /
                "easyfatt-ordini.xml", tmp_path / "t.xml")
    from bridge.templating import Blocks

    blocks = Blocks(tmp_path / "t.xml", "xml")
    head = blocks.render("head", {})
    assert head.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<EasyfattDocuments')
    (tmp_path / "u.xml").write_text("{% block head %}{% endblock %}", encoding="utf-8")
    from bridge.errors import ConfigError

    with pytest.raises(ConfigError, match="missing: each, tail"):
        Blocks(tmp_path / "u.xml", "xml")


def streamed_world(root: Path, orders: bytes) -> Path:
    """The sample company taking files at once, its orders read in chunks of 64 KB."""
    cfg = sample_copy(root)
    (cfg.parent / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(orders)
    text = cfg.read_text(encoding="utf-8").replace("ready: {window: 5, min_age: 5}",
                                                   "ready: {window: 0, min_age: 0}")
    text = text.replace("    on_bad_rows: reject-file    # a bad line",
                        "    chunk_bytes: 65536\n    on_bad_rows: reject-file    # a bad line")
    assert "chunk_bytes: 65536" in text
    cfg.write_text(text, encoding="utf-8")
    return cfg


def bridge_run(cfg: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    import os
    import subprocess
    import sys

    got = subprocess.run([sys.executable, "-m", "bridge", "--config", str(cfg), "run",
                          "--flow", "ordini"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, **(env or {})}, check=False)
    return got.returncode, got.stdout + got.stderr


def test_a_run_killed_mid_stream_publishes_nothing_and_the_rerun_writes_the_same_bytes(
        tmp_path: Path) -> None:
    import signal

    data = big_orders(1500)  # about 3.7 MB: some 60 chunks
    clean, crash = (streamed_world(tmp_path / n, data) for n in ("clean", "crash"))
    code, out = bridge_run(clean)
    assert code == 0, out
    want = outputs(clean.parent)
    assert sorted(want) == ["erp/easyfatt/ordini_000001.xml", "erp/ordini/ORD000001.TXT",
                            "erp/ordini/ORD000001.TXT.ok"]

    code, out = bridge_run(crash, {"BRIDGE_KILL_AT": "stream-part:20"})
    assert code == -signal.SIGKILL, out
    assert outputs(crash.parent) == {}  # nothing of a half-read file reaches the ERP
    work = crash.parent / ".bridge" / "work"
    half = [p for p in work.rglob(".stream-*")]
    assert len(half) == 2 and all(p.stat().st_size > 0 for p in half)  # killed mid-stream

    code, out = bridge_run(crash)
    assert code == 0, out
    assert outputs(crash.parent) == want
    assert [p for p in work.rglob("*stream*")] == []


def test_every_sample_flow_writes_the_same_bytes_with_expressions_per_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The column kernels give what jinja gives: every expression of every shipped sample
    flow, on the sample's files and on 1,800 orders, run on whole columns and then row by
    row through jinja, writes the same bytes."""
    from bridge.steps.expr import Expression

    calls: list[str] = []
    real = Expression._per_row

    def counted(self: Expression, *args: object, **kwargs: object) -> object:
        calls.append(self.source)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Expression, "_per_row", counted)
    data = big_orders(300)
    by_column = {n: outputs(run(tmp_path, f"col-{n}", 0, orders)[0])
                 for n, orders in (("sample", None), ("big", data))}
    assert by_column["big"]
    # Nothing but constants and the odd missing value went through jinja.
    assert len(calls) < 40, sorted(set(calls))
    before = len(calls)
    vectorised = Expression._vectorised

    def rows_only(self: Expression, table: Any, *args: object) -> object:
        # A table without rows (the check of a flow before it runs) keeps its column
        # types: jinja over no rows cannot tell them.
        return vectorised(self, table, *args) if table.num_rows == 0 else None  # type: ignore[arg-type]

    monkeypatch.setattr(Expression, "_vectorised", rows_only)
    for n, orders in (("sample", None), ("big", data)):
        assert outputs(run(tmp_path, f"row-{n}", 0, orders)[0]) == by_column[n], n
    assert len(calls) - before > 50  # and now every expression went through jinja


@pytest.mark.parametrize("spool_from", [1, 50_000])
def test_the_key_spool_gives_back_every_key_as_it_was(tmp_path: Path, spool_from: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from bridge.engine.chunking import KeySpool

    monkeypatch.setattr(bridge.engine.chunking, "SPOOL_FROM", spool_from)
    keys = ["#1001", "a\nb", "back\\slash\\n", "Niccolò D'Amico", "emoji 😀", "", "tab\tx",
            "a|b\\|c", "\r"]
    spool = KeySpool(tmp_path)
    spool.add(keys[:4])
    spool.add(keys[4:])
    assert list(spool) == keys and list(spool) == keys  # read back, and again
    files = list(tmp_path.iterdir())
    assert len(files) == (1 if spool_from == 1 else 0)
    spool.remove()
    assert list(tmp_path.iterdir()) == []


def test_the_key_spool_mixes_plain_and_escaped_batches(tmp_path: Path) -> None:
    """Batches that need no escaping are written in one piece, the others key by key, and
    the file is read back in blocks of about a megabyte: keys that need escaping in one
    block and not in the next come back as they were."""
    from bridge.engine.chunking import KeySpool

    plain = [f"#{n:09d}" for n in range(150_000)]  # 1.5 MB: the file is read in 2 blocks
    odd = ["x\\y", "a\nb", "\x7f", "Niccolò", "\\n"]
    spool = KeySpool(tmp_path, spool_from=1)
    spool.add(plain[:100_000])
    spool.add(odd)
    spool.add(iter(plain[100_000:]))  # any iterable
    spool.add([])
    assert list(spool) == plain[:100_000] + odd + plain[100_000:]
    (path,) = tmp_path.iterdir()
    text = path.read_bytes()
    assert text.startswith(b"#000000000\n") and b"Niccol\\xf2\n" in text
    spool.remove()
    facts = KeySpool(tmp_path, ".facts-", spool_from=1, plain=True)
    lines = ['"ordine" {"numero": ["#1001", "a\\\\b"]}', '"riga" {"sku": ["\\u00e8"]}']
    facts.add(lines)
    assert list(facts) == lines
    facts.remove()
    assert list(tmp_path.iterdir()) == []


def test_fact_lines_keep_every_value_as_text_and_their_json_whole() -> None:
    """Exact decimals, ISO dates and times, nulls and quotes: the columns' JSON text is what
    the ledger stores, read back without being parsed and made again."""
    import datetime as dt
    from decimal import Decimal

    import pandas as pd
    import pyarrow as pa

    from bridge.config import FactSpec
    from bridge.engine.facts import fact_lines, read_lines

    rome = dt.timezone(dt.timedelta(hours=2))
    table = pa.table({
        "n": pa.array(["#1001", 'say "hi"\n'], pa.string()),
        "day": pa.array([dt.date(2025, 10, 7), None], pa.date32()),
        "at": pa.array([dt.datetime(2025, 10, 7, 9, 50, 26, tzinfo=rome), None],
                       pa.timestamp("s", tz="+02:00")),
        "eur": pa.array([Decimal("12.50"), Decimal("-0.01")], pa.decimal128(12, 2))})
    specs = [FactSpec(table="t", kind="order", fields={"numero": "n", "giorno": "day",
                                                       "ora": "at", "importo": "eur"})]
    lines = list(fact_lines(specs, {"t": table.to_pandas(types_mapper=pd.ArrowDtype)}))
    ((kind, text),) = read_lines(lines)
    assert kind == "order"
    assert text == ('{"numero": ["#1001", "say \\"hi\\"\\n"], "giorno": ["2025-10-07", null], '
                    '"ora": ["2025-10-07T09:50:26+02:00", null], "importo": ["12.50", "-0.01"]}')


@pytest.mark.parametrize("values", [
    [], [None], [""], ["#1001", None, ""], ['say "hi"', "a\\b", '\\"', "\\"],
    ["plain", "tab\tin", "cr\rlf\n"], ["\x7f", "ok"], ["Niccolò", "ok"], ["🍕", None],
    ["x" * 5000, "y"], ['"' * 3, "\\" * 3],
])
def test_a_column_of_facts_is_the_json_that_json_itself_writes(values: list[str | None]
                                                               ) -> None:
    """Made by Arrow where every value is printable ASCII, by json otherwise: to the byte
    what ``json.dumps`` writes of the column, in one chunk or in two."""
    import json

    import pyarrow as pa

    from bridge.engine.facts import json_list

    assert json_list(pa.array(values, pa.string())) == json.dumps(values)
    half = len(values) // 2
    chunked = pa.chunked_array([values[:half], values[half:]], pa.string())
    assert json_list(chunked) == json.dumps(values)
    wider = pa.array(['"', "è", *values, "\\", None], pa.string())
    assert json_list(wider.slice(2, len(values))) == json.dumps(values)


def test_a_note_of_a_target_does_not_refuse_the_file(tmp_path: Path) -> None:
    """A character the ERP's code page lacks, in a field that says `on_unencodable:
    transliterate`, is written as the closest letter with a note: the file is done."""
    from bridge.ledger import open_ledger
    from tests.flowkit import make_world

    cfg = make_world(tmp_path)
    layout = tmp_path / "tracciati" / "test" / "out.yaml"
    layout.write_text(layout.read_text(encoding="utf-8").replace(
        "{name: descrizione, start: 11, length: 30}",
        "{name: descrizione, start: 11, length: 30, on_unencodable: transliterate}"),
        encoding="utf-8")
    assert "transliterate" in layout.read_text(encoding="utf-8")
    (tmp_path / "inbox" / "a.csv").write_text(
        "codice;descrizione;prezzo;qty\nA1;Łódź łańcuch;1,00;2\nA2;Vite;2,00;1\n",
        encoding="utf-8")
    result = run_pass(load(cfg))
    assert [o.state for o in result.outcomes] == ["done"]
    written_bytes = next((tmp_path / "erp").glob("ART*.TXT")).read_bytes()
    assert b"L\xf3dz lancuch" in written_bytes  # cp1252 has ó; not Ł, ł, ź nor ń
    ledger = open_ledger(tmp_path / "state" / "ledger.sqlite")
    codes = [i.code for i in ledger.issues(result.outcomes[0].file_id or 0)]
    ledger.close()
    assert codes == ["transliterated"]


def test_a_full_disk_mid_stream_leaves_the_file_retrying_and_nothing_published(
        tmp_path: Path) -> None:
    """The work area fills up while the outputs are written (a file size limit makes the
    disk full for this child: EFBIG at the limit): the file is `retrying`, nothing reaches
    the ERP, no part is left; once there is room, the next run writes what a clean run
    writes."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    data = big_orders(60)  # about 150 KB: its XML about 600 KB, past the limit below
    clean, full = (streamed_world(tmp_path / n, data) for n in ("clean", "full"))
    text = full.read_text(encoding="utf-8")  # the next try at once, not 30 s later
    full.write_text(text.replace("    chunk_bytes: 65536\n",
                                 "    chunk_bytes: 65536\n    retry_backoff: 0\n"),
                    encoding="utf-8")
    assert bridge_run(clean)[0] == 0
    want = outputs(clean.parent)

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (400_000, 400_000))

    got = subprocess.run([sys.executable, "-m", "bridge", "--config", str(full), "run",
                          "--flow", "ordini"], capture_output=True, text=True, timeout=300,
                         preexec_fn=small_disk, env=dict(os.environ), check=False)
    assert got.returncode == 3, got.stdout + got.stderr  # retry later
    assert "retrying" in got.stdout and "cannot write the outputs in the work area" in \
        got.stdout + got.stderr
    assert outputs(full.parent) == {}
    assert [p for p in (full.parent / ".bridge" / "work").rglob(".stream-*")] == []
    code, out = bridge_run(full)
    assert code == 0, out
    assert outputs(full.parent) == want


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_a_template_encoding_with_a_byte_order_mark_writes_it_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encoding: str) -> None:
    """A templated target's batches are encoded apart: the mark such an encoding writes
    before its text starts the file, once, read whole or in chunks (it started every
    batch of seven orders, and the head and the tail)."""
    monkeypatch.setattr(bridge.engine.parts, "BATCH", 7)
    data = big_orders(30)
    roots: dict[str, Path] = {}
    for name, chunk in (("whole", 0), ("chunked", 4096)):
        cfg_path = sample_copy(tmp_path / name)
        text = cfg_path.read_text(encoding="utf-8")
        assert text.count("template_encoding: utf-8\n") == 1
        cfg_path.write_text(text.replace("template_encoding: utf-8\n",
                                         f"template_encoding: {encoding}\n"), encoding="utf-8")
        (cfg_path.parent / "inbox" / "shopify" / "orders_export_1.csv").write_bytes(data)
        cfg = with_chunks(load(cfg_path), chunk)
        assert run_pass(cfg, clock=lambda: NOON).outcomes == []
        result = run_pass(cfg, clock=lambda: NOON + 60)
        assert [o.state for o in result.outcomes if o.flow == "ordini"] == ["done"]
        roots[name] = cfg_path.parent
    got, want = outputs(roots["chunked"]), outputs(roots["whole"])
    assert got == want
    [xml] = [v for k, v in got.items() if k.endswith(".xml")]
    assert xml.startswith("".encode(encoding))
    text = xml.decode(encoding)  # the mark read as such, not as text
    assert "\ufeff" not in text and text.count("<Document>") == 180
