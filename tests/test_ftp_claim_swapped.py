"""On an FTP server, a file claimed (renamed to ``.bridge-claim-N``) and then swapped for a
link leading out of the server's root: the server refuses STAT, SIZE and RETR of it, so
bridge took the file as gone, dropped its claim, and the link stayed under the claim name,
said nowhere: the sender's file was lost from view. It is now recorded once, its name and
what became of it said by the run and by `bridge status --check`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.ledger import CLAIM_PREFIX, open_ledger
from tests.flowkit import make_world, order_file
from tests.flowkit.spy import Spying

pytest.importorskip("pyftpdlib")

from tests.ftpd import PASSWORD, USER
from tests.test_ftp import FLOW
from tests.test_ftp_not_files import serving


def issues_of(ledger_file: Path) -> dict[str, list[str]]:
    ledger = open_ledger(ledger_file)
    try:
        return {r.path: [i.code for i in ledger.issues(r.id)] for r in ledger.files()}
    finally:
        ledger.close()


@pytest.mark.parametrize("mlsd", [True, False], ids=["mlsd", "list"])
@pytest.mark.parametrize("op", ["download", "stat"])
def test_a_claimed_file_swapped_for_a_link_out_of_the_root_is_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CliRunner, mlsd: bool,
        op: str) -> None:
    monkeypatch.setenv("BRIDGE_TEST_FTP_PASSWORD", PASSWORD)
    home = tmp_path / "ftp"
    (home / "inbox").mkdir(parents=True)
    (home / "inbox" / "a.csv").write_text(order_file(1, 2), encoding="utf-8")
    (tmp_path / "outside.csv").write_text(order_file(9, 2), encoding="utf-8")
    swapped: list[Path] = []

    def hook(connection: str, what: str, n: int, args: tuple[object, ...]) -> None:
        held = home / str(args[0]) / str(args[-1])
        if (what == op and not swapped and held.name.startswith(CLAIM_PREFIX)
                and held.exists()):  # claimed: now a link out of the server's root
            held.unlink()
            held.symlink_to(tmp_path / "outside.csv")
            swapped.append(held)

    with serving(home, mlsd=mlsd) as server:
        cfg = make_world(tmp_path / "bridge", FLOW.format(port=server.port, user=USER,
                                                          ready="window: 0, min_age: 0"))
        first = run_pass(load(cfg), connect=Spying(hook))
        second = run_pass(load(cfg))
        third = run_pass(load(cfg))
        check = runner.invoke(main, ["--config", str(cfg), "status", "--check"])
    assert swapped
    said = [(o.name, o.state, o.message) for o in first.outcomes]
    assert [(n, s) for n, s, _ in said] == [("a.csv", "rejected")], said
    assert "held by bridge as .bridge-claim-1, is now a symbolic link" in said[0][2], said
    assert second.outcomes == third.outcomes == [], (second.outcomes, third.outcomes)  # once
    assert check.exit_code == 1, check.output
    assert "not a file: articoli: a.csv (file 1)" in check.output, check.output
    assert issues_of(tmp_path / "bridge" / "state" / "ledger.sqlite") == {
        "a.csv": ["not-a-file"]}
    assert swapped[0].is_symlink()  # left: the server will not move it either
    assert (tmp_path / "outside.csv").read_text("utf-8") == order_file(9, 2)
    assert not (tmp_path / "bridge" / "erp").exists() or not list(
        (tmp_path / "bridge" / "erp").iterdir())


@pytest.mark.parametrize("op", ["download", "stat"])
def test_a_claimed_file_swapped_for_a_folder_is_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, op: str) -> None:
    """The same with a folder made under the claim name: RETR and SIZE refuse it too."""
    monkeypatch.setenv("BRIDGE_TEST_FTP_PASSWORD", PASSWORD)
    home = tmp_path / "ftp"
    (home / "inbox").mkdir(parents=True)
    (home / "inbox" / "a.csv").write_text(order_file(1, 2), encoding="utf-8")
    swapped: list[Path] = []

    def hook(connection: str, what: str, n: int, args: tuple[object, ...]) -> None:
        held = home / str(args[0]) / str(args[-1])
        if (what == op and not swapped and held.name.startswith(CLAIM_PREFIX)
                and held.is_file()):
            held.unlink()
            held.mkdir()
            swapped.append(held)

    with serving(home) as server:
        cfg = make_world(tmp_path / "bridge", FLOW.format(port=server.port, user=USER,
                                                          ready="window: 0, min_age: 0"))
        first = run_pass(load(cfg), connect=Spying(hook))
        second = run_pass(load(cfg))
    assert swapped
    said = [(o.name, o.state, o.message) for o in first.outcomes]
    assert [(n, s) for n, s, _ in said] == [("a.csv", "rejected")], said
    assert "held by bridge as .bridge-claim-1, is now a folder" in said[0][2], said
    assert second.outcomes == [], second.outcomes  # once
    assert issues_of(tmp_path / "bridge" / "state" / "ledger.sqlite") == {
        "a.csv": ["not-a-file"]}
