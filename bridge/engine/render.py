"""The bytes of every target of one file, rendered from one set of tables.

Rendering never raises on data: a value a target cannot hold comes back as an issue on the
row it came from. A target with no data rows is not rendered at all (``write_empty: false``,
the default): the ERP never receives a file holding only its header or trailer.
"""

from __future__ import annotations

import codecs
import functools
import hashlib
import itertools
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.engine.tables import load_tracciato
from bridge.issues import Issue, clip

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from bridge.config import Config, Flow, Target
    from bridge.ledger import FileRow


@dataclass(frozen=True)
class Rendered:
    """One target's bytes: in memory (``data``), or in a file of the work area (``path``,
    with their ``digest`` and ``length``) when they were written as they were rendered."""

    target: str
    data: bytes | None
    rows: int
    path: Path | None = None
    digest: str = ""
    length: int = 0

    @property
    def sha256(self) -> str:
        return self.digest or hashlib.sha256(self.data or b"").hexdigest()

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.length

    def read(self) -> bytes:
        """The bytes (read from their file if need be: for small outputs, e.g. a diff)."""
        if self.data is not None:
            return self.data
        assert self.path is not None
        return self.path.read_bytes()


def target_name(flow: Flow, index: int) -> str:
    return flow.targets[index].name or str(index)


def data_rows(cfg: Config, flow: Flow, tables: Mapping[str, pd.DataFrame | pa.Table]
              ) -> int:
    """Rows that are data: every table but the headers and trailers of the targets."""
    skip: set[str] = set()
    for target in flow.targets:
        if target.tracciato is not None:
            t = load_tracciato(cfg, target.tracciato)
            skip.update(n for n, r in t.records.items() if r.occurs in ("first", "last"))
    return sum(len(df) for name, df in tables.items() if name not in skip)


def render_targets(cfg: Config, row: FileRow, flow: Flow, tables: dict[str, pd.DataFrame],
                   *, empty: bool = False) -> tuple[list[Rendered], list[Issue]]:
    """Every target's bytes, or the issues that stop them; ``empty``: no data rows, so only
    the targets that ask for it (``write_empty: true``) are rendered."""
    from bridge.codecs import encode_rows

    out: list[Rendered] = []
    issues: list[Issue] = []
    for i, target in enumerate(flow.targets):
        if empty and not target.write_empty:
            continue
        if target.each is not None:
            from bridge.engine.parts import render_each

            data, rows, bad = render_each(cfg, row, target, tables)
        elif target.template is not None:
            data, rows, bad = _render_template(cfg, row, target, tables)
        else:
            assert target.tracciato is not None
            t = load_tracciato(cfg, target.tracciato)
            mine = {name: df for name, df in tables.items() if name in t.records}
            encoded = encode_rows(mine, t)
            data, bad = encoded.data, [i for i in encoded.issues if i.is_error]
            issues.extend(i for i in encoded.issues if not i.is_error)
            rows = sum(len(df) for df in mine.values())
        issues.extend(bad)
        if data is not None and not bad:
            out.append(Rendered(target_name(flow, i), data, rows))
    return out, issues


def _render_template(cfg: Config, row: FileRow, target: Target,
                     tables: dict[str, pd.DataFrame]) -> tuple[bytes | None, int, list[Issue]]:
    from bridge.templating import render_file

    assert target.template is not None and target.format is not None
    records = {name: template_rows(df) for name, df in tables.items()}
    text = render_file(cfg.path(target.template),
                       {"tables": records, "source_name": row.path,
                        "now": datetime.fromtimestamp(row.created)}, target.format)
    data, bad = template_bytes(target, text, tables)
    return data, sum(len(df) for df in tables.values()), bad


def template_bytes(target: Target, text: str, tables: dict[str, pd.DataFrame]
                   ) -> tuple[bytes | None, list[Issue]]:
    """A templated target's text as its bytes, or the issues that stop them: a character
    XML cannot hold, in a text output a control character (on the rows of ``tables`` that
    hold it), one its encoding lacks."""
    assert target.template is not None
    xml, template = target.format == "xml", target.template.name
    if target.format == "text" and NOT_TEXT.search(text) is not None \
            and (controls := _not_text(tables, template)):
        return None, controls

    def not_xml() -> list[Issue] | None:
        bad = NOT_XML.search(text)
        return None if bad is None else _not_xml(tables, bad.group(), template)

    if xml and not _bytes_checkable(target.template_encoding) and (refused := not_xml()):
        return None, refused
    try:
        data = text.encode(target.template_encoding)
    except UnicodeEncodeError as exc:
        if xml and (refused := not_xml()):  # a lone surrogate: not XML, said first
            return None, refused
        char = exc.object[exc.start:exc.end]
        return None, [Issue("unencodable", f"{char!r} cannot be written in "
                            f"{target.template_encoding} ({template})", value=char)]
    if xml and (len(data.translate(None, _C0_NOT_XML)) != len(data)
                or "\ufffe" in text or "\uffff" in text) and (refused := not_xml()):
        return None, refused
    return data, []


def template_utf8(target: Target, data: memoryview, tables: dict[str, pd.DataFrame]
                  ) -> tuple[bytes | memoryview | None, list[Issue]]:
    """A templated target's text given as its UTF-8 bytes (valid UTF-8, as Arrow made it),
    for a target written in UTF-8: what :func:`template_bytes` gives for the same text,
    without making the text and encoding it again. In XML, a byte below 32 that is not a
    tab or a line end, or the lead byte of U+F000-U+FFFF (where U+FFFE and U+FFFF are),
    sends the text the long way, which finds the character and says where it is."""
    import numpy as np

    if target.format == "xml":
        cells = np.frombuffer(data, np.uint8)
        if _c0_not_xml()[cells[cells < 32]].any() or (cells == 0xEF).any():
            return template_bytes(target, bytes(data).decode("utf-8"), tables)
    elif target.format == "text":
        cells = np.frombuffer(data, np.uint8)
        # C0 but TAB and line ends, DEL, C1 (0xC2 then 0x80-0x9F: not the `°` or `«` that
        # share its lead byte), or a CR not before a LF: the long way, which finds the
        # character and its row. Looked at in place: the text is not copied.
        c1 = np.flatnonzero(cells[:-1] == 0xC2) + 1  # the byte after each lead byte
        cr = np.flatnonzero(cells == 0x0D)
        if _c0_not_xml()[cells[cells < 32]].any() or (cells == 0x7F).any() \
                or (cells[c1] < 0xA0).any() or (len(cr) and (
                    cr[-1] == len(cells) - 1 or (cells[cr + 1] != 0x0A).any())):
            return template_bytes(target, bytes(data).decode("utf-8"), tables)
    return data, []


@functools.lru_cache(maxsize=1)
def _c0_not_xml() -> np.ndarray:
    """For each byte, whether it is one of :data:`_C0_NOT_XML`."""
    import numpy as np

    table = np.zeros(256, dtype=bool)
    table[list(_C0_NOT_XML)] = True
    return table


#: The C0 controls XML 1.0 cannot hold: in an encoding that writes ASCII as ASCII they are
#: these bytes, found by one pass of ``bytes.translate`` (a fourth of a regex search's time).
_C0_NOT_XML = bytes(c for c in range(32) if c not in (9, 10, 13))


#: Encodings whose bytes 0-31 are those C0 controls and nothing else, and that cannot write a
#: lone surrogate: UTF-8 and the single-byte code pages of Italian ERPs.
_PLAIN_BYTES = frozenset({"utf-8", "ascii", "iso8859-1", "iso8859-15", "cp1252", "cp850",
                          "cp437", "cp1250", "iso8859-2"})


@functools.lru_cache(maxsize=16)
def _bytes_checkable(encoding: str) -> bool:
    """Whether the text of ``encoding`` can be checked for XML's controls on its bytes."""
    try:
        return codecs.lookup(encoding).name in _PLAIN_BYTES
    except LookupError:
        return False


def column_values(series: pd.Series) -> list[object]:
    """The values of a column as :func:`template_rows` gives them."""
    import pandas as pd
    import pyarrow as pa

    from bridge.fields.buffers import python_values

    kind = series.dtype.pyarrow_dtype if isinstance(series.dtype, pd.ArrowDtype) else None
    if kind is None:  # pandas' own boxing (numpy scalars made plain), as to_dict's
        return series.to_frame(name=0).to_dict("list")[0]  # type: ignore[no-any-return]
    if pa.types.is_timestamp(kind) or pa.types.is_duration(kind):
        # Timestamps and Timedeltas as pandas boxes them; a missing one is None
        return [None if v is pd.NaT else v for v in series.to_frame(name=0).to_dict("list")[0]]
    return python_values(pa.array(series))


def template_rows(df: pd.DataFrame, only: Collection[str] | None = None
                  ) -> list[dict[str, object]]:
    """The rows of ``df`` as dicts, with the values ``DataFrame.to_dict("records")`` gives
    (None for a missing value, ``pd.Timestamp`` for a time), built column by column, with
    Arrow for Arrow columns: three times faster than ``to_dict`` on wide tables. With
    ``only``, of those columns alone (the fields a template reads)."""
    names = [c for c in df.columns if only is None or c in only]
    columns = [column_values(df[col]) for col in names]
    if not columns:
        return [{} for _ in range(len(df))]
    # Every column holds len(df) values; dicts made by map, not a comprehension: half the time
    return list(map(dict, map(zip, itertools.repeat(names), zip(*columns, strict=True))))


#: What XML 1.0 cannot hold, even escaped: C0 controls but TAB, LF and CR, U+FFFE, U+FFFF,
#: and lone surrogates. One such character makes the whole document unreadable.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
#: The same for Arrow's kernels (RE2); Arrow text is UTF-8, so it holds no surrogate.
_NOT_XML_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{fffe}\x{ffff}]"


#: What a text output does not carry unseen: C0 controls but TAB and LF, DEL, C1, and a
#: CR that does not end a line (a line cut in two, a terminal or a printer steered).
NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")
_NOT_TEXT_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x{80}-\x{9f}]|\r([^\n]|$)"


def _not_text(tables: dict[str, pd.DataFrame], template: str) -> list[Issue]:
    """An issue (``control-character``) on each row holding a control character a text
    output would carry unseen. None when no row holds it: the template wrote it (a form
    feed between pages), which is its author's choice: an empty list."""
    return _rows_holding(tables, _NOT_TEXT_RE2, NOT_TEXT, "control-character",
                         lambda c: f"{_codepoint(c)} would be written into the text "
                                   f"output unseen ({template})")


def _not_xml(tables: dict[str, pd.DataFrame], found: str, template: str) -> list[Issue]:
    """An issue on each row holding a character XML cannot carry; one issue on the whole
    file when no row holds it (it came from a file name, or the template itself)."""
    issues = _rows_holding(tables, _NOT_XML_RE2, NOT_XML, "not-xml-character",
                           lambda c: f"{_codepoint(c or found)} cannot be written in XML "
                                     f"({template})")
    if not issues:
        issues.append(Issue("not-xml-character", f"{_codepoint(found)} cannot be written in "
                            f"XML ({template}), and no row holds it", value=_codepoint(found)))
    return issues


def _rows_holding(tables: dict[str, pd.DataFrame], re2: str, pattern: re.Pattern[str],
                  code: str, message: Callable[[str], str]) -> list[Issue]:
    """An issue ``code`` on each row whose text cell holds what ``pattern`` finds.

    Only reached when the output holds such a character, so a clean output costs one
    search of its text; the cells are then searched column by column with Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    issues: list[Issue] = []
    for name, df in tables.items():
        lines = (pa.array(df["_line"], from_pandas=True).to_pylist() if "_line" in df.columns
                 else None)
        for col in df.columns:
            try:
                cells = pa.array(df[col], from_pandas=True)
            except (pa.ArrowException, TypeError, ValueError):
                continue  # not text Arrow can hold: the whole-file issue below covers it
            if not (pa.types.is_string(cells.type) or pa.types.is_large_string(cells.type)):
                continue
            hit = pc.fill_null(pc.match_substring_regex(cells, re2), False)
            for at in pc.indices_nonzero(hit).to_pylist():
                value = str(cells[at].as_py())
                char = pattern.search(value)
                line = None if lines is None or lines[at] is None else int(lines[at])
                issues.append(Issue(code, message(char.group()[:1] if char else ""), line,
                                    name, str(col), clip(value)))
    return issues


def _codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"
