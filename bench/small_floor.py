"""The floor of a small file's exchange: the reference that ``bench_flows.py`` times beside
each `bridge run` of the small files, in the same minutes.

    python bench/small_floor.py WORLD

One process, started fresh as `bridge run` is, takes every ``*.csv`` of ``WORLD/inbox`` in
name order and does what an exchange that loses nothing and writes nothing twice cannot skip,
with nothing of bridge: the file read and its SHA-256; a synced commit recording it (SQLite,
WAL, ``synchronous=FULL``, as bridge's ledger); its rows parsed by pyarrow's CSV reader and
written back by pyarrow's CSV writer into a temporary file, synced, renamed into
``WORLD/erp``; a done-file with the row count, synced, renamed, the folder synced; a second
synced commit; the source renamed into ``WORLD/archive``. It leaves out all that bridge adds
(readiness, claims, validation, steps, the business keys, the fixed-width encoding, the
report): `bridge run` over this floor is what bridge's own work costs on top of what any
such exchange costs. The floor is mostly syncs and new files: its own time says how quick
the disk is in those minutes, not the processor.

Prints the seconds it took, as one JSON object on its last line.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from pathlib import Path


def _save(folder: int, name: str, data: bytes) -> None:
    """``data`` in ``name`` of the folder open as ``folder``: a temporary file, synced, then
    renamed (the caller syncs the folder)."""
    tmp = f".{name}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=folder)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)


def floor(world: Path) -> dict[str, float | int]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    inbox, erp, archive = world / "inbox", world / "erp", world / "archive"
    erp.mkdir(exist_ok=True)
    archive.mkdir(exist_ok=True)
    db = sqlite3.connect(world / "floor.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS files (id INTEGER PRIMARY KEY, name TEXT UNIQUE, "
                "sha256 TEXT, rows INTEGER, state TEXT)")
    parse = pacsv.ParseOptions(delimiter=";")
    out_fd = os.open(erp, os.O_RDONLY | os.O_DIRECTORY)
    files = 0
    try:
        for path in sorted(inbox.glob("*.csv")):
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO files (name, sha256, state) VALUES (?, ?, 'planned')",
                       (path.name, digest))
            db.execute("COMMIT")
            table = pacsv.read_csv(pa.BufferReader(data), parse_options=parse)
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table, sink)
            name = path.stem + ".txt"
            _save(out_fd, name, sink.getvalue().to_pybytes())
            _save(out_fd, name + ".ok", f"{table.num_rows}\n".encode())
            os.fsync(out_fd)
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE files SET state = 'written', rows = ? WHERE name = ?",
                       (table.num_rows, path.name))
            db.execute("COMMIT")
            path.rename(archive / path.name)
            files += 1
    finally:
        os.close(out_fd)
        db.close()
    return {"files": files}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    world = Path(argv[0])
    if not (world / "inbox").is_dir():
        print(f"small_floor.py: {world} has no inbox folder", file=sys.stderr)
        return 2
    start = time.perf_counter()
    figures = floor(world)
    figures["seconds"] = round(time.perf_counter() - start, 3)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
