"""Flows end to end on local folders: outcomes, ledger, archive, quarantine, approval."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import run_lock, run_pass
from bridge.errors import ConfigError
from bridge.ledger import Now, open_ledger
from tests.flowkit import CONFIG, make_world, order_file


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return make_world(tmp_path)


def outputs(root: Path) -> dict[str, bytes]:
    erp = root / "erp"
    return {p.name: p.read_bytes() for p in sorted(erp.iterdir())} if erp.exists() else {}


def test_a_file_goes_through_once(world: Path) -> None:
    root = world.parent
    (root / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    result = run_pass(load(world))
    assert [(o.name, o.state) for o in result.outcomes] == [("a.csv", "done")]
    assert result.exit_code == 0
    out = outputs(root)
    assert list(out) == ["ART00001.TXT", "ART00001.TXT.ok"]
    assert out["ART00001.TXT.ok"] == b"3\n"
    first = out["ART00001.TXT"].split(b"\r\n")[0]
    assert first == b"A00010    Articolo 1 riga 0 \xe8".ljust(40) + b"0000000105" + b"00001"
    assert not (root / "inbox" / "a.csv").exists()
    assert len(list((root / "archive").rglob("a.csv"))) == 1
    # A second pass finds nothing; nothing is written twice.
    again = run_pass(load(world))
    assert again.outcomes == [] and outputs(root) == out


def test_same_content_again_is_noted_new_content_is_a_new_file(world: Path) -> None:
    root = world.parent
    (root / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    run_pass(load(world))
    (root / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    dup = run_pass(load(world))
    assert [o.state for o in dup.outcomes] == ["duplicate"]
    assert len(outputs(root)) == 2
    (root / "inbox" / "a.csv").write_text(order_file(2), encoding="utf-8")
    new = run_pass(load(world))
    assert [o.state for o in new.outcomes] == ["done"]
    assert sorted(outputs(root)) == ["ART00001.TXT", "ART00001.TXT.ok", "ART00002.TXT",
                                     "ART00002.TXT.ok"]


def test_the_same_bytes_under_another_name_are_a_new_file(world: Path) -> None:
    """A file's identity is its flow, name, size and sha256 (docs/flows.md): only the same
    name and bytes again is a duplicate."""
    root = world.parent
    (root / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    run_pass(load(world))
    (root / "inbox" / "b.csv").write_text(order_file(1), encoding="utf-8")
    other = run_pass(load(world))
    assert [(o.name, o.state) for o in other.outcomes] == [("b.csv", "done")]  # read again


def test_a_bad_file_is_quarantined_with_a_report(world: Path) -> None:
    root = world.parent
    bad = order_file(1).replace("1,05", "1,0x")
    (root / "inbox" / "bad.csv").write_text(bad, encoding="utf-8")
    result = run_pass(load(world))
    assert [(o.state, o.issues) for o in result.outcomes] == [("rejected", 1)]
    assert result.exit_code == 1
    assert outputs(root) == {}
    q = root / "quarantine"
    assert (q / "bad.csv").read_text(encoding="utf-8") == bad
    assert "bad-decimal" in (q / "bad.csv.issues.csv").read_text(encoding="utf-8-sig")
    assert (q / "bad.csv.report.html").exists()


def test_names_still_being_written_are_never_taken(world: Path) -> None:
    root = world.parent
    for name in ("a.csv.part", ".a.csv", "~a.csv", "a.csv.tmp"):
        (root / "inbox" / name).write_text(order_file(1), encoding="utf-8")
    assert run_pass(load(world)).outcomes == []


def test_an_unwritable_target_leaves_the_file_pending(world: Path) -> None:
    root = world.parent
    (root / "erp").write_text("not a folder", encoding="utf-8")  # mkdir fails, even as root
    (root / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    first = run_pass(load(world))
    assert [o.state for o in first.outcomes] == ["retrying"]
    assert first.exit_code == 3
    # bridge holds the claimed bytes under a private name: a sender reusing the name makes
    # a new file, never a new version of this one
    assert (root / "inbox" / ".bridge-claim-1").read_text(encoding="utf-8") == order_file(1)
    assert not (root / "inbox" / "a.csv").exists()
    (root / "erp").unlink()
    second = run_pass(load(world))
    assert [o.state for o in second.outcomes] == ["done"]
    assert sorted(outputs(root)) == ["ART00001.TXT", "ART00001.TXT.ok"]


def test_an_existing_output_name_is_never_overwritten(world: Path) -> None:
    root = world.parent
    (root / "erp").mkdir()
    (root / "erp" / "ART00001.TXT").write_bytes(b"someone else's")
    (root / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    result = run_pass(load(world))
    assert [o.state for o in result.outcomes] == ["retrying"]
    assert "exists with other content" in result.outcomes[0].message
    assert (root / "erp" / "ART00001.TXT").read_bytes() == b"someone else's"


def test_if_exists_next_picks_the_next_name(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("done_file: {content: rows}", "if_exists: next"))
    (tmp_path / "erp").mkdir()
    (tmp_path / "erp" / "ART00001.TXT").write_bytes(b"someone else's")
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["done"]
    assert sorted(outputs(tmp_path)) == ["ART00001.TXT", "ART00002.TXT"]


def test_approval_holds_until_an_operator_decides(tmp_path: Path, runner: CliRunner) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0", "retry_backoff: 0\n"
                                                                  "    approval: true"))
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    (tmp_path / "inbox" / "b.csv").write_text(order_file(2), encoding="utf-8")
    held = run_pass(load(cfg))
    assert [o.state for o in held.outcomes] == ["held", "held"] and held.exit_code == 1
    assert outputs(tmp_path) == {}
    listing = runner.invoke(main, ["--config", str(cfg), "pending"])
    assert "a.csv" in listing.output and "b.csv" in listing.output
    assert run_pass(load(cfg)).outcomes == []  # held files are not taken again
    ok = runner.invoke(main, ["--config", str(cfg), "approve", "1"])
    assert ok.exit_code == 0, ok.output
    no = runner.invoke(main, ["--config", str(cfg), "reject", "2", "--reason", "wrong prices"])
    assert no.exit_code == 0, no.output
    after = run_pass(load(cfg))
    assert [(o.name, o.state) for o in after.outcomes] == [("a.csv", "done")]
    assert sorted(outputs(tmp_path)) == ["ART00001.TXT", "ART00001.TXT.ok"]
    assert (tmp_path / "quarantine" / "b.csv").exists()


def test_a_second_run_exits_at_once_while_one_holds_the_lock(world: Path,
                                                             runner: CliRunner) -> None:
    cfg = load(world)
    with run_lock(cfg.path(cfg.lock_file)):
        result = runner.invoke(main, ["--config", str(world), "run"])
    assert result.exit_code == 0
    assert "another bridge run holds" in result.output


def test_cli_run_status_show_history(world: Path, runner: CliRunner) -> None:
    root = world.parent
    (root / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    (root / "inbox" / "bad.csv").write_text("codice;descrizione;prezzo;qty\n;x;1;1\n",
                                            encoding="utf-8")
    run = runner.invoke(main, ["--config", str(world), "run", "--log-json"])
    assert run.exit_code == 1
    assert '"state": "done"' in run.output and '"state": "rejected"' in run.output
    status = runner.invoke(main, ["--config", str(world), "status"]).output
    row = status.splitlines()[1].split()
    assert row[:5] == ["articoli", "0", "0", "1", "0"]
    story = runner.invoke(main, ["--config", str(world), "show", "a.csv"]).output
    for word in ("claimed", "fetched", "checked", "written", "done", "ART00001.TXT"):
        assert word in story
    bad_story = runner.invoke(main, ["--config", str(world), "show", "bad.csv"]).output
    assert "issue line 2: missing-required: articolo.codice" in bad_story
    assert "bad.csv" in runner.invoke(main, ["--config", str(world), "history"]).output


def test_configuration_mistakes_name_file_and_key(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("folder: erp", "folder: erp\n        colour: red"))
    with pytest.raises(ConfigError, match=r"bridge.yaml: line \d+: flows.articoli.targets\[0\]"
                       r"\.colour"):
        load(cfg)
    secret = CONFIG + """
connections:
  erp: {type: sftp, host: 127.0.0.1, user: u, password: "${BRIDGE_TEST_NO_SUCH_VAR}"}
"""
    (tmp_path / "bridge.yaml").write_text(secret, encoding="utf-8")
    os.environ.pop("BRIDGE_TEST_NO_SUCH_VAR", None)
    with pytest.raises(ConfigError, match="BRIDGE_TEST_NO_SUCH_VAR is not set") as bad:
        load(cfg)
    line = next(n for n, text in enumerate(secret.splitlines(), 1) if "NO_SUCH_VAR" in text)
    assert str(bad.value) == (f"{cfg}: line {line}: connections.erp.password: environment "
                              "variable BRIDGE_TEST_NO_SUCH_VAR is not set")


def test_configuration_mistakes_say_their_line(tmp_path: Path) -> None:
    """The line of each mistake in bridge.yaml: a key's own line, a missing key's mapping,
    a value inside a connection of one type or another, a connection no one declared."""
    text = CONFIG.replace("folder: erp", "folder: erp\n        colour: red") + """
connections:
  erp:
    type: sftp
    host: 127.0.0.1
    user: u
    port: many
"""
    cfg = make_world(tmp_path, text.replace("        filename:", "        filenam:"))
    lines = cfg.read_text(encoding="utf-8").splitlines()

    def line(needle: str) -> int:
        return next(n for n, text in enumerate(lines, 1) if needle in text)

    with pytest.raises(ConfigError) as bad:
        load(cfg)
    said = str(bad.value).splitlines()
    where = f"{cfg}: line"
    assert f"{where} {line('colour: red')}: flows.articoli.targets[0].colour: unknown key " \
        "(a typo?)" in said
    assert f"{where} {line('filenam:')}: flows.articoli.targets[0].filenam: unknown key " \
        "(a typo?)" in said
    # a key that is missing: the line where its mapping starts (the target's "- folder")
    assert f"{where} {line('- folder: erp')}: flows.articoli.targets[0].filename: Field " \
        "required" in said
    assert any(s.startswith(f"{where} {line('port: many')}: connections.erp.sftp.port: ")
               for s in said), said
    cfg.write_text(text.replace("port: many", "port: 22").replace(
        "      - folder: erp\n", "      - folder: erp\n        connection: nowhere\n"
    ).replace("        colour: red\n", ""), encoding="utf-8")
    lines = cfg.read_text(encoding="utf-8").splitlines()
    with pytest.raises(ConfigError) as bad:
        load(cfg)
    assert str(bad.value) == (f"{where} {line('connection: nowhere')}: flows.articoli."
                              "targets[0].connection: no connection named 'nowhere'")


def test_secrets_never_show(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_world(tmp_path, CONFIG + """
connections:
  erp: {type: sftp, host: 127.0.0.1, user: u, password: "${BRIDGE_TEST_PW}"}
""")
    monkeypatch.setenv("BRIDGE_TEST_PW", "hunter2-very-secret")
    loaded = load(cfg)
    conn = loaded.connections["erp"]
    assert "hunter2" not in repr(loaded) and "hunter2" not in str(conn)
    assert conn.password is not None  # type: ignore[union-attr]
    assert conn.password.get_secret_value() == "hunter2-very-secret"  # type: ignore[union-attr]


@pytest.mark.sqlite_only
def test_ledger_schema_is_versioned_and_migrates(tmp_path: Path) -> None:
    from bridge.ledger.migrations import MIGRATIONS
    from tests.flowkit import ledger_at_schema

    path = tmp_path / "l.sqlite"
    old = ledger_at_schema(path, 1)  # a ledger made by the first version of bridge
    old.execute("INSERT INTO files (flow, path, size, sha256, state) VALUES ('f', 'a', 1, 'x', "
                "'done')")
    old.commit()
    old.close()
    ledger = open_ledger(path)
    assert ledger.schema_version == len(MIGRATIONS) == 19  # type: ignore[attr-defined]
    assert ledger.get(1).state == "done"  # nothing lost on the way
    assert ledger.issues(1) == []
    ledger.close()
    again = open_ledger(path)  # opening again migrates nothing
    assert again.schema_version == 19  # type: ignore[attr-defined]


def test_done_file_rule_and_its_checked_content(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace(
        "ready: {window: 0, min_age: 0}", "ready: {rule: done-file, done_content: size}"))
    inbox = tmp_path / "inbox"
    text = order_file(1)
    (inbox / "a.csv").write_text(text, encoding="utf-8")
    assert run_pass(load(cfg)).outcomes == []  # no done-file yet: not taken
    (inbox / "a.csv.ok").write_text("999\n", encoding="ascii")
    waiting = run_pass(load(cfg))
    assert [o.state for o in waiting.outcomes] == ["waiting"]
    assert "says size 999" in waiting.outcomes[0].message
    (inbox / "a.csv.ok").write_text(f"{len(text.encode())}\n", encoding="ascii")
    done = run_pass(load(cfg))
    assert [o.state for o in done.outcomes] == ["done"]
    assert os.listdir(inbox) == []  # the file and its done-file both archived or removed


def test_skip_rows_writes_the_good_rows_and_reports_the_bad(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0",
                                              "retry_backoff: 0\n    on_bad_rows: skip-rows"))
    text = order_file(1, rows=4).replace("1,25", "1,2x")
    (tmp_path / "inbox" / "a.csv").write_text(text, encoding="utf-8")
    result = run_pass(load(cfg))
    assert [o.state for o in result.outcomes] == ["done"]
    written = (tmp_path / "erp" / "ART00001.TXT").read_bytes().split(b"\r\n")
    assert [line[:10].strip() for line in written if line] == [b"A00010", b"A00011", b"A00013"]
    report = (tmp_path / "quarantine" / "a.csv.issues.csv").read_text(encoding="utf-8-sig")
    assert "bad-decimal" in report and "1,2x" in report


@pytest.mark.parametrize(("mode", "left"), [("delete", []), ("leave", ["a.csv"])])
def test_archive_modes(tmp_path: Path, mode: str, left: list[str]) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("retry_backoff: 0",
                                              f"retry_backoff: 0\n    archive: {mode}"))
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["done"]
    assert sorted(os.listdir(tmp_path / "inbox")) == left
    assert not (tmp_path / "archive").exists()
    assert run_pass(load(cfg)).outcomes == []  # a file left in place is not taken again
    assert sorted(outputs(tmp_path)) == ["ART00001.TXT", "ART00001.TXT.ok"]
    if mode == "leave":  # ...nor even read again, while it stays the same
        ledger = open_ledger(load(cfg).path(load(cfg).ledger))
        st = (tmp_path / "inbox" / "a.csv").stat()
        seen = ledger.observe("articoli", [("a.csv", st.st_size, st.st_mtime)],
                              Now(0.0, 0.0, "test"))
        assert seen["a.csv"].done_id == 1


def test_processing_order_by_mtime(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("patterns: [\"*.csv\"]",
                                              "patterns: [\"*.csv\"]\n      order: mtime"))
    for n, (name, age) in enumerate([("z.csv", 300), ("a.csv", 100), ("m.csv", 200)]):
        path = tmp_path / "inbox" / name
        path.write_text(order_file(n), encoding="utf-8")
        stamp = 1_700_000_000 - age
        os.utime(path, (stamp, stamp))
    names = [o.name for o in run_pass(load(cfg)).outcomes]
    assert names == ["z.csv", "m.csv", "a.csv"]


def test_a_key_already_sent_is_skipped_and_noted(world: Path, runner: CliRunner) -> None:
    root = world.parent
    (root / "inbox" / "a.csv").write_text(order_file(1, rows=2), encoding="utf-8")
    run_pass(load(world))
    again = "codice;descrizione;prezzo;qty\nA00010;di nuovo;1,05;1\nB1;nuovo;2,00;1\n"
    (root / "inbox" / "b.csv").write_text(again, encoding="utf-8")
    result = run_pass(load(world))
    assert [(o.state, o.issues) for o in result.outcomes] == [("done", 1)]
    written = (root / "erp" / "ART00002.TXT").read_bytes().split(b"\r\n")
    assert [line[:10].strip() for line in written if line] == [b"B1"]
    story = runner.invoke(main, ["--config", str(world), "show", "b.csv"]).output
    assert "already-sent" in story


def test_the_same_bytes_again_after_bridge_refused_them_are_read_again(
        tmp_path: Path, runner: CliRunner) -> None:
    """An orders file refused for an article the ERP's master lacked; the master fixed, the
    shop sends the very same file again: it was dropped as a duplicate of the refused one,
    exit 0, and its orders never reached the ERP. Refused by bridge, it wrote nothing: the
    same bytes are read again. Refused by an operator, they stay refused."""
    from tests.test_samples import SAMPLES, sample_copy

    cfg = sample_copy(tmp_path)
    root = cfg.parent
    master = root / "erp-exports" / "articoli.csv"
    good = master.read_bytes()
    master.write_bytes(b"\r\n".join(ln for ln in good.split(b"\r\n")
                                    if b";VITI-4X40;" not in ln))
    orders = (SAMPLES / "inbox" / "shopify" / "orders_export_1.csv").read_bytes()
    conf = load(cfg)
    clock = iter(range(1762603200, 1762603200 + 6000, 60))
    run_pass(conf, flows=["ordini"], clock=lambda: float(next(clock)))
    [first] = run_pass(conf, flows=["ordini"], clock=lambda: float(next(clock))).outcomes
    assert first.state == "rejected"
    master.write_bytes(good)
    inbox = root / "inbox" / "shopify" / "orders_export_1.csv"
    inbox.write_bytes(orders)
    run_pass(conf, flows=["ordini"], clock=lambda: float(next(clock)))
    [again] = run_pass(conf, flows=["ordini"], clock=lambda: float(next(clock))).outcomes
    assert again.state == "done" and next(n for n, _ in again.outputs) == "ORD000001.TXT"
    # A third copy is a duplicate of the one done; an operator's refusal holds too.
    inbox.write_bytes(orders)
    run_pass(conf, flows=["ordini"], clock=lambda: float(next(clock)))
    [third] = run_pass(conf, flows=["ordini"], clock=lambda: float(next(clock))).outcomes
    assert third.state == "duplicate" and f"file {again.file_id}" in (third.message or "")
    customers = root / "inbox" / "shopify" / "customers_export_1.csv"
    kept = customers.read_bytes()
    run_pass(conf, flows=["clienti"], clock=lambda: float(next(clock)))
    [held] = run_pass(conf, flows=["clienti"], clock=lambda: float(next(clock))).outcomes
    assert held.state == "held"
    got = runner.invoke(main, ["--config", str(cfg), "reject", str(held.file_id),
                               "--reason", "sent by mistake"])
    assert got.exit_code == 0, got.output
    customers.write_bytes(kept)
    run_pass(conf, flows=["clienti"], clock=lambda: float(next(clock)))
    [back] = run_pass(conf, flows=["clienti"], clock=lambda: float(next(clock))).outcomes
    assert back.state == "duplicate" and f"file {held.file_id}" in (back.message or "")
