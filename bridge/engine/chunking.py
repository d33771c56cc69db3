"""How a file is read in chunks: whether a flow may stream at all (:func:`stream_plan`),
whether the rows of each group turn out to be together in the file (:class:`Together`),
the business keys gathered across chunks (:class:`KeySpool`), the memory a chunk freed
given back to the system (:func:`give_back`), and who may watch the rows go by
(:class:`Watch`); what one reading found (:class:`Checked`), and the files too large to
read whole (:func:`too_big_to_read_whole`)."""

from __future__ import annotations

import contextlib
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from bridge.engine.prints import Prints
from bridge.issues import MAX_ISSUES, Issue
from bridge.tally import most_first

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from bridge.codecs.text import GroupTooLarge
    from bridge.config import Flow
    from bridge.engine.render import Rendered
    from bridge.report_cells import RawRows
    from bridge.spec.model import Tracciato
    from bridge.steps import StepContext, StepResult, StepSpec


class Watch(Protocol):
    """Who looks at the rows of a file as a reading goes (``bridge pending --rows``): each
    reading starts with ``start`` (a file found to need a whole reading is read again);
    per chunk, ``source`` gets the rows decoded (less those an operator left out), then
    ``result`` the tables the steps made of them."""

    def start(self) -> None: ...
    def source(self, tables: Mapping[str, pd.DataFrame]) -> None: ...
    def result(self, tables: dict[str, pd.DataFrame]) -> None: ...


def stream_plan(flow: Flow, t: Tracciato) -> tuple[list[StepSpec], list[StepSpec]] | str:
    """The steps run per chunk and the trailer steps run once at the end, or why the flow
    must read a file whole."""
    for target in flow.targets:
        if target.template is not None and target.each is None:
            return (f"the template {target.template.name} is rendered whole (declare `each` "
                    "to render it record by record)")
    steps = list(flow.steps)
    first = next((i for i, s in enumerate(steps) if s.kind == "trailer"), len(steps))
    if any(s.kind != "trailer" for s in steps[first:]):
        return "a step follows the trailer"
    from bridge.steps.spec import GroupArgs

    for s in steps[:first]:
        args = s.args
        if not isinstance(args, GroupArgs):
            continue
        by = set(args.by)
        if len(t.records) > 1 or args.table not in (None, t.single_record) \
                or not t.group_by or not set(t.group_by) <= by:
            return (f"a group step by {', '.join(args.by)}: the tracciato's group_by "
                    f"({', '.join(t.group_by) or 'none'}) does not keep those rows together")
    return steps[:first], steps[first:]


#: Bytes read between two hand-backs of memory: after every third or fourth chunk of a
#: large file (5 MB by default), after every thousand or two small files. Memory handed
#: back is taken again, page by page, by the chunks after it: after every chunk, the
#: kernel's work of giving those pages again cost a 1M-row file a tenth of its time
#: (bench/README.md).
GIVE_BACK_EVERY = 16 << 20
#: Resident bytes past which memory is handed back after every chunk all the same: the
#: pages kept between hand-backs are about 30 MB of a large file with an XML target, which
#: this keeps under 500 MB.
GIVE_BACK_ABOVE = 448 << 20
_read = [0]


def give_back(read: int = GIVE_BACK_EVERY) -> None:
    """Memory freed by a chunk goes back to the system, not only to the allocators' free
    lists: Arrow's pool and the C heap (two threads allocating make it fragment), so that
    a long file does not creep up chunk after chunk; once :data:`GIVE_BACK_EVERY` bytes
    were ``read`` since the last time, or while the process holds more than
    :data:`GIVE_BACK_ABOVE`."""
    _read[0] += read
    if _read[0] < GIVE_BACK_EVERY and resident() <= GIVE_BACK_ABOVE:
        return
    _read[0] = 0
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    if _TRIM is not None:
        _TRIM(0)


def resident() -> int:
    """The bytes of memory this process holds now (0 where the system does not say)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None  # not glibc: nothing to do


_TRIM = _malloc_trim()
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class Together:
    """Are the rows of each group together? A group key met in an earlier chunk is not
    (the chunks never split a group, so it would be one group written twice). Keys are
    kept as 64-bit hashes in sorted runs merged as they grow: 8 bytes a group."""

    def __init__(self, t: Tracciato) -> None:
        self.record, self.by = t.single_record, list(t.group_by)
        self.runs: list[np.ndarray] = []
        fields = {f.name: f for f in t.records[self.record].fields} if self.record else {}
        #: Every field of the key is required: a row missing one is a bad row of its own
        #: (left out, or the file refused), in no group; else the rows missing it are one
        #: group, as the steps group them.
        self.required = all(n in fields and fields[n].required for n in self.by)

    def fresh(self, tables: Mapping[str, pd.DataFrame]) -> bool:
        import numpy as np
        import pandas as pd

        df = tables.get(self.record)
        if df is None or not len(df) or any(c not in df.columns for c in self.by):
            return True
        if self.required:
            df = df[df[self.by].notna().all(axis=1)]
        keys = np.unique(pd.util.hash_pandas_object(df[self.by], index=False).to_numpy())
        for run in self.runs:
            at = np.searchsorted(run, keys)
            at[at == len(run)] = 0
            if len(run) and bool((run[at] == keys).any()):
                return False
        self.runs.append(keys)
        while len(self.runs) > 1 and len(self.runs[-1]) >= len(self.runs[-2]):
            last = self.runs.pop()
            merged = np.concatenate([self.runs.pop(), last])  # no key is in both
            del last
            merged.sort()  # in place: the merge holds the two runs and one copy, no more
            self.runs.append(merged)
        return True


class KeySpool:
    """The business keys a file sends, kept in memory up to :data:`SPOOL_FROM` and past
    that written to a file of the work area as the chunks give them, read back once when
    the ledger records them: memory does not grow with the orders of a large file. A key
    met twice is recorded once by the ledger."""

    def __init__(self, folder: Path, prefix: str = ".keys-",
                 spool_from: int | None = None, *, plain: bool = False) -> None:
        self.folder = folder
        self.prefix = prefix
        #: The entries are texts of one line (JSON): kept in the file as they are.
        self.plain = plain
        #: Entries kept in memory before the file takes them (None: :data:`SPOOL_FROM`).
        self.spool_from = spool_from
        self.kept: list[str] = []
        self.path: Path | None = None
        self.out: IO[bytes] | None = None

    def add(self, keys: Iterable[str]) -> None:
        if self.path is None:
            self.kept.extend(keys)
            if len(self.kept) < (SPOOL_FROM if self.spool_from is None else self.spool_from):
                return
            import secrets

            self.path = self.folder / f"{self.prefix}{secrets.token_hex(8)}"
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         0o600)
            self.out = os.fdopen(fd, "wb")
            keys, self.kept = self.kept, []
        assert self.out is not None
        self.out.write(_lines(keys if isinstance(keys, list) else list(keys), self.plain))

    def __iter__(self) -> Iterator[str]:
        if self.path is None:
            yield from self.kept
            return
        if self.out is not None:
            self.out.close()
            self.out = None
        with self.path.open("rb") as f:
            while block := f.readlines(1 << 20):
                data = b"".join(block)
                if self.plain or b"\\" not in data:  # nothing was escaped in these lines
                    yield from data[:-1].decode("utf-8").split("\n")
                else:
                    yield from (line[:-1].decode("unicode_escape") for line in block)

    def seal(self) -> None:
        """The file written out and closed: read by another process from here."""
        if self.out is not None:
            self.out.close()
            self.out = None

    def remove(self) -> None:
        self.kept = []
        if self.out is not None:
            with contextlib.suppress(OSError):  # a full disk fails the last flush too
                self.out.close()
            self.out = None
        if self.path is not None:
            self.path.unlink(missing_ok=True)


#: Business keys of a file kept in memory before they go to a file of the work area.
SPOOL_FROM = 50_000
#: What Python's ``unicode_escape`` changes in an ASCII text, besides the line ends.
_ESCAPED = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\\]")


def _lines(keys: list[str], plain: bool) -> bytes:
    """One key a line, escaped as Python escapes a text (a line end in a key is "\\n"):
    written in one piece when no key needs it (the usual case), else key by key."""
    if not keys:
        return b""
    text = "\n".join(keys)
    if plain or (text.isascii() and text.count("\n") == len(keys) - 1
                 and not _ESCAPED.search(text)):
        return text.encode("utf-8") + b"\n"
    return b"".join(k.encode("unicode_escape") + b"\n" for k in keys)


@dataclass
class Checked:
    tracciato: Tracciato | None
    rows: dict[str, int] = field(default_factory=dict)  # rows read, per record type
    money_in: Decimal | None = None
    money_out: Decimal | None = None
    issues: list[Issue] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    sent_keys: Iterable[str] = field(default_factory=list)  # a KeySpool once streamed
    #: The keys a ``dedupe keep: sent`` left out as never sent (cancellations: few).
    unsent_keys: list[str] = field(default_factory=list)
    #: The business facts (``facts:`` of the flow), one JSON line each; None: none declared.
    facts: KeySpool | None = None
    fingerprints: Prints = field(default_factory=Prints)  # as Arrow text, chunk by chunk
    rendered: list[Rendered] = field(default_factory=list)
    rejected: bool = False
    skipped_rows: bool = False
    left_out: int = 0  # rows an operator left out when approving the others
    nothing_to_write: bool = False
    #: The sender's cells of the rows with errors, kept while the file was read: what the
    #: report of its bad rows shows (None: split the file again for them).
    raw_rows: RawRows | None = None

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.is_error]

    def forget_keys(self) -> None:
        """The business keys are in the ledger (or will be gathered again): drop them."""
        if isinstance(self.sent_keys, KeySpool):
            self.sent_keys.remove()
        self.sent_keys = []
        self.unsent_keys = []
        self.fingerprints.remove()
        if self.facts is not None:
            self.facts.remove()
            self.facts = None

    @property
    def notes(self) -> list[Issue]:
        return [i for i in self.issues if not i.is_error]


def too_big_to_read_whole(flow: Flow, t: Tracciato, size: int, why: str) -> Checked | None:
    """A file of ``size`` bytes that would be read whole (``why``) though larger than the
    flow's ``whole_max_bytes``: refused, unread; None when it may be read whole."""
    if not flow.whole_max_bytes or size <= flow.whole_max_bytes:
        return None
    return Checked(t, rejected=True, issues=[Issue(
        "too-large-to-read-whole", f"{size:,} bytes would be read whole ({why}), over the "
        f"flow's whole_max_bytes ({flow.whole_max_bytes:,}): a file read whole takes many "
        "times its size in memory. Remove the cause, or raise whole_max_bytes, then replay "
        "the file")])


class Caps:
    """The issues one reading of a file keeps past the decoder's (which caps its own):
    the first :data:`MAX_ISSUES` notes of the steps and the targets, and the first
    :data:`MAX_ISSUES` errors of rows left out; the others counted by code. A large file
    may note a million orders, or, its reference table stale, refuse every row: kept,
    they took gigabytes. Errors of a pass that refuses the file are kept alike."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        #: Every issue kept here, in ``issues`` too (a refused file may forget them).
        self.made: list[Issue] = []
        self.notes_kept = self.errors_kept = 0
        self.notes_over: Counter[str] = Counter()
        self.errors_over: Counter[str] = Counter()

    @property
    def notes_room(self) -> int:
        """Notes still kept: the steps build no more than that of a kind."""
        return MAX_ISSUES - self.notes_kept

    @property
    def errors_room(self) -> int:
        """Errors of rows still kept: the steps build no more in full."""
        return max(MAX_ISSUES - self.errors_kept, 0)

    def keep(self, issues: list[Issue], counted: Counter[str] | None = None) -> None:
        """Issues of a pass whose rows are written (a pass with errors is run again
        without their rows, so an error here is kept): notes up to the cap, the rest
        counted, with ``counted``, the notes the steps counted without building them."""
        for i in issues:
            if i.is_error or self.notes_kept < MAX_ISSUES:
                self.issues.append(i)
                self.made.append(i)
                self.notes_kept += not i.is_error
            else:
                self.notes_over[i.code] += 1
        self.notes_over.update(counted or {})

    def keep_errors(self, bad: list[Issue], unbuilt: Counter[str] | None = None) -> None:
        """Errors whose rows are left out (or the file refused): their rows go all the
        same, whether kept or counted; ``unbuilt``, those the steps counted past the room
        without building them."""
        room = self.errors_room
        self.issues.extend(bad[:room])
        self.made.extend(bad[:room])
        self.errors_kept += min(len(bad), room)
        self.errors_over.update(i.code for i in bad[room:])
        self.errors_over.update(unbuilt or {})

    def summaries(self) -> list[Issue]:
        """One issue of the whole file for each kind counted: how many, by code (as the
        decoder's ``too-many-issues`` lists them)."""
        out = []
        for code, over, what in (("errors-counted", self.errors_over, "errors of rows"),
                                 ("notes-counted", self.notes_over, "notes")):
            if over:
                by_code = ", ".join(f"{n:,} {k}" for k, n in most_first(over))
                total = sum(over.values())
                out.append(Issue(code, f"{total:,} more {what} are not listed, only "
                                 f"counted: {by_code}", value=str(total)))
        return out


def group_too_large(t: Tracciato, exc: GroupTooLarge) -> Checked:
    """A file refused while read in chunks: one of its groups would be held whole."""
    if exc.one_line:
        return Checked(t, rejected=True, issues=[Issue(
            "too-large-to-read-whole", f"{exc.held:,} bytes from line {exc.line} on hold no "
            f"line end, over the flow's whole_max_bytes ({exc.limit:,}): one line would be "
            "held whole in memory. Check the file (is it of this format? were its line ends "
            "lost?), or raise whole_max_bytes, then replay the file", line=exc.line)])
    what = (f"the rows of one {', '.join(t.group_by)}" if t.group_by else
            "a record and its children")
    return Checked(t, rejected=True, issues=[Issue(
        "too-large-to-read-whole", f"{exc.held:,} bytes from line {exc.line} on are one group "
        f"({what}) not ended yet, over the flow's whole_max_bytes ({exc.limit:,}): it would "
        "be held whole in memory. Check the file (a key empty or the same on every row?), "
        "or raise whole_max_bytes, then replay the file", line=exc.line)])


def trailer_result(trailer: Sequence[StepSpec], counts: dict[str, int], ctx: StepContext
                   ) -> StepResult:
    """The trailer's steps run on the rows counted over every chunk (``counts``: rows of
    each table after the steps): the tables they make, the counted ones left out."""
    from bridge.steps import StepResult, apply_steps

    if not trailer:
        return StepResult({})
    import numpy as np
    import pyarrow as pa

    # Tables of the right lengths (a byte a row): all a trailer counts.
    shapes = {n: pa.table({"_": np.zeros(k, np.int8)}) for n, k in counts.items()}
    result = apply_steps(trailer, shapes, ctx)
    for n in shapes:
        result.arrow.pop(n, None)
    return result
