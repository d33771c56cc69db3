"""Text that reads like the bytes of another code page: a hint of `bridge check` (a note).

A file in cp850 read as cp1252 decodes without a single error: `Nardò` comes out as
`Nard•`, and `bridge check` would say "clean". So would UTF-8 read as cp1252 (`CaffÃ¨`).
For each text column of a file in a one-byte code page, up to :data:`SAMPLE` distinct
values holding non-ASCII characters are encoded back to their bytes and decoded with each
other usual code page; when most of them, and three at least, gain accented letters that
way (and so lose the odd symbols they had), the column gets one ``suspect-encoding`` note
naming the likely code page, with an example. It is a hint for whoever writes a tracciato:
`bridge check` gives it, decoding in a flow does not (a file that is UTF-8 all through is
refused in both: ``encoding-mismatch``, :class:`bridge.codecs.text.TextSource`). Clean text
never gains: `Caffè` in cp1252 read as cp850 is `CaffÞ`, and `n°` is `n░`.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from bridge.issues import Issue, clip

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd

#: Distinct non-ASCII values of a column looked at, per file.
SAMPLE = 200
#: Values that must read better in the other code page before a column is named.
MIN_VOTES = 3
#: Letters of the languages bridge's files carry: what a right decoding has more of. Small
#: letters only: a capital (`AÇ` from `A€`) is as likely a code as a word.
ACCENTED = frozenset("àèéìòùáíóúâêîôûäëïöüçñ")
#: Code pages tried in turn: the files of Italian shops and ERPs are in one of these.
CANDIDATES = ("utf-8", "cp850", "cp1252")


def _name(encoding: str) -> str:
    return codecs.lookup(encoding).name


def _gains(value: str, alt: str) -> bool:
    """Whether ``alt`` reads better: more accented letters (UTF-8 bytes read one by one);
    for two one-byte code pages, a character right after a letter that becomes a small
    accented letter (`Nard•`: `Nardò`; `caffŠ`: `caffè`), so that a euro sign after a space
    (`2,55 €`) is no sign."""
    if len(alt) != len(value):
        return sum(ch in ACCENTED for ch in alt) > sum(ch in ACCENTED for ch in value)
    return any(a in ACCENTED and v not in ACCENTED and not (v.isascii() and v.isalpha())
               and i and value[i - 1].isalpha()
               for i, (v, a) in enumerate(zip(value, alt, strict=True)))


class EncodingHints:
    """Looks at the text columns chunk by chunk; one note per column at most."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        name = _name(encoding)
        one_byte = not name.startswith("utf")
        self.others = [c for c in CANDIDATES if _name(c) != name] if one_byte else []
        self.seen: dict[tuple[str, str], int] = {}
        self.votes: dict[tuple[str, str], dict[str, list[tuple[str, str]]]] = {}
        self.done: set[tuple[str, str]] = set()

    def feed(self, tables: Mapping[str, pd.DataFrame]) -> list[Issue]:
        if not self.others:
            return []
        import pyarrow as pa
        import pyarrow.compute as pc

        found = []
        for record, df in tables.items():
            for column in df.columns:
                key = (record, str(column))
                if column.startswith("_") or key in self.done or not len(df):
                    continue
                try:
                    cells = pa.array(df[column], from_pandas=True)
                except (pa.ArrowException, TypeError, ValueError):
                    continue
                if not pa.types.is_string(cells.type) and not pa.types.is_large_string(
                        cells.type):
                    self.done.add(key)
                    continue
                odd = pc.filter(cells, pc.invert(pc.fill_null(pc.string_is_ascii(cells),
                                                              True)))
                left = SAMPLE - self.seen.get(key, 0)
                values = pc.unique(odd).to_pylist()[:left]
                if values:
                    issue = self._look(key, values)
                    if issue is not None:
                        found.append(issue)
        return found

    def _look(self, key: tuple[str, str], values: list[str]) -> Issue | None:
        self.seen[key] = self.seen.get(key, 0) + len(values)
        votes = self.votes.setdefault(key, {})
        for value in values:
            try:
                raw = value.encode(self.encoding)
            except UnicodeEncodeError:
                continue
            for other in self.others:
                try:
                    alt = raw.decode(other)
                except UnicodeDecodeError:
                    continue
                if _gains(value, alt):
                    votes.setdefault(other, []).append((value, alt))
        if not votes:
            if self.seen[key] >= SAMPLE:
                self.done.add(key)
            return None
        other, examples = max(votes.items(), key=lambda kv: len(kv[1]))
        if len(examples) < MIN_VOTES or len(examples) * 2 < self.seen[key]:
            # most values must say so, and a few at least: one odd code is no evidence
            if self.seen[key] >= SAMPLE:
                self.done.add(key)
            return None
        self.done.add(key)
        value, alt = examples[0]
        return Issue("suspect-encoding", f"the text reads like {other} read as "
                     f"{self.encoding}: {clip(value, 40)!r} would be {clip(alt, 40)!r}; "
                     "check the tracciato's encoding", None, key[0], key[1], clip(value))
