"""Never take a half file.

The stability window runs on the monotonic clock; a download whose size differs from the
listing is given back; a file whose last record is incomplete waits (and is rejected as
``truncated-file`` past ``ready.max_wait``); a local file a writer still holds open waits
under ``bridge watch``; and 100 slow uploads over a real OpenSSH server, each pausing longer
than the window, are never taken half-written.
"""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paramiko
import pytest

from bridge.config import load
from bridge.engine.runner import run_pass
from tests.flowkit import CONFIG, bridge_cli, make_world, order_file
from tests.flowkit.spy import Spying
from tests.sshd import Sshd, shared_sshd_fixture  # noqa: F401  (a fixture)

REPO = Path(__file__).resolve().parents[1]


def test_the_window_runs_on_the_monotonic_clock(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("ready: {window: 0, min_age: 0}",
                                              "ready: {window: 5, min_age: 5}"))
    clock = tmp_path / "clock"
    env = {"BRIDGE_FAKE_CLOCK": str(clock)}
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    for wall, mono, taken in [(1000, 50, False),     # first seen
                              (4600, 51, False),     # the wall clock jumps 1 h: still young
                              (4601, 54.9, False),   # 4.9 s on the monotonic clock
                              (4602, 55, True)]:     # 5 s: stable and old enough
        clock.write_text(f"{wall} {mono}", encoding="ascii")
        got = bridge_cli(cfg, "run", env=env)
        assert ("a.csv: done" in got.stdout) is taken, (wall, mono, got.stdout)


def test_a_file_rewritten_while_it_is_read_is_given_back(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    inbox = tmp_path / "inbox"
    (inbox / "a.csv").write_text(order_file(1, rows=2), encoding="utf-8")
    whole = order_file(1, rows=40)

    def hook(conn: str, op: str, n: int, args: tuple[object, ...]) -> None:
        if op == "download":  # the sender goes on writing into the same file meanwhile
            held = inbox / str(args[1])
            with held.open("w", encoding="utf-8") as f:
                f.write(whole)

    first = run_pass(load(cfg), connect=Spying(hook))
    assert [o.state for o in first.outcomes] == ["waiting"]
    assert "still being written" in first.outcomes[0].message
    assert (inbox / "a.csv").read_text(encoding="utf-8") == whole  # back under its name
    second = run_pass(load(cfg))
    assert [(o.state, o.outputs[0][1]) for o in second.outcomes] == [("done", 40)]


FIXED_IN = """
description: test input with a trailer, fixed width
format: fixed
encoding: cp1252
newline: crlf
fixed: {record_length: 20}
discriminator: {start: 1, length: 1}
records:
  riga:
    when: ["R"]
    fields:
      - {name: tipo, type: constant, value: R, start: 1, length: 1}
      - {name: codice, start: 2, length: 10}
      - {name: qty, type: integer, start: 12, length: 9}
  coda:
    when: ["Z"]
    occurs: last
    fields:
      - {name: tipo, type: constant, value: Z, start: 1, length: 1}
      - {name: righe, type: integer, start: 2, length: 19}
"""

FIXED_FLOW = CONFIG.replace("tracciato: test/in", "tracciato: test/fixed").replace(
    '["*.csv"]', '["*.txt"]').replace("    steps:\n      - dedupe: {key: [codice]}   "
                                      "# an article code already sent is not sent again\n",
                                      "").replace("tracciato: test/out", "tracciato: test/fixed")


def fixed_file(n: int, rows: int) -> bytes:
    body = "".join(f"R{f'K{n:04d}{i:04d}':<10}{i + 1:09d}\r\n" for i in range(rows))
    return (body + f"Z{rows:019d}\r\n").encode("cp1252")


def fixed_world(root: Path, ready: str = "{window: 0, min_age: 0}") -> Path:
    cfg = make_world(root, FIXED_FLOW.replace("{window: 0, min_age: 0}", ready))
    (root / "tracciati" / "test" / "fixed.yaml").write_text(FIXED_IN, encoding="utf-8")
    return cfg


def test_an_incomplete_file_waits_then_is_rejected_as_truncated(tmp_path: Path) -> None:
    cfg = fixed_world(tmp_path, "{window: 0, min_age: 0, max_wait: 100}")
    clock = tmp_path / "clock"
    env = {"BRIDGE_FAKE_CLOCK": str(clock)}
    whole = fixed_file(1, 5)
    (tmp_path / "inbox" / "a.txt").write_bytes(whole[:-22])  # no trailer yet
    clock.write_text("1000", encoding="ascii")
    got = bridge_cli(cfg, "run", env=env)
    assert got.returncode == 0 and "a.txt: waiting" in got.stdout
    assert "incomplete" in got.stdout
    clock.write_text("1050", encoding="ascii")
    assert bridge_cli(cfg, "run", env=env).stdout.startswith("nothing to do")  # not read again
    clock.write_text("1101", encoding="ascii")  # past max_wait: refused, with a report
    late = bridge_cli(cfg, "run", env=env)
    assert late.returncode == 1 and "a.txt: rejected" in late.stdout
    assert "truncated-file" in (tmp_path / "quarantine" / "a.txt.issues.csv").read_text(
        encoding="utf-8-sig")
    (tmp_path / "inbox" / "b.txt").write_bytes(whole)
    assert "b.txt: done" in bridge_cli(cfg, "run", env=env).stdout


def test_watch_waits_while_a_local_writer_holds_the_file_open(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("ready: {window: 0, min_age: 0}",
                                              "ready: {window: 0.5, min_age: 0}"))
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "watch",
                             "--interval", "0.2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while "bridge watch started" not in _log(tmp_path):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        time.sleep(0.5)  # the observer is watching the inbox by now
        lines = order_file(7, rows=30).splitlines(keepends=True)
        with (tmp_path / "inbox" / "a.csv").open("w", encoding="utf-8") as f:
            f.writelines(lines[:10])  # whole lines: only the open file says it is not done
            f.flush()
            time.sleep(2.5)  # five windows long
            assert not (tmp_path / "erp").exists()
            f.writelines(lines[10:])
        deadline = time.monotonic() + 60
        while not list((tmp_path / "erp").glob("*.TXT")):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        out = next((tmp_path / "erp").glob("*.TXT")).read_bytes()
        assert len([ln for ln in out.split(b"\r\n") if ln]) == 30
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
    assert proc.returncode == 0


def _log(root: Path) -> str:
    path = root / "state" / "bridge.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.mark.slow
def test_100_slow_uploads_over_sftp_are_never_taken_half(shared_sshd: Sshd, tmp_path: Path
                                                          ) -> None:
    """100 uploads at once through one SFTP session, each pausing twice, at random bytes,
    for longer than the window, while `bridge run` runs again and again."""
    from tests.test_sftp_flows import World

    world = World(tmp_path, shared_sshd, ready="{window: 1, min_age: 0}",
                  patterns='["*.txt"]')
    cfg = world.config
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("tracciato: test/in",
                                                           "tracciato: test/fixed")
                   .replace("tracciato: test/out", "tracciato: test/fixed"), encoding="utf-8")
    (tmp_path / "tracciati" / "test" / "fixed.yaml").write_text(FIXED_IN, encoding="utf-8")
    rng = random.Random(100)
    files = {f"s{n:03d}.txt": fixed_file(n, rng.randint(5, 60)) for n in range(100)}
    stop = threading.Event()
    passes: list[int] = []
    begun: list[float] = []  # when each pass began
    gave_back: list[str] = []

    def bridge_passes() -> None:
        while not stop.is_set():  # cron's `bridge run`, as often as it can
            begun.append(time.monotonic())
            got = bridge_cli(cfg, "run", "--log-json")
            passes.append(got.returncode)
            outcomes = [json.loads(line) for line in got.stdout.splitlines()]
            gave_back.extend(str(o["message"]) for o in outcomes if o["state"] == "waiting")

    runner = threading.Thread(target=bridge_passes)
    runner.start()
    try:
        _upload_slowly(shared_sshd, world.inbox, files, rng, lambda: _stall(begun))
        deadline = time.monotonic() + 120
        while len(list((world.erp / "erp").glob("*.TXT"))) < len(files):
            assert time.monotonic() < deadline, "not every upload was delivered"
            time.sleep(0.2)
    finally:
        stop.set()
        runner.join(timeout=120)
    delivered = sorted(p.read_bytes() for p in (world.erp / "erp").glob("*.TXT"))
    assert delivered == sorted(files.values())  # each whole, none half, none twice
    assert not (world.shop / "quarantine").exists()
    assert set(passes) <= {0}
    # the stalls did make half files look stable: bridge took them, saw them incomplete,
    # and gave them back
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(begun)]
    assert len(gave_back) >= 50, (gave_back, f"{len(begun)} passes, begun apart: {gaps}")
    reasons = ("incomplete", "still being written", "changed since it was listed")
    assert all(m.startswith(reasons) for m in gave_back), set(gave_back)
    print(f"\n100 slow uploads: {len(gave_back)} times a stalled half file was looked at "
          "and given back; 0 taken half")


def _stall(begun: list[float]) -> None:
    """A writer that stalls: for twice the window (1 s), and until two passes have begun
    since, so that a pass sees the half files again a window after one first saw them,
    however long a pass takes on a slow machine (bounded: 60 s)."""
    since = time.monotonic()
    while time.monotonic() < since + 60:
        if time.monotonic() - since >= 2.0 and sum(t > since for t in begun) >= 2:
            return
        time.sleep(0.05)


def _upload_slowly(server: Sshd, inbox: Path, files: dict[str, bytes], rng: random.Random,
                   stall: Callable[[], None]) -> None:
    cuts = {name: sorted(rng.sample(range(1, len(data)), 2)) for name, data in files.items()}
    ssh = paramiko.SSHClient()
    ssh.get_host_keys().add(f"[127.0.0.1]:{server.port}", "ssh-ed25519",
                            paramiko.Ed25519Key(data=server.host_blob()))
    ssh.connect("127.0.0.1", port=server.port, username=server.user,
                key_filename=str(server.user_key), look_for_keys=False, allow_agent=False)
    try:
        sftp = ssh.open_sftp()
        handles = {name: sftp.open(str(inbox / name), "wb") for name in files}
        for part in range(3):
            for name, data in files.items():
                a = 0 if part == 0 else cuts[name][part - 1]
                b = cuts[name][part] if part < 2 else len(data)
                handles[name].write(data[a:b])
                handles[name].flush()
            if part < 2:
                stall()
        for h in handles.values():
            h.close()
        sftp.close()
    finally:
        ssh.close()


def test_a_truncated_file_stays_refused_when_its_quarantine_fails_first(tmp_path: Path) -> None:
    cfg = fixed_world(tmp_path, "{window: 0, min_age: 0, max_wait: 0}")
    whole = fixed_file(3, 4)
    (tmp_path / "inbox" / "a.txt").write_bytes(whole[:-22])  # every riga, no coda
    (tmp_path / "quarantine").write_text("a file where the folder should be", encoding="utf-8")
    first = run_pass(load(cfg))
    assert [o.state for o in first.outcomes] == ["retrying"]
    (tmp_path / "quarantine").unlink()
    second = run_pass(load(cfg))
    # the verdict was kept: the cut file is refused, never written as if it were whole
    assert [(o.state, o.issues) for o in second.outcomes] == [("rejected", 1)]
    assert not (tmp_path / "erp").exists()
    assert (tmp_path / "quarantine" / "a.txt").read_bytes() == whole[:-22]
    report = (tmp_path / "quarantine" / "a.txt.issues.csv").read_text(encoding="utf-8-sig")
    assert "truncated-file" in report
