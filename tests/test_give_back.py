"""When a reading hands memory back to the system (bridge/engine/chunking.py): every
16 MB read (a hand-back after every chunk cost a large file a tenth of its time in page
faults), and after every chunk while the process holds more than its limit."""

from __future__ import annotations

import pytest

import bridge.engine.chunking as chunking


def test_memory_goes_back_every_16_mb_read_or_past_the_resident_limit(
        monkeypatch: pytest.MonkeyPatch) -> None:
    trims: list[int] = []
    monkeypatch.setattr(chunking, "_TRIM", lambda pad: trims.append(pad) or 1)
    monkeypatch.setattr(chunking, "_read", [0])
    held = chunking.resident()
    assert 10 << 20 < held < 4 << 30  # this process, read from the system
    for _ in range(3):
        chunking.give_back(5 << 20)  # three chunks of 5 MB: not yet
    assert trims == []
    chunking.give_back(5 << 20)
    assert trims == [0] and chunking._read == [0]
    chunking.give_back(1 << 20)
    assert trims == [0]
    monkeypatch.setattr(chunking, "GIVE_BACK_ABOVE", held // 2)  # past the limit: at once
    chunking.give_back(1)
    chunking.give_back(1)
    assert trims == [0, 0, 0]
