"""Claim files the ledger does not know as its own: set aside, never taken as another file.

bridge renames a file it takes to ``.bridge-claim-ID`` only once the ledger holds file ID's
claim, so a claim file always has its row, and a pass carries it on as file ID. That holds
while the ledger is the one that made the claim. After a ledger is restored from a backup
(a disk problem, a PostgreSQL restore), a claim file left by a stop may be one the restored
ledger never saw: ID is then missing (a later claim would get that ID and take the file as
its own, under another name) or belongs to another file, finished or not.

Such a file is not anyone's claim. Which file it was, and whether its rows already reached
the ERP, went with the lost part of the ledger (the business keys sent too, so a dedupe
could not tell either): it is not imported by itself. It is moved into the flow's
quarantine, under its name without the leading dot, recorded as a rejected file with a
``stray-claim`` issue and a report (``bridge status --check`` names it), before the pass
claims anything. A person looks at it and puts it back in the source folder under its own
name if its data belongs in the ERP; it is then taken as any new file.

A claim file is its row's when the row is held under that very name and not final. A row
of another flow held so is that flow's claim (two flows reading one folder, however each
spells it): that flow's own pass judges it. One of a different size than the row's bytes
taken (its sender wrote on into it) is still its row's: what was taken is imported from
bridge's copy, and the rest is set apart when the row is done (:mod:`changed`).
A row still ``claimed`` knows only the size it listed, and a sender may have written more
before the rename: that case stays with :func:`bridge.engine.taking.fetch`, which gives
the file back under its name to wait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.engine import moves
from bridge.engine.context import Outcome
from bridge.issues import Issue
from bridge.ledger import CLAIM_PREFIX
from bridge.states import DUPLICATE, FINAL, REJECTED

if TYPE_CHECKING:
    from bridge.config import Flow
    from bridge.engine.pipeline import Pipeline
    from bridge.ledger import Ledger
    from bridge.transport import Entry

#: The issue code of a claim file its ledger does not know as its own.
STRAY = "stray-claim"


def claim_id(name: str) -> int | None:
    """The file ID of a claim file's name (``.bridge-claim-ID``), None for any other name
    (a claimed file's done-file among them)."""
    rest = name.removeprefix(CLAIM_PREFIX)
    return int(rest) if rest != name and rest.isascii() and rest.isdigit() else None


def strays(ledger: Ledger, flow_name: str, listing: list[Entry]) -> list[tuple[Entry, str]]:
    """The claim files of a listing that are not their ledger row's, each with why."""
    found = []
    for e in listing:
        file_id = claim_id(e.name)
        if file_id is not None:
            why = _not_its_claim(ledger, flow_name, e, file_id)
            if why is not None:
                found.append((e, why))
    return found


def _not_its_claim(ledger: Ledger, flow_name: str, e: Entry, file_id: int) -> str | None:
    try:
        row = ledger.get(file_id)
    except KeyError:
        return f"the ledger has no file {file_id}"
    if row.held_as != e.name:
        return (f"file {file_id} of the ledger is {row.path!r} of flow {row.flow!r}, not "
                "held under this name")
    # A duplicate is archived after it is marked so: one cut short there is its own file.
    if row.state in FINAL and not (row.state == DUPLICATE and row.size == e.size):
        return f"file {file_id} of the ledger ({row.path}) is already {row.state}"
    # Held, and not finished: its row's, whatever its size now. By another flow reading
    # this folder (a shop's drop folder with its orders and its customers, however each
    # spells the folder), its own pass judges it; one its sender wrote more into after it
    # was taken is carried on from bridge's copy, and the rest set apart when it is done
    # (:mod:`bridge.engine.changed`), never called "not imported" as a whole.
    return None


def set_aside(pipe: Pipeline, flow_name: str, flow: Flow, entry: Entry, why: str
              ) -> Outcome | None:
    """Move a stray claim file into quarantine, recorded as a rejected file with its
    report; None if it went meanwhile (carried on, or given back, by another worker)."""
    from bridge.engine.tables import load_tracciato

    here = pipe.transport(flow.source.connection).stat(flow.source.folder, entry.name)
    if here is None:
        return None
    issue = Issue(STRAY, f"{entry.name} is a file bridge held under its private name, but "
                         f"{why} (a ledger restored from a backup?): it is not taken as that "
                         "file, nor imported. If its rows belong in the ERP and are not "
                         "there, put it back in the source folder under its own name",
                  value=entry.name)
    row = pipe.ledger.refuse(flow_name, entry.name, here.size, here.mtime, issue, pipe.run_id,
                             pipe.now.wall)
    kept = moves.set_aside(pipe, flow, entry.name, row.id)
    pipe.ledger.set_kept(row.id, kept)
    report = moves.write_report(pipe, row, flow, None, [issue],
                                load_tracciato(pipe.cfg, flow.tracciato), "rejected", {},
                                kept.rsplit("/", 1)[-1])
    return Outcome(flow_name, entry.name, REJECTED, row.id, 1, report=report,
                   message=f"{issue.message}; quarantined as {kept}")
