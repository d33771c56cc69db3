"""Which files of a source folder are ready to be taken, and in what order.

- ``stable`` (default): size and mtime unchanged for ``window`` seconds and first seen at
  least ``min_age`` seconds ago, both on bridge's monotonic clock (the server's clock and
  bridge's wall clock are never trusted for a window);
- ``done-file``: the sender's ``NAME<suffix>`` is there.

Besides: a name bridge holds as its own (``.bridge-claim-ID``) is never a candidate; a file
found incomplete at this very size and mtime waits until it changes, or until
``max_wait``; on local folders watched with close-after-write events, a file still open for
writing waits too (``busy``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bridge.ledger import CLAIM_PREFIX
from bridge.transport import matches

if TYPE_CHECKING:
    from bridge.config import Flow
    from bridge.engine.context import Context
    from bridge.ledger import Observation
    from bridge.transport import Entry

#: Asked per (flow, name): True while a writer still has the file open.
Busy = Callable[[str, str], bool]


def candidates(flow: Flow, listing: list[Entry]) -> list[Entry]:
    """The listed names a flow takes (a plain function: tested without disks)."""
    rule = flow.source.ready
    return [e for e in listing
            if not e.name.startswith(CLAIM_PREFIX)
            and matches(e.name, flow.source.patterns, flow.source.ignore)
            and not (rule.rule == "done-file" and e.name.endswith(rule.done_suffix))]


def ready(ctx: Context, name: str, flow: Flow, busy: Busy | None = None
          ) -> tuple[list[tuple[Entry, Observation]], int]:
    """The files of a flow's folder that are complete, in the flow's processing order, and
    how many others wait for their window."""
    src = ctx.transport(flow.source.connection)
    listing = src.list(flow.source.folder)
    names = {e.name for e in listing}
    rule = flow.source.ready
    wanted = candidates(flow, listing)
    seen = ctx.ledger.observe(name, [(e.name, e.size, e.mtime) for e in wanted], ctx.now)
    found: list[tuple[Entry, Observation]] = []
    waiting = 0
    for e in wanted:
        obs = seen[e.name]
        if obs.done_id is not None:
            continue  # done, left in place, unchanged
        if busy is not None and busy(name, e.name):
            waiting += 1
            continue
        if obs.incomplete and obs.age < rule.max_wait:
            waiting += 1
            continue
        if rule.rule == "done-file":
            ok = e.name + rule.done_suffix in names
        else:
            ok = obs.stable_for >= rule.window and obs.age >= rule.min_age
        if ok:
            found.append((e, obs))
        else:
            waiting += 1
    if flow.source.order == "mtime":
        found.sort(key=lambda p: (p[0].mtime, p[0].name))
    else:
        found.sort(key=lambda p: p[0].name)
    return found, waiting
