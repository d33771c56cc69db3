"""Small files transformed ahead by a second process (bridge.engine.ahead): the same bytes,
the same ledger, whatever the helper does (answers, answers late, fails, dies), and nothing
left behind when `bridge run` itself is killed."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.config import Flow, load
from bridge.engine.ahead import AHEAD_FROM, AHEAD_HERE, Helper, fetch_new
from bridge.engine.pipeline import Pipeline
from bridge.engine.readiness import ready
from bridge.engine.runner import reading
from bridge.ledger import FileRow, open_ledger
from tests.flowkit import CONFIG, make_world, order_file

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                reason="the helper is for machines of two cores or more")

FILES = 120
#: The world's flow, with facts, bad rows skipped, and files of 1,500 bytes or more read in
#: chunks (so some are the helper's and some are not).
FLOW = CONFIG.replace("    retry_backoff: 0\n", """\
    retry_backoff: 0
    on_bad_rows: skip-rows
    chunk_bytes: 1500
    facts: [{table: articolo, kind: item, fields: {code: codice, qty: qty}}]
""")


def fill(root: Path) -> None:
    """FILES inputs: small ones, a few over chunk_bytes, one with a bad row, one with a bad
    file, and articles sent again by the next file (dedupe drops them there); some with CRLF
    line ends or a byte order mark, and rows the target's cp1252 cannot hold, or holding a
    byte that is not UTF-8 or a NUL (each an issue, its row left out)."""
    inbox = root / "inbox"
    for n in range(FILES):
        text = order_file(n, 60 if n % 9 == 4 else 3)
        if n % 5 == 1:  # the first article of the file before, sent again
            text += f"A{n - 1:04d}0;Di nuovo;1,00;1\n"
        if n == 17:
            text += "TROPPO-LUNGO-CODICE;riga cattiva;1,00;1\n"
        if n == 23:
            text = "codice;descrizione;prezzo;qty\nA1;x;non un numero;1\n"
        if n == 30:
            text += "A99990;emoji \U0001f600 fuori da cp1252;1,00;1\n"
        data = text.encode("utf-8")
        if n == 32:
            data += b"A99991;byte \xff non UTF-8;1,00;1\n"
        if n == 33:
            data += b"A99992;un \x00 qui;1,00;1\n"
        if n % 11 == 7:
            data = data.replace(b"\n", b"\r\n")
        if n % 13 == 8:
            data = b"\xef\xbb\xbf" + data
        (inbox / f"o{n:04d}.csv").write_bytes(data)


def run(cfg: Path, env: dict[str, str] | None = None, kill_after: float | None = None
        ) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    out, _ = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def ledger_view(cfg_path: Path) -> dict[str, object]:
    """What the ledger says of every file, output, sent key and fact (ids and times aside)."""
    cfg = load(cfg_path)
    ledger = open_ledger(cfg.path(cfg.ledger))
    try:
        files = sorted(ledger.files(), key=lambda f: f.path)
        view: dict[str, object] = {
            "files": [(f.path, f.state, f.issues) for f in files],
            "outputs": [(f.path, o.name, o.state, o.rows) for f in files
                        for o in ledger.outputs(f.id)],
            "issues": [(f.path, i.code, i.line, i.value) for f in files
                       for i in ledger.issues(f.id)],
            "facts": sorted(str(f.data) for f in ledger.facts(["item"])),
        }
    finally:
        ledger.close()
    db = sqlite3.connect(cfg.path(cfg.ledger))
    view["keys"] = sorted(db.execute(
        "SELECT f.path, k.key FROM sent_keys k JOIN files f ON f.id = k.file_id").fetchall())
    db.close()
    return view


def helper_line(root: Path) -> str:
    lines = [line for line in (root / "state" / "bridge.log").read_text().splitlines()
             if "transformed" in line and "ahead" in line]
    return lines[-1] if lines else ""


def two_worlds(tmp_path: Path) -> tuple[Path, Path]:
    """The same inputs, with and without the helper."""
    alone = make_world(tmp_path / "alone", "transform_ahead: false\n" + FLOW)
    ahead = make_world(tmp_path / "ahead", FLOW)
    fill(tmp_path / "alone")
    fill(tmp_path / "ahead")
    got = run(alone)
    assert got.returncode == 1, got.stdout  # two files rejected
    assert helper_line(tmp_path / "alone") == ""
    return alone, ahead


def test_files_transformed_ahead_write_what_one_process_writes(tmp_path: Path) -> None:
    alone, ahead = two_worlds(tmp_path)
    got = run(ahead)
    assert got.returncode == 1, got.stdout
    line = helper_line(tmp_path / "ahead")
    used = int(line.split("transformed ")[1].split(" file")[0])
    assert used >= 5, line  # once up (it starts while this process takes the first ones)
    assert tree(tmp_path / "ahead" / "erp") == tree(tmp_path / "alone" / "erp")
    assert len(tree(tmp_path / "ahead" / "erp")) == 2 * (FILES - 1)
    view = ledger_view(ahead)
    assert view == ledger_view(alone)
    issues = view["issues"]
    assert isinstance(issues, list)
    codes = {(path, code) for path, code, _, _ in issues}
    assert {("o0030.csv", "unencodable"), ("o0032.csv", "bad-encoding"),
            ("o0033.csv", "nul-byte")} <= codes
    # The reports of the files with bad rows too, and no helper folder is left.
    reports = sorted(p.name for p in (tmp_path / "ahead").rglob("*report*") if p.is_file())
    assert reports == sorted(p.name for p in (tmp_path / "alone").rglob("*report*")
                             if p.is_file())
    assert list((tmp_path / "ahead" / "state" / "work").glob("*/ahead-*")) == []


def test_a_deltas_fingerprints_made_ahead_are_those_made_alone(tmp_path: Path) -> None:
    """A delta (no gone: the helper takes its files) gathers its fingerprints in the
    helper; handed over, they are recorded as one process records them, and each file
    sends what changed since the files before it."""
    flow = FLOW.replace("      - dedupe: {key: [codice]}   # an article code already sent is not "
                        "sent again\n", "      - delta: {key: [codice], fields: [prezzo]}\n")
    assert "delta" in flow
    worlds = {name: make_world(tmp_path / name, extra + flow)
              for name, extra in (("alone", "transform_ahead: false\n"), ("ahead", ""))}
    for name in worlds:
        for n in range(FILES):  # as many as above: the helper is up well before the last
            text = order_file(n, 3)
            if n >= 5:  # the first article of five files back, its price changed or not
                text += f"A{n - 5:04d}0;Di nuovo;{n - 5},{'05' if n % 2 else '99'};1\n"
            (tmp_path / name / "inbox" / f"o{n:04d}.csv").write_text(text, encoding="utf-8")
    for cfg in worlds.values():
        assert run(cfg).returncode == 0
    line = helper_line(tmp_path / "ahead")
    assert int(line.split("transformed ")[1].split(" file")[0]) >= 5, line
    assert helper_line(tmp_path / "alone") == ""
    assert tree(tmp_path / "ahead" / "erp") == tree(tmp_path / "alone" / "erp")

    def prints(cfg: Path) -> list[tuple[str, str, str]]:
        db = sqlite3.connect(load(cfg).path(load(cfg).ledger))
        try:
            return sorted(db.execute("SELECT f.path, p.key, p.fingerprint FROM fingerprints p "
                                     "JOIN files f ON f.id = p.file_id").fetchall())
        finally:
            db.close()

    recorded = prints(worlds["ahead"])
    assert recorded == prints(worlds["alone"])
    changed = len(range(6, FILES, 2))  # the articles sent again at another price (n even)
    assert len(recorded) == FILES * 3 + changed  # and every new article


def pipeline_of(cfg_path: Path) -> Pipeline:
    """A pipeline on the world's configuration and ledger, as a pass makes one."""
    cfg = load(cfg_path)
    return Pipeline(cfg, open_ledger(cfg.path(cfg.ledger)), {}, None, reading(time.time))


def fetched_two(cfg_path: Path) -> tuple[Pipeline, Flow, FileRow, FileRow]:
    """A pipeline on the world's ledger, with the world's two files claimed and fetched."""
    pipe = pipeline_of(cfg_path)
    flow = pipe.cfg.flows["articoli"]
    listing = ready(pipe, "articoli", flow, None)
    rows = [fetch_new(pipe, "articoli", flow, e, o) for e, o in listing.ready]
    assert len(rows) == 2 and all(isinstance(r, tuple) for r in rows)
    (r1, _), (r2, _) = rows  # type: ignore[misc]
    return pipe, flow, r1, r2


def ready_helper(pipe: Pipeline) -> Helper:
    """A helper started for ``pipe``, once it has said it is ready (within a minute)."""
    helper = Helper.start(pipe)
    deadline = time.monotonic() + 60
    while not helper._is_ready():
        assert time.monotonic() < deadline, "the helper never said it was ready"
        time.sleep(0.05)
    return helper


def test_a_key_sent_while_the_helper_worked_makes_the_file_transformed_again(
        tmp_path: Path) -> None:
    """The helper transforms file 2 before file 1 is planned: both send article A00010.
    Asked again, the ledger now has it as sent: the helper's work is set aside and file 2
    is transformed here, without the article, as one process does it."""
    cfg_path = make_world(tmp_path, FLOW)
    (tmp_path / "inbox" / "o1.csv").write_text(order_file(1, 2), encoding="utf-8")
    (tmp_path / "inbox" / "o2.csv").write_text(order_file(2, 2) + "A00010;Di nuovo;1,00;1\n",
                                               encoding="utf-8")
    pipe, flow, r1, r2 = fetched_two(cfg_path)
    ledger = pipe.ledger
    try:
        helper = ready_helper(pipe)
        helper.send(pipe, r2, flow)  # type: ignore[arg-type]
        assert helper._answer(r2.id)[0] == "done"  # type: ignore[union-attr]
        assert pipe.advance(r1.id).state == "done"  # type: ignore[union-attr]
        pipe.ahead = helper
        assert pipe.advance(r2.id).state == "done"  # type: ignore[union-attr]
        assert helper.tally == {"stale": 1}
        helper.close()
        assert helper.proc is not None and helper.proc.returncode == 0  # ended by itself
    finally:
        ledger.close()
    second = (tmp_path / "erp" / "ART00002.TXT").read_bytes().decode("cp1252")
    assert "A00010" not in second and second.count("\r\n") == 2
    assert list((tmp_path / "state" / "work").glob("*/ahead-*")) == []


@pytest.mark.parametrize("fault", ["BRIDGE_HELPER_KILL_AT", "BRIDGE_HELPER_RAISE_AT"])
def test_a_helper_that_dies_or_fails_costs_its_work_and_nothing_else(
        tmp_path: Path, fault: str) -> None:
    alone, ahead = two_worlds(tmp_path)
    got = run(ahead, {fault: "stream-part:6"})
    assert got.returncode == 1, got.stdout
    line = helper_line(tmp_path / "ahead")
    if fault == "BRIDGE_HELPER_KILL_AT":
        assert "stopped answering" in (tmp_path / "ahead" / "state" / "bridge.log").read_text()
        assert "because it was lost" in line and not line.endswith(" 0 because it was lost")
    else:
        assert " 1 because the helper failed on them" in line, line
    assert tree(tmp_path / "ahead" / "erp") == tree(tmp_path / "alone" / "erp")
    assert ledger_view(ahead) == ledger_view(alone)


def _helpers_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"bridge.engine.ahead_serve" in argv and argv[-2:-1] == [str(pid).encode()]:
                found.append(int(entry.name))
    return found


def _helper_at_work(work: Path) -> bool:
    """Whether one of the newest files of the work area has a helper's folder in it."""
    with contextlib.suppress(OSError):
        ids = sorted(int(p.name) for p in work.iterdir() if p.name.isdigit())
        return any(list((work / str(i)).glob("ahead-[0-9]*")) for i in ids[-3:])
    return False


@pytest.mark.parametrize("point", ["after-plan:40", "before-written:70", "after-claim:100"])
def test_bridge_run_killed_takes_its_helper_with_it_and_the_rerun_finishes(
        tmp_path: Path, point: str) -> None:
    alone, ahead = two_worlds(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(ahead), "run"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "BRIDGE_KILL_AT": point})
    assert proc.wait(timeout=300) == -signal.SIGKILL
    deadline = time.monotonic() + 10
    while _helpers_of(proc.pid):  # the helper dies with it, not left writing
        assert time.monotonic() < deadline, "the helper outlived bridge run"
        time.sleep(0.05)
    got = run(ahead)
    assert got.returncode in (0, 1), got.stdout  # 1: the bad file came after the kill
    assert "Traceback" not in got.stdout
    assert tree(tmp_path / "ahead" / "erp") == tree(tmp_path / "alone" / "erp")
    assert ledger_view(ahead) == ledger_view(alone)
    assert list((tmp_path / "ahead" / "state" / "work").glob("*/ahead-*")) == []


def test_ctrl_c_ends_bridge_run_and_its_helper_and_the_rerun_finishes(tmp_path: Path) -> None:
    """SIGINT to the process group, as a terminal's Ctrl-C sends it, mid-run."""
    worlds = {}
    for name, head in (("alone", "transform_ahead: false\n"), ("ahead", "")):
        worlds[name] = make_world(tmp_path / name, head + FLOW)
        fill(tmp_path / name)
        for n in range(1000, 1400):  # enough files that the run is still busy at the signal
            (tmp_path / name / "inbox" / f"p{n}.csv").write_text(order_file(n, 3),
                                                                 encoding="utf-8")
    assert run(worlds["alone"]).returncode == 1  # two files rejected
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(worlds["ahead"]),
                             "run"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    erp, work = tmp_path / "ahead" / "erp", tmp_path / "ahead" / "state" / "work"
    deadline = time.monotonic() + 120
    # The helper at work on a file (a folder of its own for it), and outputs written. Such a
    # folder lives a few milliseconds only (it becomes the file's render folder): looked
    # for among the newest files alone, often.
    seen = False
    while not (seen and len(list(erp.glob("*.TXT"))) >= 30):
        assert proc.poll() is None and time.monotonic() < deadline, "no helper at work"
        seen = seen or _helper_at_work(work)
        time.sleep(0.002)
    assert _helpers_of(proc.pid), "no helper was running"
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "interrupted" in out and "Traceback" not in out
    assert len(list(erp.glob("*.TXT"))) < FILES + 400 - 2  # it stopped before the end
    deadline = time.monotonic() + 10
    while _helpers_of(proc.pid):
        assert time.monotonic() < deadline, "the helper outlived bridge run"
        time.sleep(0.05)
    got = run(worlds["ahead"])
    assert got.returncode in (0, 1), got.stdout
    assert tree(erp) == tree(tmp_path / "alone" / "erp")
    assert ledger_view(worlds["ahead"]) == ledger_view(worlds["alone"])
    assert list(work.glob("*/ahead-*")) == []


def test_no_helper_for_a_few_files(tmp_path: Path) -> None:
    cfg = make_world(tmp_path, FLOW)
    for n in range(AHEAD_FROM - 1):
        (tmp_path / "inbox" / f"o{n}.csv").write_text(order_file(n, 2), encoding="utf-8")
    got = run(cfg)
    assert got.returncode == 0, got.stdout
    assert len(list((tmp_path / "erp").glob("*.TXT"))) == AHEAD_FROM - 1
    assert helper_line(tmp_path) == ""


def test_the_helper_starts_while_a_new_configuration_is_checked(tmp_path: Path) -> None:
    """A flow whose configuration is not known good yet is checked first, which takes this
    process about half a second: the helper is started before that check, so that its own
    imports overlap it. Not where the check is skipped (known good), not for a dry run or
    a flow another worker may carry on (``early`` false), and not where it could not help
    (``transform_ahead: false``)."""
    from bridge.engine import runner

    first = pipeline_of(make_world(tmp_path / "new", FLOW))
    runner._check(first, "articoli", early=True)
    helper = first.ahead
    assert helper is not None and helper.alive and helper.proc is not None
    assert helper.proc.poll() is None  # started, and running
    helper.close()
    assert helper.proc.poll() is not None and not helper.alive  # ended with the pass
    first.ledger.close()
    known = pipeline_of(tmp_path / "new" / "bridge.yaml")  # the same, checked once already
    runner._check(known, "articoli", early=True)
    assert known.ahead is None and "articoli" in known.checked
    known.ledger.close()
    later = pipeline_of(make_world(tmp_path / "later", FLOW))
    runner._check(later, "articoli", early=False)
    assert later.ahead is None and "articoli" in later.checked
    later.ledger.close()
    off = pipeline_of(make_world(tmp_path / "off", "transform_ahead: false\n" + FLOW))
    runner._check(off, "articoli", early=True)
    assert off.ahead is None and "articoli" in off.checked
    off.ledger.close()


def test_a_helper_started_before_a_check_that_fails_ends_with_the_pass(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check refuses the configuration (a field the steps use renamed in the
    tracciato): the flow is not carried on, and the helper started before the check is
    not left running once the pass is over."""
    from bridge.engine.runner import run_pass

    started: list[Helper] = []
    real = Helper.start.__func__  # type: ignore[attr-defined]

    def spied(cls: type[Helper], pipe: Pipeline) -> Helper:
        started.append(real(cls, pipe))
        return started[-1]

    monkeypatch.setattr(Helper, "start", classmethod(spied))
    cfg = make_world(tmp_path, FLOW)
    for n in range(AHEAD_FROM):
        (tmp_path / "inbox" / f"o{n}.csv").write_text(order_file(n, 2), encoding="utf-8")
    layout = tmp_path / "tracciati" / "test" / "in.yaml"
    layout.write_text(layout.read_text(encoding="utf-8").replace(
        "name: codice,", "name: codic,"), encoding="utf-8")
    result = run_pass(load(cfg))
    assert result.exit_code == 2 and "has no field 'codice'" in result.config_errors[0]
    assert len(started) == 1  # before the check, which then failed
    proc = started[0].proc
    assert proc is not None and proc.poll() is not None and not started[0].alive
    assert _helpers_of(os.getpid()) == []
    assert len(list((tmp_path / "inbox").glob("*.csv"))) == AHEAD_FROM  # none taken


def test_workers_start_helpers_only_with_two_cores_each(tmp_path: Path) -> None:
    from bridge.engine.workers import own_places

    cfg = load(make_world(tmp_path, FLOW))
    assert cfg.transform_ahead
    # Measured: on 2 cores, 2 workers with helpers did 0.91x the files/s of 2 without.
    assert not own_places(cfg, 1, workers=2, cores=2).transform_ahead
    assert not own_places(cfg, 2, workers=3, cores=5).transform_ahead
    assert own_places(cfg, 1, workers=2, cores=4).transform_ahead
    assert own_places(cfg, 1, workers=1, cores=2).transform_ahead
    off = cfg.model_copy(update={"transform_ahead": False})
    assert not own_places(off, 1, workers=1, cores=8).transform_ahead
    # the work area and lock file are the worker's own, whatever the cores
    mine = own_places(cfg, 2, workers=2, cores=2)
    assert Path(mine.work_dir).name == "worker-2" and Path(mine.lock_file).stem == "run-2"


@pytest.mark.parametrize("harm", ["gone", "changed"])
def test_kept_bytes_gone_or_changed_after_the_plan_are_rendered_again(
        tmp_path: Path, harm: str) -> None:
    """Within a pass, a file's outputs go from its plan to its targets without being read
    back; across a kill they are read back from the work area and checked against their
    sha256: gone or changed, they are rendered again, the same bytes."""
    worlds = {}
    for name in ("clean", "crash"):
        worlds[name] = make_world(tmp_path / name, FLOW)
        (tmp_path / name / "inbox" / "o1.csv").write_text(order_file(1, 4), encoding="utf-8")
    assert run(worlds["clean"]).returncode == 0
    got = run(worlds["crash"], {"BRIDGE_KILL_AT": "after-plan:1"})
    assert got.returncode == -signal.SIGKILL
    (kept,) = (tmp_path / "crash" / "state" / "work").glob("*/render/0.out")
    if harm == "gone":
        kept.unlink()
    else:
        kept.write_bytes(kept.read_bytes().replace(b"A00010", b"Z99999"))
    got = run(worlds["crash"])
    assert got.returncode == 0, got.stdout
    assert tree(tmp_path / "crash" / "erp") == tree(tmp_path / "clean" / "erp")
    assert len(tree(tmp_path / "clean" / "erp")) == 2


def test_a_file_that_must_wait_stops_the_flow_with_the_files_fetched_ahead(
        tmp_path: Path) -> None:
    """The target is a file where its folder should be: the first file is retrying, the
    flow stops there. The files fetched ahead of it (the helper's, and one for this process
    to transform while it waits) wait, fetched, and the others are not touched; once the
    target is fixed, the next pass writes them all, in order, the bytes of a run that never
    failed."""
    clean = make_world(tmp_path / "clean", FLOW)
    stuck = make_world(tmp_path / "stuck", FLOW)
    for root in (tmp_path / "clean", tmp_path / "stuck"):
        for n in range(12):
            (root / "inbox" / f"o{n:04d}.csv").write_text(order_file(n, 3), encoding="utf-8")
    assert run(clean).returncode == 0
    (tmp_path / "stuck" / "erp").write_text("not a folder", encoding="utf-8")
    got = run(stuck)
    assert got.returncode == 3, got.stdout
    assert "o0000.csv: retrying" in got.stdout and "o0001.csv" not in got.stdout
    cfg = load(stuck)
    ledger = open_ledger(cfg.path(cfg.ledger))
    states = sorted((f.path, f.state) for f in ledger.files())
    ledger.close()
    ahead = [(f"o{n:04d}.csv", "fetched") for n in range(1, AHEAD_HERE + 2)]
    assert states in [[("o0000.csv", "retrying"), *ahead[:n]] for n in range(len(ahead) + 1)]
    left = sorted(p.name for p in (tmp_path / "stuck" / "inbox").iterdir()
                  if not p.name.startswith("."))
    assert left == [f"o{n:04d}.csv" for n in range(len(states), 12)]
    (tmp_path / "stuck" / "erp").unlink()
    got = run(stuck)
    assert got.returncode == 0, got.stdout
    assert tree(tmp_path / "stuck" / "erp") == tree(tmp_path / "clean" / "erp")
    assert len(tree(tmp_path / "clean" / "erp")) == 24
