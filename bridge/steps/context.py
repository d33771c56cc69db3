"""What the steps may ask of the world: reference tables, keys already sent, fingerprints.
The caller (the engine) does the I/O and the caching; the steps stay pure."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bridge.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from bridge.once import KeysOnce


def _no_reference(name: str) -> pd.DataFrame:
    raise ConfigError(f"no reference table {name!r} is configured")


def _nothing_sent(keys: list[str]) -> set[str]:
    return set()


def _nothing_unwritten(keys: list[str]) -> dict[str, int]:
    return {}


def _nothing_remembered(keys: list[str]) -> dict[str, str]:
    return {}


def _none_before(keys: list[str]) -> list[bool]:
    return [False] * len(keys)


@dataclass
class StepContext:
    """What the steps may ask of the world; the caller does the I/O and the caching."""

    reference: Callable[[str], pd.DataFrame] = _no_reference
    already_sent: Callable[[list[str]], set[str]] = _nothing_sent
    #: Of keys sent, those held by a file whose outputs are not all written (retrying, failed),
    #: with its id: not at the target yet, and maybe never (for ``dedupe keep: sent``).
    unwritten: Callable[[list[str]], dict[str, int]] = _nothing_unwritten
    #: Of keys not sent, those a file waiting for an operator's approval would send, with
    #: its id: not at the target yet, and maybe never (for ``dedupe keep: sent``).
    held: Callable[[list[str]], dict[str, int]] = _nothing_unwritten
    #: Of keys not sent, those another file's ``dedupe keep: sent`` left out as never sent
    #: (the order was cancelled before it reached the target), with that file's id: an
    #: order of an older file, retried since, is not sent after its cancellation.
    dropped: Callable[[list[str]], dict[str, int]] = _nothing_unwritten
    variables: dict[str, object] = field(default_factory=dict)
    #: For delta sync: the fingerprint last sent for each business key asked about.
    last_sent: Callable[[list[str]], dict[str, str]] = _nothing_remembered
    #: Whether each key was sent by this file in its chunks before this one (the ledger
    #: has them only once the file is planned): for ``dedupe keep: sent``.
    sent_before: Callable[[list[str]], list[bool]] = _none_before
    #: Delta steps send every row (`--full`), and still report the fingerprints.
    full: bool = False
    #: How many more notes the caller keeps of the file (None: every one). A step builds
    #: no more notes of one kind than that, and counts the others by code
    #: (:meth:`bridge.steps.work.Work.to_build`): a large file's millions of notes past
    #: the cap are never made only to be counted.
    notes_room: int | None = None
    #: How many more errors of rows the caller keeps of the file (None: every one). Past
    #: that, a step's errors carry their code and line alone (:meth:`Work.to_build`,
    #: :meth:`Work.bare`): their rows are left out all the same, and the caller counts
    #: them by code.
    errors_room: int | None = None
    #: The keys each delta step took in the file's chunks before this one (the caller
    #: keeps them as each chunk is accepted); None: the tables are the whole file.
    once: KeysOnce | None = None
