"""Work for this process while the helper works: a file fetched ahead, transformed here.

With a flow whose steps cost more than what must stay in order (claiming, fetching,
planning, writing: the sample order flow, with its lookups, groups and checks), the helper is
the slower half and this process waits for its answers. Meanwhile it takes the next fetched
file that was not handed over and transforms it itself, into a folder of its own
(``ahead-here``), exactly as the helper would: the answer is kept beside the helper's and
used the same way, once the ledger's answers it depended on are asked again
(:class:`Recording`). A file is still planned and written in the order it came. Nothing is
recorded before then: a stop or a crash here costs the work only.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.config import Flow
    from bridge.engine.ahead import Helper
    from bridge.engine.context import Outcome
    from bridge.engine.pipeline import Pipeline
    from bridge.ledger import FileRow, Ledger

#: The ledger's answers a transform may depend on; asked again before its result is used.
ASKED = ("sent_keys", "fingerprints", "unwritten_keys", "held_keys", "dropped_keys")


class Recording:
    """The ledger as a transform done ahead sees it: the answers it depends on are
    recorded, so that they can be asked again before its result is used."""

    def __init__(self, ledger: Ledger) -> None:
        self.inner = ledger
        self.asked: list[tuple[str, tuple[Any, ...], dict[str, Any], Any]] = []

    def __getattr__(self, name: str) -> Any:
        got = getattr(self.inner, name)
        if name not in ASKED:
            return got

        def asking(*args: Any, **kwargs: Any) -> Any:
            answer = got(*args, **kwargs)
            self.asked.append((name, args, kwargs, answer))
            return answer
        return asking


#: Seconds this process must have waited for the helper before it first tries a transform
#: itself (after that: as long as a transform here takes).
FIRST_TRY = 0.005
#: The weight of the last file in the average cost of a transform here.
WEIGHT = 0.25
#: How much of the waits so far still counts after each file: waits that add up to a
#: transform's cost over the last dozen files or so are worth one.
KEEP = 15 / 16


class Pace:
    """How long this process has waited for the helper's answers lately, and how long a
    transform takes it: a file is transformed here once the waits add up to one. Where the
    helper is the slower half by a little on every file, the little waits add up, and this
    process takes a file now and then, as many as keep the two halves even. Where this
    process is the slower half (a flow of few steps), it waits little, the waits fade
    before they add up, and it keeps to its own work."""

    def __init__(self) -> None:
        self.owed = 0.0
        self.cost: float | None = None

    @contextlib.contextmanager
    def waiting(self, answered: bool) -> Iterator[None]:
        start = time.perf_counter()
        yield
        took = 0.0 if answered else time.perf_counter() - start
        self.owed = self.owed * KEEP + took

    def worth_it(self) -> bool:
        return self.owed >= (FIRST_TRY if self.cost is None else self.cost)

    def took(self, seconds: float) -> None:
        """A transform here took ``seconds``: the waits it made good are paid off."""
        self.cost = seconds if self.cost is None else self.cost + WEIGHT * (seconds - self.cost)
        self.owed = max(0.0, self.owed - seconds)


def meanwhile(pipe: Pipeline, helper: Helper, file_id: int, flow: Flow,
              pending: Iterable[Outcome | tuple[int, str | None]]) -> None:
    """Before waiting for the helper's answer on ``file_id``: if it is not in yet and the
    waits are worth it, the first file of ``pending`` neither handed over nor cut short is
    transformed here."""
    if file_id not in helper.asked or file_id in helper.here or helper.answered(file_id) \
            or not helper.pace.worth_it():
        return
    for waiting in _not_handed(helper, pending):
        start = time.perf_counter()
        transform_here(pipe, helper, pipe.ledger.get(waiting), flow)
        helper.pace.took(time.perf_counter() - start)
        return


def hand_over(pipe: Pipeline, helper: Helper, flow: Flow,
              pending: Iterable[Outcome | tuple[int, str | None]]) -> None:
    """The files of ``pending`` fetched when the helper had no room, handed over now that
    it may have, in order; none of them is left for this process to transform in its turn
    but the ones it takes while it waits."""
    for waiting in _not_handed(helper, pending):
        helper.send(pipe, pipe.ledger.get(waiting), flow)
        if waiting not in helper.asked:
            return  # no room yet


def _not_handed(helper: Helper, pending: Iterable[Outcome | tuple[int, str | None]]
                ) -> Iterator[int]:
    """The files of ``pending``, in order, fetched whole and not handed over yet."""
    for got in pending:
        if isinstance(got, tuple) and got[1] is None and got[0] not in helper.asked:
            yield got[0]


def transform_here(pipe: Pipeline, helper: Helper, row: FileRow, flow: Flow) -> None:
    """``row`` transformed by this process into its folder of its own, the answer kept as
    the helper's are; a failure is kept as the helper's are (the file is transformed again
    when its turn comes, and fails there for all to see)."""
    folder = pipe.work(row.id) / "ahead-here"
    helper.asked[row.id] = folder
    helper.here.add(row.id)
    recording = Recording(pipe.ledger)
    here = copy.copy(pipe)  # the same configuration, references and work area
    here.ledger = recording
    here.ahead = None
    helper.answers[row.id] = answer_of(here, recording, row, flow, folder)


def answer_of(pipe: Pipeline, recording: Recording, row: FileRow, flow: Flow, folder: Path,
              source: Path | None = None) -> tuple[Any, ...]:
    """A transform done ahead (by the helper, or here), as the main process takes it in:
    ``("done", id, checked, the ledger's answers it asked, the references it read)``, or
    ``("failed", id, why)`` on any failure, and the file is transformed again in its turn.
    ``source``: the work copy (None: found, or made, here)."""
    from bridge.engine import taking
    from bridge.engine.chunking import KeySpool
    from bridge.engine.outputs import index_ahead
    from bridge.engine.tables import flow_references
    from bridge.engine.transform import transform_file
    from bridge.files import own_folder

    recording.asked = []
    try:
        checked = transform_file(pipe, row, flow, source or taking.work_copy(pipe, row, flow),
                                 folder=own_folder(folder, depth=2))
        checked.rendered = index_ahead(folder, checked.rendered)  # less to do in turn
        checked.tracciato = None  # loaded again where it is used: a tracciato is large
        for spool in (checked.sent_keys, checked.facts):
            if isinstance(spool, KeySpool):
                spool.seal()
        read = {name: str(pipe.references[name].attrs.get("sha256"))
                for name in flow_references(flow) if name in pipe.references}
    except Exception as exc:
        return ("failed", row.id, f"{type(exc).__name__}: {exc}")
    return ("done", row.id, checked, recording.asked, read)


def read_the_same(pipe: Pipeline, read: dict[str, str]) -> bool:
    """Whether the reference tables a transform done ahead read (their digests, ``read``)
    are the ones this pass reads: a pass reads each once, and a table rewritten after this
    process read it, that the helper read later, makes the helper's work stale."""
    from bridge.engine.tables import reference

    for name, digest in read.items():
        try:
            if str(reference(pipe, name).attrs.get("sha256")) != digest:
                return False
        except Exception:  # unreadable now: transformed here, where it fails for all to see
            return False
    return True
