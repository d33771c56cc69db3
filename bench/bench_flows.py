"""Files per second through `bridge run`, and the time of an idle run.

    python bench/bench_flows.py [--files 2000] [--size 10000]

Makes a world of small order files (about --size bytes each) on local folders, times one
`bridge run` over all of them (a real subprocess, as cron starts it), then times an idle
`bridge run` with every file already in the ledger. Targets: 2,000 files in under 20 s;
an idle run under 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.flowkit import make_world, order_file  # noqa: E402


def timed_run(cfg: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bridge", "--config", str(cfg), "run"],
                          capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bridge run failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return took, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size", type=int, default=10_000, help="bytes per file, about")
    args = ap.parse_args()
    rows = max(1, args.size // 50)
    work = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    try:
        cfg = make_world(work)
        for n in range(args.files):
            (work / "inbox" / f"o{n:05d}.csv").write_text(order_file(n, rows), encoding="utf-8")
        size = sum(p.stat().st_size for p in (work / "inbox").iterdir()) / args.files
        busy, out = timed_run(cfg)
        done = out.count(": done")
        idle_times = [timed_run(cfg)[0] for _ in range(3)]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bridge", "--help"], capture_output=True,
                       check=True)
        help_time = time.perf_counter() - start
        figures = {
            "files": args.files, "bytes_per_file": round(size), "done": done,
            "busy_seconds": round(busy, 2), "files_per_second": round(done / busy, 1),
            "idle_run_seconds": round(min(idle_times), 3), "help_seconds": round(help_time, 3),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{figures['done']} files of ~{figures['bytes_per_file']} bytes in "
          f"{figures['busy_seconds']} s: {figures['files_per_second']} files/s "
          "(target: 2,000 in under 20 s)")
    print(f"idle run with {args.files} files in the ledger: {figures['idle_run_seconds']} s "
          "(target: under 0.5 s)")
    print(f"bridge --help: {figures['help_seconds']} s (target: under 0.3 s)")
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "flows.json").write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
