"""An operator's command under `bridge watch --workers N`: each worker runs with a lock file
of its own (``run-K.lock``), and looked for an operator's mark beside that lock, where no
command ever puts one (a command marks the configuration's own lock). The workers never let
a command in: with files streaming, their passes (each holding the ledger's run lock shared)
followed one another, and the command gave up after 30 s, 'a bridge run holds the lock'.
A worker now heeds the mark beside the configuration's lock."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bridge.config import load
from bridge.engine.context import Outcome
from bridge.engine.runner import LockBusy, OperatorWaits, run_pass
from bridge.engine.workers import own_places
from tests.flowkit import machine, make_world, order_file
from tests.pgserver import PgServer

FILES = 20


def worker_world(tmp_path: Path, pg: PgServer, files: int) -> Path:
    make_world(tmp_path)
    for n in range(files):
        (tmp_path / "inbox" / f"a{n:02d}.csv").write_text(order_file(n + 1), encoding="utf-8")
    return machine(tmp_path, "w", pg.new_schema(f"{tmp_path}/workers"))


def test_no_worker_pass_starts_while_an_operator_waits(tmp_path: Path, pg: PgServer) -> None:
    cfg = worker_world(tmp_path, pg, 1)
    lock = tmp_path / "w" / "run.lock"  # the configuration's lock, which commands mark
    mark = lock.with_name(lock.name + ".operator")
    mark.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(mark, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # an operator's command waits (or works)
        with pytest.raises(LockBusy, match="operator"):
            run_pass(own_places(load(cfg), 1, 2))
    finally:
        os.close(fd)
    assert [o.state for o in run_pass(own_places(load(cfg), 2, 2)).outcomes] == ["done"]


def test_a_worker_pass_under_way_lets_a_waiting_operator_in(tmp_path: Path,
                                                            pg: PgServer) -> None:
    cfg = worker_world(tmp_path, pg, FILES)
    lock = tmp_path / "w" / "run.lock"
    started: list[subprocess.Popen[str]] = []

    def report(o: Outcome) -> None:  # at the first file done, an operator's command comes
        if started:
            return
        started.append(subprocess.Popen(
            [sys.executable, "-m", "bridge", "--config", str(cfg), "retry", "999"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        deadline = time.monotonic() + 30  # a loaded machine starts python slowly
        while not OperatorWaits(lock)() and time.monotonic() < deadline:
            time.sleep(0.05)

    result = run_pass(own_places(load(cfg), 1, 2), report=report)
    [proc] = started
    output, _ = proc.communicate(timeout=60)
    assert "no file 999" in output, output  # it got in, and did its (nothing)
    taken = len(result.outcomes)
    assert 1 <= taken < FILES, taken  # the worker stopped for it: the rest waited
    rest = run_pass(own_places(load(cfg), 2, 2))
    assert len(rest.outcomes) == FILES - taken
    assert {o.state for o in result.outcomes + rest.outcomes} == {"done"}
