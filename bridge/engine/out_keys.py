"""A target's unique keys over the whole file bridge writes: what its tracciato's
``checks.unique`` says a file must not hold twice, checked on the rows written, part after
part, as ``bridge check`` checks a file it reads.

Two shop orders can become one ERP order number (``#2004`` and ``#2004-B``, both 2004 by
``name | digits``): each row is fine alone, and the ERP would book two orders under one
number, or refuse the file. The row that repeats a key gets a ``duplicate-key`` error on its
source line, so the policy on bad rows decides, as for a value the target cannot hold:
``reject-file`` refuses the file, ``skip-rows`` leaves that order out and writes the rest.

Keys are compared as text, trimmed, a missing value as an empty one (a fixed-width field
pads, and reads back trimmed), in bounded memory (:class:`bridge.once.KeysOnce`). A
part's keys are added only once the part is written (:meth:`OutputKeys.keep`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.codecs.encoder import row_lines
from bridge.issues import Issue, clip

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bridge.spec.checks import UniqueCheck
    from bridge.spec.model import Tracciato

#: What joins the fields of a key of several fields (not a character of a key's text).
SEPARATOR = "\x1f"


class OutputKeys:
    """Feed :meth:`check` each part's tables; call :meth:`keep` once the part is written."""

    def __init__(self, t: Tracciato, target: str) -> None:
        from bridge.once import KeysOnce

        self.t, self.target = t, target
        self.rules = list(t.checks.unique)
        self.keys = KeysOnce()

    def check(self, tables: Mapping[str, pd.DataFrame | pa.Table]) -> list[Issue]:
        """The ``duplicate-key`` errors of these tables: keys written by an earlier part,
        or by an earlier row of this one."""
        issues: list[Issue] = []
        for i, rule in enumerate(self.rules):
            table = tables.get(rule.record)
            if table is None or not len(table):
                continue
            text = key_text(table, rule.fields)
            lines = row_lines(table)
            rows, first = self.keys.again(i, text, lines)
            issues += [self._issue(rule, str(text[r]), int(lines[r]), int(f))
                       for r, f in zip(rows.tolist(), first.tolist(), strict=True)]
        return issues

    def keep(self) -> None:
        """The keys of the part last checked are in the file now."""
        self.keys.keep()

    def _issue(self, rule: UniqueCheck, key: str, line: int, first: int) -> Issue:
        value = clip(key.replace(SEPARATOR, "/"))
        where = f"line {first} has it too" if first >= 0 else "an earlier row has it too"
        return Issue(
            "duplicate-key",
            f"{rule.record}.{'+'.join(rule.fields)} {value!r} would be written twice in one "
            f"file of target {self.target!r} ({where}): tracciato {self.t.name or '?'} "
            "wants it once", line if line >= 0 else None, rule.record, rule.fields[0], value)


def key_text(table: pd.DataFrame | pa.Table, fields: list[str]) -> np.ndarray:
    """Each row's key as text (an object array): its fields trimmed, a missing one empty,
    joined by :data:`SEPARATOR`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from bridge.codecs.chunks import loose_key

    columns = []
    for name in fields:
        if isinstance(table, pa.Table):
            col = table.column(name) if name in table.column_names else None
        else:
            col = pa.array(table[name], from_pandas=True) if name in table.columns else None
        if col is None:
            col = pa.nulls(len(table), pa.string())
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if pa.types.is_dictionary(col.type):
            col = col.dictionary_decode()
        cell = col if pa.types.is_string(col.type) else pc.cast(col, pa.string())
        columns.append(loose_key(cell))  # as a chunk's cut compares group keys
    joined = columns[0] if len(columns) == 1 else pc.binary_join_element_wise(
        *columns, SEPARATOR)
    text: np.ndarray = joined.to_numpy(zero_copy_only=False)
    return text
