"""bridge's clocks: wall time for what the ledger records and for retry times, the monotonic
clock for readiness windows (a wall clock that jumps must never make a half file look old).

``BRIDGE_FAKE_CLOCK=PATH`` makes the clocks read that file: ``WALL`` (both clocks) or
``WALL MONO`` (seconds): the one seam tests use to move time, in a subprocess as in-process.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache
from pathlib import Path

from bridge.ledger import Now


@lru_cache(maxsize=1)
def boot_id() -> str:
    """Changes when the machine restarts (and with it the monotonic clock)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return f"since-{time.time() - time.monotonic():.0f}"


def now() -> Now:
    fake = os.environ.get("BRIDGE_FAKE_CLOCK")
    if fake:
        numbers = [float(x) for x in Path(fake).read_text(encoding="ascii").split()]
        return Now(numbers[0], numbers[-1], "fake")
    return Now(time.time(), time.monotonic(), boot_id())
