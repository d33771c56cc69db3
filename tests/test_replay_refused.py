"""`bridge replay` of a file bridge never read: a link or a FIFO under the flow's name
(``not-a-file``), or a name it cannot handle (``bad-file-name``). There is nothing to replay
from, and the refusal said why wrongly: the work copy 'pruned by retention, or removed'.
It now says the file was never read, why, and what brings it in."""

from __future__ import annotations

import os
from pathlib import Path

from click.testing import CliRunner

from bridge.cli import main
from bridge.ledger import open_ledger
from tests.flowkit import make_world, order_file


def test_replay_of_a_file_never_read_says_why(tmp_path: Path, runner: CliRunner) -> None:
    cfg = make_world(tmp_path)
    inbox = tmp_path / "inbox"
    (tmp_path / "elsewhere.csv").write_text(order_file(9), encoding="utf-8")
    (inbox / "link.csv").symlink_to(tmp_path / "elsewhere.csv")
    with open(os.fsencode(inbox) + b"/ordini\xe8.csv", "wb") as f:  # not UTF-8
        f.write(order_file(1).encode())
    first = runner.invoke(main, ["--config", str(cfg), "run"])
    assert first.exit_code == 1, first.output
    ledger = open_ledger(tmp_path / "state" / "ledger.sqlite")
    try:
        ids = {r.path: r.id for r in ledger.files(states=frozenset({"rejected"}))}
    finally:
        ledger.close()
    assert sorted(ids) == ["link.csv", "ordini\\xe8.csv"]
    for path, why, fix in (("link.csv", "not a file", "put the file itself in its place"),
                           ("ordini\\xe8.csv", "name", "rename it")):
        got = runner.invoke(main, ["--config", str(cfg), "replay", str(ids[path])])
        assert got.exit_code == 2, got.output
        assert "retention" not in got.output and "removed" not in got.output, got.output
        assert "never read" in got.output, got.output
        assert why in got.output and fix in got.output, got.output
        assert path in got.output, got.output
