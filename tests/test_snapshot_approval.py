"""A price list is the ERP's whole state, and an operator's late or partial decision on one
must not send the shop an older or a smaller state than the ERP's.

- Rows an operator leaves out of a held price list are not gone from the ERP: their
  articles stay as last sent, never withdrawn. Withdrawals past ``gone.hold_above`` are no
  row an operator could choose: an approval that chooses rows leaves them, and says so.
- A held price list approved (or retried) after a newer one was done would send its older
  prices over the newer ones, and withdraw what the newer list has: refused.
- The share that holds a file is of the articles the shop still has: a shop emptied two
  articles a night is emptied all the same.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.ledger import open_ledger
from tests.test_articles_sync import ARTICLES, Company, shopify, woo


@pytest.fixture
def listed(tmp_path: Path) -> Company:
    """The sample company, its five articles sent to the shops."""
    c = Company(tmp_path)
    c.write(ARTICLES)
    assert [o.state for o in c.run().outcomes] == ["done"]
    return c


def approve(c: Company, runner: CliRunner, *args: str) -> tuple[int, str]:
    got = runner.invoke(main, ["--config", str(c.cfg_path), "approve", *args])
    return got.exit_code, got.output


def state_and_issues(c: Company, file_id: int) -> tuple[str, list[tuple[str, str]]]:
    ledger = open_ledger(c.root / ".bridge" / "ledger.sqlite")
    try:
        return ledger.get(file_id).state, [(i.code, i.message) for i in
                                           ledger.issues(file_id)]
    finally:
        ledger.close()


def test_rows_left_out_of_an_approval_are_not_withdrawn(listed: Company,
                                                         runner: CliRunner) -> None:
    files = listed.files("shopify")
    # MARTELLO-300 at a new price; GUIDA-ORTO and PALA-INOX gone: 2 of 5, over 20%.
    three = [(c, d, v, "13,11" if c == "MARTELLO-300" else p, b, s)
             for c, d, v, p, b, s in ARTICLES[:3]]
    listed.write(three)
    [held] = listed.run().outcomes
    assert held.state == "held" and "would withdraw 2 of the 5 keys" in (held.message or "")
    # The operator lets the new price go, and leaves the two other rows out.
    code, out = approve(listed, runner, str(held.file_id), "--rows", "2",
                        "--reason", "only the price")
    assert code == 0, out
    listed.t += 60
    run_pass(load(listed.cfg_path), flows=["articoli"], clock=lambda: listed.t)
    assert listed.files("shopify") == files + 1
    # The new price alone: nothing archived, neither the rows left out nor the gone ones.
    assert shopify(listed.sent("shopify")) == {
        "MARTELLO-300": ("Martello da carpentiere 300 g", "15.99", "active")}
    assert woo(listed.sent("woocommerce")) == {
        "MARTELLO-300": ("Martello da carpentiere 300 g", "1")}
    state, issues = state_and_issues(listed, held.file_id)
    assert state == "done"
    [note] = [m for code, m in issues if code == "not-withdrawn"]
    assert "GUIDA-ORTO, PALA-INOX" in note and "2 of the 5 keys" in note
    assert [code for code, _ in issues if code == "withdrawn"] == []

    # The ERP's next list has all five again, the new price too: nothing was withdrawn,
    # so nothing comes back; the two rows left out were never sent changed either.
    listed.write([(c, d, v, "13,11" if c == "MARTELLO-300" else p, b, s)
                   for c, d, v, p, b, s in ARTICLES])
    assert [o.state for o in listed.run().outcomes] == ["done"]
    assert listed.files("shopify") == files + 1


def test_rows_left_out_are_not_withdrawn_where_the_withdrawals_go(tmp_path: Path,
                                                                   runner: CliRunner) -> None:
    """A flow whose every file waits for approval: one article gone (20%, not over the
    hold) is withdrawn; the rows the operator left out are not."""
    c = Company(tmp_path)
    text = c.cfg_path.read_text(encoding="utf-8")
    old = "    archive: leave              # the ERP rewrites it every night; orders"
    assert old in text
    c.cfg_path.write_text(text.replace(old, "    approval: true\n" + old), encoding="utf-8")
    c.write(ARTICLES)
    [first] = c.run().outcomes
    assert approve(c, runner, str(first.file_id))[0] == 0
    c.t += 60
    run_pass(load(c.cfg_path), flows=["articoli"], clock=lambda: c.t)
    four = [(code, d, v, "13,11" if code == "MARTELLO-300" else p, b, s)
            for code, d, v, p, b, s in ARTICLES if code != "PALA-INOX"]
    c.write(four)
    [held] = c.run().outcomes
    assert held.state == "held"
    code, out = approve(c, runner, str(held.file_id), "--rows", "2", "--reason", "price")
    assert code == 0, out
    c.t += 60
    run_pass(load(c.cfg_path), flows=["articoli"], clock=lambda: c.t)
    assert {k: (v[1], v[2]) for k, v in shopify(c.sent("shopify")).items()} == {
        "MARTELLO-300": ("15.99", "active"), "PALA-INOX": ("30.00", "archived")}


def test_a_held_list_approved_after_a_newer_one_is_refused(listed: Company,
                                                            runner: CliRunner) -> None:
    listed.write(ARTICLES[:1])  # cut short: held
    [held] = listed.run().outcomes
    assert held.state == "held"
    newer = [(c, d, v, "30,00" if c == "PALA-INOX" else p, b, s)
             for c, d, v, p, b, s in ARTICLES]
    listed.write(newer)  # the next night's list, whole, with a new price
    [done] = listed.run().outcomes
    assert done.state == "done"
    files = listed.files("shopify")
    code, out = approve(listed, runner, str(held.file_id))
    assert code == 2 and f"older than file {done.file_id}" in out
    assert state_and_issues(listed, held.file_id)[0] == "held"  # nothing changed

    # Retried instead (or approved before this check): refused when its turn comes.
    got = runner.invoke(main, ["--config", str(listed.cfg_path), "retry",
                               str(held.file_id)])
    assert got.exit_code == 1, got.output
    state, issues = state_and_issues(listed, held.file_id)
    assert state == "rejected" and [c for c, _ in issues] == ["superseded"]
    assert listed.files("shopify") == files  # the shop keeps the newer prices
    assert shopify(listed.sent("shopify"))["PALA-INOX"][1] == "36.60"


def test_a_shop_emptied_a_little_at_a_time_is_held_all_the_same(tmp_path: Path) -> None:
    company = Company(tmp_path)
    many = [(f"ART-{n:02d}", f"Articolo {n}", "22", "1,00", "", "A") for n in range(10)]
    company.write(many)
    assert [o.state for o in company.run().outcomes] == ["done"]
    # ART-00 and ART-01 gone: 2 of 10 is not over 20%; then two more: 2 of the 8 left.
    company.write(many[2:])
    assert [o.state for o in company.run().outcomes] == ["done"]
    company.write(many[4:])
    [held] = company.run().outcomes
    assert held.state == "held"
    assert "would withdraw 2 of the 8 keys sent and not withdrawn (25%" in (held.message or "")


def test_a_replay_of_an_older_list_is_refused_and_of_the_newest_goes(
        listed: Company, runner: CliRunner) -> None:
    newer = [(c, d, v, "30,00" if c == "PALA-INOX" else p, b, s)
             for c, d, v, p, b, s in ARTICLES]
    listed.write(newer)
    [done] = listed.run().outcomes
    files = listed.files("shopify")
    old_id = done.file_id - 1
    assert state_and_issues(listed, old_id)[0] == "done"
    cfg = ["--config", str(listed.cfg_path)]
    got = runner.invoke(main, [*cfg, "replay", str(old_id)])
    assert got.exit_code == 2 and f"older than file {done.file_id}" in got.output
    got = runner.invoke(main, [*cfg, "replay", str(old_id), "--dry-run"])
    assert got.exit_code == 2  # the dry run says so too, not "identical"
    assert listed.files("shopify") == files
    # By flow: the older is skipped, said; the newest is replayed (its prices again).
    got = runner.invoke(main, [*cfg, "replay", "--flow", "articoli"])
    assert got.exit_code == 0, got.output
    assert f"file {old_id} (listino.csv): skipped: " in got.output
    assert listed.files("shopify") == files + 1
    assert shopify(listed.sent("shopify"))["PALA-INOX"][1] == "36.60"


def test_a_file_not_finished_is_not_replayed(tmp_path: Path, runner: CliRunner) -> None:
    """A held (or retrying, failed) file is carried on by approve or retry: a replay of it
    delivered its rows a second time, once each."""
    from tests.test_samples import sample_copy

    cfg = sample_copy(tmp_path)
    conf = load(cfg)
    run_pass(conf, flows=["clienti"], clock=lambda: 1762603200.0)
    [held] = run_pass(conf, flows=["clienti"], clock=lambda: 1762603260.0).outcomes
    assert held.state == "held"
    got = runner.invoke(main, ["--config", str(cfg), "replay", str(held.file_id)])
    assert got.exit_code == 2 and "is held, not finished" in got.output
    got = runner.invoke(main, ["--config", str(cfg), "pending"])
    assert got.output.count("customers_export_1.csv") == 1
