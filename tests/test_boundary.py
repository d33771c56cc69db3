"""The failure boundary is the file, shown through the CLI in a subprocess, as cron runs it.

A value the ERP's file cannot hold, a bug, a broken target: each ends one file in a state a
person can see and act on (rejected with a report, failed, retrying), the other files go
through, the exit code says what happened, and no traceback reaches the terminal.
"""

from __future__ import annotations

import csv
import io
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.flowkit import CONFIG, bridge_cli, make_world, order_file


def poison_world(root: Path) -> Path:
    """The flowkit world, with input codes allowed up to 20 characters (the ERP's fixed-width
    file takes 10)."""
    cfg = make_world(root)
    layout = root / "tracciati" / "test" / "in.yaml"
    layout.write_text(layout.read_text(encoding="utf-8").replace("max_length: 10",
                                                                 "max_length: 20"),
                      encoding="utf-8")
    return cfg


def issues_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


POISONS = {
    # name: (the cell, the line it is on, the field, the code)
    "b_emoji.csv": ("B0001;Conti 😀;1,05;1", 2, "descrizione", "unencodable"),
    "c_sku.csv": ("C000100000000XY;Articolo;1,05;1", 2, "codice", "too-long"),
    "d_crlf.csv": ('D0001;"Riga\r\nmezza";1,05;1', 2, "descrizione", "control-character"),
}


def test_poison_files_are_quarantined_and_the_good_one_goes_through(tmp_path: Path) -> None:
    cfg = poison_world(tmp_path)
    inbox = tmp_path / "inbox"
    (inbox / "a_good.csv").write_text(order_file(1), encoding="utf-8")
    for name, (cells, *_) in POISONS.items():
        (inbox / name).write_bytes(f"codice;descrizione;prezzo;qty\n{cells}\n".encode())
    first = bridge_cli(cfg, "run")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "Traceback" not in first.stdout + first.stderr
    assert sorted(p.name for p in (tmp_path / "erp").iterdir()) == ["ART00001.TXT",
                                                                     "ART00001.TXT.ok"]
    quarantine = tmp_path / "quarantine"
    for name, (cells, line, field, code) in POISONS.items():
        assert (quarantine / name).read_bytes() == (
            f"codice;descrizione;prezzo;qty\n{cells}\n".encode())
        rows = issues_csv(quarantine / f"{name}.issues.csv")
        assert [(r["code"], r["line"], r["field"]) for r in rows] == [(code, str(line), field)]
        assert f"{name}: rejected" in first.stdout
    emoji = issues_csv(quarantine / "b_emoji.csv.issues.csv")[0]
    assert emoji["value"] == "Conti 😀"
    # The next pass has nothing to do, and never touches the refused files again.
    second = bridge_cli(cfg, "run")
    assert (second.returncode, second.stdout.strip()) == (0, "nothing to do")


def test_a_bug_fails_one_file_with_exit_4_and_no_traceback(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    (tmp_path / "inbox" / "b.csv").write_text(order_file(2), encoding="utf-8")
    # The first file meets a "bug" after its plan; the second goes through.
    run = bridge_cli(cfg, "run", env={"BRIDGE_RAISE_AT": "after-plan:1"})
    assert run.returncode == 4, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert "a.csv: failed (file 1)" in run.stdout and "InjectedFault" in run.stdout
    assert "b.csv: done" in run.stdout
    saved = tmp_path / "state" / "work" / "1" / "error.txt"
    assert "Traceback" in saved.read_text(encoding="utf-8")
    assert "InjectedFault" in (tmp_path / "state" / "bridge.log").read_text(encoding="utf-8")
    # Never retried blindly: the next pass leaves it alone...
    again = bridge_cli(cfg, "run")
    assert (again.returncode, again.stdout.strip()) == (0, "nothing to do")
    story = bridge_cli(cfg, "show", "1")
    assert "state failed" in story.stdout and "internal-error" in story.stdout
    assert "a.csv" in bridge_cli(cfg, "pending").stdout
    # ...until an operator asks: then it is written under the name planned for it.
    retry = bridge_cli(cfg, "retry", "1")
    assert retry.returncode == 0, retry.stdout + retry.stderr
    assert "a.csv: done" in retry.stdout and "ART00001.TXT" in retry.stdout
    assert sorted(p.name for p in (tmp_path / "erp").glob("*.TXT")) == ["ART00001.TXT",
                                                                        "ART00002.TXT"]


def test_every_state_that_is_not_final_can_be_cleared(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0", "retry_backoff: 3600"))
    inbox = tmp_path / "inbox"
    (tmp_path / "erp").write_text("a file where the folder should be", encoding="utf-8")
    (inbox / "a.csv").write_text(order_file(1), encoding="utf-8")
    first = bridge_cli(cfg, "run")
    assert first.returncode == 3 and "a.csv: retrying (file 1)" in first.stdout
    (inbox / "b.csv").write_text(order_file(2), encoding="utf-8")
    # b waits behind a: a's outputs are planned, not written (order is kept)
    waits = bridge_cli(cfg, "run")
    assert waits.returncode == 3 and "waits behind file 1" in waits.stderr
    assert (inbox / "b.csv").exists()
    refused = bridge_cli(cfg, "reject", "1", "--reason", "the ERP folder is broken")
    assert refused.returncode == 0, refused.stdout + refused.stderr
    assert (tmp_path / "quarantine" / "a.csv").read_text(encoding="utf-8") == order_file(1)
    report = (tmp_path / "quarantine" / "a.csv.report.html").read_text(encoding="utf-8")
    assert "the ERP folder is broken" in report
    (tmp_path / "erp").unlink()
    after = bridge_cli(cfg, "run")
    assert after.returncode == 0 and "b.csv: done" in after.stdout
    # a rejected file is final: nothing more can be done to it
    final = bridge_cli(cfg, "reject", "1", "--reason", "again")
    assert final.returncode == 2 and "cannot be rejected" in final.stderr
    assert bridge_cli(cfg, "retry", "1").returncode == 2


def test_a_held_file_can_be_retried_and_rejected(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0",
                                              "retry_backoff: 0\n    approval: true"))
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 1
    again = bridge_cli(cfg, "retry", "1")
    assert again.returncode == 1 and "a.csv: held" in again.stdout
    no = bridge_cli(cfg, "reject", "1", "--reason", "not today")
    assert no.returncode == 0
    assert "operator-rejected" in bridge_cli(cfg, "show", "1").stdout


def test_commands_never_end_in_a_traceback(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert bridge_cli(cfg, "run").returncode == 0
    for args, code, says in [
        (("show", "99999"), 2, "no file '99999'"),
        (("replay", "--flow", "articoli", "--since", "02/12/2026"), 2, "YYYY-MM-DD"),
        (("replay", "99999"), 2, "no file 99999"),
        (("retry", "99999"), 2, "no file 99999"),
        (("approve", "1"), 2, "not held"),
        (("run", "--flow", "nothing"), 2, "no flow named"),
    ]:
        got = bridge_cli(cfg, *args)
        assert (got.returncode, "Traceback" in got.stdout + got.stderr) == (code, False), args
        assert says in got.stderr, (args, got.stderr)
        assert len(got.stderr.strip().splitlines()) == 1, got.stderr


def test_a_damaged_ledger_is_a_disk_failure(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "ledger.sqlite").write_bytes(os.urandom(8192))
    got = bridge_cli(cfg, "run")
    assert got.returncode == 3 and "Traceback" not in got.stderr
    assert got.stderr.startswith("error: ledger ")


def _small_files() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_a_full_disk_in_the_work_area_is_transient(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    # The ledger made first, without the limit: its migrations fill a write-ahead log of
    # about 150 kB, folded into the database when the run ends. The full disk is the work
    # area's, not the ledger's.
    assert bridge_cli(cfg, "run").returncode == 0
    assert not (tmp_path / "state" / "ledger.sqlite-wal").exists()
    (tmp_path / "inbox" / "big.csv").write_text(order_file(1, rows=6000), encoding="utf-8")
    assert (tmp_path / "inbox" / "big.csv").stat().st_size > 200_000
    # Files may not grow past 200 kB: the download into the work area fails (EFBIG).
    got = subprocess.run([sys.executable, "-m", "bridge", "--config", str(cfg), "run"],
                         capture_output=True, text=True, timeout=120,
                         preexec_fn=_small_files, check=False)
    assert got.returncode == 3, got.stdout + got.stderr
    assert "Traceback" not in got.stdout + got.stderr
    assert "big.csv: retrying" in got.stdout
    # with room again, the same bytes go through
    fixed = bridge_cli(cfg, "run")
    assert fixed.returncode == 0 and "big.csv: done" in fixed.stdout


def test_ctrl_c_stops_watch_with_130(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "watch",
                             "--interval", "0.2"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "state" / "ledger.sqlite").exists():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "bridge watch started" in err and "bridge watch stopped" in err


@pytest.mark.parametrize("command", [("run",), ("watch", "--passes", "2", "--interval", "0")])
def test_an_unreachable_source_is_exit_3_and_logged(tmp_path: Path, command: tuple[str, ...]
                                                    ) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("flows:", """connections:
  shop: {type: sftp, host: 127.0.0.1, port: 9, user: nobody, password: x,
         insecure_skip_host_key_check: true, timeout: 5}
flows:""").replace("      folder: inbox", "      connection: shop\n      folder: inbox"))
    got = bridge_cli(cfg, *command)
    assert got.returncode == 3, got.stdout + got.stderr
    assert "Traceback" not in got.stdout + got.stderr
    assert "127.0.0.1" in got.stderr
    if command[0] == "watch":
        # every line has a time and a level; the same error is not logged twice in a row
        lines = [ln for ln in got.stderr.splitlines() if ln.strip()]
        assert all(ln[:4].isdigit() and ln[4] == "-" for ln in lines), got.stderr
        assert sum("ERROR" in ln for ln in lines) == 1


def test_skip_rows_with_a_misspelt_group_column_refuses_the_file(tmp_path: Path) -> None:
    """skip-rows drops the groups of bad rows; with the group's own column missing from the
    header, no group can be told apart: the whole file is refused, with its report."""
    from bridge.config import load
    from bridge.engine.runner import run_pass
    from tests.conftest import ROOT

    (tmp_path / "inbox").mkdir()
    cfg = tmp_path / "bridge.yaml"
    from tests.test_caps_measured import CONFIG

    one_line = "    tracciato: shopify/ordini\n"
    assert one_line in CONFIG
    cfg.write_text(CONFIG.replace(one_line, one_line + "    on_bad_rows: skip-rows\n"),
                   encoding="utf-8")
    sample = (ROOT / "samples" / "tracciati" / "shopify" / "ordini.csv").read_bytes()
    assert sample.startswith(b"Name,")
    (tmp_path / "inbox" / "a.csv").write_bytes(b"Nmae," + sample[5:])
    result = run_pass(load(cfg))
    assert [(o.state, o.issues) for o in result.outcomes] == [("rejected", 1)]
    assert "bad-header" in (tmp_path / "quarantine" / "a.csv.issues.csv").read_text(
        encoding="utf-8-sig")
    assert not (tmp_path / "out").exists()


def test_watch_stops_with_2_on_a_configuration_error(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("tracciato: test/out", "tracciato: test/nowhere"))
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    got = bridge_cli(cfg, "watch", "--interval", "0.1")
    assert got.returncode == 2, got.stderr
    assert "test/nowhere" in got.stderr and "bridge watch stops" in got.stderr
    assert "Traceback" not in got.stderr


def test_watch_says_it_is_alive(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    got = bridge_cli(cfg, "watch", "--passes", "3", "--interval", "0.1", "--heartbeat", "0")
    assert got.returncode == 0, got.stderr
    lines = got.stderr.splitlines()
    assert "INFO    bridge watch started: 1 flow(s) (articoli)" in lines[0]
    assert "[articoli] a.csv: done" in got.stderr
    assert sum("alive: " in ln for ln in lines) == 2  # after the first and second passes
    assert "bridge watch stopped after 3 passes" in lines[-1]
    log = (tmp_path / "state" / "bridge.log").read_text(encoding="utf-8")
    assert "a.csv: done" in log


LEDGER_ON_A_FULL_DISK = """
import resource, signal, sys
from pathlib import Path
from bridge.errors import TransientError
from bridge.ledger import open_ledger
folder = Path(sys.argv[1])
ledger = open_ledger(folder / "ledger.sqlite")
run = ledger.start_run(1.0, "run")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
room = max(p.stat().st_size for p in folder.iterdir())
resource.setrlimit(resource.RLIMIT_FSIZE, (room, resource.RLIM_INFINITY))
try:
    for i in range(2000):
        ledger.claim("f", "x" * 3000 + str(i), 1, 1.0, run, 1.0)
except TransientError as exc:
    print("transient:", exc)
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
print("after:", ledger.claim("f", "again", 1, 1.0, run, 1.0).state)
"""


def test_a_ledger_write_on_a_full_disk_is_transient_and_the_ledger_goes_on(
        tmp_path: Path) -> None:
    # SQLite rolls the transaction back by itself when its file cannot grow: the
    # ledger's own rollback must not turn that into an internal error.
    got = subprocess.run([sys.executable, "-c", LEDGER_ON_A_FULL_DISK, str(tmp_path)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert got.returncode == 0, got.stderr
    assert got.stdout.splitlines() == ["transient: ledger: disk I/O error", "after: claimed"]
