"""The tables of a flow: layouts found once, reference tables read once per pass (with the
digest of their bytes), exact money sums, and the tables without their bad rows (and the
rest of those rows' groups).

What a file left in its folder was read with besides its own bytes: the reference tables.
A price list the ERP rewrites every night stays where it is (``archive: leave``) and is
joined with the article master. When only the master changes (a new description, another
VAT code) the price list's bytes are the same, so the file alone would look done. bridge
records, with each such file, a digest of the references its flow looks up, as read for
it; a later pass that finds them changed reads the file again, and the flow's ``delta``
step sends what the change made different. A file refused because of a reference (an
article missing from the master) is tried again once the master is put right.

The digest of what was *used* comes from the loaded tables (the bytes they were decoded
from); the digest *now* from the files as they are. When they differ the file is read
again, so a master rewritten between the two is never missed, at worst read once more.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, Protocol, cast

from bridge.issues import Issue

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from bridge.config import Config, Flow
    from bridge.spec.model import Tracciato


class Refs(Protocol):
    """What reading reference tables needs: the configuration and a cache for one run (a
    pass's context has both)."""

    cfg: Config
    references: dict[str, pd.DataFrame]


def load_tracciato(cfg: Config, name: str) -> Tracciato:
    """A tracciato by name, found once per configuration (a pass asks for it per file)."""
    from bridge.errors import TracciatoError
    from bridge.spec import load_file
    from bridge.spec.loader import find

    key = (cfg.base, tuple(str(p) for p in cfg.tracciati), name)
    found = _FOUND.get(key)
    if found is not None:
        try:
            return load_file(found)  # parsed again only if the file changed
        except TracciatoError:
            pass  # gone since, or broken: looked for again, and what is found is read
    _FOUND[key] = found = find(name, tuple(str(cfg.path(p)) for p in cfg.tracciati))
    return load_file(found)


_FOUND: dict[tuple[Path, tuple[str, ...], str], Path] = {}


def reference(ctx: Refs, name: str) -> pd.DataFrame:
    """A reference table, decoded once per run; bad rows in it are a configuration error.

    Read chunk by chunk, keeping of each chunk only the fields the flows' lookups match on
    or take (all of them when a lookup names a field the tracciato lacks, for its error):
    an article master of a million rows and 17 columns is not held whole."""
    import pandas as pd

    from bridge.codecs import iter_decode
    from bridge.codecs.text import GroupTooLarge
    from bridge.config import WHOLE_MAX_BYTES
    from bridge.errors import ConfigError, ReferenceDataError, TransientError

    if name not in ctx.references:
        if name not in ctx.cfg.references:
            raise ConfigError(f"no reference table named {name!r}")
        ref = ctx.cfg.references[name]
        t = load_tracciato(ctx.cfg, ref.tracciato)
        record = ref.record or t.single_record
        keep = _looked_up(ctx.cfg, name, t, record)
        path = ctx.cfg.path(ref.file)
        digest = hashlib.sha256()
        frames, errors = [], []
        too_large: GroupTooLarge | None = None
        try:
            with path.open("rb") as fh:
                stream = _Hashed(fh, digest)
                before = _version(fh)
                # A table of one chunk is read at once: no second thread for it.
                big = before[0] > REFERENCE_CHUNK
                try:
                    # A line (or group) past WHOLE_MAX_BYTES stops the reading: a table whose
                    # line ends were lost is not held whole, copied again at every chunk.
                    for part in iter_decode(cast("IO[bytes]", stream), t,
                                            chunk_bytes=REFERENCE_CHUNK if big else None,
                                            group_max=WHOLE_MAX_BYTES):
                        errors += [i for i in part.issues if i.is_error]
                        df = part.tables[record]
                        frames.append(df if keep is None else df[[c for c in df if c in keep]])
                    while stream.read(1 << 20):  # the digest is of every byte, read or not
                        pass
                except GroupTooLarge as exc:
                    too_large = exc
                # Written to while it was read (the ERP exporting it in place): what was
                # read may be half of it, or of two versions, and no mistake of the table.
                if _version(fh) != before or (too_large is None and stream.read_bytes
                                              != before[0]):
                    raise TransientError(
                        f"reference {name!r} ({path}) changed while it was read (is it being "
                        "written?): it is read again at the next pass")
        except OSError as exc:
            raise ReferenceDataError(f"reference {name!r}: cannot read {path}: "
                                     f"{exc.strerror}") from None
        if too_large is not None:
            raise ReferenceDataError(f"reference {name!r} ({path}): {too_large}: is it a "
                                     f"file of tracciato {ref.tracciato!r}?")
        if errors:
            first = errors[0]
            where = f"line {first.line}" if first.line is not None else "the whole file"
            raise ReferenceDataError(f"reference {name!r} ({path}): {len(errors)} issues, "
                                     f"first: {where}: {first.code}: {first.message}")
        table = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
        # The bytes it was read from: a file left in its folder is read again when they change.
        table.attrs["sha256"] = digest.hexdigest()
        ctx.references[name] = table
    return ctx.references[name]


#: Bytes of a reference table decoded at a time.
REFERENCE_CHUNK = 4 << 20


class _Hashed:
    """A binary stream whose bytes, as they are read, go into ``digest``."""

    def __init__(self, fh: BinaryIO, digest: hashlib._Hash) -> None:
        self.fh, self.digest = fh, digest
        self.read_bytes = 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.digest.update(data)
        self.read_bytes += len(data)
        return data


def _version(fh: BinaryIO) -> tuple[int, int]:
    """The size and modification time of an open file: another version of it, or the
    same one being written, differs in one of them."""
    st = os.fstat(fh.fileno())
    return st.st_size, st.st_mtime_ns


def _looked_up(cfg: Config, name: str, t: Tracciato, record: str) -> set[str] | None:
    """The fields of ``record`` the lookups of every flow match on or take from reference
    ``name``; None (keep all) when none does, or one names a field the record lacks."""
    from bridge.steps.spec import LookupArgs

    used: set[str] = set()
    for flow in cfg.flows.values():
        for step in flow.steps:
            args = step.args
            if isinstance(args, LookupArgs) and args.reference == name:
                used.update(c for m in args.match for c in m.columns)
                used.update(args.take.values())
    fields = {f.name for f in t.records[record].fields}
    return used if used and used <= fields else None


def money_sum(tables: Mapping[str, pd.DataFrame | pa.Table], where: str | None
              ) -> Decimal | None:
    """The exact sum of ``record.field`` (or ``field`` of the only table), None if absent;
    of pandas or Arrow tables."""
    import pyarrow.compute as pc

    from bridge.codecs import column_of

    if where is None:
        return None
    from bridge.codecs.frames import Frames

    record, _, name = where.rpartition(".")
    if not record and len(tables) == 1:
        record = next(iter(tables))
    # Decoded tables are summed from their Arrow ones: a frame is not made for one sum.
    df = (tables.arrow if isinstance(tables, Frames) else tables).get(record)
    values = None if df is None else column_of(df, name)
    if values is None:
        return None
    total = pc.sum(values).as_py()
    return None if total is None else Decimal(total)


def bad_lines(errors: list[Issue], more: Sequence[pa.Array | pa.ChunkedArray] = ()
              ) -> set[int] | None:
    """The source lines of the rows with errors: ``errors``'s, and the ``more`` lines of
    errors not built (:attr:`bridge.steps.StepResult.unbuilt_lines`); None if one is an
    error of the whole file (no line)."""
    if any(i.line is None for i in errors) or any(a.null_count for a in more):
        return None
    bad = {i.line for i in errors if i.line is not None}
    for lines in more:
        bad.update(lines.to_pylist())
    return bad


def drop_bad_rows(tables: Mapping[str, pd.DataFrame], errors: list[Issue],
                  t: Tracciato | None, more: Sequence[pa.Array | pa.ChunkedArray] = ()
                  ) -> dict[str, pd.DataFrame]:
    """The tables without the rows that have errors, and without the rest of their group.

    A group is a parent with its children (by ``_line``/``_parent_line``), or the rows that
    share the tracciato's ``group_by`` key (an order's line items). An error of the whole
    file (no line), or a group key that cannot be read, leaves nothing. ``more``: the lines
    of errors not built (:func:`bad_lines`).
    """
    found = bad_lines(errors, more)
    nothing = {name: df.iloc[0:0] for name, df in tables.items()}
    if found is None:
        return nothing
    bad = found
    out: dict[str, pd.DataFrame] = {}
    bad_parents: set[int] = set()
    for df in tables.values():
        if "_parent_line" in df.columns and "_line" in df.columns:
            hit = df["_line"].isin(bad)
            bad_parents.update(int(x) for x in df.loc[hit, "_parent_line"].dropna().tolist())
    bad_all = bad | bad_parents
    for name, df in tables.items():
        if "_line" not in df.columns or len(df) == 0:
            out[name] = df
            continue
        hit = df["_line"].isin(bad_all)
        if "_parent_line" in df.columns:
            hit = hit | df["_parent_line"].isin(bad_all)
        if t is not None and t.group_by and name == t.single_record:
            if any(c not in df.columns for c in t.group_by):
                return nothing
            # One number per group, computed on the columns (a missing value is a group
            # of its own), so the rows of every group with a bad row go with it.
            group = df.groupby(list(t.group_by), dropna=False, sort=False).ngroup()
            hit = group.isin(group[hit].unique())
        out[name] = _without(df, hit)
    return out


def _without(df: pd.DataFrame, hit: pd.Series) -> pd.DataFrame:
    """``df`` without the rows ``hit`` marks, filtered by Arrow when its columns are."""
    import pandas as pd
    import pyarrow as pa

    from bridge.codecs import as_frame, as_table

    keep = ~hit.to_numpy(dtype=bool, na_value=False)
    if keep.all():
        return df.reset_index(drop=True)
    if all(isinstance(t, pd.ArrowDtype) for t in df.dtypes) and len(set(df.columns)) == \
            len(df.columns):
        return as_frame(as_table(df).filter(pa.array(keep)))
    return df.loc[keep].reset_index(drop=True)


def leave_out(tables: Mapping[str, pd.DataFrame], left: dict[int, str]
              ) -> tuple[dict[str, pd.DataFrame], list[Issue]]:
    """The tables without the rows an operator left out (``left``: row id, the ``_line`` a
    row starts on, to the operator's reason; a child record goes with its parent), and an
    ``operator-rejected`` issue for each row left out."""
    lines = list(left)
    out: dict[str, pd.DataFrame] = {}
    issues: list[Issue] = []
    for name, df in tables.items():
        if "_line" not in df.columns or len(df) == 0:
            out[name] = df
            continue
        hit = df["_line"].isin(lines)
        parents = None
        if "_parent_line" in df.columns:
            parents = df["_parent_line"]
            hit = hit | parents.isin(lines)
        for at in hit.to_numpy(dtype=bool).nonzero()[0].tolist():
            line = int(df["_line"].iloc[at])
            reason = left.get(line) or left.get(int(parents.iloc[at]) if parents is not None
                                                 else -1, "")
            issues.append(Issue("operator-rejected", f"left out by an operator: {reason}",
                                line, name))
        out[name] = df.loc[~hit].reset_index(drop=True)
    return out, issues


# -- what a file left in place was read with --------------------------------------------


def flow_references(flow: Flow) -> list[str]:
    """The reference tables a flow's steps look up, by name."""
    names = {getattr(step.args, "reference", None) for step in flow.steps}
    return sorted(n for n in names if isinstance(n, str))


def _combine(shas: dict[str, str]) -> str:
    text = "".join(f"{name}={sha}\n" for name, sha in sorted(shas.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def watched(flow: Flow) -> bool:
    """Whether a done file of the flow is read again when its references change."""
    return flow.archive == "leave" and bool(flow_references(flow))


def refs_used(ctx: Refs, flow: Flow) -> str | None:
    """The digest of the references this pass reads for the flow (loading them once for
    the pass, as its steps will); None when the flow has none or moves its files."""
    if not watched(flow):
        return None
    return _combine({n: reference(ctx, n).attrs["sha256"] for n in flow_references(flow)})


def refs_now(cfg: Config, flow: Flow) -> str | None:
    """The digest of the flow's reference files as they are now; None as for
    :func:`refs_used`, and when one cannot be read (a file being rewritten, a missing master:
    a done file is not read again for that, and a new one says what is wrong)."""
    if not watched(flow):
        return None
    shas: dict[str, str] = {}
    for name in flow_references(flow):
        ref = cfg.references.get(name)
        if ref is None:
            return None
        try:
            shas[name] = hashlib.sha256(cfg.path(ref.file).read_bytes()).hexdigest()
        except OSError:
            return None
    return _combine(shas)
