"""Named fault points, for the tests that prove exactly-once and the failure boundary.

``BRIDGE_KILL_AT=name:n`` makes the process kill itself with SIGKILL the n-th time it reaches
the point ``name`` (a real kill: no cleanup, no flush, as a power cut would).
``BRIDGE_RAISE_AT=name:n`` raises :class:`InjectedFault` there instead, the n-th time only:
a stand-in for a bug.
Unset, a point costs one dictionary look-up.
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}
_kill = os.environ.get("BRIDGE_KILL_AT", "")
_raise = os.environ.get("BRIDGE_RAISE_AT", "")


class InjectedFault(Exception):
    """Raised at a fault point on request: what a bug would look like to the engine."""


def point(name: str) -> None:
    if not (_kill or _raise):
        return
    for target, act in ((_kill, _sigkill), (_raise, _fail)):
        want, _, nth = target.partition(":")
        if want == name:
            _counts[name] = _counts.get(name, 0) + 1
            if _counts[name] == int(nth or 1):
                act(name)


def _sigkill(name: str) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _fail(name: str) -> None:
    raise InjectedFault(f"fault injected at {name}")
