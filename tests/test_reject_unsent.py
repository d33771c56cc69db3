"""An operator rejects a file whose delivery failed, after a later file of its flow skipped
its business keys as already sent: those orders are named, and sent once, never twice."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.ledger import open_ledger
from tests.flowkit import CONFIG, bridge_cli, make_world, order_file

#: The shop's export again: the three orders of a.csv, changed since, and two new ones.
AGAIN = ("codice;descrizione;prezzo;qty\n"
         "A00010;di nuovo 0;1,05;1\nA00011;di nuovo 1;1,15;2\nA00012;di nuovo 2;1,25;3\n"
         "B1;nuovo 1;2,00;1\nB2;nuovo 2;3,50;4\n")


FOREIGN = b"someone else's"


def line(code: str, text: str, cents: int, qty: int) -> bytes:
    """One record of the ERP's fixed-width file (tests/flowkit's OUT)."""
    return (code.ljust(10) + text.ljust(30) + f"{cents:010d}" + f"{qty:05d}").encode("cp1252")


def erp(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "erp").iterdir())}


def codes(files: dict[str, bytes]) -> list[bytes]:
    """The article codes of bridge's outputs (the foreign file aside), each as often as
    it reached the ERP."""
    return sorted(rec[:10].strip() for name, data in files.items()
                  if name.endswith(".TXT") and data != FOREIGN
                  for rec in data.split(b"\r\n") if rec)


def failed_then_skipped(tmp_path: Path, runner: CliRunner, again: str,
                        earlier: str | None = None) -> Path:
    """a.csv (file 1) planned, its keys recorded, its output never written (the ERP's
    folder holds a foreign file under its name), failed out of attempts (it no longer holds
    its flow: it waits for a person); then b.csv (file 2), ``again``, done. ``earlier``: a
    file done before them all (then a.csv is file 2, b.csv file 3)."""
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0",
                                              "retry_backoff: 0\n    max_attempts: 1"))
    (tmp_path / "erp").mkdir()
    if earlier is not None:
        (tmp_path / "inbox" / "0.csv").write_text(earlier, encoding="utf-8")
        assert runner.invoke(main, ["--config", str(cfg), "run"]).exit_code == 0
    # a.csv's output is the next name
    (tmp_path / "erp" / f"ART{len(erp(tmp_path)) // 2 + 1:05d}.TXT").write_bytes(FOREIGN)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    first = runner.invoke(main, ["--config", str(cfg), "run"])
    assert first.exit_code == 3, first.output
    (tmp_path / "inbox" / "b.csv").write_text(again, encoding="utf-8")
    second = runner.invoke(main, ["--config", str(cfg), "run"])
    assert second.exit_code == 0, second.output
    ledger = open_ledger(load(cfg).path(load(cfg).ledger))
    try:
        assert [(f.path, f.state) for f in ledger.files()][-2:] == [
            ("a.csv", "failed"), ("b.csv", "done")]
    finally:
        ledger.close()
    return cfg


def test_orders_a_later_file_skipped_are_named_at_reject_and_sent_once_by_replay(
        tmp_path: Path, runner: CliRunner) -> None:
    cfg = failed_then_skipped(tmp_path, runner, AGAIN)
    before = erp(tmp_path)
    assert codes(before) == [b"B1", b"B2"]  # b.csv skipped a.csv's orders: already sent

    rejected = runner.invoke(main, ["--config", str(cfg), "reject", "1",
                                    "--reason", "the ERP folder had a foreign file"])
    assert rejected.exit_code == 1, rejected.output
    assert ("left unsent: file 2 (b.csv) skipped 3 key(s) of file 1 as already-sent "
            "('A00010', 'A00011', 'A00012'): they reach no target now; "
            "`bridge replay 2 --unsent` sends them, and no key twice") in rejected.output
    story = runner.invoke(main, ["--config", str(cfg), "show", "1"]).output
    assert "left-unsent" in story and "bridge replay 2 --unsent" in story
    assert erp(tmp_path) == before

    sent = runner.invoke(main, ["--config", str(cfg), "replay", "2", "--unsent"])
    assert sent.exit_code == 0, sent.output
    after = erp(tmp_path)
    new = {n: b for n, b in after.items() if n not in before}
    assert new == {
        "ART00003.TXT": b"\r\n".join([line("A00010", "di nuovo 0", 105, 1),
                                      line("A00011", "di nuovo 1", 115, 2),
                                      line("A00012", "di nuovo 2", 125, 3)]) + b"\r\n",
        "ART00003.TXT.ok": b"3\n"}
    assert {n: after[n] for n in before} == before
    assert codes(after) == [b"A00010", b"A00011", b"A00012", b"B1", b"B2"]  # each once

    # Once more: every key is held now, so nothing is sent again.
    again = runner.invoke(main, ["--config", str(cfg), "replay", "2", "--unsent"])
    assert again.exit_code == 0, again.output
    assert codes(erp(tmp_path)) == codes(after)


def test_a_reject_no_later_file_skipped_from_says_nothing_more(
        tmp_path: Path, runner: CliRunner) -> None:
    """b.csv skips a key, but one an earlier file sent and still holds: rejecting a.csv
    leaves nothing unsent, and says nothing more."""
    cfg = failed_then_skipped(tmp_path, runner, "codice;descrizione;prezzo;qty\n"
                                                "A00010;di nuovo 0;1,05;1\nB1;nuovo 1;2,00;1\n",
                              earlier="codice;descrizione;prezzo;qty\nA00010;prima;1,05;1\n")
    rejected = runner.invoke(main, ["--config", str(cfg), "reject", "2", "--reason", "no"])
    assert rejected.exit_code == 0, rejected.output
    assert "left unsent" not in rejected.output
    assert "left-unsent" not in runner.invoke(main, ["--config", str(cfg), "show", "2"]).output
    assert "already-sent" in runner.invoke(main, ["--config", str(cfg), "show", "3"]).output
    assert codes(erp(tmp_path)) == [b"A00010", b"B1"]


def test_a_later_file_rejected_itself_is_not_to_be_replayed(tmp_path: Path,
                                                            runner: CliRunner) -> None:
    """b.csv refused by the operator on purpose (wrong prices), then a.csv rejected: the
    warning told to `replay 2 --unsent`, which sent all five rows of the refused b.csv to
    the ERP, its own orders with a.csv's (found by a review). A file rejected itself is
    not named; `replay --unsent` of a file that is not done is refused."""
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0",
                                              "retry_backoff: 0\n    max_attempts: 1"))
    args = ["--config", str(cfg)]
    (tmp_path / "erp").mkdir()
    for name in ("ART00001.TXT", "ART00002.TXT"):  # both files fail, out of attempts
        (tmp_path / "erp" / name).write_bytes(FOREIGN)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert runner.invoke(main, [*args, "run"]).exit_code == 3
    (tmp_path / "inbox" / "b.csv").write_text(AGAIN, encoding="utf-8")
    assert runner.invoke(main, [*args, "run"]).exit_code == 3
    assert runner.invoke(main, [*args, "reject", "2", "--reason", "wrong prices"]
                         ).exit_code == 0
    got = runner.invoke(main, [*args, "reject", "1", "--reason", "a foreign file"])
    assert got.exit_code == 0 and "left unsent" not in got.output, got.output
    before = erp(tmp_path)
    refused = runner.invoke(main, [*args, "replay", "2", "--unsent"])
    assert refused.exit_code == 2, refused.output
    assert "file 2 (b.csv) is rejected: --unsent sends the rows no file holds" in \
        refused.output
    assert erp(tmp_path) == before


@pytest.mark.sqlite_only  # bridge killed in a child process
def test_a_reject_killed_once_the_keys_are_forgotten_leaves_nothing_to_send_twice(
        tmp_path: Path, runner: CliRunner) -> None:
    """`bridge reject` killed (a power cut) once a.csv's keys were forgotten. It was still
    failed, not rejected: the operator, its output's folder freed, ran `bridge retry 1`,
    which finished it as done with nothing written (its outputs abandoned by the reject):
    a file done whose orders never reached the ERP, and the reject run again was refused
    for a file done. Forgotten and rejected in one step: the retry is refused, the file is
    rejected, its orders go once (with the shop's next export), and the reject run again
    points to the advice kept in the ledger, once."""
    cfg = failed_then_skipped(tmp_path, runner, AGAIN)
    killed = bridge_cli(cfg, "reject", "1", "--reason", "a foreign file",
                        env={"BRIDGE_KILL_AT": "after-reject:1"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    (tmp_path / "erp" / "ART00001.TXT").unlink()  # the foreign file taken away
    bridge_cli(cfg, "retry", "1")
    (tmp_path / "inbox" / "c.csv").write_text(AGAIN.replace("di nuovo", "ancora"),
                                              encoding="utf-8")
    bridge_cli(cfg, "run")
    assert bridge_cli(cfg, "replay", "2", "--unsent").returncode == 0
    assert codes(erp(tmp_path)) == [b"A00010", b"A00011", b"A00012", b"B1", b"B2"]
    again = bridge_cli(cfg, "reject", "1", "--reason", "a foreign file")
    assert again.returncode == 2, again.stdout + again.stderr
    assert "left orders of later files unsent: `bridge show 1` names them" in again.stderr, \
        again.stderr
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ledger.get(1).state == "rejected"
        assert [i.code for i in ledger.issues(1)].count("left-unsent") == 1
    finally:
        ledger.close()


@pytest.mark.sqlite_only  # bridge killed in a child process
def test_a_reject_killed_before_its_end_names_what_is_left_unsent_when_run_again(
        tmp_path: Path, runner: CliRunner) -> None:
    """Killed after its advice was recorded and the file quarantined, before the file was
    rejected: run again, the reject names the orders left unsent (exit 1), each once."""
    cfg = failed_then_skipped(tmp_path, runner, AGAIN)
    killed = bridge_cli(cfg, "reject", "1", "--reason", "a foreign file",
                        env={"BRIDGE_KILL_AT": "before-reject:1"})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    again = bridge_cli(cfg, "reject", "1", "--reason", "a foreign file")
    assert again.returncode == 1, again.stdout + again.stderr
    assert ("left unsent: file 2 (b.csv) skipped 3 key(s) of file 1 as already-sent "
            "('A00010', 'A00011', 'A00012'): they reach no target now; "
            "`bridge replay 2 --unsent` sends them, and no key twice") in again.stdout
    c = load(cfg)
    ledger = open_ledger(c.path(c.ledger))
    try:
        assert ledger.get(1).state == "rejected"
        assert [i.code for i in ledger.issues(1)].count("left-unsent") == 1
        assert [i.code for i in ledger.issues(1)].count("operator-rejected") == 1
    finally:
        ledger.close()
    assert bridge_cli(cfg, "replay", "2", "--unsent").returncode == 0
    assert codes(erp(tmp_path)) == [b"A00010", b"A00011", b"A00012", b"B1", b"B2"]
