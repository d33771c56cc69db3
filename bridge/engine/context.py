"""What the parts of the engine share: the outcome of one file, and the context a pass gives
to each part (configuration, ledger, connections, clocks), as a small protocol so that no
part imports the pipeline that calls it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from bridge.config import Config
    from bridge.ledger import Ledger, Now
    from bridge.transport import Transport


@dataclass
class Outcome:
    """What became of one file in a pass: the line a run prints and logs.

    ``state`` is the file's state, or ``waiting`` for a file looked at and left for a later
    pass (incomplete, changed while being taken)."""

    flow: str
    name: str
    state: str
    file_id: int | None = None
    issues: int = 0
    outputs: list[tuple[str, int]] = field(default_factory=list)
    message: str = ""
    report: str | None = None
    internal: bool = False  # failed because of a bug in bridge, not of the file or a server

    @property
    def exit_code(self) -> int:
        """0 ok, 1 rejected or held, 3 retry later, 4 a bug (the codes of the CLI)."""
        if self.internal:
            return 4
        if self.state in ("retrying", "failed"):
            return 3
        if self.state in ("rejected", "held"):
            return 1
        return 0


class Context(Protocol):
    cfg: Config
    ledger: Ledger
    run_id: int | None
    now: Now
    full: bool
    references: dict[str, pd.DataFrame]
    #: Whether each (connection, folder) a target writes into was there before this pass,
    #: and the ones a write had to make (said at the end of the pass: a typo makes one).
    folders: dict[tuple[str, str], bool]
    made: list[str]
    #: Called right before each output is published (see ``Transport.upload``): raises
    #: :class:`~bridge.errors.LostTurn` once this run no longer holds the flow.
    fence: Callable[[], None] | None

    def transport(self, name: str) -> Transport: ...
    def work(self, file_id: int) -> Path: ...


def private_dir(path: Path) -> Path:
    """bridge's own folder (work area, ledger): created if missing, readable by its user
    only, since it holds customers' data; never a link."""
    from bridge.files import own_folder

    return own_folder(path)
