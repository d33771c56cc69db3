"""What one small file's transform costs: the helper's work on each file of a `bridge run`.

`python bench/bench_transform.py [--files 100] [--loops 5]` makes the small-files world of
`bench_flows.py` (order files of about 8.6 KB, 200 rows; a dedupe step; a fixed-width
target with a done-file), claims and fetches the files as a run does, then transforms them
in this process, as the helper does (`answer_of`), ``--loops`` times over, and prints the
CPU milliseconds of a file (the median loop and the fastest).

`--instructions` counts instead the instructions a file's transform takes, with valgrind's
cachegrind (when it is installed): this script run under it twice, with no loop and with
``--loops``, the difference divided by the files transformed. Unlike a time, the count is
the same from one run to the next whatever else the machine does (within 0.1%), so two
versions of the code compare in one run each. Instructions are not time: Arrow's kernels
and Python's own code cost differently per instruction. A change is measured by both.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_flows import bytecode, small_world  # noqa: E402


def transforms(world: Path, files: int, loops: int) -> list[float]:
    """CPU ms a file of each loop of ``files`` transforms (after one loop to warm up)."""
    from bridge.config import load
    from bridge.engine.ahead import fetch_new
    from bridge.engine.ahead_here import Recording, answer_of
    from bridge.engine.pipeline import Pipeline
    from bridge.engine.readiness import ready
    from bridge.engine.runner import reading
    from bridge.ledger import open_ledger

    cfg = load(world)
    pipe = Pipeline(cfg, open_ledger(cfg.path(cfg.ledger)), {}, None, reading(time.time))
    flow = cfg.flows["articoli"]
    listing = ready(pipe, "articoli", flow, None)
    rows = []
    for entry, obs in listing.ready[:files]:
        got = fetch_new(pipe, "articoli", flow, entry, obs)
        assert isinstance(got, tuple), got
        rows.append(got[0])
    recording = Recording(pipe.ledger)
    here = Pipeline(cfg, recording, {}, None, pipe.now)

    def once() -> None:
        for row in rows:
            folder = pipe.work(row.id) / "ahead-bench"
            answer = answer_of(here, recording, row, flow, folder)
            if answer[0] != "done":
                raise SystemExit(f"file {row.path}: {answer}")
            shutil.rmtree(folder)

    once()
    took = []
    for _ in range(loops):
        start = time.process_time()
        once()
        took.append((time.process_time() - start) / len(rows) * 1000)
    pipe.ledger.close()
    return took


def instructions(args: argparse.Namespace) -> int:
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt-get install valgrind)")
    counts = []
    for loops in (0, args.loops):
        cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
               "--cachegrind-out-file=/dev/null", sys.executable, __file__,
               "--files", str(args.files), "--loops", str(loops)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        found = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
        if proc.returncode != 0 or found is None:
            raise SystemExit(f"valgrind failed ({proc.returncode}): {proc.stderr[-2000:]}")
        counts.append(int(found.group(1).replace(",", "")))
    per_file = (counts[1] - counts[0]) / (args.loops * args.files)
    print(f"{per_file / 1e6:.2f} million instructions a file's transform "
          f"({args.loops} loops of {args.files} files, under cachegrind)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--loops", type=int, default=5)
    parser.add_argument("--size", type=int, default=10_000, help="bytes per file, about")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions with valgrind instead of timing")
    args = parser.parse_args(argv)
    bytecode()
    if args.instructions:
        return instructions(args)
    work = Path(tempfile.mkdtemp(prefix="bridge-bench-transform-"))
    try:
        world = small_world(work, argparse.Namespace(files=args.files, size=args.size),
                            ahead=True)
        took = transforms(world, args.files, args.loops)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if took:
        print(f"{statistics.median(took):.2f} ms of CPU a file's transform (fastest loop "
              f"{min(took):.2f} ms; {args.loops} loops of {args.files} files of ~{args.size} "
              "bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
