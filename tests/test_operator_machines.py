"""Several machines on one PostgreSQL ledger: an operator's command (approve, reject, retry)
on one machine waits up to 30 s for the ledger's run lock. The runs of another machine did
not see it waiting: a pass under way there went on to its last file, and the next one
started at once, so that under a steady stream of files the command gave up. A run on any
machine now lets it in, as a run of the command's own work area does: a pass under way
stops at its next file, and none starts while the command waits."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.config import load
from bridge.engine.context import Outcome
from bridge.engine.runner import LockBusy, run_pass
from bridge.ledger.postgres import OPERATOR_LOCK, run_lock
from tests.flowkit import machine
from tests.pgserver import PgServer
from tests.test_ledger_postgres import world

FILES = 30


def operator_waits(url: str) -> bool:
    """Whether the server shows an operator's command holding its mark (any machine)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND "
            "objsubid = 1 AND classid::bigint = %s AND objid::bigint = %s",
            (OPERATOR_LOCK >> 32, OPERATOR_LOCK & 0xFFFFFFFF)).fetchone()
    return bool(row and row[0])


def retry_on(cfg: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "retry",
                             "999"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def until_waiting(url: str) -> bool:
    deadline = time.monotonic() + 30  # a loaded machine starts python slowly
    while not operator_waits(url) and time.monotonic() < deadline:
        time.sleep(0.05)
    return operator_waits(url)


def test_a_pass_on_another_machine_lets_a_waiting_operator_in(tmp_path: Path,
                                                              pg: PgServer) -> None:
    world(tmp_path, FILES)
    url = pg.new_schema(f"{tmp_path}/operators")
    here, there = machine(tmp_path, "a", url), machine(tmp_path, "b", url)
    started: list[subprocess.Popen[str]] = []

    def report(o: Outcome) -> None:  # at the first file done, a command comes on machine a
        if not started:
            started.append(retry_on(here))
            assert until_waiting(url)

    result = run_pass(load(there), report=report)
    [proc] = started
    output, _ = proc.communicate(timeout=90)
    assert "no file 999" in output, output  # it got the lock, and did its (nothing)
    taken = len(result.outcomes)
    assert 1 <= taken < FILES, taken  # the pass on machine b stopped for it
    rest = run_pass(load(there))
    assert len(rest.outcomes) == FILES - taken  # each file once
    assert {o.state for o in result.outcomes + rest.outcomes} == {"done"}


def test_no_pass_starts_on_another_machine_while_an_operator_waits(tmp_path: Path,
                                                                   pg: PgServer) -> None:
    world(tmp_path, 1)
    url = pg.new_schema(f"{tmp_path}/operators")
    here, there = machine(tmp_path, "a", url), machine(tmp_path, "b", url)
    with run_lock(url, 0.0, LockBusy):  # a run on a third machine holds the lock...
        proc = retry_on(here)
        try:
            assert until_waiting(url)  # ...and an operator on machine a waits for it
            loaded = load(there)
        except BaseException:
            proc.kill()
            raise
    try:  # that run ends: machine b's next pass must not cut in before the operator
        with pytest.raises(LockBusy, match="operator"):
            run_pass(loaded)
    finally:
        output, _ = proc.communicate(timeout=90)
    assert "no file 999" in output, output
    assert not operator_waits(url)  # its mark went with it
    assert [o.state for o in run_pass(load(there)).outcomes] == ["done"]


def test_runs_asking_at_once_see_no_operator(pg: PgServer, tmp_path: Path) -> None:
    """Runs on several machines ask, each at most every half second, whether an operator
    waits: two asking at the same instant must not take each other for one (a pass cut
    short, a run given up at its start); an operator's mark is seen."""
    import contextlib
    import threading

    import psycopg

    from bridge.ledger.postgres import Turns

    url = pg.new_schema(f"{tmp_path}/asking")
    with contextlib.ExitStack() as runs:
        mine, *others = (runs.enter_context(run_lock(url, 5.0, LockBusy)) for _ in range(4))
        done = threading.Event()

        def ask_again_and_again(turns: Turns) -> None:
            while not done.is_set():
                turns.operator_waits()

        askers = [threading.Thread(target=ask_again_and_again, args=(t,)) for t in others]
        for asker in askers:
            asker.start()
        try:
            seen = sum(mine.operator_waits() for _ in range(5000))
        finally:
            done.set()
            for asker in askers:
                asker.join(timeout=30)
        assert seen == 0
        with psycopg.connect(url, autocommit=True) as operator:
            operator.execute("SELECT pg_advisory_lock_shared(%s)", (OPERATOR_LOCK,))
            assert mine.operator_waits()
