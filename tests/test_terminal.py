"""Escape sequences in file names and contents never reach the operator's terminal.

The attack: a sender names its files, and fills its cells, with terminal escape sequences
(clear the screen, set the window title, the 8-bit CSI) and a right-to-left override; the
operator then runs the everyday commands. Each must print them escaped (ESC as ``\\x1b``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.display import printable
from tests.flowkit import CONFIG, IN, make_world

#: What a terminal obeys: ESC, BEL, CSI (0x9B), the right-to-left override.
STEERING = ("\x1b", "\x07", "\x9b", "\u202e")
HELD = "ok\x9b2J\u202egpj.csv"  # good rows: waits for approval, so `pending` lists it
BAD_NAME = "name\x1b[2J\x07.csv"  # refused for its name, and recorded with it
BAD_DATA = "data\x9b31m.csv"  # refused for its cells: issues that quote them


def assert_escaped(output: str) -> None:
    for bad in STEERING:
        assert bad not in output, (bad, output)
    assert "\\x9b" in output or "\\x1b" in output, output  # shown, as an escape


@pytest.fixture
def world(tmp_path: Path) -> Path:
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0",
                                              "retry_backoff: 0\n    approval: true"))
    inbox = tmp_path / "inbox"
    (inbox / HELD).write_text("codice;descrizione;prezzo;qty\nA1;ok;1,00;1\n",
                              encoding="utf-8")
    (inbox / BAD_NAME).write_text("codice;descrizione;prezzo;qty\nA2;x;1,00;1\n",
                                  encoding="utf-8")
    (inbox / BAD_DATA).write_text("codice;descrizione;prezzo;qty\n"
                                  "A3;x\x1b[8m;1,00;1\x1b]0;t\x07\n", encoding="utf-8")
    return cfg


def test_run_history_pending_and_show_print_names_escaped(world: Path,
                                                          runner: CliRunner) -> None:
    run = runner.invoke(main, ["--config", str(world), "run"])
    assert "held" in run.output and "rejected" in run.output, run.output
    assert_escaped(run.output)
    for args in (["history"], ["pending"], ["show", "1"], ["show", "2"], ["show", "3"]):
        result = runner.invoke(main, ["--config", str(world), *args])
        assert result.exit_code == 0, result.output
        assert_escaped(result.output)


def test_run_log_json_escapes_what_json_dumps_leaves_raw(world: Path,
                                                         runner: CliRunner) -> None:
    (world.parent / "inbox" / BAD_NAME).unlink()
    run = runner.invoke(main, ["--config", str(world), "run", "--log-json"])
    lines = run.output.splitlines()
    assert len(lines) == 2
    for line in lines:
        for bad in STEERING:
            assert bad not in line
    # Escaped, not lost: the JSON still holds the names as sent.
    assert {json.loads(line)["file"] for line in lines} == {HELD, BAD_DATA}


def test_check_prints_the_name_and_values_escaped(tmp_path: Path, runner: CliRunner) -> None:
    layout = tmp_path / "in.yaml"
    layout.write_text(IN, encoding="utf-8")
    evil = tmp_path / BAD_NAME
    evil.write_text("codice;descrizione;prezzo;qty\nA2;x;1,00;1\x1b]0;t\x07\n",
                    encoding="utf-8")
    text = runner.invoke(main, ["check", str(evil), "-t", str(layout)])
    assert text.exit_code == 1
    assert_escaped(text.output)
    (tmp_path / BAD_DATA).write_bytes(evil.read_bytes())
    as_json = runner.invoke(main, ["check", str(tmp_path / BAD_DATA), "-t", str(layout),
                                   "--format", "json"])
    assert not any(bad in as_json.output for bad in STEERING)
    assert json.loads(as_json.output)["file"] == str(tmp_path / BAD_DATA)


def test_check_as_csv_prints_the_values_escaped_and_whole(tmp_path: Path,
                                                          runner: CliRunner) -> None:
    """`check --format csv` printed the sender's cells raw: on a terminal an escape
    sequence in a cell acted on it, and piped to a file, click dropped the sequences it
    knows (`\x1b[2J`) and kept the others: a value neither whole nor safe."""
    layout = tmp_path / "in.yaml"
    layout.write_text(IN, encoding="utf-8")
    evil = tmp_path / "evil.csv"
    evil.write_text("codice;descrizione;prezzo;qty\nA2;x;1,00;1\x1b[2J\x1b]0;t\x07\u202e\x9b1m\n",
                    encoding="utf-8")
    as_csv = runner.invoke(main, ["check", str(evil), "-t", str(layout), "--format", "csv"])
    assert as_csv.exit_code == 1
    assert_escaped(as_csv.output)
    assert "1\\x1b[2J\\x1b]0;t\\x07\\u202e\\x9b1m" in as_csv.output, as_csv.output


@pytest.mark.parametrize(("text", "shown"), [
    ("a\x1b[2Jb", "a\\x1b[2Jb"),
    ("\x9b31m", "\\x9b31m"),
    ("x\x7fy\x00", "x\\x7fy\\x00"),
    ("line\nforged\r", "line\\nforged\\r"),
    ("\u202egpj.exe", "\\u202egpj.exe"),
    ("caffè, 10 €", "caffè, 10 €"),
])
def test_printable(text: str, shown: str) -> None:
    assert printable(text) == shown
