"""Files per second with 1, 2 and 4 workers on a PostgreSQL ledger, and 1 on SQLite.

    python bench/bench_workers.py [--flows 8] [--files 100] [--rows 20] [--rounds 2]
                                  [--order arrival|any] [--helper on|off|both]

The world is tests.flowkit's flow copied --flows times (each its own inbox and ERP folder),
--files small files of --rows rows in each inbox, in --order (``any``: the workers share the
files of each flow; ``arrival``: each flow is one worker's at a time). A worker is a
`bridge run` process with its own work area and lock file, as on a machine of its own
(tests.flowkit.machine); N workers are started at once, round after round, until every file
is done (a flow another worker is on is left for the next round, as `bridge watch` leaves it
for its next pass). The time is the wall time of all rounds, from the first start to the
last end, interpreter starts included. PostgreSQL is a private server started here
(tests/pgserver.py), with fsync off: its figures are of bridge's work and the ledger's round
trips, not of a disk. ``--helper``: each worker with its helper process that transforms
files ahead (``on``, the default, as bridge runs), without it (``off``: ``transform_ahead:
false``), or both in turn.

Configurations run in turn, --rounds times each; the figures printed are each one's best
and median, and the ratio of files per second to one PostgreSQL worker's. They go to
bench/out/workers-ORDER.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_flows import bytecode  # noqa: E402
from tests.flowkit import flows_world, machine  # noqa: E402
from tests.pgserver import PgServer, start  # noqa: E402


def one_run(root: Path, flows: int, files: int, rows: int, workers: int,
            pg: PgServer | None, order: str = "arrival", helper: bool = True) -> float:
    """Seconds until every file of a new world is done by ``workers`` processes."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    cfg = flows_world(root, flows, files, rows)
    cfg.write_text(("" if helper else "transform_ahead: false\n") + cfg.read_text(
        encoding="utf-8").replace("    steps: []\n", f"    order: {order}\n    steps: []\n"),
        encoding="utf-8")
    if pg is not None:
        url = pg.new_schema(f"{root}/{time.monotonic_ns()}")
        configs = [machine(root, f"w{k}", url) for k in range(workers)]
    else:
        configs = [cfg]
    want = flows * files
    began = time.perf_counter()
    for _ in range(50):  # rounds; bounded
        procs = [subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(c), "run"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for c in configs]
        for p in procs:
            _, err = p.communicate(timeout=1800)
            if p.returncode not in (0, 1):
                raise SystemExit(f"a worker failed ({p.returncode}): {err[-2000:]}")
        if len(list(root.glob("erp*/*.TXT"))) >= want:
            break
    seconds = time.perf_counter() - began
    got = len(list(root.glob("erp*/*.TXT")))
    if got != want:
        raise SystemExit(f"{got} outputs, {want} expected")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flows", type=int, default=8)
    ap.add_argument("--files", type=int, default=100)
    ap.add_argument("--rows", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--order", choices=("arrival", "any"), default="arrival",
                    help="the flows' order: arrival (one worker per flow at a time) or any "
                    "(every worker on the files of every flow)")
    ap.add_argument("--helper", choices=("on", "off", "both"), default="on",
                    help="each worker with its helper process (on), without (off), or both")
    args = ap.parse_args()
    bytecode()
    total = args.flows * args.files
    work = Path(tempfile.mkdtemp(prefix="bridge-bench-workers-"))
    pg = start(Path(tempfile.mkdtemp(prefix="bridge-bench-pg-")))
    helpers = {"on": (True,), "off": (False,), "both": (True, False)}[args.helper]
    plan = [(db, n, h) for db, n in (("sqlite", 1), ("postgresql", 1), ("postgresql", 2),
                                     ("postgresql", 4)) for h in helpers]
    times: dict[str, list[float]] = {_name(*p, args.helper): [] for p in plan}
    try:
        for _ in range(args.rounds):
            for db, n, h in plan:  # in turn, so that the machine's noise falls on all alike
                seconds = one_run(work / "world", args.flows, args.files, args.rows, n,
                                  pg if db == "postgresql" else None, args.order, h)
                times[_name(db, n, h, args.helper)].append(seconds)
                print(f"{_name(db, n, h, args.helper)}: {seconds:.2f} s "
                      f"({total / seconds:.1f} files/s)", flush=True)
    finally:
        pg.stop()
        shutil.rmtree(pg.folder, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    base = total / min(times[_name("postgresql", 1, helpers[0], args.helper)])
    out = {}
    print(f"\n{total} files ({args.flows} flows x {args.files}, {args.rows} rows each, "
          f"order: {args.order})")
    for name, ts in times.items():
        best = total / min(ts)
        out[name] = {"seconds": ts, "files_per_s_best": round(best, 1),
                     "files_per_s_median": round(total / statistics.median(ts), 1),
                     "ratio_to_postgresql_x1": round(best / base, 2)}
        print(f"{name:24} best {best:6.1f} files/s, median "
              f"{total / statistics.median(ts):6.1f} files/s, {best / base:.2f}x one "
              "PostgreSQL worker")
    dest = ROOT / "bench" / "out" / f"workers-{args.order}.json"
    dest.parent.mkdir(exist_ok=True)
    dest.write_text(json.dumps({"files": total, "order": args.order, "helper": args.helper,
                                **out}, indent=2), encoding="utf-8")


def _name(db: str, workers: int, helper: bool, asked: str) -> str:
    return f"{db} x{workers}" + ("" if asked != "both" else
                                 " helper" if helper else " no helper")


if __name__ == "__main__":
    main()
