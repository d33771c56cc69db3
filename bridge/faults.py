"""Named crash points, for the tests that prove exactly-once.

``BRIDGE_KILL_AT=name:n`` makes the process kill itself with SIGKILL the n-th time it reaches
the point ``name`` (a real kill: no cleanup, no flush, as a power cut would). Unset, a point
costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}
_target = os.environ.get("BRIDGE_KILL_AT", "")


def point(name: str) -> None:
    if not _target:
        return
    want, _, nth = _target.partition(":")
    if want != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
