"""Small Shopify order files through the shipped sample flow, as a shop sends them.

    python bench/bench_orders.py [--files 300] [--orders-rows 100] [--articles 20000]

``bench_flows.py`` times 2,000 small files through a flow of one step (``dedupe``): the
engine's own cost per file. This one times what a shop's orders cost: the sample
``ordini`` flow of samples/bridge.yaml (lookups of articles and customers, translations,
group into testata and righe, VAT, checks, commission, trailer; the fixed-width ERP target),
on --files exports of about --orders-rows line items each (whole orders, cut from one
export of ``gen_orders.py``), with --articles more rows in the article master (a real
catalogue; the generator's own articles are a few dozen). One `bridge run` in a child process
(as cron starts it), then an idle one. Prints seconds, files/s, milliseconds a file and the
child's peak RSS; figures go to bench/out/orders.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_flows as flows  # noqa: E402


def world(root: Path, files: int, rows: int, articles: int) -> tuple[Path, int, int]:
    """The sample flow's world with up to ``files`` order exports in its inbox (as many as
    whole orders fill); returns the config, the files and their line items."""
    export = flows.b2b_export(files * rows, 7)
    cfg = flows.large_world(root, export, "fixed", "skip-rows", flows.generator_tables())
    (whole,) = root.rglob("orders_export_bench.csv")
    table = list(csv.reader(io.StringIO(whole.read_text(encoding="utf-8"))))
    whole.unlink()
    head, body = table[0], table[1:]
    name = head.index("Name")
    parts: list[list[list[str]]] = [[]]
    for row in body:  # cut between orders, never inside one
        if len(parts[-1]) >= rows and row[name] != parts[-1][-1][name]:
            parts.append([])
        parts[-1].append(row)
    for n, part in enumerate(parts[:files]):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(head)
        writer.writerows(part)
        (whole.parent / f"orders_export_{n:05d}.csv").write_text(buf.getvalue(), "utf-8")
    with (root / "articoli.csv").open("a", encoding="cp1252", newline="") as fh:
        out = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        for i in range(articles):
            out.writerow(["A", f"CAT-{i:06d}", f"Articolo di catalogo {i}", "", "22", "PZ",
                          "", "", "", "", "", "", "", "", "9,90", "9,90", "9,90"])
    return cfg, len(parts[:files]), sum(len(p) for p in parts[:files])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--orders-rows", type=int, default=100)
    ap.add_argument("--articles", type=int, default=20000)
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args(argv)
    flows.bytecode()
    with tempfile.TemporaryDirectory(prefix="bench-orders-") as tmp:
        root = Path(tmp)
        cfg, files, items = world(root, args.files, args.orders_rows, args.articles)
        cmd = [sys.executable, "-m", "bridge", "--config", str(cfg), "run", "-q"]
        busy = flows.supervise(cmd, timeout=args.timeout, logs=root / "busy")
        idle = flows.supervise(cmd, timeout=args.timeout, logs=root / "idle")
        done = len(list((root / "erp" / "ordini").glob("*")))
    if busy["exit"] not in (0, 1) or busy["timed_out"]:
        print(busy["stderr"][-3000:], file=sys.stderr)
        return 1
    wall = busy["wall_seconds"]
    result = {"files": files, "line_items": items, "articles_added": args.articles,
              "outputs": done, "wall_seconds": round(wall, 3),
              "files_per_s": round(files / wall, 1),
              "ms_per_file": round(1000 * wall / files, 1),
              "peak_rss_mb": round(busy["peak_rss_mb"], 1),
              "cpu_seconds": round(busy["cpu_seconds"], 2),
              "idle_seconds": round(idle["wall_seconds"], 3), "exit": busy["exit"]}
    print(f"{files} order files ({items} line items), {args.articles} more articles: "
          f"{wall:.2f} s, {result['files_per_s']} files/s, {result['ms_per_file']} ms a "
          f"file, peak RSS {result['peak_rss_mb']:.0f} MB, CPU {result['cpu_seconds']} s; "
          f"{done} files in the ERP folder (outputs and done-files); "
          f"idle run {idle['wall_seconds']:.2f} s")
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "orders.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
