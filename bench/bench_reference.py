"""A large article master through the sample's `articoli` flow: time and peak memory.

    python bench/bench_reference.py [--articles 1000000] [--changed 0.1]

Makes, in a temporary folder, an ERP article master of ``--articles`` rows after the
sample's own (Mexal's layout, 17 columns, the `articoli` reference) and a price list of as
many articles (`gestionale/listino`), then runs the sample's `articoli` flow
(samples/bridge.yaml: the lookup of each price in the master, VAT added, barcodes checked,
the `delta` with `gone`) by `python -m bridge --config CFG run` in a child process, twice:
the first run sends every article, the second a price list where ``--changed`` of the
prices moved (the delta sends those, and asks the ledger for the fingerprints of every
article). Prints each run's rows written for the shops, wall time, CPU time and peak RSS
(the child's, from ``os.wait4``; this process stays small, so the figure is the child's
own). Figures go to bench/out/reference.json (``--json``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_flows import OUT, SAMPLES, sample_config, supervise, write_articoli  # noqa: E402

from tests.flowkit import ean_digit  # noqa: E402

#: SKU prefixes by VAT code in bench_flows.write_articoli: 4%, 10% and 22% in turn.
PREFIXES = ("PG-", "FC-", "AR-")


def sku(i: int) -> str:
    return f"{PREFIXES[i % 3]}{i:07d}"


def write_prices(path: Path, articles: int, changed: float) -> None:
    every = round(1 / changed) if changed else 0
    with path.open("w", encoding="cp1252", newline="") as fh:
        fh.write("CODICE;LISTINO;PREZZO;BARCODE;STATO\r\n")
        for i in range(articles):
            cents = 100 + i % 997 + (1 if every and i % every == 0 else 0)
            ean = f"80{i:010d}"
            fh.write(f"{sku(i)};1;{cents // 100},{cents % 100:02d};{ean}{ean_digit(ean)};A\r\n")


def world(root: Path, articles: int) -> Path:
    """The sample's articoli flow alone, its master the sample's articles and ``articles``
    more (Mexal's layout, through bench_flows.write_articoli, written as they are made)."""
    import yaml

    sample = yaml.safe_load((SAMPLES / "bridge.yaml").read_text(encoding="utf-8"))
    flow = sample["flows"]["articoli"]
    flow["source"]["ready"] = {"window": 0, "min_age": 0}
    write_articoli(root / "articoli.csv", ((f"Articolo numero {i}", sku(i), 200, "")
                                           for i in range(articles)))
    refs = {"articoli": dict(sample["references"]["articoli"],
                             file=str(root / "articoli.csv"))}
    return sample_config(root, sample, "articoli", flow, refs)


def rows_written(folder: Path) -> int:
    """Rows of every file written for the shops so far (their header lines left out)."""
    rows = 0
    for path in folder.rglob("*.csv"):
        with path.open("rb") as fh:
            rows += sum(1 for _ in fh) - 1
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--articles", type=int, default=1_000_000)
    ap.add_argument("--changed", type=float, default=0.1,
                    help="share of the prices changed for the second run")
    ap.add_argument("--timeout", type=float, default=30, help="minutes a run may take")
    ap.add_argument("--json", type=Path, default=OUT / "reference.json",
                    help="where the figures go")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bridge-bench-reference-"))
    runs: list[dict[str, Any]] = []
    try:
        cfg = world(work, args.articles)
        prices = work / "erp-exports" / "listino.csv"
        for n, changed in enumerate((0.0, args.changed), 1):
            write_prices(prices, args.articles, changed)
            cmd = [sys.executable, "-m", "bridge", "--config", str(cfg), "run", "--log-json"]
            r = supervise(cmd, timeout=args.timeout * 60, logs=work / f"run{n}")
            outcomes = [json.loads(line) for line in r.pop("stdout").splitlines()
                        if line.startswith("{")]
            r.pop("stderr")
            r["states"] = [o.get("state") for o in outcomes]
            r["rows_written"] = rows_written(work / "shop") - sum(x["rows_written"]
                                                                  for x in runs)
            runs.append(r)
            print(f"run {n} ({'every article new' if n == 1 else f'{changed:.0%} changed'}): "
                  f"{', '.join(map(str, r['states'])) or 'no file'} (exit {r['exit']}), "
                  f"{r['rows_written']:,} rows written, in "
                  f"{r['wall_seconds']:.2f} s, CPU {r['cpu_seconds']:.1f} s, peak RSS "
                  f"{r['peak_rss_mb']:.0f} MB", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(
        {"articles": args.articles, "changed": args.changed, "runs": runs}, indent=2) + "\n",
        encoding="utf-8")
    return 0 if all(r["exit"] == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
