"""What `bridge watch` says as it stops is true: how many passes it made, and why it stopped
(a configuration error, a signal, the passes asked for), even when it stops at once."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from bridge.config import load
from bridge.engine import watch
from bridge.engine.runner import run_lock
from tests.flowkit import CONFIG, make_world, order_file


def stopped(caplog: pytest.LogCaptureFixture) -> str:
    [line] = [r.getMessage() for r in caplog.records if "bridge watch stopped" in
              r.getMessage()]
    return line


def test_a_configuration_error_at_the_first_pass_is_one_pass_and_said(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = make_world(tmp_path, CONFIG.replace("tracciato: test/out", "tracciato: test/nowhere"))
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="bridge.watch"):
        assert watch.watch_loop(load(cfg), interval=0.1) == 2
    said = stopped(caplog)
    assert "after 1 pass" in said and "after 1 passes" not in said
    assert "configuration error" in said


def test_a_sigterm_before_the_first_pass_says_no_pass_was_made(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    real = watch._observe

    def observe(*args: Any) -> Any:  # the signal comes as watch starts its observer
        os.kill(os.getpid(), signal.SIGTERM)
        return real(*args)

    monkeypatch.setattr(watch, "_observe", observe)
    with caplog.at_level(logging.INFO, logger="bridge.watch"):
        assert watch.watch_loop(load(cfg), interval=0.1) == 0
    said = stopped(caplog)
    assert "before its first pass" in said and "SIGTERM" in said
    assert not (tmp_path / "erp").exists()  # and indeed nothing was taken


def test_passes_another_run_made_are_not_counted_as_its_own(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = make_world(tmp_path)
    (tmp_path / "inbox" / "a.csv").write_text(order_file(1), encoding="utf-8")
    loaded = load(cfg)
    with run_lock(loaded.path(loaded.lock_file)), \
            caplog.at_level(logging.INFO, logger="bridge.watch"):
        assert watch.watch_loop(loaded, interval=0.05, passes=2) == 0
    said = stopped(caplog)
    assert "before its first pass" in said and "another run or an operator held the lock" in said
    assert not (tmp_path / "erp").exists()
