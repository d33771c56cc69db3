"""A small world for flow tests: two layouts, a bridge.yaml over local folders, input files."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.sftpserver import SftpServer

IN = """
description: test input, `;`-separated
format: delimited
encoding: utf-8
newline: lf
delimited: {delimiter: ";"}
records:
  articolo:
    fields:
      - {name: codice, required: true, max_length: 10}
      - {name: descrizione, max_length: 30}
      - {name: prezzo, type: decimal, scale: 2, decimal_separator: ","}
      - {name: qty, type: integer}
"""

OUT = """
description: test output, fixed width
format: fixed
encoding: cp1252
newline: crlf
fixed: {record_length: 55}
records:
  articolo:
    fields:
      - {name: codice, start: 1, length: 10}
      - {name: descrizione, start: 11, length: 30}
      - {name: prezzo, type: decimal, scale: 2, implied_decimals: true, start: 41, length: 10}
      - {name: qty, type: integer, start: 51, length: 5}
"""

#: Where a world keeps its ledger, work area and lock, and finds its tracciati.
STATE = """\
ledger: state/ledger.sqlite
work_dir: state/work
lock_file: state/run.lock
tracciati: [tracciati]
"""

CONFIG = "\n" + STATE + """flows:
  articoli:
    source:
      folder: inbox
      patterns: ["*.csv"]
      ready: {window: 0, min_age: 0}
    tracciato: test/in
    steps:
      - dedupe: {key: [codice]}   # an article code already sent is not sent again
    retry_backoff: 0
    targets:
      - folder: erp
        tracciato: test/out
        filename: "ART{{ seq | zfill(5) }}.TXT"
        done_file: {content: rows}
"""


def make_world(root: Path, config: str = CONFIG) -> Path:
    (root / "tracciati" / "test").mkdir(parents=True)
    (root / "tracciati" / "test" / "in.yaml").write_text(IN, encoding="utf-8")
    (root / "tracciati" / "test" / "out.yaml").write_text(OUT, encoding="utf-8")
    (root / "inbox").mkdir()
    cfg = root / "bridge.yaml"
    cfg.write_text(textwrap.dedent(config), encoding="utf-8")
    return cfg


def order_file(n: int, rows: int = 3) -> str:
    lines = ["codice;descrizione;prezzo;qty"]
    for i in range(rows):
        lines.append(f"A{n:04d}{i};Articolo {n} riga {i} è;{n},{i % 10}5;{i % 7 + 1}")
    return "\n".join(lines) + "\n"


def ean_digit(first12: str) -> str:
    """The check digit of an EAN-13 whose first twelve digits are ``first12``."""
    total = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(first12))
    return str((10 - total % 10) % 10)


def bridge_cli(cfg: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`bridge --config CFG ARGS...` in a subprocess, as cron would run it."""
    return subprocess.run([sys.executable, "-m", "bridge", "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})}, check=False)


def sftp_connection(server: SftpServer, folder: Path) -> dict[str, object]:
    """A bridge.yaml connection to the embedded SFTP ``server``: its host key trusted in
    ``folder``/known_hosts, its user's key written in ``folder``/id_ed25519."""
    (folder / "known_hosts").write_text(server.known_hosts_line(), encoding="ascii")
    key = server.write_client_key(folder / "id_ed25519")
    return {"type": "sftp", "host": "127.0.0.1", "port": server.port, "user": server.user,
            "key_file": str(key), "known_hosts": str(folder / "known_hosts"), "timeout": 10}


def machine(root: Path, name: str, url: str) -> Path:
    """A configuration of the world in ``root`` as another machine would have it: the same
    ledger, source and target, a work area and lock file of its own."""
    text = (root / "bridge.yaml").read_text(encoding="utf-8")
    text = (text.replace("ledger: state/ledger.sqlite", f"ledger: '{url}'")
            .replace("work_dir: state/work", f"work_dir: {name}/work")
            .replace("lock_file: state/run.lock", f"lock_file: {name}/run.lock"))
    # No dedupe: a file done twice would show as a second output.
    text = text.replace("      - dedupe: {key: [codice]}   # an article code already sent "
                        "is not sent again\n", "")
    text = text.replace("    steps:\n", "    steps: []\n")
    cfg = root / f"{name}.yaml"
    cfg.write_text(text, encoding="utf-8")
    return cfg


def flows_world(root: Path, flows: int, files: int, rows: int = 2) -> Path:
    """``flows`` copies of the world's flow, each with its own inbox and ERP folder, and
    ``files`` files of ``rows`` rows in each inbox."""
    cfg = make_world(root, CONFIG)
    text = cfg.read_text(encoding="utf-8")
    head, flow = text.split("flows:\n", 1)
    body = flow.replace("      - dedupe: {key: [codice]}   # an article code already sent "
                        "is not sent again\n", "").replace("    steps:\n", "    steps: []\n")
    parts = []
    for k in range(flows):
        parts.append(body.replace("  articoli:", f"  articoli{k}:")
                     .replace("folder: inbox", f"folder: inbox{k}")
                     .replace("folder: erp", f"folder: erp{k}"))
        (root / f"inbox{k}").mkdir()
        for n in range(files):
            (root / f"inbox{k}" / f"o{n:03d}.csv").write_text(order_file(1000 * k + n, rows),
                                                             encoding="utf-8")
    cfg.write_text(head + "flows:\n" + "".join(parts), encoding="utf-8")
    return cfg


def ledger_at_schema(path: Path, version: int) -> sqlite3.Connection:
    """A SQLite ledger as a bridge of schema ``version`` made it, open to add rows to."""
    from bridge.ledger.migrations import MIGRATIONS

    db = sqlite3.connect(path)
    db.executescript(";".join(MIGRATIONS[:version]) + f"; PRAGMA user_version = {version};")
    return db
