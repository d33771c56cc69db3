"""The steps that bring rows together: a lookup joins master data, a group turns rows into
header and detail records (testata and righe) with exact totals.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bridge.codecs.frames import has_column
from bridge.display import did_you_mean
from bridge.errors import ConfigError, ReferenceDataError
from bridge.issues import Issue, clip
from bridge.steps import spec
from bridge.steps.ops import group_ids, rows_of
from bridge.steps.refs import RefKeys, key_of, prepared
from bridge.steps.work import LINE, PARENT_LINE, Column, Work, constant

#: Reasons to hold a file, listed one by one up to here, then counted.
MAX_HELD_REASONS = 20


def lookup(work: Work, args: spec.LookupArgs) -> None:
    name, table = work.get(args.table)
    work.need(name, table, [f for m in args.match for f in m.fields] + args.by)
    try:
        frame = work.ctx.reference(args.reference)
    except ReferenceDataError as exc:  # the ERP's export, not the configuration: said so
        raise ReferenceDataError(f"{work.where}: {exc}") from None
    except ConfigError as exc:
        raise work.fail(str(exc)) from None
    except KeyError:
        raise work.fail(f"no reference table {args.reference!r}") from None
    ready = prepared(frame)  # as Arrow, with its keys: once, not once per file
    ref = ready.table
    missing = [c for c in [c for m in args.match for c in m.columns] + list(args.take.values())
               if c not in ref.schema.names]
    if missing:
        raise work.fail(f"reference {args.reference!r} has no field {missing[0]!r}"
                        + did_you_mean(missing[0], ref.schema.names))

    # Per group (``by``): the keys of each group's first row decide for all its rows
    # (Shopify gives an order's e-mail on its first line only).
    groups, firsts = (group_ids(table, args.by) if args.by else
                      (None, np.arange(table.num_rows, dtype=np.int64)))
    probe = (rows_of(table, firsts, [f for m in args.match for f in m.fields]) if args.by
             else table)
    found = np.full(probe.num_rows, -1, dtype=np.int64)
    for m in args.match:
        todo = found < 0
        if not todo.any():
            break
        keys = ready.keys(m.columns, m.ignore_case, m.ignore_case)
        at = keys.positions(key_of(probe, m.fields, m.ignore_case))
        if args.shared == "note":
            _note_shared(work, args, m, (name, probe), np.where(todo, at, -1), (ref, keys))
        elif args.shared == "refuse":
            _ambiguous(work, args, m, (name, probe), np.where(todo, at, -1), (ref, keys))
        found = np.where(todo & (at >= 0), at, found)

    unmatched = firsts[found < 0]
    if groups is not None:
        found = found[groups]
    matched = found >= 0
    rows = pa.array(np.where(matched, found, 0))
    hit = pa.array(matched)
    use_default = args.missing in ("default", "hold") or bool(args.default)
    for field, column in args.take.items():
        taken = pc.take(ref.column(column), rows)
        if use_default and field in args.default:
            other = constant(args.default[field], table.num_rows)
        elif has_column(table, field):
            other = table.column(field)  # no match: the row keeps what it had
        else:
            other = pa.nulls(table.num_rows, taken.type)
        table = work.put(name, table, field, _choose(hit, taken, other))
    work.tables[name] = table
    if len(unmatched):
        _missing(work, args, name, table, unmatched)


def _note_shared(work: Work, args: spec.LookupArgs, m: spec.MatchKey,
                 probe: tuple[str, pa.Table], at: np.ndarray, ref: tuple[pa.Table, RefKeys]
                 ) -> None:
    """A ``shared-match`` note for each row matched on a key other rows of the reference
    share: the first of them was taken (named by the first column taken)."""
    if not (at >= 0).any():
        return
    (name, probe_table), (ref_table, keys) = probe, ref
    shown = ref_table.column(next(iter(args.take.values())))
    first = keys.positions(keys.keys)  # each reference row: its key's first row
    counts = np.bincount(first[first >= 0], minlength=len(first))
    shared = np.flatnonzero((at >= 0) & (counts[np.maximum(at, 0)] > 1))
    shared = shared[:work.to_build("shared-match", len(shared))]
    for row, line in zip(shared.tolist(), work.lines_at(probe_table, shared), strict=True):
        n = int(counts[at[row]])
        value = " + ".join(str(probe_table.column(f)[row].as_py()) for f in m.fields)
        work.issues.append(Issue(
            "shared-match", f"{work.where}: {'+'.join(m.fields)} {clip(value)!r} is shared by "
            f"{n} rows of {args.reference!r}: the first was taken "
            f"({shown[int(at[row])].as_py()})", line, name, m.fields[0], clip(value)))


def _ambiguous(work: Work, args: spec.LookupArgs, m: spec.MatchKey,
               probe: tuple[str, pa.Table], at: np.ndarray, ref: tuple[pa.Table, RefKeys]
               ) -> None:
    """An ``ambiguous-match`` error for each row matched on a key that rows of the
    reference share with other values to take (an article twice in the master, at 22% and
    at 10%): taking the first would be a guess. Rows that share a key and agree are one."""
    (name, probe_table), (ref_table, keys) = probe, ref
    if not (at >= 0).any():
        return
    columns = tuple(args.take.values())
    twice = keys.differing(ref_table, columns)
    bad = np.flatnonzero((at >= 0) & twice[np.maximum(at, 0)])
    if not len(bad):
        return
    full = work.to_build("ambiguous-match", len(bad))
    shown = _shared_values(ref_table, columns, keys, at[bad[:full]])
    for row, line in zip(bad[:full].tolist(), work.lines_at(probe_table, bad[:full]),
                         strict=True):
        value = " + ".join(str(probe_table.column(f)[row].as_py()) for f in m.fields)
        work.issues.append(Issue(
            "ambiguous-match", f"{work.where}: {'+'.join(m.fields)} {clip(value)!r} is the key "
            f"of several rows of {args.reference!r} with other values of "
            f"{', '.join(columns)} ({shown[int(at[row])]}): "
            "which one is meant?",
            line, name, m.fields[0], clip(value)))
    work.bare("ambiguous-match", probe_table, bad[full:])


def _shared_values(ref: pa.Table, columns: tuple[str, ...], keys: RefKeys,
                   wanted: np.ndarray, most: int = 5) -> dict[int, str]:
    """For each reference row in ``wanted`` (a key's first row), the distinct values of
    ``columns`` among the rows sharing its key, as the operator compares them: `'ab1',
    'AB1'`, or `'22' / 'IVA 22'` for several columns; the first ``most``, the rest counted."""
    first = keys.positions(keys.keys)
    seen: dict[int, dict[str, None]] = {int(w): {} for w in wanted.tolist()}
    for at in np.flatnonzero(np.isin(first, wanted)).tolist():
        values = [ref.column(c)[at].as_py() for c in columns]
        seen[int(first[at])][" / ".join(repr(clip(v)) if isinstance(v, str) else str(v)
                                        for v in values)] = None
    return {k: ", ".join(list(v)[:most]) + (f" and {len(v) - most} more"
                                            if len(v) > most else "")
            for k, v in seen.items()}


def _choose(hit: pa.Array, taken: Column, other: Column) -> Column:
    if other.type != taken.type:
        try:
            other = pc.cast(other, taken.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            taken, other = pc.cast(taken, pa.string()), pc.cast(other, pa.string())
    return pc.if_else(hit, taken, other)


def _missing(work: Work, args: spec.LookupArgs, name: str, table: pa.Table,
             unmatched: np.ndarray) -> None:
    if args.missing in ("default", "ignore"):
        return
    issue = args.missing == "issue"
    shown, past = np.split(unmatched, [work.to_build("no-match", len(unmatched)) if issue
                                       else MAX_HELD_REASONS])
    keys = {f: table.column(f).take(pa.array(shown)).to_pylist()
            for m in args.match for f in m.fields}
    for k, line in enumerate(work.lines_at(table, shown)):
        tried = ", ".join(f"{f}={clip(v[k])!r}" for f, v in keys.items())
        if issue:
            first = next((f for f, v in keys.items() if v[k] is not None),
                         args.match[0].fields[0])
            work.issues.append(Issue(
                "no-match", f"{work.where}: no row of {args.reference!r} for {tried}",
                line, name, first, clip(keys[first][k])))
        else:
            where = "" if line is None else f"line {line}: "
            work.held.append(f"{where}no row of {args.reference!r} for {tried}")
    if issue:  # (held, the rows past the reasons shown are said in one line below)
        work.bare("no-match", table, past)
    if args.missing == "hold" and len(unmatched) > MAX_HELD_REASONS:
        work.held.append(f"and {len(unmatched) - MAX_HELD_REASONS} more rows with no row of "
                         f"{args.reference!r}")


def group(work: Work, args: spec.GroupArgs) -> None:
    name, table = work.get(args.table)
    work.need(name, table, args.by)
    made = [args.header.into] + ([args.lines.into] if args.lines else [])
    for into in made:
        if into in work.tables and into != name:
            raise work.fail(f"table {into!r} exists already")
    if not has_column(table, LINE):
        # Headers and lines are tied by line numbers; rows built in memory get their own.
        table = table.append_column(LINE, pa.array(np.arange(1, table.num_rows + 1)))
    groups, firsts = group_ids(table, args.by)
    gids = pa.array(groups)
    heads = {field: work.expression(source, name, table)
             for field, source in args.header.fields.items()}
    extras = [work.expression(source, name, table) for extra in args.extra_lines
              for source in [extra.when, *extra.fields.values()]]
    first_rows = rows_of(table, firsts, {n for e in [*heads.values(), *extras]
                                         for n in e.names})

    header = pa.table({LINE: first_rows.column(LINE)})
    for field, expr in heads.items():
        header = work.put(args.header.into, header, field,
                          work.evaluate(expr, name, first_rows, field))

    lines: pa.Table | None = None
    line_groups = groups
    if args.lines is not None:
        lines = pa.table({LINE: table.column(LINE),
                          PARENT_LINE: pc.take(first_rows.column(LINE), gids)})
        for field, source in args.lines.fields.items():
            expr = work.expression(source, name, table)
            lines = work.put(args.lines.into, lines, field,
                             work.evaluate(expr, name, table, field))
        lines, line_groups = _extra_lines(work, args, name, first_rows, lines, groups, table)
        if args.number_lines is not None:
            lines = work.put(args.lines.into, lines, args.number_lines,
                             pa.array(_number_within(line_groups)))

    for field, total in args.totals.items():
        ids = gids
        if lines is not None and has_column(lines, total.sum):
            values, ids = lines.column(total.sum), pa.array(line_groups)
        else:
            work.need(name, table, [total.sum])
            values = table.column(total.sum)
        if not (pa.types.is_decimal(values.type) or pa.types.is_integer(values.type)):
            raise work.fail(f"totals.{field}: {total.sum!r} holds {values.type}, not numbers")
        header = work.put(args.header.into, header, field, _sums(values, ids, len(firsts)))

    if not args.keep_source:
        del work.tables[name]
    work.tables[args.header.into] = header
    if args.lines is not None:
        work.parent_of[args.lines.into] = args.header.into
    if args.lines is not None and lines is not None:
        work.tables[args.lines.into] = lines


def _extra_lines(work: Work, args: spec.GroupArgs, name: str, first_rows: pa.Table,
                 lines: pa.Table, groups: np.ndarray, table: pa.Table
                 ) -> tuple[pa.Table, np.ndarray]:
    """The group's own lines, then the extra lines (shipping, discount) of each group.

    An extra line sorts after its group's last source row: it takes that row's ``_line``,
    and the encoder keeps rows with equal lines in table order."""
    if not args.extra_lines:
        return lines, groups
    assert args.lines is not None
    last_line = np.zeros(len(first_rows), dtype=np.int64)
    np.maximum.at(last_line, groups, np.asarray(table.column(LINE).to_numpy(
        zero_copy_only=False), dtype=np.int64))
    parts, all_groups = [lines], [groups]
    for k, extra in enumerate(args.extra_lines):
        when = work.expression(extra.when, name, table)
        keep = pc.fill_null(pc.cast(work.evaluate(when, name, first_rows,
                                                  f"extra_lines[{k}].when"), pa.bool_()), False)
        picked = np.flatnonzero(np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool))
        rows = first_rows.take(pa.array(picked))
        made = pa.table({LINE: pa.array(last_line[picked]), PARENT_LINE: rows.column(LINE)})
        for field, source in extra.fields.items():
            expr = work.expression(source, name, table)
            made = work.put(args.lines.into, made, field,
                            work.evaluate(expr, name, rows, field))
        parts.append(made)
        all_groups.append(picked.astype(np.int64))
    merged = pa.concat_tables(parts, promote_options="permissive")
    return merged, np.concatenate(all_groups)


def _number_within(groups: np.ndarray) -> np.ndarray:
    """1, 2, 3... within each group, in row order, without a loop over rows."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(groups)]))
    numbers = np.empty(len(groups), dtype=np.int64)
    numbers[order] = np.arange(len(groups)) - run_start + 1
    return numbers


def _sums(values: Column, gids: pa.Array, ngroups: int) -> Column:
    """Sum per group in group order; exact for decimals (Arrow adds them as integers)."""
    summed = pa.table({"g": gids, "v": values}).group_by("g", use_threads=False).aggregate(
        [("v", "sum")])
    order = pc.sort_indices(summed.column("g"))
    result = pc.take(summed.column("v_sum"), order)
    assert len(result) == ngroups
    return result
