"""Whether delimited text ends inside a quoted cell, found in one streaming pass.

The reader every delimited file can fall back on, Python's csv module, opens a quoted cell
only with a quote character at the very start of a cell (after a delimiter, a line end or
the start of the text); anywhere else a quote is plain text (``12" monitor``). Inside a
quoted cell, with ``double_quote``, a run of quote characters of even length is that many
halves of doubled quotes and keeps the cell open, and a run of odd length closes it.
Without ``double_quote`` any quote closes the cell and the ones after it are plain text.

So the state (inside a quoted cell or not) changes only at runs of quote characters, and
each run does one of three things whatever the state before it: it *toggles* (an odd run,
or without ``double_quote`` a single quote, at the start of a cell: it opens a cell when
outside and closes it when inside), it *resets* (any other odd run, or without
``double_quote`` any other run: afterwards the state is outside), or it *keeps* the state
(an even run with ``double_quote``). The state after a run is the parity of the toggles
since the last reset, which numpy computes for a whole block at once: the text is never
walked one character at a time in Python.

An escape character makes the unit after it plain text: it neither quotes, delimits nor
ends a line. (After a closing quote the csv module keeps an escape character as plain text
instead; only files already malformed there differ.)

The scanner works on *units*: bytes in which each special character is one byte. Files in
UTF-8 with ASCII specials, or in a one-byte-per-character encoding, are their own units;
others are converted to UTF-8 on the way by :class:`Units`.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LF, CR = 0x0A, 0x0D
#: Record boundaries remembered near the end, for reading the last records again.
KEPT_BOUNDS = 256
_NONE = np.empty(0, np.int64)


class Units:
    """Blocks of a file turned into units, and units back into text.

    ``encoding`` must be a text codec. ``code`` gives the unit value of a special
    character. In UTF-8 a special that is not ASCII takes several bytes: it is swapped for
    a byte UTF-8 never uses (0xF8 and up).
    """

    def __init__(self, encoding: str, specials: Sequence[str]) -> None:
        self.encoding = encoding
        self.raw = _raw_safe(self.encoding, specials)
        self._codes: dict[str, int] = {}
        self._swaps: list[tuple[bytes, bytes]] = []
        self._decoder = codecs.getincrementaldecoder(self.encoding)("replace")
        for i, ch in enumerate(dict.fromkeys(specials)):
            if self.raw:
                self._codes[ch] = char_bytes(ch, self.encoding)[0]
            elif ch.isascii():
                self._codes[ch] = ord(ch)
            else:
                self._codes[ch] = 0xF8 + i
                self._swaps.append((ch.encode("utf-8", "surrogatepass"), bytes([0xF8 + i])))

    def code(self, ch: str | None) -> int | None:
        return None if ch is None else self._codes[ch]

    def convert(self, block: bytes, final: bool = False) -> bytes:
        if self.raw:
            return block
        out = self._decoder.decode(block, final).encode("utf-8", "surrogatepass")
        for utf8, unit in self._swaps:
            out = out.replace(utf8, unit)
        return out

    def text(self, units: bytes) -> str:
        if self.raw:
            return units.decode(self.encoding, "replace")
        for utf8, unit in self._swaps:
            units = units.replace(unit, utf8)
        return units.decode("utf-8", "replace")


def char_bytes(ch: str, encoding: str) -> bytes:
    """The bytes of ``ch`` inside a text in ``encoding``: without what the codec writes at
    the start of every text (UTF-8-SIG's byte order mark, which ``"x".encode`` gives too)."""
    return ch.encode(encoding)[len("".encode(encoding)):]


def _raw_safe(encoding: str, specials: Sequence[str]) -> bool:
    """Whether every byte of the file that looks like a special character is one."""
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        return all(ch.isascii() for ch in specials)
    try:
        table = bytes(range(256)).decode(encoding, "replace")
        singles = all(len(char_bytes(ch, encoding)) == 1 for ch in specials)
    except (UnicodeError, LookupError, ValueError):
        return False
    return singles and len(table) == 256 and table[:128] == bytes(range(128)).decode("ascii")


@dataclass(frozen=True)
class Scanned:
    """What the scan found at the end of the text."""

    #: Where (in units from the start) the quoted cell still open at the end was opened
    #: (None: none is open).
    open_at: int | None
    #: The last unit is escaped: a line end made plain text, so the record goes on.
    escaped_end: bool
    #: The units from a record boundary to the end (None: not kept, or no boundary seen).
    last_records: bytes | None


class QuoteScanner:
    """Fed blocks of units in order; :meth:`finish` tells the state at the end.

    With ``keep`` > 0 the scanner also remembers the last ``keep`` units and where records
    start among them, so that the last records can be read again without the whole file.
    """

    def __init__(self, quote: int | None, delimiter: int, escape: int | None,
                 double_quote: bool, keep: int = 0) -> None:
        self.quote, self.delimiter, self.double_quote = quote, delimiter, double_quote
        self.escape = None if escape == quote else escape
        self.keep = keep
        self.inside = False
        self.open_at = 0
        self._at_start = True  # the next unit starts a cell
        self._escape_next = False  # the next unit is escaped
        self._last_escaped = False
        self._run, self._run_start, self._run_at = 0, False, 0  # a run reaching the end
        self._offset = 0
        self._tail, self._tail_at = b"", 0
        self._bounds: list[int] = []

    def feed(self, block: bytes) -> None:
        n = len(block)
        if not n:
            return
        u = np.frombuffer(block, np.uint8)
        esc = self._escaped(u)
        held_at = self._run_at  # where a run held back from the last block starts
        pos, ends, lengths, starts = self._runs(u, esc)
        before = self.inside
        toggle, reset = self._kinds(lengths, starts)
        self.inside = _state_after(toggle, reset, before)
        if self.inside and toggle.any():
            # Nothing after the last toggle changed the state: it opened the cell.
            at = int(pos[np.flatnonzero(toggle)[-1]])
            self.open_at = held_at if at < 0 else self._offset + at
        if self.keep:
            self._note_bounds(u, esc, ends, toggle, reset, before)
        self._last_escaped = bool(len(esc)) and int(esc[-1]) == n - 1
        last = int(u[-1])
        self._at_start = (last in (self.delimiter, LF, CR)) and not self._last_escaped
        self._offset += n

    def finish(self) -> Scanned:
        if self._run:
            toggle, reset = self._kinds(np.array([self._run]), np.array([self._run_start]))
            if toggle[0]:
                self.inside = not self.inside
                self.open_at = self._run_at
            elif reset[0]:
                self.inside = False
            self._run = 0
        bounds = [b for b in self._bounds if b >= self._tail_at]
        first = 0 if self._tail_at == 0 else bounds[0] if bounds else None
        last = None
        if self.keep and first is not None:
            last = self._tail[first - self._tail_at:]
        return Scanned(self.open_at if self.inside else None, self._last_escaped, last)

    def _escaped(self, u: np.ndarray) -> np.ndarray:
        """Positions in the block of the units made plain text by an escape character."""
        if self.escape is None:
            return _NONE
        epos = np.flatnonzero(u == self.escape)
        head = _NONE
        if self._escape_next:
            head = np.zeros(1, np.int64)
            if len(epos) and epos[0] == 0:
                epos = epos[1:]  # an escaped escape character is plain text
        self._escape_next = False
        if not len(epos):
            return head
        brk = np.flatnonzero(np.diff(epos) != 1) + 1
        starts = epos[np.concatenate(([0], brk))]
        ends = epos[np.concatenate((brk - 1, [len(epos) - 1]))] + 1
        after = ends[((ends - starts) & 1).astype(bool)]
        if len(after) and after[-1] == len(u):
            self._escape_next = True
            after = after[:-1]
        return np.concatenate((head, after)).astype(np.int64)

    def _runs(self, u: np.ndarray, esc: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The runs of quotes that end in this block: where each starts (-1: in an earlier
        block) and ends, its length and whether it starts a cell. A run reaching the end
        of the block is held back: the next block may go on with it."""
        qpos = _NONE if self.quote is None else np.flatnonzero(u == self.quote)
        if len(esc) and len(qpos):
            qpos = qpos[~np.isin(qpos, esc)]
        if len(qpos):
            brk = np.flatnonzero(np.diff(qpos) != 1) + 1
            pos = qpos[np.concatenate(([0], brk))]
            ends = qpos[np.concatenate((brk - 1, [len(qpos) - 1]))] + 1
            prev = u[np.maximum(pos - 1, 0)]
            starts = (prev == self.delimiter) | (prev == LF) | (prev == CR)
            if len(esc):
                starts &= ~np.isin(pos - 1, esc)
            if pos[0] == 0:
                starts[0] = self._at_start
        else:
            pos, ends, starts = _NONE, _NONE, np.empty(0, bool)
        lengths = ends - pos
        if self._run:
            if len(pos) and pos[0] == 0:
                lengths[0] += self._run
                starts[0] = self._run_start
                pos[0] = -1
            else:
                pos, ends = np.concatenate(([-1], pos)), np.concatenate(([0], ends))
                lengths = np.concatenate(([self._run], lengths))
                starts = np.concatenate(([self._run_start], starts))
            self._run = 0
        if len(ends) and ends[-1] == len(u):
            self._run, self._run_start = int(lengths[-1]), bool(starts[-1])
            if pos[-1] >= 0:
                self._run_at = self._offset + int(pos[-1])
            pos, ends, lengths, starts = pos[:-1], ends[:-1], lengths[:-1], starts[:-1]
        return pos, ends, lengths, starts

    def _kinds(self, lengths: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each run, whether it toggles the state and whether it resets it."""
        if self.double_quote:
            odd = (lengths & 1).astype(bool)
            return odd & starts, odd & ~starts
        toggle = (lengths == 1) & starts
        return toggle, ~toggle

    def _note_bounds(self, u: np.ndarray, esc: np.ndarray, ends: np.ndarray,
                     toggle: np.ndarray, reset: np.ndarray, before: bool) -> None:
        """Remember where the last records start, and the last ``keep`` units."""
        lpos = np.flatnonzero((u == LF) | (u == CR))
        if len(esc) and len(lpos):
            lpos = lpos[~np.isin(lpos, esc)]
        lpos = lpos[-KEPT_BOUNDS:]
        if len(lpos):
            # The state at each line end, from the runs before it: only the runs among
            # these last line ends are followed one by one.
            k = np.searchsorted(ends, lpos, side="right")
            first = int(k[0])
            at_first = _state_after(toggle[:first], reset[:first], before)
            states = _states(toggle[first:], reset[first:], at_first)
            idx = k - first - 1
            known = states[np.maximum(idx, 0)] if len(states) else np.zeros(len(idx), bool)
            inside = np.where(idx >= 0, known, at_first)
            new = (lpos[~inside] + 1 + self._offset).tolist()
            self._bounds = (self._bounds + new)[-KEPT_BOUNDS:]
        block = u.tobytes() if len(u) <= self.keep else u[-self.keep:].tobytes()
        tail = (self._tail + block)[-self.keep:]
        self._tail_at = self._offset + len(u) - len(tail)
        self._tail = tail


def _state_after(toggle: np.ndarray, reset: np.ndarray, before: bool) -> bool:
    """The state after all the runs: the parity of the toggles since the last reset."""
    resets = np.flatnonzero(reset)
    if len(resets):
        return bool(np.count_nonzero(toggle[int(resets[-1]) + 1:]) & 1)
    return before ^ bool(np.count_nonzero(toggle) & 1)


def _states(toggle: np.ndarray, reset: np.ndarray, before: bool) -> np.ndarray:
    """The state after each run."""
    k = len(toggle)
    if not k:
        return np.empty(0, bool)
    toggles = np.cumsum(toggle)
    last_reset = np.maximum.accumulate(np.where(reset, np.arange(k), -1))
    since = toggles - np.where(last_reset >= 0, toggles[np.maximum(last_reset, 0)], 0)
    start = np.where(last_reset >= 0, False, before)
    states: np.ndarray = start ^ (since & 1).astype(bool)
    return states
