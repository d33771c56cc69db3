"""An operator's command (approve, reject, retry) waits for the run lock at most 30 s. Under
`bridge watch` taking a steady stream of files, the passes followed one another with no gap
the command could find: it gave up, 'a bridge run holds the lock', again and again. A run
now lets a waiting operator in: a pass under way stops at its next file (the others wait
for the next pass), and none starts while the operator waits."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bridge.cli import main
from bridge.config import load
from bridge.engine.context import Outcome
from bridge.engine.runner import LockBusy, OperatorWaits, run_pass
from tests.flowkit import make_world, order_file

FILES = 30


def test_a_pass_under_way_lets_a_waiting_operator_in(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    for n in range(FILES):
        (tmp_path / "inbox" / f"a{n:02d}.csv").write_text(order_file(n + 1), encoding="utf-8")
    lock = tmp_path / "state" / "run.lock"
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

    result = run_pass(load(cfg), report=report)
    [proc] = started
    output, _ = proc.communicate(timeout=60)
    assert "no file 999" in output, output  # it got the lock, and did its (nothing)
    taken = len(result.outcomes)
    assert 1 <= taken < FILES, taken  # the pass stopped for it: the rest waited
    rest = run_pass(load(cfg))
    assert len(rest.outcomes) == FILES - taken  # each file once
    assert {o.state for o in result.outcomes + rest.outcomes} == {"done"}


def test_no_pass_starts_while_an_operator_waits(tmp_path: Path) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    lock = tmp_path / "state" / "run.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a run holds the lock...
    proc = subprocess.Popen([sys.executable, "-m", "bridge", "--config", str(cfg), "retry",
                             "999"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        while not OperatorWaits(lock)() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert OperatorWaits(lock)()  # ...and an operator waits for it
        loaded = load(cfg)
        os.close(fd)  # the run ends; the next pass must not cut in before the operator
        with pytest.raises(LockBusy, match="operator"):
            run_pass(loaded)
    finally:
        output, _ = proc.communicate(timeout=60)
    assert "no file 999" in output, output
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["done"]


def unopenable_mark(monkeypatch: pytest.MonkeyPatch, lock: Path) -> None:
    """The operator's mark is there, left by another user (``sudo bridge retry``: root's,
    mode 0600), and this user may not open it. Root opens any file whatever its mode: the
    refusal is the system's answer, given for that one path."""
    mark = lock.with_name(lock.name + ".operator")
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_bytes(b"")
    real = os.open

    def refusing(path: object, *args: object, **kwargs: object) -> int:
        if Path(str(path)) == mark:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing)


def test_a_mark_another_user_left_does_not_stop_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run (and watch) died on PermissionError at its start, for as long as the mark
    another user made was there."""
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    unopenable_mark(monkeypatch, tmp_path / "state" / "run.lock")
    assert [o.state for o in run_pass(load(cfg)).outcomes] == ["done"]


def test_a_mark_another_user_left_does_not_stop_operators(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CliRunner) -> None:
    """An operator's command died on it too: it waits for the run lock as it did before."""
    cfg = make_world(tmp_path)
    unopenable_mark(monkeypatch, tmp_path / "state" / "run.lock")
    got = runner.invoke(main, ["--config", str(cfg), "retry", "999"])
    assert "no file 999" in got.output, (got.output, got.exception)


def test_an_operator_behind_another_operator_is_told_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CliRunner) -> None:
    """A command that waited in vain for another operator's command (an approve of a large
    file, a replay) said 'a bridge run holds the lock', and no run was on."""
    from bridge.engine import operator

    cfg = make_world(tmp_path)
    mark = tmp_path / "state" / "run.lock.operator"
    mark.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(mark, os.O_RDWR | os.O_CREAT, 0o600)
    monkeypatch.setattr(operator, "LOCK_WAIT", 0.3)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another operator's command is at work
        got = runner.invoke(main, ["--config", str(cfg), "retry", "999"])
    finally:
        os.close(fd)
    assert got.exit_code == 3, got.output
    assert "another operator's command" in got.output, got.output
    assert "a bridge run holds the lock" not in got.output, got.output
