"""Retention's `reports` forgets the sender's values quoted in the ledger's issues of every
finished file, not only of refused ones: a done file's `cut` note quoting a customer's
street keeps the code's plain meaning once `reports` has passed; once for each file, and
not by a dry run. A ledger made before (schema 17) is migrated and pruned the same."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bridge.cli import main
from bridge.config import load
from bridge.engine.context import open_config_ledger
from bridge.ledger import open_ledger
from bridge.ledger.base import Ledger
from tests.flowkit import CONFIG, ledger_at_schema, make_world
from tests.pgserver import PgServer

DAY = 86400.0
T0 = 1_800_000_000.0
STREET = "Via Giuseppe Garibaldi 12 interno 7 scala B"
HEAD = "codice;descrizione;prezzo;qty\n"


def world(tmp_path: Path, config: str = CONFIG) -> Path:
    """The flow keeps the sender's values one day; a description longer than the ERP's
    field is written cut to it, with a note quoting it whole."""
    cfg = make_world(tmp_path, config.replace("retry_backoff: 0", """retry_backoff: 0
    retention: {reports: 1d}"""))
    layouts = tmp_path / "tracciati" / "test"
    src, out = layouts / "in.yaml", layouts / "out.yaml"
    src.write_text(src.read_text(encoding="utf-8").replace(
        "descrizione, max_length: 30", "descrizione, max_length: 60"), encoding="utf-8")
    out.write_text(out.read_text(encoding="utf-8").replace(
        "start: 11, length: 30}", "start: 11, length: 30, on_too_long: cut}"),
        encoding="utf-8")
    (tmp_path / "inbox" / "a.csv").write_text(f"{HEAD}A1;{STREET};1,00;1\n", encoding="utf-8")
    (tmp_path / "inbox" / "b.csv").write_text(f"{HEAD}B1;short;1,00;1\n", encoding="utf-8")
    return cfg


def cli(cfg: Path, clock: Path, t: float, *args: str) -> Result:
    clock.write_text(str(t), encoding="ascii")
    got = CliRunner().invoke(main, ["--config", str(cfg), *args],
                             env={"BRIDGE_FAKE_CLOCK": str(clock)})
    assert got.exception is None or isinstance(got.exception, SystemExit), got.output
    return got


def ledger_of(cfg: Path) -> Ledger:
    return open_config_ledger(load(cfg))


def quoted(cfg: Path, file_id: int) -> list[tuple[str | None, str]]:
    ledger = ledger_of(cfg)
    try:
        return [(i.value, i.message) for i in ledger.issues(file_id)]
    finally:
        ledger.close()


def test_a_done_files_values_are_forgotten_after_reports_once(tmp_path: Path) -> None:
    cfg, clock = world(tmp_path), tmp_path / "clock"
    ran = cli(cfg, clock, T0, "run")
    assert ran.exit_code == 0, ran.output
    assert "a.csv: done" in ran.output and "b.csv: done" in ran.output
    assert STREET in cli(cfg, clock, T0, "show", "1").output
    # Before the day is out: kept.
    early = cli(cfg, clock, T0 + DAY / 2, "prune")
    assert early.output.strip() == "nothing to prune"
    assert STREET in cli(cfg, clock, T0, "show", "1").output
    # A dry run says the values would go, and changes nothing.
    before = quoted(cfg, 1)
    assert any(v == STREET for v, _ in before) and any(STREET in m for _, m in before)
    dry = cli(cfg, clock, T0 + 2 * DAY, "prune", "--dry-run")
    assert dry.output.splitlines() == [
        "[articoli] file 1: reports: the sender's values quoted in the ledger "
        "(would be deleted)"], dry.output  # file 2 has no issue: nothing to forget
    assert quoted(cfg, 1) == before
    # The real one forgets them: the code's plain meaning stays.
    done = cli(cfg, clock, T0 + 2 * DAY, "prune")
    assert done.output.splitlines() == [
        "[articoli] file 1: reports: the sender's values quoted in the ledger deleted"]
    shown = cli(cfg, clock, T0 + 2 * DAY, "show", "1").output
    assert STREET not in shown and "cut: articolo.descrizione: a value longer" in shown
    after = quoted(cfg, 1)
    assert len(after) == len(before) and all(v is None for v, _ in after)
    assert not any(STREET in m for _, m in after)
    # Once: nothing new to say after, by hand or by a pass.
    assert cli(cfg, clock, T0 + 3 * DAY, "prune").output.strip() == "nothing to prune"
    assert cli(cfg, clock, T0 + 3 * DAY, "prune", "--dry-run").output.strip() == (
        "nothing to prune")


def test_every_pass_forgets_the_values_of_done_files_too(tmp_path: Path) -> None:
    cfg, clock = world(tmp_path), tmp_path / "clock"
    assert cli(cfg, clock, T0, "run").exit_code == 0
    assert cli(cfg, clock, T0 + DAY / 2, "run").exit_code == 0
    assert any(v == STREET for v, _ in quoted(cfg, 1))
    assert cli(cfg, clock, T0 + 2 * DAY, "run").exit_code == 0
    assert all(v is None and STREET not in m for v, m in quoted(cfg, 1))


def old_files(add: object) -> None:
    """A done file whose note quotes the street, and a refused file whose reports (and
    values) retention pruned before schema 18: ``add(sql, args)`` inserts."""
    assert callable(add)
    files = ("INSERT INTO files (id, flow, path, size, sha256, state, created, updated, "
             "pruned_kept) VALUES (?, 'articoli', ?, 10, 'x', ?, ?, ?, ?)")
    issues = ("INSERT INTO issues (file_id, line, record, field, code, value, message) "
              "VALUES (?, 2, 'articolo', 'descrizione', 'cut', ?, ?)")
    add(files, (1, "a.csv", "done", T0, T0, None))
    add(issues, (1, STREET, f"'{STREET}' is longer than the field's 30 characters"))
    add(files, (2, "r.csv", "rejected", T0, T0, T0 + 100 * DAY))
    add(issues, (2, None, "a value longer than its field"))


def prune_old(cfg: Path, clock: Path) -> None:
    dry = cli(cfg, clock, T0 + 2 * DAY, "prune", "--dry-run")
    assert dry.output.splitlines() == [
        "[articoli] file 1: reports: the sender's values quoted in the ledger "
        "(would be deleted)"], dry.output  # the refused file's were forgotten already
    assert any(v == STREET for v, _ in quoted(cfg, 1))
    done = cli(cfg, clock, T0 + 2 * DAY, "prune")
    assert "file 1: reports" in done.output and "file 2" not in done.output, done.output
    assert all(v is None and STREET not in m for v, m in quoted(cfg, 1))
    assert cli(cfg, clock, T0 + 2 * DAY, "prune").output.strip() == "nothing to prune"
    ledger = ledger_of(cfg)
    try:  # when each file's values went: the refused file's with its reports
        marks = ledger.db.execute(  # type: ignore[attr-defined]
            "SELECT id, pruned_values FROM files ORDER BY id").fetchall()
        assert [tuple(m) for m in marks] == [(1, T0 + 2 * DAY), (2, T0 + 100 * DAY)]
    finally:
        ledger.close()


@pytest.mark.sqlite_only  # a SQLite file made at schema 17
def test_a_ledger_of_schema_17_is_migrated_and_pruned(tmp_path: Path) -> None:
    cfg, clock = world(tmp_path), tmp_path / "clock"
    (tmp_path / "state").mkdir()
    old = ledger_at_schema(tmp_path / "state" / "ledger.sqlite", 17)
    old_files(lambda sql, args: old.execute(sql, args))
    old.commit()
    old.close()
    prune_old(cfg, clock)


def test_a_postgresql_ledger_of_schema_17_is_migrated_and_pruned(
        tmp_path: Path, pg: PgServer) -> None:
    url = pg.new_schema(f"{tmp_path}/old17")
    open_ledger(url).close()
    name = url.rsplit("%3D", 1)[1]
    # As bridge of schema 17 left it: no column for forgotten values.
    pg.sql(f"ALTER TABLE {name}.files DROP COLUMN pruned_values")
    pg.sql(f"DROP TABLE {name}.unsent_keys")  # of schema 19
    pg.sql(f"UPDATE {name}.bridge_schema SET version = 17")
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        old_files(lambda sql, args: conn.execute(sql.replace("?", "%s"), args))
    cfg = world(tmp_path, CONFIG.replace("ledger: state/ledger.sqlite", f"ledger: '{url}'"))
    prune_old(cfg, tmp_path / "clock")
    ledger = open_ledger(url)
    try:
        assert ledger.schema_version == 19  # type: ignore[attr-defined]
    finally:
        ledger.close()


def test_a_refused_files_values_go_with_its_reports_and_are_marked(tmp_path: Path) -> None:
    cfg, clock = world(tmp_path), tmp_path / "clock"
    bad = f"{HEAD}C1;{STREET};1,0x;1\n"
    (tmp_path / "inbox" / "c.csv").write_text(bad, encoding="utf-8")
    assert cli(cfg, clock, T0, "run").exit_code == 1
    done = cli(cfg, clock, T0 + 2 * DAY, "prune").output
    assert "file 1: reports: the sender's values" in done, done
    assert "file 3: reports: quarantine/c.csv deleted" in done, done
    assert done.count("file 3:") == 3, done  # the file and its two reports, said once each
    assert all(v is None and "1,0x" not in m for v, m in quoted(cfg, 3))
    ledger = ledger_of(cfg)
    try:
        marks = ledger.db.execute(  # type: ignore[attr-defined]
            "SELECT id, pruned_values FROM files ORDER BY id").fetchall()
        assert [tuple(m) for m in marks] == [(1, T0 + 2 * DAY), (2, None), (3, T0 + 2 * DAY)]
    finally:
        ledger.close()
    assert cli(cfg, clock, T0 + 3 * DAY, "prune").output.strip() == "nothing to prune"


def test_a_held_files_values_are_forgotten_too_and_again_once_it_is_done(
        tmp_path: Path) -> None:
    """A file waiting for an operator (held, failed, retrying) is never finished, so the
    street its note quotes stayed in the ledger for as long as it waited: for ever, for a
    file nobody approves. Its values go once `reports` has passed since its last change,
    as a finished file's; approved later, the values its run quotes again are forgotten
    in their turn."""
    cfg = world(tmp_path, CONFIG.replace("retry_backoff: 0",
                                         "retry_backoff: 0\n    approval: true"))
    clock = tmp_path / "clock"
    (tmp_path / "inbox" / "b.csv").unlink()
    held = cli(cfg, clock, T0, "run")
    assert "a.csv: held" in held.output, held.output
    assert any(v == STREET for v, _ in quoted(cfg, 1))
    assert cli(cfg, clock, T0 + DAY / 2, "prune").output.strip() == "nothing to prune"
    assert cli(cfg, clock, T0 + 2 * DAY, "prune").output.splitlines() == [
        "[articoli] file 1: reports: the sender's values quoted in the ledger deleted"]
    after = quoted(cfg, 1)
    assert after and all(v is None and STREET not in m for v, m in after)
    assert cli(cfg, clock, T0 + 3 * DAY, "prune").output.strip() == "nothing to prune"
    # Still waiting, still whole: the operator approves, the file goes as it would have.
    assert cli(cfg, clock, T0 + 3 * DAY, "approve", "1").exit_code == 0
    done = cli(cfg, clock, T0 + 3 * DAY, "run")
    assert "a.csv: done" in done.output, done.output
    assert any(v == STREET for v, _ in quoted(cfg, 1))  # this run's note quotes it again
    assert cli(cfg, clock, T0 + 3.5 * DAY, "prune").output.strip() == "nothing to prune"
    assert "file 1: reports" in cli(cfg, clock, T0 + 5 * DAY, "prune").output
    assert all(v is None and STREET not in m for v, m in quoted(cfg, 1))
