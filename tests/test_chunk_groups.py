"""Where a file read in chunks may be cut: between two orders as the fields read their keys.

An order whose rows are together must not look split because the cut compared its keys
differently from the fields (a key with a space around it, which the field trims), nor
because rows missing their required key (bad rows, each left out on its own) turn up in
two chunks: either would read the file whole, or refuse it when it is too large for that.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load
from bridge.engine.runner import run_pass
from tests.flowkit import STATE

NOON = 1_760_000_000.0

IN = """\
format: delimited
encoding: cp1252
newline: crlf
delimited: {delimiter: ";", header_rows: 1, match_columns: name}
group_by: [ordine]
records:
  riga:
    fields:
      - {name: ordine, column: ORDINE, required: REQUIRED}
      - {name: codice, column: CODICE, required: true}
      - {name: qty, column: QTY, type: integer}
"""
OUT = """\
format: delimited
encoding: utf-8
newline: lf
delimited: {delimiter: ";", header_rows: 1}
records:
  riga:
    fields:
      - {name: ordine, column: ORDINE}
      - {name: codice, column: CODICE}
      - {name: qty, column: QTY, type: integer}
"""
FLOW = STATE + """\
flows:
  righe:
    source: {folder: inbox, patterns: ["*.csv"], ready: {window: 0, min_age: 0}}
    tracciato: t/in
    on_bad_rows: skip-rows
    chunk_bytes: CHUNK
    whole_max_bytes: WHOLE
    targets:
      - {folder: erp, tracciato: t/out, filename: "R{{ seq | zfill(4) }}.csv"}
"""


def orders(third: str) -> bytes:
    """600 rows, orders of three rows together; the third row of each order keyed
    ``third`` (``{}`` is the order's key)."""
    out = ["ORDINE;CODICE;QTY"]
    for i in range(600):
        key = f"O{1000 + i // 3}"
        out.append(f"{third.format(key) if i % 3 == 2 else key};A{i:06d};{i % 9 + 1}")
    return ("\r\n".join(out) + "\r\n").encode("cp1252")


def run(root: Path, data: bytes, chunk: int, whole_max: int, required: bool = True,
        escape: bool = False) -> tuple[str, bytes]:
    """The file through the flow: its state, and the bytes written. ``escape``: the
    layout has an escape character, and chunks are read by Python's csv module instead of
    pyarrow."""
    (root / "inbox").mkdir(parents=True)
    (root / "inbox" / "righe.csv").write_bytes(data)
    (root / "tracciati" / "t").mkdir(parents=True)
    (root / "tracciati" / "t" / "in.yaml").write_text(
        IN.replace("REQUIRED", str(required).lower()).replace(
            "match_columns: name", "match_columns: name, escape_char: '\\'" if escape
            else "match_columns: name"), encoding="utf-8")
    (root / "tracciati" / "t" / "out.yaml").write_text(OUT, encoding="utf-8")
    (root / "bridge.yaml").write_text(
        FLOW.replace("CHUNK", str(chunk)).replace("WHOLE", str(whole_max)), encoding="utf-8")
    [outcome] = run_pass(load(root / "bridge.yaml"), clock=lambda: NOON).outcomes
    written = b"".join(p.read_bytes() for p in sorted((root / "erp").glob("R*.csv")))
    return outcome.state, written


@pytest.mark.parametrize("escape", [False, True], ids=["pyarrow", "csv"])
@pytest.mark.parametrize("third", [" {}", "{}  ", "\t{} "], ids=["before", "after", "both"])
def test_a_key_the_field_trims_does_not_split_its_order(
        tmp_path: Path, third: str, escape: bool) -> None:
    data = orders(third)
    state, whole = run(tmp_path / "whole", data, 0, 0, escape=escape)
    assert state == "done" and whole.count(b"\n") == 601
    # chunks of 1 KB, and too large (about 10 KB) to be read whole: a false split refuses it
    state, chunked = run(tmp_path / "chunked", data, 1_024, 8_192, escape=escape)
    assert (state, chunked) == ("done", whole)


def test_rows_missing_their_required_key_are_left_out_in_any_chunk(tmp_path: Path) -> None:
    """The third row of each order has no key: 200 bad rows, each left out (its order
    is the row alone), in chunks as whole."""
    data = orders("")
    state, whole = run(tmp_path / "whole", data, 0, 0)
    assert state == "done" and whole.count(b"\n") == 401
    state, chunked = run(tmp_path / "chunked", data, 1_024, 8_192)
    assert (state, chunked) == ("done", whole)


def test_rows_missing_an_optional_key_are_one_group_read_whole(tmp_path: Path) -> None:
    """Where the key is not required, the rows without one are one group (the steps group
    them so): met in two chunks, the file is read whole, or refused past its limit."""
    data = orders("")
    state, whole = run(tmp_path / "whole", data, 0, 0, required=False)
    assert state == "done" and whole.count(b"\n") == 601
    state, chunked = run(tmp_path / "chunked", data, 1_024, 0, required=False)
    assert (state, chunked) == ("done", whole)
    state, _ = run(tmp_path / "refused", data, 1_024, 8_192, required=False)
    assert state == "rejected"
