"""The states of a file, their groups, and the only transitions between them.

::

    claimed ──▶ fetched ──▶ checked ──▶ written ──▶ done
       │           │  ▲         │           │
       │           │  └─approved◀─ held     │
       ▼           ▼            ▼           ▼
     (dropped)   duplicate   retrying ──▶ failed      (any state not final)
                 rejected

- ``claimed``: a ledger row exists; at the source the file is renamed to its private name
  (``.bridge-claim-ID``) and downloaded into the work area;
- ``fetched``: bridge holds its copy, its size and sha256 are known;
- ``checked``: decoded, transformed, rendered; output names, business keys and fingerprints
  fixed in one transaction;
- ``written``: every output written; only the archive move is left;
- ``held``: waits for an operator (``approval: true``, a lookup with ``missing: hold``);
- ``approved``: an operator said yes; the next pass writes it;
- ``retrying``: a connection or disk failed; tried again with backoff, at most once a pass;
- ``failed``: out of attempts, or a bug (an ``internal-error`` issue, the traceback saved
  beside the file): waits for ``bridge retry ID`` or ``bridge reject ID``.

Every state that is not final can be cleared by an operator: ``retry`` or ``reject``.
"""

from __future__ import annotations

CLAIMED = "claimed"
FETCHED = "fetched"
CHECKED = "checked"
WRITTEN = "written"
DONE = "done"
REJECTED = "rejected"
DUPLICATE = "duplicate"
HELD = "held"
APPROVED = "approved"
RETRYING = "retrying"
FAILED = "failed"

#: The way a good file goes.
FLOW = (CLAIMED, FETCHED, CHECKED, WRITTEN, DONE)
#: Nothing more happens to a file in these states.
FINAL = frozenset({DONE, REJECTED, DUPLICATE})
#: A pass carries these forward by itself (``retrying`` once its backoff has passed).
RESUMABLE = frozenset({CLAIMED, FETCHED, CHECKED, WRITTEN, APPROVED, RETRYING})
#: These wait for a person.
WAITING_FOR_OPERATOR = frozenset({HELD, FAILED})
ALL = frozenset(FLOW) | FINAL | RESUMABLE | WAITING_FOR_OPERATOR

#: Where each state may go; the ledger refuses anything else.
TRANSITIONS: dict[str, frozenset[str]] = {
    CLAIMED: frozenset({FETCHED, DUPLICATE, REJECTED, RETRYING, FAILED}),
    FETCHED: frozenset({CHECKED, WRITTEN, HELD, DUPLICATE, REJECTED, RETRYING, FAILED}),
    APPROVED: frozenset({CHECKED, WRITTEN, HELD, REJECTED, RETRYING, FAILED}),
    CHECKED: frozenset({WRITTEN, REJECTED, RETRYING, FAILED}),
    WRITTEN: frozenset({DONE, REJECTED, RETRYING, FAILED}),
    HELD: frozenset({APPROVED, REJECTED, RETRYING}),
    RETRYING: frozenset({FETCHED, CHECKED, WRITTEN, DONE, DUPLICATE, HELD, REJECTED, RETRYING,
                         FAILED}),
    FAILED: frozenset({RETRYING, REJECTED}),
    DONE: frozenset(),
    REJECTED: frozenset(),
    DUPLICATE: frozenset(),
}


def allowed(old: str, new: str) -> bool:
    return new in TRANSITIONS.get(old, frozenset())


def can_clear(state: str) -> bool:
    """Whether ``bridge retry`` and ``bridge reject`` apply: every state that is not final."""
    return state not in FINAL
