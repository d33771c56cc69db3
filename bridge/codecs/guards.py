"""What a target file cannot hold: the checks on text cells about to be written.

A value is never written in a way that changes the file's structure or loses characters
unseen. Four things are looked for in each text cell, in the tracciato's terms:

- a character the encoding cannot represent (``unencodable``), or, when the field says
  ``on_unencodable: replace`` or ``transliterate``, the cell as it will be written
  instead, with a note (``replaced``, ``transliterated``);
- a control character (C0, DEL, C1) where nothing protects it: in a fixed-width field or
  in a delimited layout without a quote character, a CR or LF would start a fake record
  and a TAB or NUL garbles the line (``control-character``); inside quotes only a NUL,
  which readers take for the end of the text, unless the layout says
  ``control_characters: refuse`` (its importer reads a line at a time);
- the delimiter, in a delimited layout without a quote character or escape character: it
  would shift every column after it (``delimiter-in-field``);
- in a delimited layout that says ``formulas: refuse``, a cell a spreadsheet would run as
  a formula (``formula``): the file is one an operator opens in a spreadsheet.

Each check runs over the whole column (numpy over the UTF-8 bytes, pyarrow kernels);
Python looks only at the rows a check flags. Characters that come from the tracciato
itself (pads, separators, formats, constants, headers) are checked once by
:func:`check_layout`: a problem there is the configuration's, not a row's.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs.text import is_utf8
from bridge.errors import ConfigError
from bridge.issues import clip
from bridge.spec.model import FieldSpec, Tracciato

#: A problem met in one cell: (row, code, message, value shown in the report).
Problem = tuple[int, str, str, str | None]

#: Names of the control characters people meet in data, for messages.
_CONTROL_NAMES = {"\r": "a carriage return (CR)", "\n": "a line feed (LF)", "\t": "a tab",
                  "\x00": "a NUL byte", "\x1a": "an end-of-file mark (0x1A)"}
#: What anyascii gives for an emoji (":grinning:"): a name, not text anyone wrote.
_EMOJI_NAME = re.compile(r":[a-z0-9_+\-]+:")
#: Flags are pairs of these; one letter each would be noise in a name.
_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)
#: C0, DEL and C1: never text anyone meant to write into a record.
_CONTROLS = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))


def screen(cells: pa.Array, shown: pa.Array, field: FieldSpec,
           t: Tracciato) -> tuple[pa.Array, list[Problem]]:
    """The cells as they will be written, and the problems of each flagged row.

    ``cells`` are the field's text cells (no nulls), ``shown`` the values as the table
    holds them, for reports.
    """
    problems: list[Problem] = []
    rows = unencodable_rows(cells, t.encoding)
    if len(rows):
        cells = _unencodable(cells, shown, rows, field, t.encoding, problems)
    controls, delimiter = _breakers(t)
    for row, ch in _rows_holding(cells, controls):
        problems.append((row, "control-character", f"{_quote(cells[row].as_py())} holds "
                         f"{_control_name(ch)}, which would break the record in the file",
                         _shown(shown, row)))
    if delimiter is not None:
        for row, _ in _rows_holding(cells, delimiter):
            problems.append((row, "delimiter-in-field", f"{_quote(cells[row].as_py())} holds the "
                             f"delimiter {delimiter!r}, which would shift the columns after it "
                             "(the layout writes no quotes)", _shown(shown, row)))
    if t.format == "delimited" and t.dialect.formulas == "refuse":
        for row in _formula_rows(cells).tolist():
            problems.append((row, "formula", f"{_quote(cells[row].as_py())} starts as a "
                             "spreadsheet formula, which would run where the file is opened "
                             "in a spreadsheet", _shown(shown, row)))
    return cells, problems


#: A cell a spreadsheet runs: = @ TAB CR at its start, or + - before anything that is not
#: a number or a phone (``+39 035 412233``, ``-12,50`` are data; ``-2+3``, ``+A1`` are not).
_FORMULA = r"^([=@\t\r]|[+-].)"
#: A phone may hold words after its number (``+39 035 412233 int. 12``, ``+1 800 FLOWERS``)
#: but no operator but ``-``, no name called as a function (``SUM (``, ``LOG10(``) and no
#: cell reference (``A1``, ``x12``): those would run, or read another cell.
_NUMBER_OR_PHONE = r"^[+-][0-9][0-9A-Za-z .,()/-]*$"
_CALL_OR_CELL = r"[A-Za-z][A-Za-z0-9_.]* *\(|[A-Za-z][0-9]"


def _formula_rows(cells: pa.Array) -> np.ndarray:
    """Rows of a spreadsheet formula (cells without nulls)."""
    if not len(cells):
        return np.empty(0, np.int64)
    phone = pc.and_(pc.match_substring_regex(cells, _NUMBER_OR_PHONE),
                    pc.invert(pc.match_substring_regex(cells, _CALL_OR_CELL)))
    risky = pc.and_(pc.match_substring_regex(cells, _FORMULA), pc.invert(phone))
    return np.flatnonzero(np.asarray(risky.to_numpy(zero_copy_only=False), dtype=bool))


def unencodable_rows(cells: pa.Array, encoding: str) -> np.ndarray:
    """Rows holding a character ``encoding`` cannot represent (cells without nulls)."""
    none = np.empty(0, np.int64)
    if is_utf8(encoding) or not len(cells):
        return none
    if ascii_compatible(encoding):
        data = _utf8_bytes(cells)
        if not len(data) or int(data.max()) < 0x80:
            return none  # the usual ERP column: every byte below 0x80
        ascii_ = pc.string_is_ascii(cells).to_numpy(zero_copy_only=False)
        others = np.flatnonzero(~np.asarray(ascii_, dtype=bool))
    else:
        others = np.arange(len(cells))
    lines = cells.take(pa.array(others))
    try:
        _utf8_bytes(lines).tobytes().decode("utf-8").encode(encoding)  # one strict try
        return none
    except UnicodeEncodeError:
        pass
    pattern = bad_chars_pattern(encoding)
    if pattern is None:
        return others[[not encodes(s, encoding) for s in lines.to_pylist()]]
    hit = pc.match_substring_regex(lines, pattern).to_numpy(zero_copy_only=False)
    found: np.ndarray = others[np.asarray(hit, dtype=bool)]
    return found


def _unencodable(cells: pa.Array, shown: pa.Array, rows: np.ndarray, field: FieldSpec,
                 encoding: str, problems: list[Problem]) -> pa.Array:
    """Reports the rows, or rewrites them as the field's ``on_unencodable`` says."""
    how = field.on_unencodable
    texts = cells.take(pa.array(rows)).to_pylist()
    written = []
    for row, text in zip(rows.tolist(), texts, strict=True):
        # A control character the encoding lacks (C1) is the control check's to report,
        # and is never rewritten into something that passes it.
        lost = next((c for c in text if c not in _CONTROLS and not encodes(c, encoding)), None)
        if lost is None:
            continue
        what = f"{lost!r} (U+{ord(lost):04X})"
        if how == "error":
            problems.append((row, "unencodable", f"{_quote(text)} holds {what}, which {encoding} "
                             "cannot represent", _shown(shown, row)))
            continue
        new = (_replaced(text, encoding) if how == "replace"
               else transliterate(text, encoding))
        written.append((row, new))
        code = "replaced" if how == "replace" else "transliterated"
        problems.append((row, code, f"{_quote(text)} written as {_quote(new)}: {encoding} cannot "
                         f"represent {what}", _shown(shown, row)))
    if not written:
        return cells
    mask = np.zeros(len(cells), dtype=bool)
    mask[[r for r, _ in written]] = True
    return pc.replace_with_mask(cells, pa.array(mask), pa.array([w for _, w in written],
                                                                 pa.string()))


def _replaced(text: str, encoding: str) -> str:
    return "".join(c if c in _CONTROLS else c.encode(encoding, "replace").decode(encoding)
                   for c in text)


def transliterate(text: str, encoding: str) -> str:
    """``text`` with each character ``encoding`` lacks replaced by its closest ASCII.

    Characters the encoding holds are kept (``è`` stays ``è`` in cp1252); composed forms
    are tried first (``e`` + combining acute is ``é``). Emoji are left out: their ASCII
    form is a name (``:grinning:``), not what the person wrote. What still cannot be
    written becomes the encoding's replacement character.
    """
    from anyascii import anyascii  # only layouts that ask for it pay for the import

    out = []
    for ch in unicodedata.normalize("NFC", text):
        if ch in _CONTROLS or encodes(ch, encoding):
            out.append(ch)
            continue
        alt = anyascii(ch)
        if _EMOJI_NAME.fullmatch(alt) or ord(ch) in _REGIONAL_INDICATORS:
            alt = ""
        out.append(alt if encodes(alt, encoding)
                   else alt.encode(encoding, "replace").decode(encoding))
    return "".join(out)


def _breakers(t: Tracciato) -> tuple[str, str | None]:
    """The control characters a cell must not hold, and the delimiter when it must not
    hold that either (nothing quotes or escapes it)."""
    controls = _CONTROLS
    if t.format == "fixed":
        return controls, None
    d = t.dialect
    if d.quote_char is None and d.escape_char is None:
        return controls.replace(d.delimiter, ""), d.delimiter
    if d.control_characters == "refuse":  # the importer reads a line at a time
        return controls, None
    if d.quote_char is not None:
        return "\x00", None  # quoting protects the rest; readers stop at a NUL
    # Line ends are escaped by the writer, so they are data the reader gives back.
    return controls.replace("\r", "").replace("\n", ""), None


def _rows_holding(cells: pa.Array, chars: str) -> list[tuple[int, str]]:
    """Each row holding one of ``chars``, with the first such character in it."""
    data = _utf8_bytes(cells)
    if not len(data) or not _may_hold(data, chars):
        return []
    pattern = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in chars) + "]"
    hit = pc.match_substring_regex(cells, pattern).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(np.asarray(hit, dtype=bool))
    found = re.compile("[" + re.escape(chars) + "]")
    out = []
    for row, text in zip(rows.tolist(), cells.take(pa.array(rows)).to_pylist(), strict=True):
        m = found.search(text)
        if m is not None:
            out.append((row, m.group()))
    return out


def _may_hold(data: np.ndarray, chars: str) -> bool:
    """A cheap look at the bytes: False when no row can hold one of ``chars``.

    A whole column costs a pass or two of numpy over its bytes; the exact search (a regex
    per row) runs only when this says maybe.
    """
    lows, others, pairs = _byte_sets(chars)
    if len(lows) > 4:
        if int(data.min()) < 0x20:  # some control byte: maybe one of these
            return True
    elif len(lows) and np.isin(data, lows).any():
        return True
    if any(np.count_nonzero(data == o) for o in others):
        return True
    if not pairs or int(data.max()) < 0x80:
        return False
    # A UTF-8 character of two bytes or more: its first byte, then one of its second bytes.
    for lead, seconds in pairs:
        at = np.flatnonzero(data[:-1] == lead)
        if len(at) and np.isin(data[at + 1], seconds).any():
            return True
    return False


@functools.cache
def _byte_sets(chars: str) -> tuple[np.ndarray, list[int], list[tuple[int, np.ndarray]]]:
    """``chars`` as the control bytes, the other ASCII bytes, and (first byte, second
    bytes) of the others in UTF-8."""
    small = np.array([ord(c) for c in chars if ord(c) < 0x80], np.uint8)
    big = [c.encode("utf-8") for c in chars if ord(c) >= 0x80]
    pairs = [(lead, np.array(sorted({b[1] for b in big if b[0] == lead}), np.uint8))
             for lead in sorted({b[0] for b in big})]
    return small[small < 0x20], small[small >= 0x20].tolist(), pairs


def _utf8_bytes(cells: pa.Array) -> np.ndarray:
    """The UTF-8 bytes of a string array's cells, laid end to end, without a copy."""
    n = len(cells)
    bufs = cells.buffers()
    if n == 0 or bufs[2] is None:
        return np.empty(0, np.uint8)
    ends = np.frombuffer(bufs[1], np.int32)[[cells.offset, cells.offset + n]]
    data: np.ndarray = np.frombuffer(bufs[2], np.uint8)[int(ends[0]):int(ends[1])]
    return data


def check_layout(t: Tracciato) -> None:
    """Raise :class:`ConfigError` when the tracciato's own text cannot be written.

    Pads, fillers, separators, date formats, yes/no words, constants and header titles
    are written on every row: a character there that the encoding lacks, a control
    character, or an unquoted delimiter is a mistake in the layout, not in the data.
    """
    controls, delimiter = _breakers(t)
    bad = set(controls) | ({delimiter} if delimiter else set())
    texts: list[tuple[str, str]] = []
    if t.fixed is not None:
        texts.append(("fixed.filler", t.fixed.filler))
    for rname, rec in t.records.items():
        for f in rec.fields:
            where = f"records.{rname}.fields[{f.name}]"
            texts.extend((where, s) for s in _own_text(f, t.format == "fixed"))
    if t.format == "delimited" and t.dialect.header_rows:
        rname, rec = next(iter(t.records.items()))
        for f in rec.fields:
            texts.extend((f"records.{rname}.fields[{f.name}] header", title)
                         for title in [f.header, *f.titles])
    for where, text in texts:
        wrong = [c for c in text if c in bad or not encodes(c, t.encoding)]
        if wrong:
            raise ConfigError(f"tracciato {t.name or '(unnamed)'}: {where}: {text!r} holds "
                              f"{wrong[0]!r}, which cannot be written in this layout "
                              f"({t.encoding})")


def _own_text(f: FieldSpec, fixed: bool) -> list[str]:
    """The text the tracciato itself puts into a field's cells."""
    out = [f.out_pad] if fixed else []
    if f.is_numeric:
        out += [f.decimal_separator, f.thousands_separator or ""]
    elif f.type == "boolean":
        out += [f.true_values[0], f.false_values[0]]
    elif f.format is not None:
        out.append(re.sub(r"%.", "", f.format))
    if f.type == "constant" and f.value is not None:
        out.append(f.value)
    return out


def encodes(s: str, encoding: str) -> bool:
    try:
        s.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


@functools.cache
def ascii_compatible(encoding: str) -> bool:
    try:
        return bytes(range(128)).decode(encoding) == "".join(map(chr, range(128)))
    except (UnicodeDecodeError, LookupError):
        return False


@functools.cache
def bad_chars_pattern(encoding: str) -> str | None:
    """A regex matching one character the encoding cannot hold (None: it holds them all,
    or it is not a one-byte-per-character codec)."""
    if is_utf8(encoding):
        return None
    try:
        held = sorted(set(bytes(range(256)).decode(encoding, "ignore")))
    except (UnicodeDecodeError, LookupError):
        return None
    if len(bytes(range(256)).decode(encoding, "ignore")) != len(held) or len(held) < 128:
        return None
    ranges, lo, prev = [], ord(held[0]), ord(held[0])
    for c in [*held[1:], "\U0010ffff"]:
        o = ord(c)
        if o != prev + 1:
            ranges.append(f"\\x{{{lo:x}}}-\\x{{{prev:x}}}")
            lo = o
        prev = o
    return "[^" + "".join(ranges) + "]"


def _control_name(ch: str) -> str:
    return _CONTROL_NAMES.get(ch, f"the control character U+{ord(ch):04X}")


def _quote(text: str) -> str:
    """A cell in a message: control characters visible, never longer than a line."""
    return repr(text if len(text) <= 80 else text[:79] + "…")


def _shown(shown: pa.Array, row: int) -> str | None:
    """The value an issue keeps: clipped, as every issue's."""
    return clip(shown[row].as_py())
