"""Files per second through `bridge run`, and the time of an idle run; or one large export
through the sample order flow (``--large``).

    python bench/bench_flows.py [--files 2000] [--size 10000]
    python bench/bench_flows.py --large 100000 [--large 1000000 ...] [--xml both|with|without]

Small files (the default): makes a world of small order files (about --size bytes each) on
local folders, times one `bridge run` over all of them (a real subprocess, as cron starts it;
``--repeat N``: N runs, each in a world of its own, and their median), then times an idle
`bridge run` with every file already in the ledger. Targets: 2,000 files in under 10 s; an
idle run under 0.5 s. The same files are first run once in a world with
``transform_ahead: false`` (no helper process: docs/flows.md), for the comparison. Every
world is made before the first timed run and removed after the last. The runs' CPU time
(user and system, the helper's included) is printed too, and a system time over 40% of the
user time is said: the kernel was slow for the run (on the machine of bench/README.md, in
the minutes after a removal of many files). Just before each timed run, ``small_floor.py``
takes the same files in a world of their own with nothing of bridge (read, one parse and
one write by pyarrow, the same syncs and renames): each run's ratio to its floor is printed,
and their median. The floor is mostly syncs and new files, so it says how quick the disk is
in those minutes, not the processor (bench/README.md: five floors in a row in one quiet
minute took 3.17-4.44 s).

Large files (``--large ROWS``, may repeat): the shipped sample flow ``ordini``
(samples/bridge.yaml) run by `python -m bridge --config CFG run` in a child process on one
generated Shopify order export of ROWS line items (``gen_orders.py``, cached in bench/out/,
with the five columns of ``shopify/ordini-b2b`` that a plain export lacks appended). Each
variant runs in a fresh temporary world: the sample's flow with its readiness window at 0,
``fixed`` with only the fixed-width ERP target, ``xml`` with the fixed-width and the Easyfatt
XML targets. Beside them, the core path of ``bench_core.py`` (its ``bridge`` contender) on the
same file. Wall time, the child's peak RSS (``os.wait4``) and CPU time are measured from
this process, which stays small: on Linux a child's peak RSS starts from its parent's.
Targets: the fixed-width flow within 1.5x of the core path; with XML within 2x of
fixed-only; peak RSS under 500 MB, flat from 100k to 3M rows. Figures go to
bench/out/flows_large.json.

``--apart``: the export with its first order's second row moved to its end, so that the
flow finds a group apart and must read the file whole; ``--whole-max-mb M`` sets the
flow's ``whole_max_bytes`` (default: the flow's own, 64 MB; 0: no limit). Over the limit
the file is refused (state ``rejected``) after the chunked reading that found the group
apart; under it, the run shows what reading whole costs.
"""

from __future__ import annotations

import argparse
import ast
import copy
import csv
import json
import os
import platform
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "bench"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import bench_core  # noqa: E402

from tests.flowkit import CONFIG, make_world, order_file  # noqa: E402

SAMPLES = ROOT / "samples"
OUT = HERE / "out"
FLOW = "ordini"
#: The columns of shopify/ordini-b2b that gen_orders' export lacks (the sample flow reads
#: them and the layout wants them all), with the value each row gets.
B2B_COLUMNS = {"Lineitem taxable": "true", "Billing Company": "", "Billing Phone": "",
               "Note Attributes": "", "Tags": ""}
#: The targets of the sample flow each variant keeps.
VARIANTS = {"fixed": ("erp",), "xml": ("erp", "easyfatt")}
XML_CHOICES = {"both": ("fixed", "xml"), "with": ("xml",), "without": ("fixed",)}
#: VAT codes of the generated articles, by SKU prefix (pasta and olive oil 4%, bakery 10%);
#: the others 22%.
VAT_BY_PREFIX = {"PG-": "4", "FL-": "4", "FC-": "10"}
#: ERP codes for the generator's payment and shipping methods the sample does not list.
EXTRA_CODES = {
    "payment_method": {"Satispay": "SATI"},
    "shipping_method": {"Spedizione standard": "STD", "Ritiro in negozio": "RIT",
                        "Spedizione gratuita": "STD"},
}
TARGET_FLOW_OVER_CORE = 1.5
TARGET_XML_OVER_FIXED = 2.0
TARGET_RSS_MB = 500.0


def bytecode() -> None:
    """bridge's modules compiled to bytecode beside them, as pip does when it installs the
    package: what a user's runs start from. Without it, on a machine where
    ``PYTHONDONTWRITEBYTECODE`` is set (as it often is in containers), every process of the
    bench compiled bridge's modules again from their source: an idle run took 0.407 s
    instead of 0.320 s (bench/README.md)."""
    import compileall

    if not compileall.compile_dir(ROOT / "bridge", quiet=1):
        raise SystemExit("could not compile bridge's modules to bytecode")


def timed_run(cfg: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "bridge", "--config", str(cfg), "run"],
                          capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bridge run failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return took, proc.stdout


def timed_floor(world: Path, files: int) -> float:
    """The seconds of ``bench/small_floor.py`` over ``world`` (its interpreter's start
    included, as a timed run's is)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / "small_floor.py"), str(world)],
                          capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    last = proc.stdout.strip().rpartition("\n")[2]
    if proc.returncode != 0 or not last.startswith("{") or json.loads(last).get("files") != files:
        raise SystemExit(f"the floor failed ({proc.returncode}, {files} files expected): "
                         f"{proc.stdout}{proc.stderr}")
    return took


def children_cpu() -> tuple[float, float]:
    """User and system seconds of this process's finished children so far, theirs included
    (a run's helper process is its child)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime, used.ru_stime


#: A run's system time over this share of its user time: the kernel was slow for the run
#: (bench/README.md, "What a removal costs on this machine": new files are slow to make in
#: the minutes after a removal of many files); quiet, the share is about a quarter.
SLOW_SYSTEM = 0.4


def small_world(work: Path, args: argparse.Namespace, ahead: bool) -> Path:
    """The small-files world: with the helper that transforms files ahead, or without."""
    cfg = make_world(work, ("" if ahead else "transform_ahead: false\n") + CONFIG)
    rows = max(1, args.size // 50)
    for n in range(args.files):
        (work / "inbox" / f"o{n:05d}.csv").write_text(order_file(n, rows), encoding="utf-8")
    return cfg


def small(args: argparse.Namespace) -> None:
    """Every world is made before the first timed run and removed after the last: a run
    never follows the removal of thousands of files (see bench/README.md: on a file system
    without a journal, ext4 makes each new file step over the inodes freed in the last
    minute, and a run after a removal paid seconds for the bench's own cleaning)."""
    work = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    try:
        alone = small_world(work / "alone", args, ahead=False)
        worlds = [small_world(work / f"ahead-{n}", args, ahead=True)
                  for n in range(args.repeat)]
        # The floors' worlds: the same files (small_floor.py reads only the inbox).
        floors = [small_world(work / f"floor-{n}", args, ahead=True).parent
                  for n in range(args.repeat)]
        size = sum(p.stat().st_size for p in (work / "ahead-0" / "inbox").iterdir()) / args.files
        os.sync()  # what the bench wrote, on the disk before the first clock starts
        one_process, _ = timed_run(alone)
        busy_times, done, cpu, floor_times = [], [], [], []
        for cfg, floor_world in zip(worlds, floors, strict=True):
            floor_times.append(timed_floor(floor_world, args.files))  # just before its run
            before = children_cpu()
            took, out = timed_run(cfg)
            after = children_cpu()
            busy_times.append(took)
            cpu.append((after[0] - before[0], after[1] - before[1]))
            done.append(out.count(": done"))
        busy = statistics.median(busy_times)
        ratios = [t / f for t, f in zip(busy_times, floor_times, strict=True)]
        idle_times = [timed_run(worlds[0])[0] for _ in range(3)]
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bridge", "--help"], capture_output=True,
                       check=True)
        help_time = time.perf_counter() - start
        figures = {
            "files": args.files, "bytes_per_file": round(size), "done": min(done),
            "busy_seconds": round(busy, 2), "busy_runs": [round(t, 2) for t in busy_times],
            "files_per_second": round(min(done) / busy, 1),
            "busy_user_seconds": [round(u, 2) for u, _ in cpu],
            "busy_system_seconds": [round(s, 2) for _, s in cpu],
            "one_process_seconds": round(one_process, 2),
            "idle_run_seconds": round(min(idle_times), 3), "help_seconds": round(help_time, 3),
            "floor_runs": [round(t, 2) for t in floor_times],
            "over_floor": [round(r, 2) for r in ratios],
            "over_floor_median": round(statistics.median(ratios), 2),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    runs = (f" (median of {args.repeat}: {', '.join(f'{t} s' for t in figures['busy_runs'])})"
            if args.repeat > 1 else "")
    print(f"{figures['done']} files of ~{figures['bytes_per_file']} bytes in "
          f"{figures['busy_seconds']} s{runs}: {figures['files_per_second']} files/s "
          "(target: 2,000 in under 10 s)")
    user, system = figures["busy_user_seconds"], figures["busy_system_seconds"]
    slow = statistics.median(system) > SLOW_SYSTEM * statistics.median(user)
    print(f"their CPU, both processes: user {', '.join(f'{t} s' for t in user)}; system "
          f"{', '.join(f'{t} s' for t in system)}" + (
              f" (system time over {SLOW_SYSTEM:.0%} of the user time: the kernel was slow "
              "for these runs, as it is here in the minutes after a removal of many files; "
              "bench/README.md)"
              if slow else ""))
    print(f"the floor of the same files (bench/small_floor.py, timed just before each run): "
          f"{', '.join(f'{t} s' for t in figures['floor_runs'])}; each run over its floor: "
          f"{', '.join(f'{r}x' for r in figures['over_floor'])}, median "
          f"{figures['over_floor_median']}x")
    print(f"the same without the helper (transform_ahead: false): "
          f"{figures['one_process_seconds']} s")
    print(f"idle run with {args.files} files in the ledger: {figures['idle_run_seconds']} s "
          "(target: under 0.5 s)")
    print(f"bridge --help: {figures['help_seconds']} s (target: under 0.3 s)")
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(exist_ok=True)
    (out_dir / "flows.json").write_text(json.dumps(figures, indent=2))


# --- large files -------------------------------------------------------------------------


def generator_tables() -> dict[str, Any]:
    """PRODUCTS, PAYMENTS and SHIPPING of gen_orders.py, read from its source: importing it
    would load numpy and pyarrow into this process, whose peak RSS its children start from."""
    tree = ast.parse((HERE / "gen_orders.py").read_text(encoding="utf-8"))
    found: dict[str, Any] = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id in ("PRODUCTS", "PAYMENTS", "SHIPPING")):
            found[node.targets[0].id] = ast.literal_eval(node.value)
    return found


def b2b_export(rows: int, seed: int) -> Path:
    """gen_orders' export (cached by bench_core.input_file) with the columns of
    shopify/ordini-b2b it lacks appended to every record, made once and kept in bench/out/.

    Streamed line by line; a line ends a record when the quotes seen so far are even (only
    quoted cells hold line breaks)."""
    plain = bench_core.input_file(rows, seed)
    path = OUT / f"orders-b2b-{rows}-seed{seed}.csv"
    if path.exists():
        return path
    part = path.with_suffix(".part")
    extra = "".join("," + v for v in B2B_COLUMNS.values()).encode()
    inside = False
    with plain.open("rb") as src, part.open("wb") as dst:
        header = src.readline().rstrip(b"\r\n")
        dst.write(header + "".join("," + c for c in B2B_COLUMNS).encode() + b"\n")
        for line in src:
            if line.count(b'"') % 2:
                inside = not inside
            if not inside and line.endswith(b"\n"):
                line = line[:-1] + extra + b"\n"
            dst.write(line)
    part.replace(path)
    return path


def write_articoli(path: Path, products: Iterable[tuple[str, str, int, str]]) -> None:
    """The sample's article master (Mexal layout) plus the generator's articles, so that
    every SKU of the export is an ERP article with a VAT code."""
    sample = (SAMPLES / "erp-exports" / "articoli.csv").read_text(encoding="cp1252")
    with path.open("w", encoding="cp1252", newline="") as fh:
        fh.write(sample if sample.endswith("\n") else sample + "\r\n")
        out = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        for name, sku, cents, _vendor in products:
            vat = next((v for p, v in VAT_BY_PREFIX.items() if sku.startswith(p)), "22")
            price = f"{cents // 100},{cents % 100:02d}"
            out.writerow(["A", sku, name[:40], "", vat, "PZ", "", "", "", "", "", "", "", "",
                          price, price, price])


def apart_export(export: Path) -> Path:
    """``export`` with the second row of its first order moved to its end (cached beside
    it): an order whose rows are not together, as a sender's sort by another column would
    leave it. Streamed, so that this process stays small (a child's peak RSS starts from
    its parent's)."""
    path = export.with_name(export.stem + "-apart.csv")
    if path.exists():
        return path
    part = path.with_suffix(".part")
    with export.open("rb") as src, part.open("wb") as dst:
        head = [src.readline() for _ in range(3)]
        first = head[1].split(b",", 1)[0] + b","
        if not head[2].startswith(first) or any(line.count(b'"') % 2 for line in head):
            raise SystemExit(f"{export.name}: its first order has no second row of one line")
        dst.write(head[0] + head[1])
        shutil.copyfileobj(src, dst, 1 << 20)
        src.seek(-1, os.SEEK_END)
        if src.read(1) != b"\n" or not head[2].endswith(b"\n"):
            raise SystemExit(f"{export.name}: a row without its line end")
        dst.write(head[2])
    part.replace(path)
    return path


def large_world(root: Path, export: Path, variant: str, on_bad_rows: str,
                generated: dict[str, Any], whole_max: int | None = None,
                stale: bool = False) -> Path:
    """A folder holding a copy of the sample config restricted to the ordini flow, its
    reference tables and the export in the inbox; returns the config's path. ``stale``:
    the article table without the generator's articles (only the sample's own), so that
    every row of the export fails its lookup, as with an ERP export gone stale."""
    import yaml

    sample = yaml.safe_load((SAMPLES / "bridge.yaml").read_text(encoding="utf-8"))
    flow = copy.deepcopy(sample["flows"][FLOW])
    flow["source"]["ready"] = {"window": 0, "min_age": 0}
    flow["on_bad_rows"] = on_bad_rows
    flow["retry_backoff"] = 0
    if whole_max is not None:
        flow["whole_max_bytes"] = whole_max
    flow["targets"] = [dict(t, template=str(SAMPLES / t["template"])) if "template" in t
                       else t for t in flow["targets"] if t["name"] in VARIANTS[variant]]
    # The generator's payment and shipping methods get ERP codes, as a shop would set them
    names = {"payment_method": [p[0] for p in generated["PAYMENTS"]],
             "shipping_method": [s[0] for s in generated["SHIPPING"]]}
    for step in flow["steps"]:
        tr = step.get("translate")
        if tr and tr["field"] in names:
            for name in names[tr["field"]]:
                tr["values"].setdefault(name, EXTRA_CODES[tr["field"]].get(name)
                                        or name[:4].upper())
    write_articoli(root / "articoli.csv", [] if stale else generated["PRODUCTS"])
    refs = {name: dict(ref, file=str(root / "articoli.csv") if name == "articoli"
                       else str(SAMPLES / ref["file"]))
            for name, ref in sample["references"].items()}
    cfg = sample_config(root, sample, FLOW, flow, refs)
    shutil.copyfile(export, root / flow["source"]["folder"] / "orders_export_bench.csv")
    return cfg


def sample_config(root: Path, sample: dict[str, Any], name: str, flow: dict[str, Any],
                  references: dict[str, Any]) -> Path:
    """``root``/bridge.yaml: the sample's ledger and folders, ``references`` and the one
    flow ``name``; its source folder made."""
    import yaml

    conf = {k: sample[k] for k in ("ledger", "work_dir", "lock_file", "reports_dir")}
    conf.update(references=references, flows={name: yaml_on_keys(flow)})
    (root / flow["source"]["folder"]).mkdir(parents=True)
    cfg = root / "bridge.yaml"
    cfg.write_text(yaml.safe_dump(conf, sort_keys=False, allow_unicode=True),
                   encoding="utf-8")
    return cfg


def yaml_on_keys(value: Any) -> Any:
    """YAML 1.1 reads the key ``on`` (of a lookup's match) as True: put the name back."""
    if isinstance(value, dict):
        return {("on" if k is True else k): yaml_on_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [yaml_on_keys(v) for v in value]
    return value


def supervise(cmd: list[str], *, timeout: float, logs: Path,
              env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a child in its own session with stdout and stderr in files; kill its group after
    ``timeout`` seconds. Wall time, peak RSS and CPU time are the child's, read by wait4."""
    out, err = logs.with_suffix(".out"), logs.with_suffix(".err")
    with out.open("wb") as fo, err.open("wb") as fe:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fo, stderr=fe,
                                start_new_session=True)
        pidfd = os.pidfd_open(proc.pid)
        try:
            timed_out = not select.select([pidfd], [], [], timeout)[0]
            if timed_out:  # the child is not reaped yet: its group id is still its own
                os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            os.close(pidfd)
        wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"exit": proc.returncode, "timed_out": timed_out, "wall_seconds": wall,
            "peak_rss_mb": usage.ru_maxrss / 1024,  # kilobytes on Linux
            "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "stdout": out.read_text(encoding="utf-8", errors="replace"),
            "stderr": err.read_text(encoding="utf-8", errors="replace")}


def count_records(path: Path) -> tuple[int, int]:
    """Records and testate (lines starting with T) of a fixed-width output, streamed."""
    records = testate = 0
    with path.open("rb") as fh:
        for line in fh:
            records += 1
            testate += line.startswith(b"T")
    return records, testate


def run_flow(work: Path, export: Path, rows: int, variant: str, on_bad_rows: str,
             generated: dict[str, Any], timeout: float, whole_max: int | None = None,
             stale: bool = False) -> dict[str, Any]:
    root = work / variant
    root.mkdir()
    try:
        cfg = large_world(root, export, variant, on_bad_rows, generated, whole_max, stale)
        cmd = [sys.executable, "-m", "bridge", "--config", str(cfg), "run", "--log-json"]
        r = supervise(cmd, timeout=timeout, logs=work / f"{variant}.log")
        outcomes = []
        for line in r.pop("stdout").splitlines():
            try:
                outcomes.append(json.loads(line))
            except ValueError:
                continue
        o = outcomes[0] if outcomes else {}
        r.update(state=o.get("state", "none"), issues=o.get("issues"),
                 message=o.get("message"), rows=rows, rows_per_s=rows / r["wall_seconds"])
        stderr = r.pop("stderr").strip()
        if stderr:
            r["stderr_tail"] = stderr[-2000:]
        outputs: dict[str, Any] = {}
        for target in VARIANTS[variant]:
            folder = root / "erp" / ("ordini" if target == "erp" else "easyfatt")
            files = sorted(p for p in folder.glob("*") if not p.name.endswith(".ok")) \
                if folder.is_dir() else []
            outputs[target] = {"files": [p.name for p in files],
                               "bytes": sum(p.stat().st_size for p in files)}
            if target == "erp" and files:
                records, testate = count_records(files[0])
                outputs[target].update(records=records, orders=testate)
        r["outputs"] = outputs
        return r
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_core(work: Path, export: Path, chunk_mb: int, timeout: float) -> dict[str, Any]:
    """bench_core's ``bridge`` contender (iter_decode + map_gestionale + encode) in its
    own child, as bench_core.measure starts it, under the same timeout as the flows."""
    dst = work / "core.txt"
    cmd = [sys.executable, str(HERE / "bench_core.py"), "--child", "bridge",
           "--chunk-mb", str(chunk_mb), str(export), str(dst)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    try:
        r = supervise(cmd, timeout=timeout, logs=work / "core.log", env=env)
    finally:
        dst.unlink(missing_ok=True)
    stdout, stderr = r.pop("stdout"), r.pop("stderr")
    if r["exit"] == 0:
        r.update(json.loads(stdout.strip().splitlines()[-1]))
        r["rows_per_s"] = r["rows"] / r["wall_seconds"]
    else:
        r["stderr_tail"] = stderr[-2000:]
    return r


def large_table(results: dict[str, dict[str, Any]]) -> str:
    head = (f"{'rows':>9}  {'path':14} {'state':9} {'exit':>4} {'wall s':>7} {'rows/s':>9} "
            f"{'peak RSS':>9} {'cpu s':>6} {'x core':>6}")
    lines = [head, "-" * len(head)]
    for rows, per in results.items():
        core = per.get("core", {})
        for name in ("core", "fixed", "xml"):
            r = per.get(name)
            if r is None:
                continue
            label = {"core": "core (iter)", "fixed": "flow fixed",
                     "xml": "flow fixed+xml"}[name]
            ratio = (f"{r['wall_seconds'] / core['wall_seconds']:.2f}"
                     if core.get("exit") == 0 and name != "core" else "-")
            state = "ok" if name == "core" and r["exit"] == 0 else r.get("state", "FAILED")
            if r["timed_out"]:
                state = "TIMEOUT"
            rate = f"{r['rows_per_s']:,.0f}" if "rows_per_s" in r else "-"
            lines.append(f"{int(rows):>9,}  {label:14} {state:9} {r['exit']:>4} "
                         f"{r['wall_seconds']:>7.2f} {rate:>9} {r['peak_rss_mb']:>6.0f} MB "
                         f"{r['cpu_seconds']:>6.1f} {ratio:>6}")
    return "\n".join(lines)


def large_targets(results: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for rows, per in results.items():
        n = f"{int(rows):,} rows"
        core, fixed, xml = per.get("core"), per.get("fixed"), per.get("xml")
        undone = [f"{k} {r['state']}" for k, r in (("fixed", fixed), ("xml", xml))
                  if r and r["state"] != "done"]
        if undone:  # a refused file is not the path the targets are about
            out.append(f"{n}: no ratios, the file was not done ({', '.join(undone)})")
            core = fixed = xml = None
        if core and fixed and core["exit"] == 0:
            x = fixed["wall_seconds"] / core["wall_seconds"]
            per["flow_over_core"] = round(x, 2)
            out.append(f"{n}: flow fixed / core {x:.2f}x: "
                       f"{'ok' if x <= TARGET_FLOW_OVER_CORE else 'OVER'} "
                       f"(target <= {TARGET_FLOW_OVER_CORE}x)")
        if fixed and xml:
            x = xml["wall_seconds"] / fixed["wall_seconds"]
            per["xml_over_fixed"] = round(x, 2)
            out.append(f"{n}: flow with XML / fixed only {x:.2f}x: "
                       f"{'ok' if x <= TARGET_XML_OVER_FIXED else 'OVER'} "
                       f"(target <= {TARGET_XML_OVER_FIXED:.0f}x)")
        for name in ("fixed", "xml"):
            r = per.get(name)
            if r and r["state"] == "done":
                mb = r["peak_rss_mb"]
                out.append(f"{n}: flow {name} peak RSS {mb:.0f} MB: "
                           f"{'ok' if mb < TARGET_RSS_MB else 'OVER'} "
                           f"(target < {TARGET_RSS_MB:.0f} MB at any size)")
    return out


def large(args: argparse.Namespace, argv: Sequence[str]) -> int:
    variants = XML_CHOICES[args.xml]
    generated = generator_tables()
    timeout = args.timeout * 60
    whole_max = None if args.whole_max_mb is None else int(args.whole_max_mb * (1 << 20))
    print(f"flow {FLOW!r} of samples/bridge.yaml, on_bad_rows: {args.on_bad_rows}"
          + (" (the sample says reject-file, which refuses the whole generated file for its"
             " ~0.1% bad rows; set here so that the good orders are written)"
             if args.on_bad_rows == "skip-rows" else ""), flush=True)
    results: dict[str, dict[str, Any]] = {}
    inputs: dict[str, Any] = {}
    report: dict[str, Any] = {
        "command": " ".join(["python bench/bench_flows.py", *argv]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform()},
        "flow": FLOW, "on_bad_rows": args.on_bad_rows, "timeout_seconds": timeout,
        "core_chunk_mb": args.chunk_mb, "apart": args.apart, "whole_max_bytes": whole_max,
        "stale_articles": args.stale_articles,
        "inputs": inputs, "results": results,
    }
    work = Path(tempfile.mkdtemp(prefix="bridge-bench-large-"))
    try:
        for rows in args.large:
            export = b2b_export(rows, args.seed)
            if args.apart:
                export = apart_export(export)
            inputs[str(rows)] = {"file": export.name, "rows": rows, "seed": args.seed,
                                 "bytes": export.stat().st_size}
            per: dict[str, Any] = {}
            results[str(rows)] = per
            if not args.no_core:
                per["core"] = run_core(work, export, args.chunk_mb, timeout)
                say(rows, "core", per["core"])
            for variant in variants:
                per[variant] = run_flow(work, export, rows, variant, args.on_bad_rows,
                                        generated, timeout, whole_max, args.stale_articles)
                say(rows, variant, per[variant])
            # After each size, so that a later size that fails leaves the earlier figures
            report["targets"] = large_targets(results)
            report["parent_peak_rss_mb"] = \
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            OUT.mkdir(parents=True, exist_ok=True)
            (OUT / "flows_large.json").write_text(json.dumps(report, indent=2) + "\n",
                                                  encoding="utf-8")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(large_table(results))
    for line in report["targets"]:
        print(line)
    print(f"(this process's own peak RSS, the floor of every child's: "
          f"{report['parent_peak_rss_mb']:.0f} MB; wall times include interpreter start)")
    return 0


def say(rows: int, name: str, r: dict[str, Any]) -> None:
    state = r.get("state", "ok" if r["exit"] == 0 else "failed")
    extra = f", {r['issues']} issues" if r.get("issues") else ""
    print(f"{rows:,} rows, {name}: {state} (exit {r['exit']}{extra}) in "
          f"{r['wall_seconds']:.2f} s, peak RSS {r['peak_rss_mb']:.0f} MB", flush=True)
    if r.get("message"):
        print(f"  message: {r['message'][:300]}", flush=True)
    if r.get("stderr_tail"):
        print(f"  stderr: {r['stderr_tail'][-600:]}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size", type=int, default=10_000, help="bytes per file, about")
    ap.add_argument("--repeat", type=int, default=1,
                    help="small files: runs with the helper, each in a world of its own "
                         "(the figure is their median)")
    ap.add_argument("--large", type=int, action="append", metavar="ROWS",
                    help="rows of one generated export through the sample flow; may repeat")
    ap.add_argument("--xml", choices=tuple(XML_CHOICES), default="both",
                    help="large: fixed-only and fixed+XML variants (both), or one of them")
    ap.add_argument("--seed", type=int, default=1, help="large: the generator's seed")
    ap.add_argument("--on-bad-rows", choices=("skip-rows", "reject-file"),
                    default="skip-rows", help="large: the flow's policy for the run")
    ap.add_argument("--chunk-mb", type=int, default=5, help="large: the core path's chunk")
    ap.add_argument("--no-core", action="store_true", help="large: skip the core path")
    ap.add_argument("--apart", action="store_true",
                    help="large: one order's row moved to the end (the file is read whole)")
    ap.add_argument("--stale-articles", action="store_true",
                    help="large: the ERP's article table without the export's articles, "
                         "so that every row fails its lookup (memory with an error a row)")
    ap.add_argument("--whole-max-mb", type=float, default=None,
                    help="large: the flow's whole_max_bytes, in MB (0: no limit)")
    ap.add_argument("--timeout", type=float, default=30,
                    help="large: minutes each child may run before it is killed")
    args = ap.parse_args(argv)
    bytecode()
    if args.large:
        return large(args, argv)
    small(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
