"""A large file's delta fingerprints go to a file of the work area, not to memory.

An order flow's delta gives a fingerprint an order: held in memory over the whole file,
they grew with it (about 50 MB at 3M rows, past the 500 MB the flows must stay under).
Past ``SPOOL_FROM`` pairs over several chunks they are written to a file as they come, and
read back once, when the ledger records them: the same pairs, a key given again taking
its last fingerprint, as in memory.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.engine import prints as prints_module
from bridge.engine.chunking import Checked
from bridge.engine.prints import Prints

CHUNKS = [
    {"A1": "10,00", "B2": "5,00"},
    {"C3": "7,50", "A1": "11,00"},  # A1 again: its last fingerprint counts
    {"D4": "1,00"},
    {},
    {"E5": "2,00", "B2": "5,50"},
]


def gathered(prints: Prints) -> list[tuple[str, str]]:
    for chunk in CHUNKS:
        prints.update(chunk)
    return list(prints.items())


def test_the_pairs_spooled_are_the_pairs_kept_in_memory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prints_module, "SPOOL_FROM", 3)
    in_memory = gathered(Prints())
    spooled = Prints(tmp_path)
    assert gathered(spooled) == in_memory
    assert dict(in_memory) == {"A1": "11,00", "B2": "5,50", "C3": "7,50", "D4": "1,00",
                               "E5": "2,00"}
    assert spooled.path is not None and spooled.path.parent == tmp_path
    assert spooled._keys == []  # nothing of the first chunks is held in memory
    assert len(spooled) == 7 and spooled.as_dict() == dict(in_memory)  # read again: same
    merged = Prints()
    merged.update(spooled)  # a spooled file's pairs given to another, as they were
    assert list(merged.items()) == in_memory
    spooled.remove()
    assert list(tmp_path.iterdir()) == [] and list(spooled.items()) == []


def test_one_chunk_is_never_spooled_and_forgetting_the_keys_removes_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file read at once (a helper process hands its result back pickled) keeps its
    pairs in memory; a file read in chunks loses its spool with its other keys."""
    monkeypatch.setattr(prints_module, "SPOOL_FROM", 1)
    once = Prints(tmp_path)
    once.update({"A1": "1", "B2": "2"})
    assert once.path is None and list(tmp_path.iterdir()) == []
    checked = Checked(None, fingerprints=Prints(tmp_path))
    for chunk in CHUNKS:
        checked.fingerprints.update(chunk)
    assert [p.name[:8] for p in tmp_path.iterdir()] == [".prints-"]
    checked.forget_keys()
    assert list(tmp_path.iterdir()) == [] and len(checked.fingerprints) == 0


def test_a_killed_reading_s_fingerprints_are_cleared_by_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run killed mid-file leaves its spooled fingerprints; the next reading of the file
    clears them with its parts and keys, before it starts."""
    from bridge.engine.parts import clear_killed

    monkeypatch.setattr(prints_module, "SPOOL_FROM", 1)
    left = Prints(tmp_path)
    for chunk in CHUNKS:
        left.update(chunk)
    left._close()  # never removed: the process died here, its file closed by the system
    assert left.path is not None and left.path.exists()
    (tmp_path / "source").write_bytes(b"kept")
    clear_killed(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["source"]
