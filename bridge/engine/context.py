"""What the parts of the engine share: the outcome of one file, and the context a pass gives
to each part (configuration, ledger, connections, clocks), as a small protocol so that no
part imports the pipeline that calls it."""

from __future__ import annotations

import contextlib
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
    #: Retrying only because it waits for a person to settle another file
    #: (:class:`~bridge.errors.WaitsForFile`): a wait, not a failure of its flow.
    waits: bool = False

    @property
    def exit_code(self) -> int:
        """0 ok, 1 rejected or held, 3 retry later, 4 a bug (the codes of the CLI). A file
        that waits for another a person settles first is 1: as held, no failure."""
        if self.internal:
            return 4
        if self.waits:
            return 1
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


#: In the work area: it was used with a ledger (written as the ledger is opened), so that a
#: ledger found missing later is not made again, empty.
LEDGER_USED = "ledger.used"


def open_config_ledger(cfg: Config) -> Ledger:
    """The configuration's ledger, opened (made, the first time). A SQLite ledger missing
    where the work area says one was used (deleted, lost with a disk) is not made again
    empty: every file at the source and every business key would be taken for new, and
    orders already in the ERP sent again. A configuration error says how to go on."""
    from bridge.errors import ConfigError
    from bridge.ledger import located, open_ledger

    asked = cfg.ledger_location()
    where = located(asked)
    if not isinstance(where, Path):
        return open_ledger(where)  # PostgreSQL: the server keeps it
    work = cfg.path(cfg.work_dir)
    used = work / LEDGER_USED
    if not where.exists() and used.exists():
        raise ConfigError(
            f"the ledger {where} is missing, but the work area {work} was used with one: "
            "restore it from its backup (docs/operations.md, \"Restore the ledger\"); a new "
            "empty ledger would take every file and order already sent for new, and send "
            f"them again. To start afresh on purpose, remove {work} as well")
    ledger = open_ledger(where)
    if work.is_dir() and not used.exists():
        from bridge.atomic import save_atomic

        # Not marked (a full disk): only this guard waits for the next opening. Private,
        # as every file of bridge's own.
        with contextlib.suppress(OSError):
            save_atomic(used, f"{where}\n".encode(), mode=0o600, durable=False)
    return ledger
