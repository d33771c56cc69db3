"""Rows of the same values computed once, and the rows that failed held as arrays.

A stale reference table leaves the looked-up fields missing on every row of a million, and
each expression that reads them fails a million times, over a few hundred distinct rows.
Here the distinct rows are found on the columns (Arrow's dictionary encoding, numpy's
``unique``), jinja runs once for each, in the order of their first row (as it would run row
by row, remembering), and the results are laid back on every row by index. What failed is
kept as :class:`Failures`: the rows as an array, each with the index of its message, not an
object a row. :meth:`bridge.steps.expr.Expression._per_row` stays the reference: where
this cannot say what a row by row run says (a budget spent half-way), that runs instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from bridge.steps import limits

#: Row :data:`WHOLE` of a failure: the evaluation was stopped, no row is to be trusted.
WHOLE = -1
#: Fewer rows than this go row by row: finding the distinct ones would cost more.
DISTINCT_FROM = 64
#: A key of combined column codes is made small again before it could pass 2**62.
_KEY_ROOM = 1 << 62


@dataclass(frozen=True)
class Failure:
    """One row an expression could not compute: its position and the error, for an issue.
    Row :data:`WHOLE`: the evaluation was stopped (its budget spent), and no row is to be
    trusted: an issue of the whole file."""

    row: int
    error: str


class Failures(Sequence[Failure]):
    """The failures of one evaluation, in row order, the stop (if any) last: ``rows``
    (positions), ``which`` (the index of each one's message in ``errors``) and
    ``stopped`` (the message of a stop, a failure of row :data:`WHOLE`). Read as a
    sequence of :class:`Failure`, made one at a time when asked for."""

    __slots__ = ("errors", "rows", "stopped", "which")

    def __init__(self, rows: np.ndarray | Sequence[int] = (),
                 which: np.ndarray | Sequence[int] | None = None,
                 errors: Iterable[str] = (), stopped: str | None = None) -> None:
        self.rows = np.asarray(rows, dtype=np.int64)
        self.which = (np.zeros(len(self.rows), dtype=np.int64) if which is None
                      else np.asarray(which, dtype=np.int64))
        self.errors = list(errors)
        self.stopped = stopped

    @classmethod
    def of(cls, items: Iterable[Failure]) -> Failures:
        """From failures one by one (a stop, if any, last)."""
        rows: list[int] = []
        which: list[int] = []
        known: dict[str, int] = {}
        stopped = None
        for f in items:
            if f.row == WHOLE:
                stopped = f.error
            else:
                rows.append(f.row)
                which.append(known.setdefault(f.error, len(known)))
        return cls(rows, which, known, stopped)

    @classmethod
    def every(cls, rows: int, error: str) -> Failures:
        """Each of ``rows`` rows failed alike."""
        return cls(np.arange(rows, dtype=np.int64), None, [error])

    def __len__(self) -> int:
        return len(self.rows) + (self.stopped is not None)

    @overload
    def __getitem__(self, key: int) -> Failure: ...

    @overload
    def __getitem__(self, key: slice) -> list[Failure]: ...

    def __getitem__(self, key: int | slice) -> Failure | list[Failure]:
        if isinstance(key, slice):
            return [self[i] for i in range(*key.indices(len(self)))]
        i = key + len(self) if key < 0 else key
        if 0 <= i < len(self.rows):
            return Failure(int(self.rows[i]), self.errors[int(self.which[i])])
        if i == len(self.rows) and self.stopped is not None:
            return Failure(WHOLE, self.stopped)
        raise IndexError(key)

    def __iter__(self) -> Iterator[Failure]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Failures({list(self)!r})"

    def past(self, n: int) -> np.ndarray:
        """The positions of the failed rows after the first ``n`` failures (never the
        stop's, which is of no row)."""
        return self.rows[n:]


def distinct_rows(table: pa.Table, columns: Sequence[str]
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """The first row of each distinct combination of the columns' values, in row order,
    and for each row the number of its combination (numbered in the order of their first
    rows; a missing value is a value of its own); None where a column cannot be told
    apart by value (a type Arrow does not encode). The groups of the steps too
    (:func:`bridge.steps.ops.group_ids`)."""
    key = np.zeros(table.num_rows, dtype=np.int64)
    size = 1
    for name in columns:
        column = table.column(name).combine_chunks()
        try:
            if pa.types.is_dictionary(column.type):  # its own codes may repeat a value
                column = column.dictionary_decode()
            encoded = pc.dictionary_encode(column, null_encoding="encode")
        except (pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None
        count = len(encoded.dictionary) + 1  # and a code for a null the encoding left
        codes = pc.fill_null(encoded.indices, count - 1).to_numpy(
            zero_copy_only=False).astype(np.int64)
        if size * count >= _KEY_ROOM:  # made small: the numbers of the combinations so far
            _, key = np.unique(key, return_inverse=True)
            size = int(key.max()) + 1 if len(key) else 1
        key = key * count + codes
        size *= count
    _, firsts, inverse = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(firsts, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return firsts[order], rank[inverse.reshape(-1)]


def by_distinct(run: Callable[[dict[str, object]], object], base: Mapping[str, object],
                table: pa.Table, columns: list[str], budget: limits.Budget, most: int,
                make: Callable[[list[object]], pa.Array], at: np.ndarray | None = None,
                ) -> tuple[pa.Array, Failures] | None:
    """The value of each row (null where it failed) and the rows that failed (by their
    place in ``table``, or in ``at``), ``run`` once per distinct row; ``make`` builds the
    column from the distinct results. None where the rows must go one by one: fewer than
    :data:`DISTINCT_FROM`, more than ``most`` distinct ones, columns not told apart by
    value, or a budget spent (the row where it stops is the row by row run's to say)."""
    if table.num_rows < DISTINCT_FROM:
        return None
    found = distinct_rows(table, columns)
    if found is None or len(found[0]) > most:
        return None
    firsts, inverse = found
    distinct = table.select(columns).take(pa.array(firsts))
    values = [distinct.column(name).to_pylist() for name in columns]
    results: list[object] = []
    errors: dict[str, int] = {}
    failed = np.full(len(firsts), -1, dtype=np.int64)
    text = np.zeros(len(firsts), dtype=np.int64)
    for j, row in enumerate(zip(*values, strict=True)):
        result = run({**base, **dict(zip(columns, row, strict=True))})
        if isinstance(result, Exception):
            failed[j] = errors.setdefault(f"{type(result).__name__}: {result}", len(errors))
            result = None
        elif isinstance(result, str):
            text[j] = len(result)
        results.append(result)
        if time.monotonic() > budget.deadline:
            return None
    spent = int(text[inverse].sum())
    if spent > budget.text:
        return None
    budget.text -= spent
    column = make(results).take(pa.array(inverse))
    which = failed[inverse]
    rows = np.flatnonzero(which >= 0)
    return column, Failures(rows if at is None else at[rows], which[rows], errors)
