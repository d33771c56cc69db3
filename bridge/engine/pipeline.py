"""One file through one flow: fetch, check, transform, render, write, archive.

Every step is recorded in the ledger before the next begins, and every step can be done
again: a file interrupted at any point is finished by the next run from its work copy, to
the same output names (fixed in the ledger before writing) and the same bytes (rendered into
the work area before uploading). Bad data ends in quarantine with a report; a transport or
disk failure leaves the file waiting, to be retried.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bridge import faults
from bridge.errors import ConfigError, TransientError
from bridge.issues import Issue
from bridge.ledger import Figures, FileRow, Ledger, OutputRow
from bridge.outputs import plan_names, render_targets, write_output
from bridge.transport import Entry, TargetExists, Transport

if TYPE_CHECKING:
    import pandas as pd

    from bridge.checking import Checked
    from bridge.config import Config, Flow
    from bridge.spec.model import Tracciato


@dataclass
class Outcome:
    """What became of one file: the line a run prints and logs."""

    flow: str
    name: str
    state: str
    file_id: int | None = None
    issues: int = 0
    outputs: list[tuple[str, int]] = field(default_factory=list)
    message: str = ""
    report: str | None = None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Pipeline:
    def __init__(self, cfg: Config, ledger: Ledger, transports: dict[str, Transport],
                 run_id: int | None, now: float, *, full: bool = False) -> None:
        self.cfg = cfg
        self.full = full  # delta steps send everything
        self.ledger = ledger
        self.transports = transports
        self.run_id = run_id
        self.now = now
        self.references: dict[str, pd.DataFrame] = {}

    def transport(self, name: str) -> Transport:
        if name not in self.transports:
            from bridge.transport import connect

            self.transports[name] = connect(self.cfg, name)
        return self.transports[name]

    def work(self, file_id: int) -> Path:
        return self.cfg.path(self.cfg.work_dir) / str(file_id)

    # -- entry points -------------------------------------------------------------------

    def take(self, flow_name: str, flow: Flow, entry: Entry) -> Outcome | None:
        """A ready file: fetch it, find out whether it is new, then process it."""
        src = self.transport(flow.source.connection)
        incoming = self.cfg.path(self.cfg.work_dir) / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        tmp = incoming / f"{flow_name}.{entry.name}.download"
        src.download(flow.source.folder, entry.name, tmp)
        digest = sha256_of(tmp)
        size = tmp.stat().st_size
        mismatch = self._done_file_disagrees(flow, entry.name, size, digest, incoming)
        if mismatch:
            tmp.unlink()
            return Outcome(flow_name, entry.name, "waiting", message=mismatch)
        known = self.ledger.find(flow_name, entry.name, size, digest)
        if known is not None and known.state not in ("done", "duplicate", "rejected"):
            row = known  # interrupted earlier: finish it
        elif known is not None:
            tmp.unlink()
            if flow.archive == "leave":
                self.ledger.remember_done(flow_name, entry.name, entry.size, entry.mtime,
                                          known.id)
                return None
            row = self.ledger.create(flow_name, entry.name, size, digest, self.run_id, self.now)
            self.ledger.set_state(row.id, "duplicate", self.now,
                                  f"same content as file {known.id}, already {known.state}")
            self._archive(flow, entry.name, row.id)
            return Outcome(flow_name, entry.name, "duplicate", row.id,
                           message=f"same content as file {known.id}: nothing to do")
        else:
            row = self.ledger.create(flow_name, entry.name, size, digest, self.run_id, self.now)
        faults.point("after-claim")
        work = self.work(row.id)
        work.mkdir(parents=True, exist_ok=True)
        tmp.replace(work / "source")
        self.ledger.set_state(row.id, "fetched", self.now, attempt=True)
        return self.process(row.id)

    def _done_file_disagrees(self, flow: Flow, name: str, size: int, digest: str,
                             scratch: Path) -> str | None:
        """With ``done_content: size|sha256``, what the sender's done-file says must match
        the bytes taken; otherwise the transfer is not complete yet (or was damaged)."""
        rule = flow.source.ready
        if rule.rule != "done-file" or rule.done_content == "any":
            return None
        marker = scratch / f"{name}.marker"
        self.transport(flow.source.connection).download(flow.source.folder,
                                                        name + rule.done_suffix, marker)
        said = marker.read_text(encoding="ascii", errors="replace").strip().split()
        marker.unlink()
        expected = str(size) if rule.done_content == "size" else digest
        if said[:1] == [expected]:
            return None
        got = said[0] if said else "nothing"
        return f"the done-file says {rule.done_content} {got}, the file has {expected}: waiting"

    def process(self, file_id: int, *, dry_run: bool = False, archive: bool = True) -> Outcome:
        """Carry a claimed file as far as it can go; safe to call again after any crash.

        ``archive=False`` (replays) leaves the source folder alone."""
        row = self.ledger.get(file_id)
        flow = self._flow(row)
        if not archive or row.replay_of is not None:
            flow = flow.model_copy(update={"archive": "leave"})
        try:
            return self._process(row, flow, dry_run)
        except TransientError as exc:
            self.ledger.set_state(row.id, "failed", self.now, str(exc), reason=str(exc))
            return Outcome(row.flow, row.path, "failed", row.id, message=str(exc))

    # -- the steps ----------------------------------------------------------------------

    def _flow(self, row: FileRow) -> Flow:
        if row.flow not in self.cfg.flows:
            raise ConfigError(f"file {row.id} belongs to flow {row.flow!r}, no longer configured")
        return self.cfg.flows[row.flow]

    def _process(self, row: FileRow, flow: Flow, dry_run: bool) -> Outcome:
        source = self.work(row.id) / "source"
        if not source.exists():
            self._refetch(row, flow, source)
        outputs = self.ledger.outputs(row.id)
        if row.state == "written" or (outputs and all(o.state == "written" for o in outputs)):
            return self._finish(row, flow, outputs)
        from bridge.checking import check_and_transform, money_sum

        checked = check_and_transform(self, row, flow, source)
        if checked.issues and not dry_run:
            self.ledger.record_issues(row.id, checked.issues)
        if not dry_run:
            self.ledger.set_figures(row.id, Figures(sum(checked.rows.values()), None,
                                                    checked.money_in, None))
        if checked.rejected:
            if dry_run:
                return Outcome(row.flow, row.path, "rejected", row.id, len(checked.errors))
            return self._reject(row, flow, source, checked.errors, checked.tracciato,
                                checked.rows)
        approved = row.state == "approved"
        if not approved and (checked.held or flow.approval):
            if dry_run:
                return Outcome(row.flow, row.path, "held", row.id)
            reason = "; ".join(checked.held) or "waits for an operator's approval"
            self.ledger.set_state(row.id, "held", self.now, reason, reason=reason,
                                  issues=len(checked.issues))
            return Outcome(row.flow, row.path, "held", row.id, len(checked.issues), message=reason)
        rendered = render_targets(self, row, flow, checked.tables)
        if dry_run:
            return Outcome(row.flow, row.path, "checked", row.id,
                           outputs=[(r.target, r.rows) for r in rendered])
        self.ledger.set_state(row.id, "checked", self.now, issues=len(checked.issues))
        self.ledger.set_figures(row.id, Figures(
            sum(checked.rows.values()), rendered[0].rows if rendered else 0, checked.money_in,
            money_sum(checked.tables, flow.totals.money_out)))
        outputs = self.ledger.plan(row.id, lambda seq: plan_names(self, row, flow, rendered, seq))
        faults.point("after-plan")
        by_target = {r.target: r for r in rendered}
        for out in outputs:
            if out.state != "written":
                write_output(self, row, flow, out, by_target[out.target])
        if checked.sent_keys:
            self.ledger.record_keys(row.flow, checked.sent_keys, row.id)
            faults.point("after-keys")
        if checked.fingerprints:
            self.ledger.remember_fingerprints(row.flow, checked.fingerprints, row.id)
        if checked.skipped_report is not None:
            self._quarantine_rows(row, flow, source, checked)
        faults.point("before-written")
        self.ledger.set_state(row.id, "written", self.now)
        return self._finish(row, flow, self.ledger.outputs(row.id), checked.notes)

    def _refetch(self, row: FileRow, flow: Flow, dest: Path) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name("source.download")
        self.transport(flow.source.connection).download(flow.source.folder, row.path, tmp)
        if sha256_of(tmp) != row.sha256:
            tmp.unlink()
            raise TransientError(f"{row.path} changed since it was claimed; it will be taken "
                                 "again as a new file")
        tmp.replace(dest)

    def _finish(self, row: FileRow, flow: Flow, outputs: list[OutputRow],
                notes: list[Issue] | None = None) -> Outcome:
        where = self._archive(flow, row.path, row.id)
        faults.point("after-archive")
        self.ledger.forget(row.flow, row.path)
        self.ledger.set_state(row.id, "done", self.now, where)
        return Outcome(row.flow, row.path, "done", row.id, len(notes or []),
                       [(o.name, o.rows or 0) for o in outputs])

    def _archive(self, flow: Flow, name: str, file_id: int) -> str | None:
        """Move (or delete) the source once it is done; says where it went."""
        if flow.archive == "leave":
            return None
        src = self.transport(flow.source.connection)
        folder = flow.source.folder
        if src.stat(folder, name) is None:
            return None  # archived already by an earlier, interrupted attempt
        where = "deleted"
        if flow.archive == "delete":
            src.delete(folder, name)
        else:
            day = datetime.fromtimestamp(self.now).strftime("%Y/%m/%d")
            dest = f"{flow.archive_folder}/{day}"
            try:
                src.move(folder, name, dest, name)
                where = f"archived to {dest}/{name}"
            except TargetExists:
                src.move(folder, name, dest, f"{name}.{file_id}")
                where = f"archived to {dest}/{name}.{file_id}"
        if flow.source.ready.rule == "done-file":
            src.delete(folder, name + flow.source.ready.done_suffix)
        return where

    def _reject(self, row: FileRow, flow: Flow, source: Path, issues: list[Issue],
                t: Tracciato | None, rows: dict[str, int]) -> Outcome:
        report = self._write_report(row, flow, source, issues, t, "rejected", rows)
        src = self.transport(flow.source.connection)
        if src.stat(flow.source.folder, row.path) is not None:
            try:
                src.move(flow.source.folder, row.path, flow.quarantine_folder, row.path)
            except TargetExists:
                src.move(flow.source.folder, row.path, flow.quarantine_folder,
                         f"{row.path}.{row.id}")
        self.ledger.forget(row.flow, row.path)
        self.ledger.set_state(row.id, "rejected", self.now, f"{len(issues)} issues; {report}",
                              issues=len(issues), reason=f"{len(issues)} issues")
        return Outcome(row.flow, row.path, "rejected", row.id, len(issues), report=report)

    def _quarantine_rows(self, row: FileRow, flow: Flow, source: Path, checked: Checked
                         ) -> None:
        self._write_report(row, flow, source, checked.errors, checked.tracciato, "skipped-rows",
                           checked.rows)

    def _write_report(self, row: FileRow, flow: Flow, source: Path, issues: list[Issue],
                      t: Tracciato | None, outcome: str, rows: dict[str, int]) -> str:
        """The CSV of bad rows and the HTML summary: kept locally, and put in the flow's
        quarantine folder beside the file."""
        from bridge.report import FileReport, write_reports

        if t is None:
            return ""
        folder = self.work(row.id) / "report"
        rep = FileReport(flow=row.flow, source_name=row.path, size=row.size, sha256=row.sha256,
                         outcome=outcome, rows=rows, issues=issues,
                         when=datetime.fromtimestamp(self.now))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            paths = write_reports(folder, rep, source.read_bytes(), t)
        except OSError as exc:
            raise TransientError(f"cannot write the report of {row.path}: {exc}") from None
        src = self.transport(flow.source.connection)
        for p in paths:
            if src.stat(flow.quarantine_folder, p.name) is None:
                src.upload(p, flow.quarantine_folder, p.name)
        return f"{flow.quarantine_folder}/{paths[1].name}"


__all__ = ["Outcome", "Pipeline", "sha256_of"]
