"""How fast bridge turns a Shopify order export into a fixed-width ERP file, against floors.

    python bench/bench_core.py --rows 1000000 [--seed 1] [--keep] [--only bridge]

The input is made by ``gen_orders.py`` and cached in ``bench/out/``. Each contender runs in
its own child process, so the peak RSS read from ``os.wait4`` is that contender's alone:

- ``floor``:  pyarrow ``read_csv`` (every column as text) + ``write_csv``: what reading and
  writing the bytes costs at best;
- ``pandas``: ``pd.read_csv(dtype=str, keep_default_na=False)`` + ``to_csv``: what a
  hand-written script would do, still with no typing or checks;
- ``bridge``: ``bridge.codecs.iter_decode`` with ``shopify/ordini`` (typing and validation,
  chunk by chunk), the mapping of ``map_gestionale.py``, ``bridge.codecs.encode`` of every
  chunk into ``gestionale/ordini`` appended to one file, the coda written at the end.

The figures go to the terminal as a table and to ``bench/out/core.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
CONTENDERS = ("floor", "pandas", "bridge")
TARGET_RATIO = 4.0
TARGET_RSS_MB = 400.0


def run_floor(src: Path, dst: Path) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.csv as pcsv

    with src.open(encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split(",")
    table = pcsv.read_csv(
        src,
        parse_options=pcsv.ParseOptions(newlines_in_values=True),
        convert_options=pcsv.ConvertOptions(
            column_types={name: pa.string() for name in header}, strings_can_be_null=False),
    )
    pcsv.write_csv(table, dst)
    return {"rows": table.num_rows}


def run_pandas(src: Path, dst: Path) -> dict[str, Any]:
    import pandas as pd

    df = pd.read_csv(src, dtype=str, keep_default_na=False)
    df.to_csv(dst, index=False)
    return {"rows": len(df)}


def run_bridge(src: Path, dst: Path, chunk_bytes: int) -> dict[str, Any]:
    from map_gestionale import coda, to_gestionale

    from bridge.codecs import encode, iter_decode
    from bridge.spec import load

    shop, erp = load("shopify/ordini"), load("gestionale/ordini")
    rows = records = dropped = issues = chunks = 0
    spent = {"decode": 0.0, "map": 0.0, "encode": 0.0}
    with dst.open("wb") as out:
        t = time.perf_counter()
        for part in iter_decode(src, shop, chunk_bytes=chunk_bytes):
            t1 = time.perf_counter()
            spent["decode"] += t1 - t
            table = part.tables.get("riga")
            if table is None or table.empty:
                t = time.perf_counter()
                continue
            mapped = to_gestionale(table, part.issues)
            t2 = time.perf_counter()
            out.write(encode(mapped.tables, erp))
            t = time.perf_counter()
            spent["map"] += t2 - t1
            spent["encode"] += t - t2
            rows += len(table)
            records += mapped.records
            dropped += mapped.dropped_orders
            issues += len(part.issues)
            chunks += 1
        out.write(encode({"coda": coda(records, dt.date.today())}, erp))
    return {"rows": rows, "records_out": records + 1, "orders_dropped": dropped,
            "issues": issues, "chunks": chunks,
            "seconds_by_step": {k: round(v, 3) for k, v in spent.items()}}


#: What each contender imports before its clock starts: the work is timed, not the imports.
WARM = {
    "floor": ["pyarrow.csv"],
    "pandas": ["pandas"],
    "bridge": ["pandas", "pyarrow.csv", "map_gestionale", "bridge.codecs",
               "bridge.codecs.split", "bridge.fields", "bridge.validate"],
}


def child(name: str, src: Path, dst: Path, chunk_bytes: int) -> None:
    """Run one contender and print its figures as one JSON line."""
    for module in WARM[name]:
        importlib.import_module(module)
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "floor": lambda: run_floor(src, dst),
        "pandas": lambda: run_pandas(src, dst),
        "bridge": lambda: run_bridge(src, dst, chunk_bytes),
    }
    t = time.perf_counter()
    figures = runners[name]()
    figures["seconds"] = time.perf_counter() - t
    figures["out_bytes"] = dst.stat().st_size
    print(json.dumps(figures))


def measure(name: str, src: Path, dst: Path, chunk_bytes: int) -> dict[str, Any]:
    """Start the contender in a fresh interpreter; wall time and peak RSS are its own."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name,
           "--chunk-mb", str(chunk_bytes >> 20), str(src), str(dst)]
    repo = str(HERE.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(HERE), repo, os.environ.get("PYTHONPATH", "")) if p)}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=repo, env=env)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {proc.returncode}")
    figures: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    figures["wall_seconds"] = wall  # the interpreter's start and imports included
    # ru_maxrss is in kilobytes on Linux
    figures["peak_rss_mb"] = usage.ru_maxrss / 1024
    figures["rows_per_s"] = figures["rows"] / figures["seconds"]
    return figures


def input_file(rows: int, seed: int) -> Path:
    """The generated export for these rows and seed, made once and kept in bench/out/.

    It is made by a child process: on Linux a child's peak RSS starts from its parent's, so
    this process must stay small for the figures of the contenders to be their own.
    """
    path = OUT / f"orders-{rows}-seed{seed}.csv"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(".part")
        subprocess.run([sys.executable, str(HERE / "gen_orders.py"), "--rows", str(rows),
                        "--seed", str(seed), str(part)], check=True)
        part.replace(path)
    return path


def table(results: dict[str, dict[str, Any]]) -> str:
    floor = results.get("floor", {}).get("seconds")
    head = f"{'':8} {'rows/s':>11} {'seconds':>8} {'x floor':>8} {'peak RSS':>10} {'wall':>7}"
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        ratio = f"{r['seconds'] / floor:.2f}" if floor else "-"
        lines.append(f"{name:8} {r['rows_per_s']:>11,.0f} {r['seconds']:>8.2f} {ratio:>8} "
                     f"{r['peak_rss_mb']:>7.0f} MB {r['wall_seconds']:>7.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the output files in bench/out/")
    ap.add_argument("--only", nargs="+", choices=CONTENDERS, default=list(CONTENDERS))
    ap.add_argument("--repeat", type=int, default=1, help="runs per contender; best is kept")
    ap.add_argument("--chunk-mb", type=int, default=5, help="bridge's chunk size")
    ap.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    ap.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.paths[0], args.paths[1], args.chunk_mb << 20)
        return 0

    src = input_file(args.rows, args.seed)
    results: dict[str, dict[str, Any]] = {}
    for name in args.only:
        dst = OUT / f"{src.stem}.{name}.{'txt' if name == 'bridge' else 'csv'}"
        runs = [measure(name, src, dst, args.chunk_mb << 20) for _ in range(args.repeat)]
        # The best run is the one least disturbed by the rest of the machine
        results[name] = min(runs, key=lambda r: r["seconds"])
        results[name]["all_seconds"] = [round(r["seconds"], 3) for r in runs]
        if not args.keep:
            dst.unlink(missing_ok=True)
    print(table(results))
    verdict = check_targets(results)
    for line in verdict:
        print(line)
    report = {
        "command": " ".join(["python bench/bench_core.py", *(argv or sys.argv[1:])]),
        "input": {"file": src.name, "rows": args.rows, "seed": args.seed,
                  "bytes": src.stat().st_size},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "chunk_mb": args.chunk_mb,
        "repeat": args.repeat,
        "results": results,
        "targets": verdict,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "core.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


def check_targets(results: dict[str, dict[str, Any]]) -> list[str]:
    if "bridge" not in results:
        return []
    b = results["bridge"]
    out = [f"bridge peak RSS {b['peak_rss_mb']:.0f} MB: "
           f"{'ok' if b['peak_rss_mb'] < TARGET_RSS_MB else 'OVER'} (target < {TARGET_RSS_MB:.0f})"]
    if "floor" in results:
        ratio = b["seconds"] / results["floor"]["seconds"]
        out.append(f"bridge / floor {ratio:.2f}x: "
                   f"{'ok' if ratio <= TARGET_RATIO else 'OVER'} (target <= {TARGET_RATIO:.0f}x)")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
