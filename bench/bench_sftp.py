"""bridge's SFTP transport against OpenSSH's own ``sftp -b`` client, on loopback, same run.

    python bench/bench_sftp.py [--mb 200] [--files 2000] [--file-kb 10] [--repeat 2]

A throw-away OpenSSH sshd (the one the tests use, ``tests/sshd.py``) serves a temporary
folder. Four transfers are timed, each from a new connection (so connecting is counted for
both): one big file down and up, then many small files down and up. bridge's uploads are
its real ones (temporary name, then hard link and remove, as OpenSSH's server allows); the
small downloads follow a listing, as a pass does. Both sides use aes128-gcm@openssh.com.
Both sides ask the server to sync every file they upload (bridge by itself, OpenSSH's client
with ``-f``): fsync@openssh.com, before the file gets its final name. Best of ``--repeat``
runs is kept.

Targets (issue 4): MB/s at least 90% of OpenSSH's; files/s at least OpenSSH's.
The figures go to the terminal and to ``bench/out/sftp.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bridge.config import SftpConnection  # noqa: E402
from bridge.transport.sftp import SftpTransport  # noqa: E402
from tests.sshd import SSHD, Sshd  # noqa: E402

CIPHER = "aes128-gcm@openssh.com"


def best(repeat: int, prepare: Callable[[], None], run: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        prepare()
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def openssh(server: Sshd, batch: list[str], work: Path, *, synced: bool = False
            ) -> Callable[[], None]:
    """OpenSSH's client running ``batch``; ``synced``: asking the server to sync every file
    it uploads (``-f``), as bridge does."""
    script = work / "batch.txt"

    def run() -> None:
        script.write_text("\n".join(batch) + "\n", encoding="utf-8")
        subprocess.run(["sftp", "-q", *(["-f"] if synced else []), "-b", str(script),
                        "-P", str(server.port),
                        "-i", str(server.user_key), "-c", CIPHER,
                        "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                        "-o", f"UserKnownHostsFile={server.known_hosts}",
                        "-o", "StrictHostKeyChecking=yes", f"{server.user}@127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL)

    return run


def fresh(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--file-kb", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if not SSHD.exists() or shutil.which("sftp") is None:
        sys.exit("needs OpenSSH's sshd and sftp (apt-get install openssh-server)")

    with tempfile.TemporaryDirectory(prefix="bench-sftp-") as tmp:
        work = Path(tmp)
        server = Sshd(work / "sshd")
        server.start()
        try:
            results = measure(server, work, args)
        finally:
            server.stop()
    show(results, args)


def measure(server: Sshd, work: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    root = work / "remote"
    local = work / "local"
    (root / "big").mkdir(parents=True)
    (root / "small").mkdir()
    big = root / "big" / "file.bin"
    with big.open("wb") as f:
        for _ in range(args.mb):
            f.write(os.urandom(1 << 20))
    names = [f"f{i:05d}.dat" for i in range(args.files)]
    for n in names:
        (root / "small" / n).write_bytes(os.urandom(args.file_kb * 1024))
    conn = SftpConnection.model_validate(server.connection(root))

    def bridge(op: Callable[[SftpTransport], None]) -> Callable[[], None]:
        def run() -> None:
            t = SftpTransport("bench", conn, lambda p: p)
            try:
                op(t)
            finally:
                t.close()
        return run

    def down_many(t: SftpTransport) -> None:
        for e in t.list("small"):
            t.download("small", e.name, local / e.name)

    def up_many(t: SftpTransport) -> None:
        for n in names:
            t.upload(root / "small" / n, "up", n)

    up = root / "up"
    out: dict[str, dict[str, float]] = {}
    size_mb = big.stat().st_size / 1e6
    out["download big"] = {
        "bridge": best(args.repeat, lambda: fresh(local),
                       bridge(lambda t: t.download("big", "file.bin", local / "file.bin"))),
        "openssh": best(args.repeat, lambda: fresh(local), openssh(
            server, [f'get "{big}" "{local / "file.bin"}"'], work)),
        "units": size_mb}
    out["upload big"] = {
        "bridge": best(args.repeat, lambda: fresh(up),
                       bridge(lambda t: t.upload(big, "up", "file.bin"))),
        "openssh": best(args.repeat, lambda: fresh(up), openssh(
            server, [f'put "{big}" "{up / "file.bin"}"'], work, synced=True)),
        "units": size_mb}
    out["download small"] = {
        "bridge": best(args.repeat, lambda: fresh(local), bridge(down_many)),
        "openssh": best(args.repeat, lambda: fresh(local), openssh(
            server, [f'get "{root / "small" / n}" "{local / n}"' for n in names], work)),
        "units": float(args.files)}
    out["upload small"] = {
        "bridge": best(args.repeat, lambda: fresh(up), bridge(up_many)),
        "openssh": best(args.repeat, lambda: fresh(up), openssh(
            server, [f'put "{root / "small" / n}" "{up / n}"' for n in names], work,
            synced=True)),
        "units": float(args.files)}
    return out


def show(results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    rows = []
    load = os.getloadavg()
    print(f"\nSFTP on loopback, {CIPHER}, best of {args.repeat}; "
          f"python {platform.python_version()}; load average {load[0]:.2f} {load[1]:.2f} "
          f"(the machine may be shared: compare ratios, run it again when loaded)")
    print(f"{'transfer':<28}{'bridge':>14}{'openssh sftp':>16}{'ratio':>8}{'target':>8}")
    for what, r in results.items():
        big = "big" in what
        unit = "MB/s" if big else "files/s"
        label = (f"{what} ({args.mb} MB)" if big
                 else f"{what} ({args.files}x{args.file_kb} KB)")
        ours, theirs = r["units"] / r["bridge"], r["units"] / r["openssh"]
        target = 0.9 if big else 1.0
        ratio = ours / theirs
        print(f"{label:<28}{ours:>9.0f} {unit:<5}{theirs:>10.0f} {unit:<5}{ratio:>8.2f}"
              f"{'ok' if ratio >= target else 'MISS':>8}")
        rows.append({"transfer": label, "unit": unit, "bridge": round(ours, 1),
                     "openssh": round(theirs, 1), "ratio": round(ratio, 3),
                     "target": target})
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / "sftp.json").write_text(json.dumps(
        {"cipher": CIPHER, "repeat": args.repeat, "load": load[:2], "results": rows},
        indent=2) + "\n")


if __name__ == "__main__":
    main()
