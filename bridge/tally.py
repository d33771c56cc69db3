"""The cap on issues: the first ones of a file are kept whole, the rest only counted.

A file with a bad cell in every column holds millions of issues; a person reads the first
few hundred, and building the others (a message, a value, an object each) is what would
cost gigabytes. So issues are found in batches (:class:`Batch`: one column's bad cells,
one check over a chunk): a batch is a line per issue, numbers only, and it builds the
issues at the positions asked for. :class:`Tally` keeps the first ``limit`` issues of the
file in file order, builds only those, and counts the others by code, record and field;
its :meth:`Tally.summary` is one issue of the whole file saying how many more there were.
Issues of the whole file (no line; the few found once, or only at the end) are not
capped with them: see :meth:`Tally.extra`.

"First in file order" is by line; among the issues of the line where the cap falls, by
code, record, field, value and message. Batches come chunk by chunk, every line of a chunk
after those of the chunks before it, so a file read in chunks keeps the same issues as the
file read whole.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bridge.issues import MAX_ISSUES, Issue

if TYPE_CHECKING:
    import numpy as np

#: What an issue left out is counted by: code, record, field.
Key = tuple[str, str | None, str | None]
#: Fields named one by one in the summary's message; the counts of all are in ``left_out``.
SHOWN_FIELDS = 10


class Batch:
    """Issues found together, each on a line, built only for the positions asked for.

    ``make(positions)`` builds the issues at these positions (sorted, 0-based), in that
    order; ``count(positions)`` counts them by :data:`Key` without building them.
    """

    def __init__(self, lines: np.ndarray, make: Callable[[np.ndarray], list[Issue]],
                 count: Callable[[np.ndarray], Counter[Key]]) -> None:
        self.lines = lines
        self.make = make
        self.count = count

    def __len__(self) -> int:
        return len(self.lines)

    @classmethod
    def of(cls, issues: Sequence[Issue]) -> Batch:
        """Issues already built (each with a line)."""
        import numpy as np

        lines = np.fromiter((i.line or 0 for i in issues), np.int64, len(issues))
        return cls(lines, lambda at: [issues[k] for k in at.tolist()],
                   lambda at: Counter(key(issues[k]) for k in at.tolist()))

    @classmethod
    def alike(cls, lines: np.ndarray, what: Key,
              make: Callable[[np.ndarray], list[Issue]]) -> Batch:
        """Issues that all share one code, record and field."""
        return cls(lines, make, lambda at: Counter({what: len(at)}) if len(at) else Counter())


def key(issue: Issue) -> Key:
    return (issue.code, issue.record, issue.field)


def _order(issue: Issue) -> tuple[str, str, str, str, str]:
    # Ties on the line where the cap falls: an order that does not depend on which check
    # reported an issue first, so whole and chunked reads keep the same ones.
    return (issue.code, issue.record or "", issue.field or "", issue.value or "",
            issue.message)


class Tally:
    """The issues of one file past the first ``limit``: counted, never built."""

    def __init__(self, limit: int = MAX_ISSUES) -> None:
        if limit < 0:
            raise ValueError("the cap on issues cannot be negative")
        self.limit = limit
        self.kept = 0
        self.left_out: Counter[Key] = Counter()

    def keep(self, batches: Sequence[Batch]) -> list[Issue]:
        """The issues of ``batches`` that fit under the cap, by line (ties in batch order).

        Every line in ``batches`` must come after every line of earlier calls.
        """
        import numpy as np

        batches = [b for b in batches if len(b)]
        if not batches:
            return []
        lines = np.concatenate([b.lines for b in batches])
        room = self.limit - self.kept
        if len(lines) <= room:
            cut = int(lines.max()) + 1  # every issue is kept
            need = 0
        elif room <= 0:
            cut, need = int(lines.min()), 0
        else:
            cut = int(np.partition(lines, room - 1)[room - 1])
            need = room - int((lines < cut).sum())
        found: list[tuple[int, int, int, Issue]] = []
        tied: list[tuple[int, int, int, Issue]] = []
        for b, batch in enumerate(batches):
            below = np.flatnonzero(batch.lines < cut)
            found += [(int(batch.lines[p]), b, int(p), i)
                      for p, i in zip(below, batch.make(below), strict=True)]
            at = np.flatnonzero(batch.lines == cut)
            if need:
                tied += [(cut, b, int(p), i) for p, i in zip(at, batch.make(at), strict=True)]
            else:
                self.left_out += batch.count(at)
            self.left_out += batch.count(np.flatnonzero(batch.lines > cut))
        tied.sort(key=lambda f: _order(f[3]))
        found += tied[:need]
        self.left_out.update(key(f[3]) for f in tied[need:])
        self.kept += len(found)
        found.sort(key=lambda f: f[:3])
        return [f[3] for f in found]

    def extra(self, issues: list[Issue]) -> list[Issue]:
        """Issues of the whole file, found once at its end: the first ``limit`` of them.

        They do not take room from the issues of the rows: there are few of them, and a
        file read in chunks finds them last where a whole read finds them first.
        """
        self.left_out.update(key(i) for i in issues[self.limit:])
        return issues[: self.limit]

    def summary(self) -> Issue | None:
        """One issue of the whole file saying how many more issues there were, by code."""
        if not self.left_out:
            return None
        codes: Counter[str] = Counter()
        fields: Counter[str] = Counter()
        for (code, record, field), n in self.left_out.items():
            codes[code] += n
            fields[".".join(p for p in (record, field) if p) or "the file"] += n
        total = sum(codes.values())
        by_code = ", ".join(f"{n:,} {code}" for code, n in most_first(codes))
        top = most_first(fields)[:SHOWN_FIELDS]
        by_field = ", ".join(f"{name} {n:,}" for name, n in top)
        if len(fields) > len(top):
            by_field += f" and {len(fields) - len(top)} more"
        return Issue("too-many-issues",
                     f"{total:,} more issues are not listed, only counted (a report lists "
                     f"the first {self.limit:,}): {by_code}; by field: {by_field}",
                     value=str(total))


def most_first(counts: Counter[str]) -> list[tuple[str, int]]:
    # Ties by name: the same words whatever order the issues came in.
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
