"""A large file read in chunks (the next chunk decoded in a thread, bridge.codecs.ahead) whose
bytes stop being readable in the middle: an I/O error of the disk under bridge's copy."""

from __future__ import annotations

import errno
import io
import pathlib
import threading
from pathlib import Path
from typing import Any

import pytest

from bridge.config import load
from bridge.engine.runner import run_pass
from tests.flowkit import make_world, order_file
from tests.test_ahead import FLOW, ledger_view, tree

#: Rows of the large file (about 120 kB, read 1,500 bytes at a time).
ROWS = 3000


class Unreadable(io.RawIOBase):
    """A file whose bytes past ``good`` cannot be read (EIO), as a bad block's."""

    def __init__(self, inner: io.BufferedReader, good: int) -> None:
        self.inner, self.good, self.at = inner, good, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.at >= self.good:
            raise OSError(errno.EIO, "Input/output error")
        data = self.inner.read(min(len(buffer), self.good - self.at))
        buffer[:len(data)] = data
        self.at += len(data)
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


def test_an_unreadable_block_mid_file_fails_the_read_says_so_and_publishes_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    worlds = {name: make_world(tmp_path / name, FLOW) for name in ("clean", "bad")}
    for name in worlds:
        (tmp_path / name / "inbox" / "big.csv").write_text(order_file(7, ROWS),
                                                           encoding="utf-8")
    size = (tmp_path / "bad" / "inbox" / "big.csv").stat().st_size
    assert size > 50 * 1500  # many chunks: the error comes in the middle
    assert run_pass(load(worlds["clean"])).outcomes[0].state == "done"
    real = pathlib.Path.open

    def opening(self: Path, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        got = real(self, mode, *args, **kwargs)
        if self.name == "source" and mode == "rb":
            return io.BufferedReader(Unreadable(got, size // 2))
        return got

    monkeypatch.setattr(pathlib.Path, "open", opening)
    (first,) = run_pass(load(worlds["bad"])).outcomes
    monkeypatch.undo()
    assert [t.name for t in threading.enumerate() if t.name == "bridge-read-ahead"] == []
    assert first.state == "retrying", first
    assert "cannot read" in first.message and "Input/output error" in first.message, first
    assert list((tmp_path / "bad" / "erp").glob("*")) == []  # nothing published
    assert [p for p in (tmp_path / "bad" / "state" / "work").rglob("render/*")] == []
    (again,) = run_pass(load(worlds["bad"])).outcomes  # the disk mended: read again, once
    assert again.state == "done", again
    assert tree(tmp_path / "bad" / "erp") == tree(tmp_path / "clean" / "erp")
    assert ledger_view(worlds["bad"]) == ledger_view(worlds["clean"])
