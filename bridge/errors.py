"""Failures, grouped by what the caller must do. Bad rows are not here: they are issues.

::

    BridgeError                  exit 2 unless a subclass says otherwise
    ├── ConfigError              fix the configuration, then run again      (exit 2)
    │   ├── TracciatoError       fix the tracciato file named in the message (exit 2)
    │   └── WaitedOut            what the configuration names is not as it was: `watch`
    │       │                    says so and looks again at each pass
    │       ├── ReferenceDataError   a reference table the ERP is rewriting
    │       └── SourceGone       a local source folder gone since the check
    ├── DataError                the file cannot be read at all: quarantine  (exit 1)
    ├── TransientError           retry later: connection, disk, lock         (exit 3)
    │   ├── TargetExists         a name taken by a file bridge did not write (transport)
    │   ├── WaitsForFile         a file's rows rely on another file a person must settle
    │   │                        first: it waits, however long, its attempts not spent
    │   ├── WorkAreaFull         a download found the work area's disk full: bridge's own
    │   │                        disk, not the server's nor the connection (transport)
    │   └── LostTurn             this worker's hold on a flow is gone: stop the flow, write
    │                            nothing more of it (another worker may hold it now)
    ├── UnsafeName               a name that could leave its folder          (transport)
    └── Refused                  not a file bridge may read: a link, a device, refused
                                 by the server: an issue on that file        (transport)

Anything else is a bug: the file it happened to ends ``failed`` with an ``internal-error``
issue, and a command exits 4 with one line (the traceback goes to the log).
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every failure bridge raises on purpose."""

    exit_code = 2


class ConfigError(BridgeError):
    """The configuration is wrong; nothing will work until a person fixes it."""

    exit_code = 2


class TracciatoError(ConfigError):
    """A tracciato cannot be loaded; the message names the file and the location."""


class WaitedOut(ConfigError):
    """Something outside ``bridge.yaml`` that the configuration names is not as it was when
    the flow was checked. The flow stops, as for a mistake of the configuration (a run
    exits 2); but it may come back by itself, so ``watch`` says so and looks again at each
    pass instead of stopping."""


class ReferenceDataError(WaitedOut):
    """A reference table (an ERP export) cannot be read as its tracciato says: missing,
    cut short, bad rows. The ERP rewrites such files."""


class SourceGone(WaitedOut):
    """A local source folder is not there, though the flow's check found it (a check finds
    a folder missing from the start, a mistake that stops ``watch``): a share mounted
    again, a folder a sync tool makes again."""


class DataError(BridgeError):
    """A file's content is unusable as a whole; it goes to quarantine with a report."""

    exit_code = 1


class TransientError(BridgeError):
    """A connection, disk or lock failed; the same work may succeed later."""

    exit_code = 3


class WaitsForFile(TransientError):
    """The file's rows rely on another file's reaching the target first (a cancellation of
    an order held by a file whose outputs are not all written), and that one
    waits for a person. This file waits as long as that one does, retrying: its attempts
    are not spent on the wait, and it goes by itself once that file is settled."""


class LostTurn(TransientError):
    """The ledger no longer confirms this worker's hold on a flow (its session was ended):
    another worker may be handling the flow now, so this one publishes nothing more of it,
    and records nothing of the file in hand."""
