"""The ready files of a flow claimed a few at a time: one durable commit for several claims.

A claim is on the disk before its file is renamed to its private name: after a power cut,
a file under a private name that no claim names would be a file nobody takes. Claimed one
by one, that is one synced commit a file. Here the next :data:`CLAIM_BATCH` small ready
files of a flow (read at once, not in chunks; claimed before they are read: not over
``max_bytes``, not left in place) are claimed in one transaction, and then taken one by
one, in order, exactly as before: each renamed, fetched and carried on when its turn comes.
A larger file is claimed on its own, in its turn: a sync is nothing to its cost, and a
batch would leave the files after it claimed, and open to change, for as long as it takes.

A claim not used when the flow's pass ends well (the pass asked to stop, a file that must
wait stopping the flow) is dropped: its file was never touched, and is listed again by a
later pass. A claim left by a kill, or by an error that ends the pass, is an ordinary
claim: the next pass carries it on first (its file renamed then, if still as listed; one
that changed meanwhile is given up and listed again). Claims are not dropped after an
error, since another worker may be carrying them on by then (a lost turn).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.config import Flow
    from bridge.engine.pipeline import Pipeline
    from bridge.ledger import FileRow, Observation
    from bridge.transport import Entry

#: Ready files claimed in one transaction. Each claim costs a synced commit otherwise
#: (0.3-0.7 ms on a local disk); a larger batch leaves a file longer between its listing
#: and its rename, where a sender may still change it (it is then given up and waits).
CLAIM_BATCH = 16


def read_at_once(flow: Flow, entry: Entry) -> bool:
    """A file neither refused for its size nor read in chunks: claimed in a batch, and
    one the helper may transform (:mod:`ahead`)."""
    return entry.size <= flow.max_bytes and (not flow.chunk_bytes
                                             or entry.size <= flow.chunk_bytes)


class Claims:
    """Claims made ahead for the ready files of one flow pass, by their place in ``ready``."""

    def __init__(self, pipe: Pipeline, name: str, flow: Flow,
                 ready: Sequence[tuple[Entry, Observation]]) -> None:
        self.pipe, self.name, self.flow, self.ready = pipe, name, flow, ready
        self.unused: dict[int, FileRow] = {}

    def small(self, at: int) -> bool:
        """Whether the file at ``at`` is claimed in a batch: claimed before it is read (see
        Pipeline.take), and read at once."""
        return self.flow.archive != "leave" and read_at_once(self.flow, self.ready[at][0])

    def take(self, at: int) -> FileRow | None:
        """The claim of the file at ``at``: made now, with the next files' own, if it was
        not made yet; None for a file that is not claimed so (it claims itself)."""
        if at in self.unused:
            return self.unused.pop(at)
        if not self.small(at):
            return None
        places = [at]
        while (len(places) < CLAIM_BATCH and places[-1] + 1 < len(self.ready)
               and self.small(places[-1] + 1)):
            places.append(places[-1] + 1)
        entries = [self.ready[i][0] for i in places]
        rows = self.pipe.ledger.claim_many(
            self.name, [(e.name, e.size, e.mtime) for e in entries], self.pipe.run_id,
            self.pipe.now.wall)
        self.unused.update(zip(places[1:], rows[1:], strict=True))
        return rows[0]

    def drop_unused(self) -> None:
        """The claims not taken given up (the pass ends well before their turn), while the
        flow is still this worker's (:class:`LostTurn` otherwise, and they stay)."""
        if self.unused and self.pipe.fence is not None:
            self.pipe.fence()
        for row in self.unused.values():
            self.pipe.ledger.drop_claim(row.id)
        self.unused.clear()
