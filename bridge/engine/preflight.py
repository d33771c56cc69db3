"""`bridge validate`: everything a run would need, checked before any file arrives.

A configuration can load and still be wrong in ways that a run finds only on a claimed
file: a tracciato that does not exist, a step naming a field no table has, a template that
does not compile, a reference table with bad rows, a local folder that is not there. Here
each flow is run dry on empty tables typed by its source tracciato: the same steps, the
same targets, no rows; every mistake is listed with the flow and the step it belongs to.
The steps of a flow stop at their first mistake: fixed, the next one shows.

`bridge run` and `bridge watch` check every flow the same way at start, so a mistake stops
the flow with a configuration error while its files are left untouched; a flow that passed
is checked again only once something its check read changes (:mod:`bridge.engine.checked`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from bridge.errors import BridgeError, ReferenceDataError

if TYPE_CHECKING:
    import pandas as pd

    from bridge.config import Config, Flow
    from bridge.engine.tables import Refs
    from bridge.ledger import FileRow


@dataclass(frozen=True)
class Mistake:
    flow: str
    where: str
    message: str
    #: Worth saying, not wrong: a target folder that the first output will create.
    note: bool = False
    #: A reference table's data (the ERP's export), not the configuration: see
    #: :class:`~bridge.errors.ReferenceDataError`.
    reference: bool = False
    #: The local source folder missing: a mistake, unless the flow passed its check
    #: before (the folder was there): see :class:`~bridge.errors.SourceGone`.
    gone: bool = False

    def __str__(self) -> str:
        where = f"flows.{self.flow}.{self.where}" if self.flow else self.where
        return f"{where}: {self.message}"


@dataclass
class Offline:
    """The context of a check outside a pass: the configuration and its reference tables."""

    cfg: Config
    references: dict[str, pd.DataFrame] = field(default_factory=dict)


def preflight(ctx: Refs, flows: list[str] | None = None) -> list[Mistake]:
    """The mistakes of the configuration (none: all good): every reference table and every
    flow, or only the ``flows`` named (and the reference tables their steps use)."""
    found = _references(ctx) if flows is None else []
    for name in flows or list(ctx.cfg.flows):
        found += _flow(ctx, name, ctx.cfg.flows[name])
    return found


def _references(ctx: Refs) -> list[Mistake]:
    """Every reference table decodes without an error (its tracciato found)."""
    from bridge.engine.tables import reference

    found = []
    for name in ctx.cfg.references:
        try:
            reference(ctx, name)
        except BridgeError as exc:
            found.append(Mistake("", f"references.{name}", str(exc),
                                 reference=isinstance(exc, ReferenceDataError)))
    return found


def _flow(ctx: Refs, name: str, flow: Flow) -> list[Mistake]:
    from bridge.codecs import empty_tables
    from bridge.engine.render import render_targets
    from bridge.engine.tables import load_tracciato

    found = _folders(ctx.cfg, name, flow)
    try:
        t = load_tracciato(ctx.cfg, flow.tracciato)
    except BridgeError as exc:
        return [*found, Mistake(name, "tracciato", str(exc))]
    targets_ok = True
    for i, target in enumerate(flow.targets):
        if target.tracciato is not None:
            try:
                load_tracciato(ctx.cfg, target.tracciato)
            except BridgeError as exc:
                found.append(Mistake(name, f"targets[{i}].tracciato", str(exc)))
                targets_ok = False
    try:
        tables = _run_steps(ctx, name, flow, empty_tables(t))
    except BridgeError as exc:
        return [*found, Mistake(name, "steps", str(exc),
                                reference=isinstance(exc, ReferenceDataError))]
    if not targets_ok:
        return found
    try:
        _, issues = render_targets(ctx.cfg, _nobody(name), flow, tables)
    except BridgeError as exc:
        return [*found, Mistake(name, "targets", str(exc))]
    return found + [Mistake(name, "targets", f"{i.code}: {i.message}")
                    for i in issues if i.is_error]


def _run_steps(ctx: Refs, name: str, flow: Flow, tables: dict[str, pd.DataFrame]
               ) -> dict[str, pd.DataFrame]:
    from bridge.engine.tables import reference
    from bridge.steps import StepContext, apply_steps

    step_ctx = StepContext(
        reference=lambda ref: reference(ctx, ref),
        already_sent=lambda keys: set(),
        last_sent=lambda keys: {},
        full=False,
        variables={"source_name": "validate.csv", "flow": name, "now": datetime.now()},
    )
    return apply_steps(flow.steps, tables, step_ctx).tables


def _nobody(flow: str) -> FileRow:
    """A file row for the targets' templates: named, made now, with nothing else."""
    from bridge.ledger import FileRow

    now = datetime.now().timestamp()
    return FileRow(0, flow, "validate.csv", 0, "", "checked", 0, 0, None, None, None, now, now)


def _folders(cfg: Config, name: str, flow: Flow) -> list[Mistake]:
    """Local folders: the source must exist; a target that does not is made by the first
    output, which a typo would make silently: said as a note."""
    found = []
    conn = cfg.connection(flow.source.connection)
    where = cfg.path(conn.root) / flow.source.folder if conn.type == "local" else None
    if where is not None and not where.is_dir():
        found.append(Mistake(name, "source.folder", f"the source folder {str(where)!r} does "
                             "not exist", gone=True))
    for i, target in enumerate(flow.targets):
        conn = cfg.connection(target.connection)
        where = cfg.path(conn.root) / target.folder if conn.type == "local" else None
        if where is not None and not where.is_dir():
            found.append(Mistake(name, f"targets[{i}].folder", f"the folder {str(where)!r} "
                                 "does not exist yet: the first output will make it", True))
    return found


def online(cfg: Config, flows: list[str] | None = None) -> list[Mistake]:
    """Connect to every connection the flows use and look at their folders: a source
    folder must exist; a target folder that does not is a note (the first output makes
    it). A connection that cannot be opened (host key, password, network) is a mistake."""
    from bridge.transport import connect

    uses: dict[str, list[tuple[str, str, str, bool]]] = {}
    for name in flows or list(cfg.flows):
        flow = cfg.flows[name]
        uses.setdefault(flow.source.connection, []).append(
            (name, "source.folder", flow.source.folder, True))
        for i, t in enumerate(flow.targets):
            uses.setdefault(t.connection, []).append((name, f"targets[{i}].folder",
                                                      t.folder, False))
    found: list[Mistake] = []
    for conn_name, folders in uses.items():
        if cfg.connection(conn_name).type == "local":
            continue  # checked offline
        try:
            transport = connect(cfg, conn_name)
        except BridgeError as exc:
            found.append(Mistake("", f"connections.{conn_name}", str(exc)))
            continue
        if isinstance(getattr(transport, "backoff", None), tuple):
            # One try: a check says what is wrong now; a run waits a failure out.
            setattr(transport, "backoff", ())  # noqa: B010
        try:
            for flow_name, where, folder, must in folders:
                if not transport.is_folder(folder):
                    found.append(Mistake(flow_name, where, (
                        f"the folder {folder!r} does not exist on {conn_name!r}" if must else
                        f"the folder {folder!r} does not exist yet on {conn_name!r}: the "
                        "first output will make it"), not must))
        except BridgeError as exc:
            found.append(Mistake("", f"connections.{conn_name}", str(exc)))
        finally:
            transport.close()
    return found
