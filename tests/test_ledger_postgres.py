"""The ledger on PostgreSQL, on a private server started for the tests: opened from a URL,
copied from SQLite and back with its whole history, refused when newer than this bridge,
and never printing its password. (The rest of the ledger's tests run on PostgreSQL too:
`tests/run.sh` runs them again with --ledger-backend=postgresql.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.runner import run_pass
from bridge.errors import ConfigError, TransientError
from bridge.ledger import Ledger, SqliteLedger, open_ledger
from bridge.ledger.postgres import PostgresLedger, redacted, schema
from tests.flowkit import CONFIG, make_world, order_file
from tests.pgserver import PgServer


def world(tmp_path: Path, files: int, start: int = 0) -> Path:
    cfg = tmp_path / "bridge.yaml"
    if not cfg.exists():
        cfg = make_world(tmp_path, CONFIG)
    for n in range(start, start + files):
        (tmp_path / "inbox" / f"o{n:03d}.csv").write_text(order_file(n, 2), encoding="utf-8")
    return cfg


def history(led: Ledger) -> dict[str, object]:
    """What a ledger knows, in a form two databases can be compared by."""
    files = led.files()
    return {
        "files": [(f.id, f.flow, f.path, f.size, f.sha256, f.state, f.held_as, f.mtime)
                  for f in files],
        "events": [[(e.state, e.at, e.detail) for e in led.events(f.id)] for f in files],
        "outputs": [[(o.id, o.target, o.folder, o.name, o.sha256, o.rows, o.state)
                     for o in led.outputs(f.id)] for f in files],
        "keys": led.sent_keys("articoli", [f"A{n:04d}{i}" for n in range(40)
                                           for i in range(2)]),
    }


@pytest.mark.sqlite_only  # copies from a SQLite file
def test_a_ledger_copied_to_postgresql_and_back_keeps_its_whole_history(
        tmp_path: Path, pg: PgServer, runner: CliRunner) -> None:
    cfg = world(tmp_path, 12)
    assert len(run_pass(load(cfg)).outcomes) == 12
    sqlite_path = tmp_path / "state" / "ledger.sqlite"
    url = pg.new_schema(f"{tmp_path}/copy")
    got = runner.invoke(main, ["ledger", "copy", str(sqlite_path), url])
    assert got.exit_code == 0, got.output
    assert got.output.startswith("copied ") and "12 files" in got.output
    before = SqliteLedger(sqlite_path)
    after = open_ledger(url)
    assert isinstance(after, PostgresLedger)
    try:
        assert history(after) == history(before)
        assert len(history(after)["files"]) == 12  # type: ignore[arg-type]
    finally:
        before.close()
        after.close()

    # The configuration moved to PostgreSQL: nothing is done again, and new files go on
    # with the next output names.
    text = cfg.read_text(encoding="utf-8").replace("ledger: state/ledger.sqlite",
                                                   f"ledger: '{url}'")
    cfg.write_text(text, encoding="utf-8")
    assert run_pass(load(cfg)).outcomes == []
    world(tmp_path, 2, start=12)
    done = run_pass(load(cfg)).outcomes
    assert sorted(n for o in done for n, _ in o.outputs) == ["ART00013.TXT", "ART00014.TXT"]

    # And back to a new SQLite file, with those two as well.
    back = tmp_path / "back.sqlite"
    got = runner.invoke(main, ["ledger", "copy", url, f"sqlite:///{back}"])
    assert got.exit_code == 0, got.output
    again, there = SqliteLedger(back), open_ledger(url)
    try:
        assert history(again) == history(there)
        assert len(history(again)["files"]) == 14  # type: ignore[arg-type]
    finally:
        again.close()
        there.close()


@pytest.mark.sqlite_only  # copies from a SQLite file
def test_a_copy_into_a_ledger_in_use_is_refused(tmp_path: Path, pg: PgServer,
                                                runner: CliRunner) -> None:
    cfg = world(tmp_path, 2)
    run_pass(load(cfg))
    url = pg.new_schema(f"{tmp_path}/used")
    assert runner.invoke(main, ["ledger", "copy", str(tmp_path / "state" / "ledger.sqlite"),
                                url]).exit_code == 0
    got = runner.invoke(main, ["ledger", "copy", str(tmp_path / "state" / "ledger.sqlite"),
                               url])
    assert got.exit_code == 2
    assert "the destination ledger is not empty (it has files)" in got.output
    missing = runner.invoke(main, ["ledger", "copy", str(tmp_path / "nope.sqlite"), url])
    assert missing.exit_code == 2 and "no ledger file" in missing.output


def test_migrate_says_the_schema(tmp_path: Path, pg: PgServer, runner: CliRunner) -> None:
    from bridge.ledger.migrations import MIGRATIONS

    cfg = world(tmp_path, 0)
    url = pg.new_schema(f"{tmp_path}/migrate")
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        "ledger: state/ledger.sqlite", f"ledger: '{url}'"), encoding="utf-8")
    got = runner.invoke(main, ["--config", str(cfg), "ledger", "migrate"])
    assert got.exit_code == 0, got.output
    assert got.output == f"ledger at schema {len(MIGRATIONS)} of {len(MIGRATIONS)}\n"


def test_a_ledger_newer_than_this_bridge_is_refused(pg: PgServer, tmp_path: Path) -> None:
    url = pg.new_schema(f"{tmp_path}/newer")
    open_ledger(url).close()
    schema_name = url.rsplit("%3D", 1)[1]
    pg.sql(f"UPDATE {schema_name}.bridge_schema SET version = 99")
    with pytest.raises(ConfigError, match="has schema 99, newer than this bridge knows"):
        open_ledger(url)


def test_the_password_is_never_in_a_message(pg: PgServer) -> None:
    url = f"postgresql://bridge:s3cret-pw@127.0.0.1:{pg.port}/no_such_database"
    with pytest.raises(TransientError) as caught:
        open_ledger(url)
    assert "s3cret-pw" not in str(caught.value)
    assert "bridge:***@127.0.0.1" in str(caught.value)
    assert redacted("postgresql://u:p@h/db") == "postgresql://u:***@h/db"
    assert redacted("postgresql://u@h/db") == "postgresql://u@h/db"


def test_texts_with_nul_and_the_marker_come_back_exactly(pg: PgServer, tmp_path: Path) -> None:
    led = open_ledger(pg.new_schema(f"{tmp_path}/nul"))
    try:
        row = led.create("f", "a\x00b\ue000c.csv", 1, "x", None, 1.0)
        led.set_state(row.id, "fetched", 1.5)
        keys = ["k\x00", "\ue0000", "\ue000e\x00", "plain"]
        led.plan(row.id, lambda seq, taken: [], keys=keys,
                 fingerprints={k: f"{k}\x1f\x00" for k in keys}, now=2.0)
        assert led.get(row.id).path == "a\x00b\ue000c.csv"
        assert led.last_prints("f") == {k: f"{k}\x1f\x00" for k in keys}
        assert led.sent_keys("f", keys) == set(keys)
    finally:
        led.close()


def test_the_migrations_read_as_postgresql() -> None:
    ddl = schema("CREATE TABLE t (id INTEGER PRIMARY KEY, at REAL, n INTEGER);"
                 "CREATE TABLE u (flow TEXT, PRIMARY KEY (flow));")
    assert "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY" in ddl
    assert "at DOUBLE PRECISION, n BIGINT)" in ddl
    assert "PRIMARY KEY (flow), rowid BIGINT GENERATED ALWAYS AS IDENTITY)" in ddl


def machine(root: Path, name: str, url: str) -> Path:
    """A configuration of the world in ``root`` as another machine would have it: the same
    ledger, source and target, a work area and lock file of its own."""
    text = (root / "bridge.yaml").read_text(encoding="utf-8")
    text = (text.replace("ledger: state/ledger.sqlite", f"ledger: '{url}'")
            .replace("work_dir: state/work", f"work_dir: {name}/work")
            .replace("lock_file: state/run.lock", f"lock_file: {name}/run.lock"))
    # No dedupe: a file done twice would show as a second output.
    text = text.replace("      - dedupe: {key: [codice]}   # an article code already sent "
                        "is not sent again\n", "")
    text = text.replace("    steps:\n", "    steps: []\n")
    cfg = root / f"{name}.yaml"
    cfg.write_text(text, encoding="utf-8")
    return cfg


def test_a_run_waits_for_the_ledger_s_run_lock_held_on_another_machine(
        tmp_path: Path, pg: PgServer) -> None:
    from bridge.engine.runner import LockBusy
    from bridge.ledger.postgres import run_lock

    world(tmp_path, 3)
    url = pg.new_schema(f"{tmp_path}/lock")
    cfg = machine(tmp_path, "m2", url)
    # An operator's command holds the ledger alone: a run on any machine stops there.
    with run_lock(url, 0.0, LockBusy, alone=True), pytest.raises(
            LockBusy, match="another bridge command holds the run lock of the ledger"):
        run_pass(load(cfg))
    # Another run handles the flow: this one leaves it for its next pass.
    with run_lock(url, 0.0, LockBusy) as turns:
        assert turns.take("articoli")
        busy = run_pass(load(cfg))
        assert (busy.outcomes, busy.elsewhere, busy.exit_code) == ([], ["articoli"], 0)
    assert len(run_pass(load(cfg)).outcomes) == 3  # let go: the next run goes


def test_two_machines_running_at_once_write_each_file_once(tmp_path: Path,
                                                         pg: PgServer) -> None:
    import subprocess
    import sys

    files = 150
    world(tmp_path, files)
    url = pg.new_schema(f"{tmp_path}/two")
    configs = [machine(tmp_path, f"m{k}", url) for k in (1, 2)]

    def start(cfg: Path) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "run"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    for _ in range(3):  # at once, three times over: the later ones find little or nothing
        procs = [start(c) for c in configs]
        outs = [p.communicate(timeout=300)[0] for p in procs]
        assert all(p.returncode in (0, 1) for p in procs), outs
    data = sorted(p.name for p in (tmp_path / "erp").glob("ART*.TXT"))
    assert data == [f"ART{n:05d}.TXT" for n in range(1, files + 1)]  # unique, gapless
    codes = [line[:10].strip() for p in (tmp_path / "erp").glob("ART*.TXT")
             for line in p.read_text(encoding="cp1252").splitlines()]
    assert sorted(codes) == sorted(f"A{n:04d}{i}" for n in range(files) for i in range(2))
    led = open_ledger(url)
    try:
        assert {f.state for f in led.files()} == {"done"}
        assert len(led.files()) == files
    finally:
        led.close()


def test_a_database_gone_mid_run_stops_the_pass_and_the_next_goes_on(
        tmp_path: Path, pg: PgServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The server cuts every connection of the run right after the third file's outputs
    were planned: the pass stops with a ledger error; the next one, on new connections,
    finishes every file once, with the names planned before the cut."""
    from bridge import faults

    world(tmp_path, 6)
    url = pg.new_schema(f"{tmp_path}/gone")
    cfg = machine(tmp_path, "m1", url)
    planned = [0]

    def point(name: str) -> None:
        if name == "after-plan":
            planned[0] += 1
            if planned[0] == 3:
                pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = 'bridge' AND pid <> pg_backend_pid()")

    monkeypatch.setattr(faults, "point", point)
    try:
        first = run_pass(load(cfg))
        cut = first.exit_code
    except TransientError as exc:
        cut, first = 3, None
        assert "ledger" in str(exc)
    assert cut == 3
    if first is not None:
        assert any("ledger" in e for e in first.errors + first.internal_errors), first
    second = run_pass(load(cfg))
    assert second.exit_code == 0, second
    data = sorted(p.name for p in (tmp_path / "erp").glob("ART*.TXT"))
    assert data == [f"ART{n:05d}.TXT" for n in range(1, 7)]
    led = open_ledger(url)
    try:
        assert [f.state for f in led.files()] == ["done"] * 6
    finally:
        led.close()


def flows_world(root: Path, flows: int, files: int) -> Path:
    """``flows`` copies of the world's flow, each with its own inbox and ERP folder, and
    ``files`` files in each inbox."""
    cfg = make_world(root, CONFIG)
    text = cfg.read_text(encoding="utf-8")
    head, flow = text.split("flows:\n", 1)
    body = flow.replace("      - dedupe: {key: [codice]}   # an article code already sent "
                        "is not sent again\n", "").replace("    steps:\n", "    steps: []\n")
    parts = []
    for k in range(flows):
        parts.append(body.replace("  articoli:", f"  articoli{k}:")
                     .replace("folder: inbox", f"folder: inbox{k}")
                     .replace("folder: erp", f"folder: erp{k}"))
        (root / f"inbox{k}").mkdir()
        for n in range(files):
            (root / f"inbox{k}" / f"o{n:03d}.csv").write_text(order_file(1000 * k + n, 2),
                                                             encoding="utf-8")
    cfg.write_text(head + "flows:\n" + "".join(parts), encoding="utf-8")
    return cfg


def outputs_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.glob("erp*/*")) if p.is_file()}


@pytest.mark.slow
def test_three_workers_killed_at_random_write_what_one_worker_writes(
        tmp_path: Path, pg: PgServer) -> None:
    """Three workers (processes with their own work areas, as on three machines) run at
    once on one PostgreSQL ledger over four flows, killed with SIGKILL at random moments
    and started again; in the end every file has exactly one output, byte for byte and
    name for name what a single worker with a SQLite ledger writes, and nothing is left
    claimed."""
    import random
    import signal
    import subprocess
    import sys
    import time

    flows, files = 4, 40
    clean = tmp_path / "clean"
    clean.mkdir()
    code = subprocess.run([sys.executable, "-m", "bridge", "--config",
                           str(flows_world(clean, flows, files)), "run"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert code.returncode == 0, code.stdout + code.stderr
    want = outputs_of(clean)
    assert len(want) == 2 * flows * files  # a data file and its done-file each

    shared = tmp_path / "shared"
    shared.mkdir()
    flows_world(shared, flows, files)
    url = pg.new_schema(f"{tmp_path}/workers")
    workers = [machine(shared, f"w{k}", url) for k in range(3)]
    rng = random.Random(20261203)
    kills, deadline = 0, time.monotonic() + 180
    while kills < 12 and time.monotonic() < deadline:
        procs = [subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(w), "run"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for w in workers]
        time.sleep(rng.uniform(0.6, 1.8))
        victim = procs[rng.randrange(3)]
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
            kills += 1
        for p in procs:
            p.wait(timeout=300)
    assert kills >= 10
    for _ in range(2):  # then all three to the end, at once
        procs = [subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(w), "run"],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for w in workers]
        outs = [p.communicate(timeout=300)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
    assert outputs_of(shared) == want
    led = open_ledger(url)
    try:
        assert {f.state for f in led.files()} == {"done"}
        assert len(led.files()) == flows * files
    finally:
        led.close()


def test_a_worker_s_places_and_the_password_come_from_its_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The systemd template unit of docs/scale.md: one configuration, a work area and a
    lock file per worker from ${BRIDGE_WORKER}, the password from the environment and
    never in the configuration's repr."""
    cfg = world(tmp_path, 0)
    text = cfg.read_text(encoding="utf-8")
    text = (text.replace("ledger: state/ledger.sqlite",
                         "ledger: postgresql://bridge:${BRIDGE_DB_PASSWORD}@db.invalid/bridge")
            .replace("work_dir: state/work", "work_dir: .bridge/work-${BRIDGE_WORKER}")
            .replace("lock_file: state/run.lock", "lock_file: .bridge/run-${BRIDGE_WORKER}.lock"))
    cfg.write_text(text, encoding="utf-8")
    monkeypatch.setenv("BRIDGE_WORKER", "2")
    monkeypatch.setenv("BRIDGE_DB_PASSWORD", "pa55-w0rd")
    loaded = load(cfg)
    assert loaded.path(loaded.work_dir) == tmp_path / ".bridge" / "work-2"
    assert loaded.path(loaded.lock_file) == tmp_path / ".bridge" / "run-2.lock"
    assert loaded.ledger_location() == "postgresql://bridge:pa55-w0rd@db.invalid/bridge"
    assert "pa55-w0rd" not in repr(loaded) and "pa55-w0rd" not in str(loaded)
    assert loaded.log_path() == tmp_path / ".bridge" / "bridge.log"
