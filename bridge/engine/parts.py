"""Outputs written in parts: each target's bytes go to a file of the work area as the source
is read, chunk after chunk, and become a :class:`Rendered` only when the last part is in.

A tabular target (a tracciato) writes its header rows and BOM with the first part, and its
last line end, end-of-file byte and trailer when the file is finished
(:func:`bridge.codecs.split.file_tail`). A templated target renders its ``head`` block, then
its ``each`` block per record, then its ``tail`` (:class:`bridge.templating.Blocks`). What
the parts make, laid end to end, is byte for byte what one render of the whole file makes.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import itertools
import os
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge import files
from bridge.engine.out_keys import OutputKeys
from bridge.engine.render import Rendered, template_bytes, template_rows, template_utf8
from bridge.engine.tables import load_tracciato
from bridge.issues import Issue
from bridge.template_columns import compile_block

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from bridge.config import Config, Target
    from bridge.ledger import FileRow
    from bridge.spec.model import Tracciato

Tables = dict[str, "pd.DataFrame"]
#: The Arrow tables of a chunk, or the pandas ones (:attr:`TargetParts.arrow` says which).
AnyTables = dict[str, "pd.DataFrame | pa.Table"]
#: A part's bytes: one block, or the blocks of its batches in order.
Data = bytes | list[bytes | memoryview]
#: Records of a templated target turned into Python values and rendered at a time.
BATCH = 2000
#: The columns that tie a line to its record: every row handed to a template keeps them.
LINKS = frozenset({"_line", "_parent_line"})


class PartFile:
    """A file of the work area written in parts, hashed as it is written; it gets its name
    only when finished, and a part that was not finished is removed.

    Every part after the first is written and hashed by a thread of its own while the
    caller makes the next one (both release the GIL): one part at most is in flight, so
    its bytes are held once more at most, and its error (a full disk) is raised by the
    next :meth:`write`, by :meth:`finish`, or never once the file is discarded. A file of
    one part starts no thread."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.fd, self.tmp = files.new_file(final)
        self.sha = hashlib.sha256()
        self.size = 0
        self.held = b""  # the last bytes, kept back while the file may lose them
        self.parts = 0
        self._busy: threading.Thread | None = None
        self._failed: BaseException | None = None

    def write(self, data: Data, keep_back: int = 0) -> None:
        """Write ``data`` (bytes, or pieces in order) but its last ``keep_back`` bytes."""
        out: list[bytes | memoryview] = []
        for piece in [data] if isinstance(data, bytes) else data:
            if len(piece) < keep_back:  # too short to hold the line end kept back: join
                piece, self.held = self.held + piece, b""
                if len(piece) < keep_back:
                    self.held = bytes(piece)
                    continue
            out.append(self.held)
            cut = len(piece) - keep_back
            out.append(memoryview(piece)[:cut])  # a part may be tens of MB: never copied
            self.held = bytes(piece[cut:])
        self._settle()
        self.parts += 1
        if self.parts == 1:
            self._out(out)
            return
        self._busy = threading.Thread(target=self._out_apart, args=(out,),
                                      name="bridge-part-writer", daemon=True)
        self._busy.start()

    def _out_apart(self, pieces: list[bytes | memoryview]) -> None:
        try:
            self._out(pieces)
        except BaseException as exc:  # raised in the caller's thread by _settle
            self._failed = exc

    def _settle(self) -> None:
        """Wait for the part in flight; raise what stopped it."""
        if self._busy is not None:
            self._busy.join()
            self._busy = None
        failed, self._failed = self._failed, None
        if failed is not None:
            raise failed

    def _out(self, pieces: list[bytes | memoryview]) -> None:
        for data in pieces:
            if data:
                files.write_all(self.fd, data)
                self.sha.update(data)
                self.size += len(data)

    def finish(self, strip: bytes, close: bytes) -> tuple[str, int]:
        """Write what was kept back (less ``strip`` if it ends with it) and ``close``."""
        self._settle()
        held = self.held[:-len(strip)] if strip and self.held.endswith(strip) else self.held
        self._out([held + close])
        os.close(self.fd)
        self.fd = -1
        files.publish(self.tmp, self.final, replace=True)
        return self.sha.hexdigest(), self.size

    def discard(self) -> None:
        if self._busy is not None:
            # Never close the descriptor under the thread's write: the number could be
            # another file's by then. (Interrupted here, the descriptor is left open.)
            self._busy.join()
            self._busy = None
        self._failed = None  # the file is given up: what stopped its last part is moot
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)


class TargetParts:
    """One target's output as parts. ``part`` renders one chunk's tables: None and the
    issues when a row cannot be written (nothing is written then), else the bytes."""

    def __init__(self, name: str, final: Path) -> None:
        self.name = name
        self.file = PartFile(final)
        self.rows = 0
        self.first = True

    #: Whether :meth:`part` reads the steps' Arrow tables (else their pandas view).
    arrow = False

    def part(self, tables: Any) -> tuple[Data | None, list[Issue], int]:
        raise NotImplementedError

    def write(self, data: Data, rows: int) -> None:
        self.file.write(data, self.keep_back)
        self.rows += rows
        self.first = False
        self.keep_keys()  # written: its keys are given

    keep_back = 0

    def keep_keys(self) -> None:
        """The keys of the parts made since the last kept count as given: once written,
        and, though not written, a refused file's, so that its later chunks find their
        rows again."""

    def tail(self, trailer: Tables) -> tuple[Data | None, list[Issue], int]:
        return self.part(trailer)

    def finish(self) -> Rendered:
        digest, size = self.file.finish(*self.ends())
        return Rendered(self.name, None, self.rows, self.file.final, digest, size)

    def ends(self) -> tuple[bytes, bytes]:
        return b"", b""


class TableParts(TargetParts):
    def __init__(self, name: str, final: Path, t: Tracciato) -> None:
        super().__init__(name, final)
        self.t = t
        from bridge.codecs.split import file_tail

        self.strip, self.close = file_tail(t)
        self.keep_back = len(self.strip)
        self.keys = OutputKeys(t, name) if t.checks.unique else None

    arrow = True

    def part(self, tables: AnyTables) -> tuple[bytes | None, list[Issue], int]:
        from bridge.codecs import encode_rows

        mine = {name: df for name, df in tables.items() if name in self.t.records}
        encoded = encode_rows(mine, self.t, head=self.first, tail=False)
        rows = sum(len(df) for df in mine.values())
        twice = self.keys.check(mine) if self.keys is not None else []
        if twice:  # a key the file holds already: nothing of the part is written
            issues = sorted([*encoded.issues, *twice], key=lambda i: i.line or 0)
            return None, issues, rows
        return encoded.data, encoded.issues, rows

    def keep_keys(self) -> None:
        if self.keys is not None:
            self.keys.keep()

    def tail(self, trailer: AnyTables) -> tuple[bytes | None, list[Issue], int]:
        if not self.first and not any(n in self.t.records for n in trailer):
            return b"", [], 0  # no trailer row, the head written: nothing to add
        return self.part(trailer)

    def ends(self) -> tuple[bytes, bytes]:
        return self.strip, self.close


class EachRenderer:
    """A template's blocks over tables: ``head``, ``each`` per record, ``tail``; and the
    bytes of the text, or the issues that stop them."""

    def __init__(self, cfg: Config, target: Target, row: FileRow) -> None:
        from bridge.templating import Blocks

        assert target.template is not None and target.format is not None
        assert target.each is not None
        self.target, self.each = target, target.each
        self.blocks = Blocks(cfg.path(target.template), target.format)
        self.variables = {"source_name": row.path, "now": datetime.fromtimestamp(row.created)}
        #: What the ``each`` block reads of a record and of its lines, by table (None: it
        #: may read anything); their rows are made of those fields and the links alone.
        self.fields = self.blocks.fields("each", target.each.table, target.each.lines)
        #: The ``each`` block made of Arrow kernels over a batch of records, when it can be.
        self.columns = compile_block(self.blocks.source, "each", target.each.table,
                                     target.each.lines, escape=target.format != "text")
        #: Written in UTF-8: the records rendered on columns stay the bytes Arrow made.
        self.utf8 = codecs.lookup(target.template_encoding).name == "utf-8"

    def _only(self, table: str, df: pd.DataFrame) -> frozenset[str] | None:
        fields = None if self.fields is None else self.fields.get(table)
        if fields is None or not fields <= set(df.columns):
            return None  # a name that is no field (a method of the row?): rows kept whole
        return fields | LINKS

    def head(self) -> str:
        return self.blocks.render("head", self.variables)

    def records(self, tables: Tables) -> Iterator[str]:
        """The ``each`` block of every record, a text per :data:`BATCH` records: the rows
        as Python values, and their text, are held for one batch, not for the chunk."""
        for text in self._records(tables, utf8=False):
            assert isinstance(text, str)
            yield text

    def pieces(self, tables: Tables) -> Iterator[str | memoryview]:
        """:meth:`records`, a batch rendered on columns as its UTF-8 bytes where the target
        is written in UTF-8."""
        return self._records(tables, utf8=self.utf8)

    def _records(self, tables: Tables, *, utf8: bool) -> Iterator[str | memoryview]:
        import numpy as np

        records = tables.get(self.each.table)
        lines = tables.get(self.each.lines) if self.each.lines else None
        if records is None or not len(records):
            return
        parents = None
        if lines is not None and len(lines) and "_parent_line" in lines.columns:
            parents = lines["_parent_line"].to_numpy(dtype=np.int64, na_value=-1)
        for start in range(0, len(records), BATCH):
            batch = records.iloc[start:start + BATCH]
            if self.columns is not None:
                text = self.columns.render(batch, lines, parents, self.variables,
                                           utf8=utf8)
                if text is not None:
                    yield text
                    continue
            children: dict[object, list[dict[str, object]]] = {}
            if parents is not None and lines is not None and "_line" in batch.columns:
                mine = np.flatnonzero(np.isin(parents, batch["_line"].to_numpy(
                    dtype=np.int64, na_value=-2)))
                part = lines.iloc[mine]
                for child in template_rows(part, self._only(self.each.lines or "", part)):
                    children.setdefault(child.get("_parent_line"), []).append(child)
            more = None if self.each.lines is None else (
                lambda record, c=children, n=self.each.lines: {n: c.get(record.get("_line"), [])})
            rows = template_rows(batch, self._only(self.each.table, batch))
            yield "".join(self.blocks.render_each("each", self.variables, self.each.table,
                                                  rows, more))

    def tail(self, trailer: Tables) -> str:
        return self.blocks.render("tail", {**self.variables, "tables": {
            n: template_rows(df) for n, df in trailer.items()}})

    def encoded(self, text: str | memoryview, tables: Tables
                ) -> tuple[bytes | memoryview | None, list[Issue]]:
        """The bytes of a text, or of the UTF-8 bytes :meth:`pieces` gives."""
        if isinstance(text, memoryview):
            return template_utf8(self.target, text, tables)
        return template_bytes(self.target, text, tables)


def render_each(cfg: Config, row: FileRow, target: Target, tables: Tables
                ) -> tuple[bytes | None, int, list[Issue]]:
    """A template with ``each`` over a whole file's tables at once (the tables that are
    neither the records nor their lines are the trailer's)."""
    r = EachRenderer(cfg, target, row)
    assert target.each is not None
    mine = (target.each.table, target.each.lines)
    text = "".join(r.records(tables))
    trailer = {n: df for n, df in tables.items() if n not in mine}
    data, bad = template_bytes(target, r.head() + text + r.tail(trailer), tables)
    return data, sum(len(df) for df in tables.values()), bad


class TemplateParts(TargetParts):
    def __init__(self, name: str, final: Path, cfg: Config, target: Target, row: FileRow
                 ) -> None:
        super().__init__(name, final)
        self.r = EachRenderer(cfg, target, row)
        #: What the encoding writes before any text (a byte order mark: utf-8-sig,
        #: utf-16): the file's first bytes, not those of every batch encoded apart.
        self.lead = "".encode(target.template_encoding)

    def part(self, tables: Tables) -> tuple[Data | None, list[Issue], int]:
        """The bytes of a batch of records at a time (never the chunk's whole text)."""
        rows = sum(len(df) for df in tables.values())
        pieces: list[bytes | memoryview] = []
        texts = self.r.pieces(tables)
        for text in itertools.chain([self.r.head()] if self.first else [], texts):
            data, bad = self.r.encoded(text, tables)
            if data is None:
                return None, bad, rows
            pieces.append(data if self.first and not pieces else self._unled(data))
        return pieces, [], rows

    def tail(self, trailer: Tables) -> tuple[bytes | None, list[Issue], int]:
        text = (self.r.head() if self.first else "") + self.r.tail(trailer)
        data, bad = template_bytes(self.r.target, text, trailer)
        if data is not None and not self.first:
            data = bytes(self._unled(data))
        return data, bad, sum(len(df) for df in trailer.values())

    def _unled(self, data: bytes | memoryview) -> bytes | memoryview:
        lead = self.lead
        return data[len(lead):] if lead and data[:len(lead)] == lead else data


class WholeTemplateParts(TargetParts):
    """A template without ``each``: rendered once over every table, so its flow reads the
    file whole (one part), the trailer included."""

    def __init__(self, name: str, final: Path, cfg: Config, target: Target, row: FileRow
                 ) -> None:
        super().__init__(name, final)
        self.cfg, self.target, self.row = cfg, target, row

    def part(self, tables: Tables) -> tuple[bytes | None, list[Issue], int]:
        from bridge.engine.render import _render_template

        if not self.first:
            raise RuntimeError("a template without `each` is rendered once, over the whole "
                               "file")
        data, rows, bad = _render_template(self.cfg, self.row, self.target, tables)
        return data, bad, rows

    def tail(self, trailer: Tables) -> tuple[bytes | None, list[Issue], int]:
        return b"", [], 0


def clear_killed(folder: Path) -> None:
    """What a killed reading left in ``folder``: its parts (``.stream-``), its keys and facts
    (:class:`~bridge.engine.chunking.KeySpool`), its fingerprints (``.prints-``)."""
    left: list[str] = []
    with contextlib.suppress(FileNotFoundError), os.scandir(folder) as entries:
        left = [e.path for e in entries
                if e.name.startswith((".stream-", ".keys-", ".facts-", ".prints-"))]
    for path in left:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def open_parts(cfg: Config, row: FileRow, targets: list[tuple[str, Target]], folder: Path
               ) -> list[TargetParts]:
    """A writer per target, each into its own file of ``folder``."""
    out: list[TargetParts] = []
    try:
        for n, (name, target) in enumerate(targets):
            final = folder / f"stream-{n}.out"
            if target.template is not None and target.each is None:
                out.append(WholeTemplateParts(name, final, cfg, target, row))
            elif target.template is not None:
                out.append(TemplateParts(name, final, cfg, target, row))
            else:
                assert target.tracciato is not None
                out.append(TableParts(name, final, load_tracciato(cfg, target.tracciato)))
    except BaseException:
        for p in out:
            p.file.discard()
        raise
    return out
