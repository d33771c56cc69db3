"""Which files of a source folder are ready to be taken, and in what order.

- ``stable`` (default): size and mtime unchanged for ``window`` seconds and first seen at
  least ``min_age`` seconds ago, both on bridge's monotonic clock (the server's clock and
  bridge's wall clock are never trusted for a window);
- ``done-file``: the sender's ``NAME<suffix>`` is there, a regular file (one that is a link,
  a FIFO or a folder is refused as below, once, and its file waits for a real one).

An entry that is not a regular file (a symbolic link, a FIFO: the transport's listing says
what it is without following or opening it) under a name the flow takes is refused as a
bad name is: recorded once while it stays the same, never opened. Besides: a name bridge
holds as its own (``.bridge-claim-ID``) is never a candidate (one its
ledger does not know as its own is listed apart, :mod:`strays`); a file
found incomplete at this very size and mtime waits until it changes, or until
``max_wait``; on local folders watched with close-after-write events, a file still open for
writing waits too (``busy``).

A source folder that does not exist is an error of the flow, never an idle pass: a
configuration error for a local folder (exit 2), a failure for a remote one (exit 3: the
server may be the one that lost it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bridge.errors import SourceGone, TransientError
from bridge.ledger import CLAIM_PREFIX
from bridge.transport import FOLDER, UnsafeName, matches, observed_size, safe_name

if TYPE_CHECKING:
    from bridge.config import Flow
    from bridge.engine.context import Context
    from bridge.ledger import Observation
    from bridge.transport import Entry

#: Asked per (flow, name): True while a writer still has the file open.
Busy = Callable[[str, str], bool]
#: The issue of an entry that is not a file (a link, a FIFO) under a name the flow takes.
NOT_A_FILE = "not-a-file"
#: The longest name taken, in UTF-8 bytes: bridge adds suffixes (.issues.csv, .ID, a
#: temporary part) and most file systems stop at 255.
MAX_NAME_BYTES = 200


def name_problem(name: str) -> str | None:
    """Why bridge cannot handle a listed name safely, or None."""
    try:
        safe_name(name)
    except UnsafeName as exc:
        return str(exc)
    size = len(name.encode("utf-8"))
    if size > MAX_NAME_BYTES:
        return f"refused file name: {size} bytes long, over the {MAX_NAME_BYTES} bridge takes"
    return None


def shown(name: str) -> str:
    """A name as text that can be stored and printed: undecodable bytes as \\xNN, control
    characters escaped."""
    from bridge.display import printable

    return printable(name.encode("utf-8", "surrogateescape").decode("utf-8",
                                                                    "backslashreplace"))


def not_a_file(entry: Entry) -> str:
    """Why an entry that is not a regular file is not taken."""
    return (f"{shown(entry.name)} is {entry.kind}, not a file: bridge never follows a link "
            "nor reads anything but a regular file")


def candidates(flow: Flow, listing: list[Entry]) -> list[Entry]:
    """The listed names a flow takes (a plain function: tested without disks)."""
    rule = flow.source.ready
    return [e for e in listing
            if not e.name.startswith(CLAIM_PREFIX)
            and matches(e.name, flow.source.patterns, flow.source.ignore)
            and not (rule.rule == "done-file" and e.name.endswith(rule.done_suffix))]


def bad_markers(flow: Flow, listing: list[Entry]) -> list[Entry]:
    """The done-files that are not regular files (a link, a FIFO, a folder) of names the
    flow takes: one never counts, and its file would wait for ever, unsaid; each is refused
    instead."""
    rule = flow.source.ready
    if rule.rule != "done-file":
        return []
    cut = len(rule.done_suffix)
    return [e for e in listing
            if e.kind is not None and e.name.endswith(rule.done_suffix) and len(e.name) > cut
            and not e.name.startswith(CLAIM_PREFIX)
            and matches(e.name[:-cut], flow.source.patterns, flow.source.ignore)]


@dataclass
class Listing:
    """A folder as a pass sees it: the files ready (in order), the names refused, and how
    many files wait for their window."""

    ready: list[tuple[Entry, Observation]] = field(default_factory=list)
    refused: list[tuple[Entry, str, str]] = field(default_factory=list)  # entry, shown, why
    waiting: int = 0
    #: Claim files that are not their ledger row's (:mod:`strays`), each with why.
    strays: list[tuple[Entry, str]] = field(default_factory=list)


def ready(ctx: Context, name: str, flow: Flow, busy: Busy | None = None) -> Listing:
    """The files of a flow's folder that are complete, in the flow's processing order; the
    names that cannot be handled (once each), and how many others wait."""
    src = ctx.transport(flow.source.connection)
    rule = flow.source.ready
    # Folders too under a done-file rule: a done-file that is one is said, not waited for.
    everything = src.list(flow.source.folder, folders=rule.rule == "done-file")
    if not everything and not src.is_folder(flow.source.folder):
        conn = ctx.cfg.connection(flow.source.connection)
        if conn.type == "local":
            where = ctx.cfg.path(conn.root) / flow.source.folder
            # Found by the flow's check at start: gone since (a run exits 2; watch waits).
            raise SourceGone(f"the source folder {str(where)!r} does not exist")
        raise TransientError(f"the source folder {flow.source.folder!r} does not exist on "
                             f"connection {flow.source.connection!r}")
    listing = [e for e in everything if e.kind is None]
    names = {e.name for e in listing}
    wanted = candidates(flow, listing)
    problems = {e.name: name_problem(e.name) for e in wanted}
    # A link, a FIFO... under a name the flow takes: a sender meant a file. Refused (once
    # while it stays the same), never opened: opening a FIFO would block the pass.
    others = candidates(flow, [e for e in everything if e.kind not in (None, FOLDER)])
    others += bad_markers(flow, everything)
    problems.update({e.name: name_problem(e.name) or not_a_file(e) for e in others})
    wanted += others
    keys = {e.name: shown(e.name) if problems[e.name] else e.name for e in wanted}
    seen = ctx.ledger.observe(name, [(keys[e.name], observed_size(e), e.mtime) for e in wanted],
                              ctx.now)
    out = Listing()
    if flow.archive != "leave":  # bridge never renames a file there
        from bridge.engine.strays import strays

        out.strays = strays(ctx.ledger, name, listing)
    refs: list[str | None] = []  # the flow's references now, once a done file asks
    for e in wanted:
        obs = seen[keys[e.name]]
        if obs.done_id is not None and (problems[e.name] is not None or not _read_again(
                ctx, flow, obs.done_id, refs)):
            continue  # done (or refused), left in place, unchanged
        why = problems[e.name]
        if why is not None:
            out.refused.append((e, keys[e.name], why))
            continue
        if busy is not None and busy(name, e.name):
            out.waiting += 1
            continue
        if obs.incomplete and obs.age < rule.max_wait:
            out.waiting += 1
            continue
        if rule.rule == "done-file":
            ok = e.name + rule.done_suffix in names
        else:
            ok = obs.stable_for >= rule.window and obs.age >= rule.min_age
        if ok:
            out.ready.append((e, obs))
        else:
            out.waiting += 1
    if flow.source.order == "mtime":
        out.ready.sort(key=lambda p: (p[0].mtime, p[0].name))
    else:
        out.ready.sort(key=lambda p: p[0].name)
    return out


def _read_again(ctx: Context, flow: Flow, done_id: int, refs: list[str | None]) -> bool:
    """Whether a done file left in place is read again: the reference tables it was read
    with have changed since (:func:`bridge.engine.tables.refs_now`)."""
    from bridge.engine.tables import refs_now, watched

    if not watched(flow):
        return False
    if not refs:
        refs.append(refs_now(ctx.cfg, flow))
    return refs[0] is not None and ctx.ledger.get(done_id).refs != refs[0]
