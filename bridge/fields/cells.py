"""What parsing a column yields: values of a known pyarrow type, and bad cells as data.

:func:`arrow_type` says which type each field decodes to. Each check of
:mod:`bridge.fields` flags rows with a boolean mask; the :class:`Collector` keeps the
masks and builds one :class:`BadCells` at the end, so a column of a million good cells
costs no Python work per cell. Bad cells become Python strings only when read, and a
report reads only the first ones of a file (:mod:`bridge.tally`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.issues import CODES
from bridge.spec.model import FieldSpec

#: Placeholder in a message template, replaced by the quoted cell text.
VALUE = "{value}"
#: Longest cell text quoted in a message (the full raw value is in ``BadCells.values``).
SHOWN_LIMIT = 80

#: Types whose value is the text itself (``case`` applies to them).
TEXT_TYPES = frozenset(
    {"string", "enum", "constant", "partita_iva", "codice_fiscale", "ean13"}
)

#: Digits of a decimal128 column: the most an int64 holds exactly, so scaled integers and
#: decimals convert into each other without loss.
DECIMAL_PRECISION = 18


def has_offset(field: FieldSpec) -> bool:
    """Whether the field's format reads a UTC offset (%z)."""
    return field.format is not None and "%z" in field.format


def arrow_type(field: FieldSpec) -> pa.DataType:
    """The type of the column :func:`bridge.fields.parse_column` returns for ``field``.

    Raises ``ValueError`` for filler, which is never decoded.
    """
    kind = field.type
    if kind in TEXT_TYPES:
        return pa.string()
    if kind == "integer":
        return pa.int64()
    if kind == "decimal":
        return pa.decimal128(DECIMAL_PRECISION, field.scale)
    if kind == "date":
        return pa.date32()
    if kind == "time":
        return pa.time32("s")
    if kind == "datetime":
        tz = field.timezone or ("UTC" if has_offset(field) else None)
        return pa.timestamp("s", tz)
    if kind == "boolean":
        return pa.bool_()
    raise ValueError(f"field {field.name!r}: a {kind} field has no values")


class BadCells:
    """The bad cells of one column: one entry per problem, built only when asked for.

    ``rows`` are 0-based indices into the column, sorted (a row may appear more than once
    when it breaks several rules). ``codes``, ``values`` (the raw cell text as received)
    and ``messages`` (a plain sentence naming the value and what was expected) are lists
    parallel to ``rows``, made on first use: a column of a million bad cells costs no
    Python string until somebody reads them, and :meth:`pick` makes only a few.
    """

    def __init__(self, entries: list[_Entry] | None = None,
                 raw: pa.Array | Callable[[], pa.Array] | None = None) -> None:
        self._entries = entries or []
        self._raw = raw
        self._all: tuple[list[str | None], list[str]] | None = None
        if not self._entries:
            self.rows = np.empty(0, dtype=np.int64)
            self._entry = self._at = np.empty(0, dtype=np.int64)
            return
        rows = np.concatenate([e.rows for e in self._entries])
        entry = np.repeat(np.arange(len(self._entries)), [len(e.rows) for e in self._entries])
        at = np.concatenate([np.arange(len(e.rows)) for e in self._entries])
        # In the order checks ran within one row: a stable sort.
        order = np.argsort(rows, kind="stable")
        self.rows = rows[order].astype(np.int64)
        self._entry, self._at = entry[order], at[order]

    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return len(self.rows) > 0

    @property
    def codes(self) -> list[str]:
        return self.codes_at(np.arange(len(self)))

    def codes_at(self, positions: np.ndarray) -> list[str]:
        return [self._entries[k].code for k in self._entry[positions].tolist()]

    @property
    def values(self) -> list[str | None]:
        return self._every()[0]

    @property
    def messages(self) -> list[str]:
        return self._every()[1]

    def _every(self) -> tuple[list[str | None], list[str]]:
        if self._all is None:
            self._all = self.pick(np.arange(len(self)))
        return self._all

    def code_counts(self, positions: np.ndarray) -> Counter[str]:
        """How many of the entries at ``positions`` have each code."""
        per_entry = np.bincount(self._entry[positions], minlength=len(self._entries))
        out: Counter[str] = Counter()
        for e, n in zip(self._entries, per_entry.tolist(), strict=True):
            if n:
                out[e.code] += n
        return out

    def pick(self, positions: np.ndarray) -> tuple[list[str | None], list[str]]:
        """The raw values and the messages of the entries at ``positions``, in that order."""
        n = len(positions)
        values: list[str | None] = [None] * n
        messages: list[str] = [""] * n
        entry = self._entry[positions]
        for k in np.unique(entry).tolist():
            mine = np.flatnonzero(entry == k)
            e = self._entries[k]
            rows = pa.array(self.rows[positions[mine]])
            raw = self._raw() if callable(self._raw) else self._raw
            assert raw is not None  # there are entries, so there is a column
            self._raw = raw
            shown = raw if e.shown is None else e.shown
            for j, value, message in zip(mine.tolist(), raw.take(rows).to_pylist(),
                                         _messages(e.template, shown.take(rows)), strict=True):
                values[j], messages[j] = value, message
        return values, messages


@dataclass
class _Entry:
    rows: np.ndarray
    code: str
    shown: pa.Array | None  # the whole column the message quotes; None: the raw cells
    template: str


class Collector:
    """Gathers flagged rows of one column and builds its :class:`BadCells`.

    ``raw`` is what the report shows as the value (the cell as received); the text shown
    inside a message may differ (e.g. trimmed) and is passed to :meth:`add`.
    """

    def __init__(self, raw: pa.Array | Callable[[], pa.Array], size: int | None = None) -> None:
        # ``raw`` may be a function making it (with ``size``): when rendering, the values
        # as text cost a cast of the whole column, wanted only if some cell is bad.
        self._raw = raw
        self._entries: list[_Entry] = []
        n = size if size is not None else len(raw)  # type: ignore[arg-type]
        self._flagged = np.zeros(n, dtype=bool)

    @property
    def raw(self) -> pa.Array:
        if callable(self._raw):
            self._raw = self._raw()
        return self._raw

    def add(self, mask: pa.Array | np.ndarray, code: str, template: str,
            shown: pa.Array | None = None) -> np.ndarray:
        """Flag the rows where ``mask`` is true (nulls count as false).

        ``template`` is the message; ``{value}`` in it becomes the quoted cell text of
        ``shown`` (the raw cell when not given). Returns the flagged rows as a numpy mask.
        """
        if code not in CODES:
            raise ValueError(f"unknown issue code {code!r}")
        flags = to_numpy_mask(mask)
        rows = np.flatnonzero(flags)
        if len(rows):
            self._flagged |= flags
            # The columns are kept, not the cells: only the cells reported are taken.
            self._entries.append(_Entry(rows, code, shown, template))
        return flags

    @property
    def flagged(self) -> np.ndarray:
        """Rows flagged so far, as a numpy boolean mask."""
        return self._flagged

    def build(self) -> BadCells:
        """All entries, ordered by row (in the order checks ran within one row)."""
        if not self._entries:
            return BadCells()
        return BadCells(self._entries, self._raw)


def _messages(template: str, shown: pa.Array) -> list[str]:
    if VALUE not in template:
        return [template] * len(shown)
    head, tail = template.split(VALUE, 1)
    text = pc.cast(shown, pa.string())
    # A whole garbage line in one cell must not make a message of kilobytes.
    long = pc.greater(pc.utf8_length(text), SHOWN_LIMIT)
    cut = pc.binary_join_element_wise(pc.utf8_slice_codeunits(text, 0, SHOWN_LIMIT - 1), "…", "")
    text = pc.if_else(long, cut, text)
    quoted = pc.binary_join_element_wise("'", text, "'", "")
    quoted = pc.fill_null(quoted, "an empty cell")
    out: list[str] = pc.binary_join_element_wise(head, quoted, tail, "").to_pylist()
    return out


def to_numpy_mask(mask: pa.Array | pa.ChunkedArray | np.ndarray) -> np.ndarray:
    """A boolean pyarrow mask as numpy, nulls read as false."""
    if isinstance(mask, np.ndarray):
        return mask.astype(bool, copy=False)
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks() if mask.num_chunks else pa.array([], pa.bool_())
    if mask.type == pa.bool_() and mask.null_count:
        # Straight from the bitmaps: cheaper than filling the nulls into a new array.
        n, start = len(mask), mask.offset
        valid, values = mask.buffers()[:2]
        bits = np.unpackbits(np.frombuffer(values, dtype=np.uint8), bitorder="little")
        keep = np.unpackbits(np.frombuffer(valid, dtype=np.uint8), bitorder="little")
        both: np.ndarray = (bits[start : start + n] & keep[start : start + n]).astype(bool)
        return both
    filled = pc.fill_null(mask, False) if mask.null_count else mask
    out: np.ndarray = filled.to_numpy(zero_copy_only=False)
    return out.astype(bool, copy=False)
