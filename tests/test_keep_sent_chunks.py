"""`dedupe keep: sent` counts the keys the file itself sends, in every chunk: a cancellation
many chunks after its order goes with it, as when the file is read whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.ledger import open_ledger

IN = """
format: delimited
encoding: utf-8
newline: lf
delimited: {delimiter: ";"}
records:
  riga:
    fields:
      - {name: codice, required: true, max_length: 10}
      - {name: tipo, max_length: 1}
"""

OUT = """
format: fixed
encoding: cp1252
newline: crlf
discriminator: {start: 1, length: 1}
fixed: {record_length: 12}
records:
  ordine:
    when: O
    fields:
      - {name: rec, type: constant, value: O, start: 1, length: 1}
      - {name: codice, start: 2, length: 10}
  annullo:
    when: A
    fields:
      - {name: rec, type: constant, value: A, start: 1, length: 1}
      - {name: codice, start: 2, length: 10}
"""

CONFIG = """
ledger: state/ledger.sqlite
work_dir: state/work
lock_file: state/run.lock
tracciati: [tracciati]
flows:
  ordini:
    source: {folder: inbox, patterns: ["*.csv"], ready: {window: 0, min_age: 0}}
    tracciato: test/in
    chunk_bytes: CHUNK
    steps:
      - map: {table: riga, into: annullo, fields: {codice: codice, tipo: tipo}}
      - filter: {table: annullo, keep: "tipo == 'C'"}
      - map: {table: riga, into: ordine, fields: {codice: codice, tipo: tipo}}
      - filter: {table: ordine, keep: "tipo == 'O'"}
      - drop: {tables: [riga]}
      - dedupe: {table: ordine, key: [codice]}
      - dedupe: {table: annullo, key: [codice], keep: sent}
    targets:
      - folder: erp
        tracciato: test/out
        filename: "ORD{{ seq | zfill(5) }}.TXT"
"""


def run(root: Path, chunk: int) -> tuple[bytes, list[tuple[str, str | None]]]:
    """200 orders, then the cancellations of three of them (and of one never sent), read
    whole (0) or in chunks of ``chunk`` bytes: the ERP's file, and the file's notes."""
    (root / "tracciati" / "test").mkdir(parents=True)
    (root / "tracciati" / "test" / "in.yaml").write_text(IN, encoding="utf-8")
    (root / "tracciati" / "test" / "out.yaml").write_text(OUT, encoding="utf-8")
    (root / "inbox").mkdir()
    cfg = root / "bridge.yaml"
    cfg.write_text(CONFIG.replace("CHUNK", str(chunk)), encoding="utf-8")
    lines = ["codice;tipo", *(f"X{i:04d};O" for i in range(200)),
             *(f"X{i:04d};C" for i in (0, 1, 199)), "Y0001;C"]
    (root / "inbox" / "a.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    [outcome] = run_pass(load(cfg)).outcomes
    assert outcome.state == "done", outcome
    ledger = open_ledger(load(cfg).path(load(cfg).ledger))
    try:
        notes = [(i.code, i.value) for i in ledger.issues(outcome.file_id)]
    finally:
        ledger.close()
    return (root / "erp" / "ORD00001.TXT").read_bytes(), notes


@pytest.mark.parametrize("chunk", [512, 1024])
def test_a_cancellation_chunks_after_its_order_goes_as_read_whole(tmp_path: Path,
                                                                  chunk: int) -> None:
    """Read in chunks, the cancellations were noted `never-sent` and left out: their
    orders were in chunks before, which the ledger does not have until the file is
    planned (found by a review)."""
    whole, whole_notes = run(tmp_path / "whole", 0)
    parts, notes = run(tmp_path / "parts", chunk)
    assert [r for r in whole.split(b"\r\n") if r.startswith(b"A")] == [
        b"AX0000      ", b"AX0001      ", b"AX0199      "]
    assert whole_notes == [("never-sent", "Y0001")]
    assert parts == whole
    assert notes == whole_notes


def dropped(root: Path) -> dict[str, int]:
    """What the ledger keeps as dropped never sent, of the keys the file had."""
    cfg = load(root / "bridge.yaml")
    ledger = open_ledger(cfg.path(cfg.ledger))
    try:
        return ledger.dropped_keys("ordini", [*(f"X{i:04d}" for i in range(200)), "Y0001"])
    finally:
        ledger.close()


@pytest.mark.parametrize("chunk", [0, 512])
def test_the_cancellations_dropped_as_never_sent_are_kept_from_every_chunk(
        tmp_path: Path, chunk: int) -> None:
    """Only the cancellation of the order no file sent is kept as dropped, read whole or in
    chunks (an order sent chunks before its cancellation is not)."""
    run(tmp_path, chunk)
    assert dropped(tmp_path) == {"Y0001": 1}
