"""Keys given once in a file, checked part after part in bounded memory.

A file read in chunks gives its rows a chunk at a time, and a key may come again many chunks
after its first row. :class:`KeysOnce` keeps each key taken as a 64-bit hash with the line
that gave it first (12 bytes a key, whatever the file's size; 9 where the caller has no
lines to give), sorted, and finds the rows
of a part whose key came before: in an earlier part, or in an earlier row of the same part.
A part's keys are taken only once the caller accepts the part (:meth:`KeysOnce.keep`): a
part checked again, after skip-rows left rows out, is checked against the parts before it
alone, and the keys of every check of it are taken (those of the rows left out too, as a
reading of the whole file at once finds their later rows again). Used for a target's
``checks.unique`` (:mod:`bridge.engine.out_keys`), for the keys of a ``delta`` step (one
state per key and file), and for the keys a file sent in its chunks so far, which a
``dedupe keep: sent`` asks (:meth:`KeysOnce.taken`).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class KeysOnce:
    """Keys by name (a rule, a step), each checked with :meth:`again`, taken by
    :meth:`keep`."""

    def __init__(self) -> None:
        #: Sorted runs of the keys taken, and their lines, no key in two of them; a run
        #: merged with the one before once it is as large, so that a key is copied a few
        #: times over a file, not at every part, and a merge holds its two runs and one
        #: copy of them, not a copy of every key.
        self.seen: dict[Hashable, list[tuple[np.ndarray, np.ndarray]]] = {}
        self.pending: dict[Hashable, tuple[np.ndarray, np.ndarray]] = {}

    def again(self, name: Hashable, text: np.ndarray, lines: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
        """The rows (in order) whose key ``text`` (an object array of strings; None is no
        key, never repeated) came before under ``name``, and the line of each key's first
        row (-1: none known). The part's new keys wait for :meth:`keep`."""
        import numpy as np
        import pandas as pd

        rows = np.flatnonzero(pd.notna(text))
        at, first = self.again_hashed(name, pd.util.hash_array(text[rows], categorize=False),
                                      lines[rows])
        return rows[at], first

    def again_hashed(self, name: Hashable, hashes: np.ndarray, lines: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`again` for keys already hashed (64 bits each, one per row)."""
        import numpy as np

        n = len(hashes)
        lines = _narrow(lines)
        # Everything in the order of the keys' hashes: rows of one key side by side, the
        # first of them first, and a quick search among the keys seen before.
        order = np.argsort(hashes, kind="stable")
        ranked, ranked_lines = hashes[order], lines[order]
        starts = np.ones(n, dtype=bool)
        starts[1:] = ranked[1:] != ranked[:-1]
        again = ~starts  # within the part: every row after the first of its key
        first = ranked_lines[np.maximum.accumulate(np.where(starts, np.arange(n), 0))]
        for seen, seen_lines in self.seen.get(name, []):
            # against the parts before it: the line that gave the key first
            at = np.minimum(np.searchsorted(seen, ranked), len(seen) - 1)
            before = seen[at] == ranked
            first = np.where(before, seen_lines[at], first)
            again |= before
        self.pending[name] = _union(self.pending.get(name), ranked[~again],
                                    ranked_lines[~again])
        twice = np.flatnonzero(again)
        twice = twice[np.argsort(order[twice], kind="stable")]  # in the part's order
        return order[twice], first[twice].astype(np.int64)

    def taken(self, name: Hashable, hashes: np.ndarray) -> np.ndarray:
        """Which of the keys ``hashes`` (hashed as :meth:`again` hashes them) parts before
        gave under ``name``, as a boolean mask."""
        import numpy as np

        found: np.ndarray = np.zeros(len(hashes), dtype=bool)
        for seen, _ in self.seen.get(name, []):
            at = np.minimum(np.searchsorted(seen, hashes), len(seen) - 1)
            found |= seen[at] == hashes
        return found

    def keep(self) -> None:
        """The keys of the parts last checked are taken."""
        import numpy as np

        for name, (new, new_lines) in self.pending.items():
            if not len(new):
                continue
            runs = self.seen.setdefault(name, [])
            runs.append((new, new_lines))  # the new ones come sorted, and none seen before
            while len(runs) > 1 and len(runs[-1][0]) >= len(runs[-2][0]):
                add, add_lines = runs.pop()
                hashes, lines = runs.pop()
                # Merged by the places of the later run among the earlier: a copy of
                # both, never a sort of them all again.
                mine = np.searchsorted(hashes, add) + np.arange(len(add))
                taken = np.zeros(len(hashes) + len(mine), dtype=bool)
                taken[mine] = True
                merged = []
                for old, more in ((hashes, add), (lines, add_lines)):
                    both = np.empty(len(taken), dtype=np.result_type(old.dtype, more.dtype))
                    both[mine], both[~taken] = more, old
                    merged.append(both)
                del hashes, lines, add, add_lines
                runs.append((merged[0], merged[1]))
        self.pending.clear()

    def __len__(self) -> int:
        return sum(len(h) for runs in self.seen.values() for h, _ in runs)


def _union(pending: tuple[np.ndarray, np.ndarray] | None, hashes: np.ndarray,
           lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The new keys of a part checked again added to those of its checks before: the
    rows skip-rows left out gave their keys as much as the others (read whole, the later
    rows of their keys are found again in the same check)."""
    import numpy as np

    if pending is None or not len(pending[0]):
        return hashes, lines
    both = np.concatenate([pending[0], hashes])
    both_lines = np.concatenate([pending[1], lines])
    order = np.lexsort((both_lines, both))  # by key, its first line first
    both, both_lines = both[order], both_lines[order]
    first = np.ones(len(both), dtype=bool)
    first[1:] = both[1:] != both[:-1]
    return both[first], both_lines[first]


def _narrow(lines: np.ndarray) -> np.ndarray:
    """``lines`` in 32 bits where they fit (every file short of two billion lines): the
    keys of a large file are most of what a chunked run holds that grows with the file."""
    import numpy as np

    if lines.dtype.itemsize <= 4:
        return lines
    bounds = np.iinfo(np.int32)
    if not len(lines) or (lines.min() >= bounds.min and lines.max() <= bounds.max):
        return lines.astype(np.int32)
    return lines
