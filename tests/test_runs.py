"""Runs over time: slow writers, watch mode with signals, replays."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.ledger import open_ledger
from tests.flowkit import CONFIG, bridge_cli, make_world, order_file


def test_a_slow_writer_is_not_taken_until_complete(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("ready: {window: 0, min_age: 0}",
                                              "ready: {window: 1.5, min_age: 0.5}"))
    text = order_file(1, rows=8)
    lines = text.splitlines(keepends=True)
    target = tmp_path / "inbox" / "slow.csv"

    def writer() -> None:
        with target.open("w", encoding="utf-8") as f:
            for line in lines:  # pauses longer than a poll, shorter than the window
                f.write(line)
                f.flush()
                time.sleep(0.4)

    thread = threading.Thread(target=writer)
    thread.start()
    taken_at = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and taken_at is None:
        result = run_pass(load(cfg))
        if result.outcomes:
            taken_at = time.monotonic()
            assert [o.state for o in result.outcomes] == ["done"]
        time.sleep(0.2)
    thread.join()
    assert taken_at is not None
    out = (tmp_path / "erp" / "ART00001.TXT").read_bytes().split(b"\r\n")
    assert len([line for line in out if line]) == 8  # every row, none cut


def test_watch_wakes_on_a_new_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "watch",
                             "--interval", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(2.0)  # the first pass finds nothing; the next one waits 60 s or an event
        (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
        out = tmp_path / "erp" / "ART00001.TXT"
        deadline = time.monotonic() + 20
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert out.exists(), "watch did not take the new file before the poll interval"
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert "a.csv: done" in output


@pytest.mark.sqlite_only  # bridge in a child process, after a pass here
def test_watch_is_not_woken_by_the_reads_of_its_own_passes(tmp_path: Path) -> None:
    """The sample's ERP exports are a watched source folder and the reference tables its
    passes read: each read (an open, a close without a write) woke watch for another pass,
    about 20 passes a second, for ever. Now only a change wakes it."""

    from tests.test_samples import sample_copy

    cfg = sample_copy(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        "ready: {window: 5, min_age: 5}", "ready: {window: 0, min_age: 0}"), encoding="utf-8")
    assert run_pass(load(cfg)).outcomes  # everything taken: nothing left to do
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "watch",
                             "--interval", "60"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(6.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    [stopped] = [ln for ln in output.splitlines() if "bridge watch stopped after" in ln]
    passes = int(stopped.split("stopped after ")[1].split()[0])
    assert 1 <= passes <= 3, output  # the first pass, and none woken by its own reads


def until_logged(proc: subprocess.Popen[str], log: Path, text: str, times: int) -> None:
    """Until ``text`` is in ``log`` ``times`` times (30 s at most) or ``proc`` ended, then
    a second more: a pass or two of watch after it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None and (
            not log.exists() or log.read_text(encoding="utf-8").count(text) < times):
        time.sleep(0.2)
    time.sleep(1.0)


def until_gone(path: Path) -> None:
    """Until ``path`` is taken (30 s at most)."""
    deadline = time.monotonic() + 30
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def stopped(proc: subprocess.Popen[str]) -> str:
    """``proc`` (a watch) ended by SIGTERM, as systemd stops it: what it printed."""
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    return output


@pytest.mark.sqlite_only  # bridge in a child process, after a pass here
def test_watch_waits_out_a_reference_table_the_erp_is_rewriting(tmp_path: Path) -> None:
    """The ERP's article master gone for a moment (rewritten), then back: watch stopped
    with exit 2 for good, as for a mistake of the configuration, and no file of the flows
    that look it up was taken again until someone restarted it. Now it says so, once,
    and takes the next orders file once the master is back."""
    import shutil

    from tests.test_samples import sample_copy

    cfg = sample_copy(tmp_path)
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        "ready: {window: 5, min_age: 5}", "ready: {window: 0, min_age: 0}"), encoding="utf-8")
    assert run_pass(load(cfg)).outcomes
    master = cfg.parent / "erp-exports" / "articoli.csv"
    away = tmp_path / "articoli.csv"
    shutil.move(master, away)
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "watch",
                             "--interval", "0.5"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    orders = cfg.parent / "inbox" / "shopify" / "orders_export_2.csv"
    log = load(cfg).log_path()
    try:
        # Until each of the three flows that look the master up has met it missing (a
        # fixed sleep was too short on a busy machine); a pass every 0.5 s.
        until_logged(proc, log, "cannot read", 3)
        assert proc.poll() is None, "watch stopped on a missing reference table"
        shutil.move(away, master)
        orders.write_bytes((SAMPLE_ORDERS).read_bytes().replace(b"#200", b"#300"))
        until_gone(orders)
    finally:
        output = stopped(proc)
    assert proc.returncode == 0, output
    assert "orders_export_2.csv: done" in output, output
    assert output.count("cannot read") == 3, output  # each flow that looks it up, once


@pytest.mark.sqlite_only  # bridge in a child process, after a pass here
@pytest.mark.parametrize("changed", [False, True], ids=["as-checked", "checked-again"])
def test_watch_waits_out_a_local_source_folder_that_goes_away(tmp_path: Path,
                                                             changed: bool) -> None:
    """The shop's drop folder gone for a moment while watch runs (a share mounted again, a
    sync tool that makes the folder again): watch stopped with exit 2 for good, as for a
    mistake of the configuration, and systemd does not restart it after a 2, so no file was
    taken again until someone came. Now it says so, once, and takes the next file once the
    folder is back; a single run still exits 2. ``changed``: a file the flow's check reads
    changed meanwhile (the ERP rewrites its reference tables every night), so the check
    runs again and finds the folder missing: waited out too (found by a review)."""
    cfg = make_world(tmp_path)
    inbox, away = tmp_path / "inbox", tmp_path / "inbox.away"
    (inbox / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["done"]  # checked, known good
    inbox.rename(away)
    if changed:
        layout = tmp_path / "tracciati" / "test" / "in.yaml"
        os.utime(layout, ns=(layout.stat().st_atime_ns, layout.stat().st_mtime_ns + 10**9))
    assert bridge_cli(cfg, "run").returncode == 2
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "watch",
                             "--interval", "0.3"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    log = load(cfg).log_path()
    try:
        # Until watch has met the folder missing (a pass every 0.3 s; the run above said it
        # once in the log already)
        until_logged(proc, log, "does not exist", 2)
        assert proc.poll() is None, "watch stopped on a source folder gone for a moment"
        away.rename(inbox)
        (inbox / "b.csv").write_text(order_file(2), encoding="utf-8")
        until_gone(inbox / "b.csv")
    finally:
        output = stopped(proc)
    assert proc.returncode == 0, output
    assert "b.csv: done" in output, output
    assert output.count(f"the source folder '{inbox}' does not exist") == 1, output
    assert sorted(p.name for p in (tmp_path / "erp").iterdir()) == [
        "ART00001.TXT", "ART00001.TXT.ok", "ART00002.TXT", "ART00002.TXT.ok"]


SAMPLE_ORDERS = Path(__file__).parent.parent / "samples" / "inbox" / "shopify" / \
    "orders_export_1.csv"


def test_replay_links_new_outputs_and_dry_run_shows_the_difference(
        tmp_path: Path, runner: CliRunner) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    run_pass(load(cfg))
    args = ["--config", str(cfg), "replay"]
    same = runner.invoke(main, [*args, "1", "--dry-run"])
    assert same.exit_code == 0, same.output
    assert "ART00001.TXT: identical; a replay writes its 3 rows again, in a new file" \
        in same.output, same.output
    # The ERP's layout changes: a dry run shows what a replay would write differently.
    out_yaml = tmp_path / "tracciati" / "test" / "out.yaml"
    out_yaml.write_text(out_yaml.read_text().replace("start: 51, length: 5",
                                                     "start: 51, length: 5, pad: ' '"))
    diff = runner.invoke(main, [*args, "1", "--dry-run"])
    assert "-A00010" in diff.output and "+A00010" in diff.output
    assert sorted(p.name for p in (tmp_path / "erp").iterdir()) == ["ART00001.TXT",
                                                                    "ART00001.TXT.ok"]
    real = runner.invoke(main, [*args, "1"])
    assert real.exit_code == 0, real.output
    assert "ART00002.TXT" in real.output
    ledger = open_ledger(load(cfg).path(load(cfg).ledger))
    again = ledger.get(2)
    assert (again.replay_of, again.state) == (1, "done")
    assert (tmp_path / "erp" / "ART00002.TXT").read_bytes().split(b"\r\n")[0].endswith(b"    1")
    by_flow = runner.invoke(main, [*args, "--flow", "articoli", "--since", "2000-01-01",
                                   "--dry-run"])
    assert by_flow.exit_code == 0 and "file 1 (a.csv)" in by_flow.output


def test_a_replay_of_files_one_of_them_pruned_replays_none(
        tmp_path: Path, runner: CliRunner) -> None:
    """`bridge replay 2 1`, file 1's copy pruned by the retention: refused before file 2 is
    replayed. Stopping at file 1 had left file 2 replayed under an error (exit 2), and the
    operator who ran the command again once file 1 was left out sent file 2's rows twice."""
    cfg = make_world(tmp_path)
    t0, day = 1_800_000_000.0, 86400.0
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    run_pass(load(cfg), clock=lambda: t0)
    (tmp_path / "inbox" / "b.csv").write_text(order_file(2), encoding="utf-8")
    run_pass(load(cfg), clock=lambda: t0 + 31 * day)  # its end prunes file 1's copy
    assert not (tmp_path / "state" / "work" / "1").exists()
    erp = sorted(p.name for p in (tmp_path / "erp").iterdir())
    result = runner.invoke(main, ["--config", str(cfg), "replay", "2", "1"])
    assert result.exit_code == 2, result.output
    assert "file 1 (a.csv): no copy kept to replay from" in result.output
    assert sorted(p.name for p in (tmp_path / "erp").iterdir()) == erp  # nothing written
    ledger = open_ledger(load(cfg).path(load(cfg).ledger))
    assert [f.id for f in ledger.files()] == [1, 2]  # no replay begun
    # by flow, the pruned file is skipped and said; the others are replayed
    by_flow = runner.invoke(main, ["--config", str(cfg), "replay", "--flow", "articoli",
                                   "--since", "2000-01-01"])
    assert by_flow.exit_code == 0, by_flow.output
    assert "file 1 (a.csv): skipped: file 1 (a.csv): no copy kept" in by_flow.output
    assert [(f.replay_of, f.state) for f in ledger.files()][2:] == [(2, "done")]


def test_dry_run_writes_nothing(tmp_path: Path, runner: CliRunner) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    result = runner.invoke(main, ["--config", str(cfg), "run", "--dry-run"])
    assert result.exit_code == 0
    assert "a.csv: ready" in result.output
    assert not (tmp_path / "erp").exists()
    assert (tmp_path / "inbox" / "a.csv").exists()
    assert os.listdir(tmp_path / "inbox") == ["a.csv"]


@pytest.mark.sqlite_only
def test_a_long_replay_on_a_terminal_keeps_its_lines_whole(tmp_path: Path) -> None:
    """On a terminal, 25 replays show a progress bar with a count and an ETA; each result
    line is printed above it, through the bar's console, in one piece."""
    import pty
    import re

    cfg = make_world(tmp_path)
    for n in range(25):  # big enough for the bar to be redrawn while each is replayed
        (tmp_path / "inbox" / f"o{n:02d}.csv").write_text(order_file(n, rows=1000),
                                                          encoding="utf-8")
    assert len(run_pass(load(cfg)).outcomes) == 25
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "160"}
    child = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "replay",
                              "--flow", "articoli", "--since", "2000-01-01"],
                             stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert child.wait(timeout=60) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode("utf-8", "replace"))
    whole = re.findall(r"\[articoli\] o(\d\d)\.csv: done; -> ART\d{5}\.TXT \(1000 rows\)", text)
    assert sorted(whole) == [f"{n:02d}" for n in range(25)], text[-2000:]
    assert "replaying" in text and "/25" in text  # the bar was there, with its count


@pytest.mark.sqlite_only  # bridge in a child process
def test_watch_stops_on_a_source_folder_that_never_was(tmp_path: Path) -> None:
    """A folder missing when the flow was never checked good (a typo) is a mistake of the
    configuration: watch stops with exit 2, as before."""
    cfg = make_world(tmp_path)
    (tmp_path / "inbox").rmdir()
    got = bridge_cli(cfg, "watch", "--interval", "0.3", timeout=60)
    assert got.returncode == 2, got.stdout + got.stderr
    assert "configuration error: bridge watch stops" in got.stdout + got.stderr
