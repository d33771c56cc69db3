"""The helper of bridge.engine.ahead under unlucky faults: a reference table rewritten while
it works, a helper that hangs (no answer: given up after its wait), a helper whose disk is
full (its writes fail: its folder is not left behind)."""

from __future__ import annotations

import logging
import os
import pickle
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.engine import ahead
from tests.flowkit import make_world, order_file
from tests.test_ahead import FLOW, fetched_two, ready_helper, tree

pytestmark = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                reason="the helper is for machines of two cores or more")

#: The world's flow, each article's description taken from a master table.
LOOKED_UP = "references:\n  master: {file: master.csv, tracciato: test/in}\n" + FLOW.replace(
    "      - dedupe: {key: [codice]}   # an article code already sent is not sent again\n",
    "      - lookup: {reference: master, match: [{field: codice, on: codice}],\n"
    "                 take: {descrizione: descrizione}}\n")


def master(root: Path, word: str) -> None:
    rows = "".join(f"A{n:04d}{i};{word} {n}{i};1,00;1\n" for n in (1, 2) for i in range(2))
    (root / "master.csv").write_text("codice;descrizione;prezzo;qty\n" + rows,
                                     encoding="utf-8")


def two_files(root: Path) -> Path:
    cfg = make_world(root, LOOKED_UP)
    assert "lookup" in cfg.read_text(encoding="utf-8")
    master(root, "Vecchio")
    for n in (1, 2):
        (root / "inbox" / f"o{n}.csv").write_text(order_file(n, 2), encoding="utf-8")
    return cfg


def test_a_reference_rewritten_while_the_helper_worked_is_the_one_the_pass_read(
        tmp_path: Path) -> None:
    """A pass reads a reference table once: file 1 is written with the master as it was.
    The master is then rewritten, and the helper, reading it for the first time, transforms
    file 2 with the new one. Its work is set aside: file 2 is transformed here, with the
    master the pass read, as one process does it (the new master is the next pass's)."""
    pipe, flow, r1, r2 = fetched_two(two_files(tmp_path))
    ledger = pipe.ledger
    try:
        assert pipe.advance(r1.id).state == "done"  # type: ignore[union-attr]
        master(tmp_path, "Nuovo")
        helper = ready_helper(pipe)
        helper.send(pipe, r2, flow)  # type: ignore[arg-type]
        assert helper._answer(r2.id)[0] == "done"  # type: ignore[union-attr]
        pipe.ahead = helper
        assert pipe.advance(r2.id).state == "done"  # type: ignore[union-attr]
        helper.close()
    finally:
        ledger.close()
    out = tree(tmp_path / "erp")
    assert b"Vecchio 10" in out["ART00001.TXT"]
    assert b"Vecchio 20" in out["ART00002.TXT"] and b"Nuovo" not in out["ART00002.TXT"]
    assert helper.tally == {"stale": 1}
    assert list((tmp_path / "state" / "work").glob("*/ahead-*")) == []


def plain_two(root: Path) -> Path:
    cfg = make_world(root, FLOW)
    for n in (1, 2):
        (root / "inbox" / f"o{n}.csv").write_text(order_file(n, 2), encoding="utf-8")
    return cfg


def carry_alone(cfg: Path) -> None:
    """The world's two files carried on by this process alone, in order."""
    pipe, _, c1, c2 = fetched_two(cfg)
    try:
        assert [pipe.advance(r.id).state for r in (c1, c2)] == ["done", "done"]  # type: ignore[union-attr]
    finally:
        pipe.ledger.close()


def test_a_hung_helper_is_given_up_after_its_wait_and_killed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
        ) -> None:
    """The helper stopped (SIGSTOP) with a file in its hands: this process waits for it
    :data:`ahead.WAIT` seconds, no more, says so, kills it and transforms the file itself.
    Nothing of the helper is left, running or on the disk."""
    monkeypatch.setattr(ahead, "WAIT", 2.0)
    clean = plain_two(tmp_path / "clean")
    pipe, flow, r1, r2 = fetched_two(plain_two(tmp_path / "hung"))
    ledger = pipe.ledger
    try:
        helper = ready_helper(pipe)
        assert helper.proc is not None
        os.kill(helper.proc.pid, signal.SIGSTOP)
        helper.send(pipe, r2, flow)  # type: ignore[arg-type]
        assert r2.id in helper.asked  # type: ignore[union-attr]
        assert pipe.advance(r1.id).state == "done"  # type: ignore[union-attr]
        pipe.ahead = helper
        start = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="bridge.ahead"):
            assert pipe.advance(r2.id).state == "done"  # type: ignore[union-attr]
        assert time.monotonic() - start < 60
        assert "stopped answering" in caplog.text
        assert helper.tally == {"lost": 1} and not helper.alive
        assert helper.proc.returncode == -signal.SIGKILL  # killed, not left stopped
        helper.close()
    finally:
        ledger.close()
    carry_alone(clean)
    assert tree(tmp_path / "hung" / "erp") == tree(tmp_path / "clean" / "erp")
    assert list((tmp_path / "hung" / "state" / "work").glob("*/ahead-*")) == []


def test_a_helper_whose_disk_is_full_costs_its_work_only(tmp_path: Path) -> None:
    """The helper may write no file past 64 bytes (RLIMIT_FSIZE, as a full disk): its
    transform fails, it says so, and the file is transformed here, the bytes of a run
    without it; its half-written folder is not left behind, and it is still up."""
    clean = plain_two(tmp_path / "clean")
    pipe, flow, r1, r2 = fetched_two(plain_two(tmp_path / "full"))
    ledger = pipe.ledger
    try:
        helper = ready_helper(pipe)
        assert helper.proc is not None
        resource.prlimit(helper.proc.pid, resource.RLIMIT_FSIZE, (64, 64))
        helper.send(pipe, r2, flow)  # type: ignore[arg-type]
        answer = helper._answer(r2.id)  # type: ignore[union-attr]
        assert answer is not None and answer[0] == "failed", answer
        assert "File too large" in answer[2], answer
        assert pipe.advance(r1.id).state == "done"  # type: ignore[union-attr]
        pipe.ahead = helper
        assert pipe.advance(r2.id).state == "done"  # type: ignore[union-attr]
        assert helper.tally == {"failed": 1} and helper.alive
        helper.close()
        assert helper.proc.returncode == 0
    finally:
        ledger.close()
    carry_alone(clean)
    assert tree(tmp_path / "full" / "erp") == tree(tmp_path / "clean" / "erp")
    assert list((tmp_path / "full" / "state" / "work").glob("*/ahead-*")) == []


def test_a_stop_sent_to_the_whole_group_lets_the_helper_end_with_the_pass(
        tmp_path: Path) -> None:
    """systemd stops `bridge watch` by SIGTERM to every process of the service, the helper
    included: the watch finishes its file and exits 0, and its helper ends with it, not
    before (a helper killed under it would be told as one that stopped answering, and its
    files transformed again). The next run finishes, the bytes and ledger of one process."""
    from tests.test_ahead import FILES, _helper_at_work, _helpers_of, fill, ledger_view, run

    worlds = {}
    for name, head in (("alone", "transform_ahead: false\n"), ("ahead", "")):
        worlds[name] = make_world(tmp_path / name, head + FLOW)
        fill(tmp_path / name)
        for n in range(1000, 1400):  # enough files that the pass is still busy at the stop
            (tmp_path / name / "inbox" / f"p{n}.csv").write_text(order_file(n, 3),
                                                                 encoding="utf-8")
    assert run(worlds["alone"]).returncode == 1  # two files rejected
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(worlds["ahead"]),
                             "watch", "--interval", "0.5"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    erp, work = tmp_path / "ahead" / "erp", tmp_path / "ahead" / "state" / "work"
    try:
        deadline = time.monotonic() + 120
        seen = False
        while not (seen and len(list(erp.glob("*.TXT"))) >= 30):
            assert proc.poll() is None and time.monotonic() < deadline, "no helper at work"
            seen = seen or _helper_at_work(work)
            time.sleep(0.002)
        (helper,) = _helpers_of(proc.pid)
        # Caught in the middle of its work: stopped until the stop reaches the group, so
        # that it has files in hand when the signal comes (it is the slower half here).
        os.kill(helper, signal.SIGSTOP)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGTERM)
        os.kill(helper, signal.SIGCONT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == 0, out
    assert len(list(erp.glob("*.TXT"))) < FILES + 400 - 2  # it stopped before the end
    said = (tmp_path / "ahead" / "state" / "bridge.log").read_text(encoding="utf-8")
    assert "stopped answering" not in said + out
    lines = [line for line in said.splitlines() if "a second process transformed" in line]
    assert lines and lines[-1].endswith(" 0 because it was lost"), lines
    assert "Traceback" not in said + out
    deadline = time.monotonic() + 10
    while _helpers_of(proc.pid):
        assert time.monotonic() < deadline, "the helper outlived bridge watch"
        time.sleep(0.05)
    got = run(worlds["ahead"])
    assert got.returncode in (0, 1), got.stdout
    assert tree(erp) == tree(tmp_path / "alone" / "erp")
    assert ledger_view(worlds["ahead"]) == ledger_view(worlds["alone"])
    assert list(work.glob("*/ahead-*")) == []


#: Put first on the helper's path: it stops itself (SIGSTOP) as it starts, before it reads
#: anything from this process, as a helper hung at its start would.
STOPS_AT_START = """\
import os, signal
with open("/proc/self/cmdline", "rb") as f:
    if b"bridge.engine.ahead_serve" in f.read():
        os.kill(os.getpid(), signal.SIGSTOP)
"""


def test_a_helper_hung_at_its_start_does_not_hold_up_a_large_configuration(
        tmp_path: Path) -> None:
    """A configuration of many flows is more than a pipe holds (64 kB): handed to a helper
    that hangs before it reads it, it held `bridge run` for ever. The run goes on, without
    the helper, which is not left behind."""
    from bridge.config import load
    from tests.flowkit import flows_world
    from tests.test_ahead import _helpers_of

    flows = 130
    cfg = flows_world(tmp_path, flows, 1)
    assert len(pickle.dumps(load(cfg), protocol=pickle.HIGHEST_PROTOCOL)) > 1 << 16
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(STOPS_AT_START, encoding="utf-8")
    path = os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")])
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": path})
    try:
        out, _ = proc.communicate(timeout=90)  # a few seconds
    except subprocess.TimeoutExpired:
        for pid in _helpers_of(proc.pid):
            os.kill(pid, signal.SIGKILL)
        proc.kill()
        proc.communicate(timeout=30)
        pytest.fail("bridge run waited for ever for a helper hung at its start")
    assert proc.returncode == 0, out
    assert len(list(tmp_path.glob("erp*/ART*.TXT"))) == flows
    assert _helpers_of(proc.pid) == []
