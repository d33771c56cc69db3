"""Does a file cost more when the ledger is large? 2,000 new files through `bridge run`,
once with an empty ledger and once with a ledger already holding --old files, their
outputs and --keys business keys sent (dedupe), alternated --rounds times.

    python bench/bench_ledger_scale.py [--files 2000] [--old 100000] [--keys 2000000]

Both worlds are the small-files world of bench_flows.py (one flow, a dedupe step on the
article code, a fixed-width target). The large ledger is filled with SQL in the schema the
first run made: every old file done, with one output, one event and its share of the keys.
Prints each run's seconds and the ratio large/empty (target: within 1.2x), and the time of
an idle pass on the large ledger (target: under 0.5 s).

The two runs of a round are a pair: the round's order alternates (empty first in the odd
rounds, large first in the even ones), and before each timed run what the bench just wrote
(a copied ledger of a gigabyte or more, 2,000 new files) is written back to the disk
(``os.sync``), so that neither run pays for the other's set-up, and no world is removed
before the last run. The verdict is the median of the rounds' ratios; the best run against
the best run is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_flows import bytecode, timed_run  # noqa: E402
from tests.flowkit import make_world, order_file  # noqa: E402

FLOW = "articoli"  # the flow of tests.flowkit's world


def world(root: Path, files: int) -> Path:
    cfg = make_world(root)
    timed_run(cfg)  # makes the ledger; nothing to do yet
    for n in range(files):
        (root / "inbox" / f"o{n:05d}.csv").write_text(order_file(n, 170), encoding="utf-8")
    return cfg


def fill(ledger: Path, old: int, keys: int) -> None:
    """``old`` finished files with an output and an event each, and ``keys`` sent keys."""
    db = sqlite3.connect(ledger)
    now = time.time() - 86400
    with db:
        db.executemany(
            "INSERT INTO files (id, flow, path, size, sha256, state, created, updated, "
            "rows_in, rows_out) VALUES (?, ?, ?, 9000, ?, 'done', ?, ?, 170, 170)",
            ((i, FLOW, f"old{i:07d}.csv", f"{i:064x}", now, now) for i in range(1, old + 1)))
        db.executemany("INSERT INTO events (file_id, state, at) VALUES (?, 'done', ?)",
                       ((i, now) for i in range(1, old + 1)))
        db.executemany(
            "INSERT INTO outputs (file_id, target, folder, name, sha256, rows, state) "
            "VALUES (?, '0', 'erp', ?, ?, 170, 'written')",
            ((i, f"OLD{i:07d}.TXT", f"{i:064x}") for i in range(1, old + 1)))
        per = max(1, keys // max(old, 1))
        db.executemany("INSERT INTO sent_keys (flow, key, file_id) VALUES (?, ?, ?)",
                       ((FLOW, f"K{k:09d}", 1 + k // per) for k in range(keys)))
        db.execute("INSERT INTO sequences VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
                   (f"{FLOW}.0", old))
    db.execute("ANALYZE")
    db.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--old", type=int, default=100_000)
    ap.add_argument("--keys", type=int, default=2_000_000)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    bytecode()
    base = Path(tempfile.mkdtemp(prefix="bridge-bench-ledger-"))
    times: dict[str, list[float]] = {"empty": [], "large": []}
    idle: list[float] = []
    try:
        started = time.perf_counter()
        template = base / "large-template"
        world(template, 0)
        fill(template / "state" / "ledger.sqlite", args.old, args.keys)
        print(f"filled a ledger with {args.old:,} files and {args.keys:,} keys in "
              f"{time.perf_counter() - started:.0f} s")
        for r in range(args.rounds):
            for kind in ("empty", "large") if r % 2 == 0 else ("large", "empty"):
                root = base / f"{kind}-{r}"
                if kind == "large":
                    shutil.copytree(template, root)
                    for n in range(args.files):
                        (root / "inbox" / f"o{n:05d}.csv").write_text(order_file(n, 170),
                                                                      encoding="utf-8")
                    cfg = root / "bridge.yaml"
                else:
                    cfg = world(root, args.files)
                os.sync()  # the set-up written back before the clock starts, not during
                took, out = timed_run(cfg)
                done = out.count(": done")
                if done != args.files:
                    raise SystemExit(f"{kind}: {done} of {args.files} files done:\n{out[-2000:]}")
                times[kind].append(took)
                print(f"round {r + 1}, {kind} ledger: {args.files} files in {took:.2f} s")
                if kind == "large":
                    idle.append(min(timed_run(cfg)[0] for _ in range(3)))
                # The ledger goes now (a few inodes, most of the disk); the world's files
                # only at the end: a run right after thousands of files are removed pays
                # for it on some file systems (bench/README.md, "What a removal costs").
                for ledger in (root / "state").glob("ledger.sqlite*"):
                    ledger.unlink()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    ratio = min(times["large"]) / min(times["empty"])
    pairs = [large / empty for large, empty in zip(times["large"], times["empty"], strict=True)]
    median = statistics.median(pairs)
    figures = {"files": args.files, "old_files": args.old, "old_keys": args.keys,
               "empty_seconds": times["empty"], "large_seconds": times["large"],
               "ratio_rounds": [round(p, 3) for p in pairs], "ratio_median": round(median, 3),
               "ratio_best": round(ratio, 3), "idle_large_seconds": round(min(idle), 3)}
    print(f"rounds' ratios large/empty: {', '.join(f'{p:.2f}' for p in pairs)}; median "
          f"{median:.2f} (target: within 1.2x): {'ok' if median <= 1.2 else 'OVER'}")
    print(f"best of {args.rounds}: empty {min(times['empty']):.2f} s, large "
          f"{min(times['large']):.2f} s: ratio {ratio:.2f}")
    print(f"idle pass with {args.old + args.files:,} files in the ledger: {min(idle):.3f} s "
          "(target: under 0.5 s)")
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "ledger_scale.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
