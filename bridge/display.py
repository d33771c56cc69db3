"""Text from others, made safe for the people who read it: on a terminal, in a spreadsheet.

File contents, file names and what remote servers say are hostile (see the design's
"Trust"). Printed raw, an escape sequence in a file name can rewrite the operator's
terminal (move the cursor over a warning, set the window title, and on some terminals
answer back as if typed); opened in a spreadsheet, a cell starting with ``=`` runs as a
formula. So everything bridge prints from data or names goes through :func:`printable` (or
:func:`json_text` for JSON), and every CSV written for people through :func:`defuse` or
:func:`defuse_cells`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

#: Characters that steer a terminal or reorder what it shows: C0 (ESC, CR, LF, TAB... a
#: line break would forge a line of its own), DEL, C1 (CSI is 0x9B), the line and paragraph
#: separators, and the bidirectional overrides that show ``gpj.exe`` as ``exe.jpg``.
_STEERING = [*range(0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, 0x2028, 0x2029,
             *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_PRINTABLE = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _STEERING} | {
    0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
#: json.dumps escapes C0 and nothing else the terminal obeys: the rest as JSON escapes,
#: which decode to the same text.
_JSON = {c: f"\\u{c:04x}" for c in _STEERING if c >= 0x20}
#: The bidirectional controls: in a spreadsheet's cell they show its characters in another
#: order than the file holds. A CSV for people writes them as escapes, as printable does.
_BIDI = {c: f"\\u{c:04x}" for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
                                     *range(0x2066, 0x206A))}
_BIDI_RE2 = "[" + "".join(f"\\x{{{c:x}}}" for c in _BIDI) + "]"


def printable(text: object) -> str:
    """``text`` with every steering character written as an escape (ESC as ``\\x1b``), so
    that it shows as what it is and cannot act on the terminal."""
    return str(text).translate(_PRINTABLE)


def json_text(text: str) -> str:
    """A JSON document with DEL, C1 and the bidirectional controls escaped as ``\\uXXXX``
    (json.dumps with ``ensure_ascii=False`` leaves them raw); it decodes to the same data."""
    return text.translate(_JSON)


# -- spreadsheets ------------------------------------------------------------------------

# A spreadsheet runs a cell starting with = @ + - (or TAB, CR) as a formula. It may split a
# cell again on , ; or TAB (a file opened with another locale's separator), so a formula
# after one of those inside a cell is one too. A signed number that runs to the end of the
# cell (-12,50 or a;-3) is data and stays as it is. (pyarrow's RE2 has no lookahead: the
# kernels only pick the cells to look at.)
_FORMULA_START = r"(^|[,;\t])[=@+\t\r-]"
_SIGNED_NUMBER = r"^[+-][0-9][0-9.,]*$"
_RISKY = re.compile(r"(^|[,;\t])(?=[=@+\t\r-])(?![+-][0-9][0-9.,]*$)")


def defuse(cell: object) -> str:
    """One cell as text (None as empty), with a ``'`` before every would-be formula: at its
    start, and after each ``,`` ``;`` or TAB inside it; its bidirectional controls written
    as escapes (``\\u202e``)."""
    if cell is None:
        return ""
    return _RISKY.sub(lambda m: m.group(1) + "'", str(cell).translate(_BIDI))


def defuse_cells(cells: pa.Array | pa.ChunkedArray) -> pa.Array:
    """:func:`defuse` over a column. The kernels find the cells that may hold a formula or
    a bidirectional control; only those (rare, and signed numbers excepted) go through
    Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(cells, pa.ChunkedArray):
        cells = cells.combine_chunks()
    text = pc.fill_null(pc.cast(cells, pa.string()), "")
    risky = pc.or_(pc.and_(pc.match_substring_regex(text, _FORMULA_START),
                           pc.invert(pc.match_substring_regex(text, _SIGNED_NUMBER))),
                   pc.match_substring_regex(text, _BIDI_RE2))
    at = pc.indices_nonzero(risky)
    if len(at) == 0:
        return text
    fixed = pa.array([defuse(v) for v in text.take(at).to_pylist()], pa.string())
    return pc.replace_with_mask(text, risky, fixed)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'prezzo'?)`` when a known name is close to ``name``; else nothing.
    Names starting with ``_`` (bridge's own columns) are never suggested."""
    import difflib

    close = difflib.get_close_matches(name, [k for k in known if not k.startswith("_")],
                                      n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def age(seconds: float) -> str:
    """A duration as a person reads it, to the minute past an hour: ``45s``, ``12m``,
    ``3h12m``, ``2d4h``."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    units = [("d", 86400), ("h", 3600), ("m", 60)]
    parts: list[tuple[int, str]] = []
    for name, size in units:
        n, s = divmod(s, size)
        if n or parts:
            parts.append((n, name))
    big, small = parts[0], parts[1] if len(parts) > 1 else (0, "")
    return f"{big[0]}{big[1]}" + (f"{small[0]}{small[1]}" if small[0] else "")
