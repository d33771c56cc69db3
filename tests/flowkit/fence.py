"""The fence an upload calls right before it publishes: here, one that refuses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.errors import LostTurn
from bridge.transport import Transport


def refused_then_published(t: Transport, folder: Path, src: Path, name: str) -> None:
    """``t`` uploads ``src`` as ``name`` into ``folder`` (its local path), under a fence
    that refuses: the fence is called once the whole file is written under a temporary
    name and before anything has the final name; what it raises is raised, and the folder
    is as it was. Then the same upload under a fence that lets it go publishes the file."""
    before = sorted(p.name for p in folder.iterdir())
    seen: list[list[tuple[str, int]]] = []

    def refuse() -> None:
        seen.append([(p.name, p.stat().st_size) for p in folder.iterdir()
                     if p.name not in before])
        raise LostTurn("this run no longer holds the flow")

    with pytest.raises(LostTurn, match="no longer holds"):
        t.upload(src, folder.name, name, fence=refuse)
    size = src.stat().st_size
    assert len(seen) == 1 and len(seen[0]) == 1, seen  # called once, one temporary file
    temporary, written = seen[0][0]
    assert temporary != name and name in temporary and written == size  # whole, not final
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing published, nothing left
    allowed: list[int] = []
    let: Callable[[], None] = lambda: allowed.append(1)  # noqa: E731
    t.upload(src, folder.name, name, fence=let)
    assert allowed == [1] and (folder / name).read_bytes() == src.read_bytes()
