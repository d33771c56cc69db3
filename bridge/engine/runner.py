"""Runs: one pass over every flow (for cron), or passes for ever (``bridge watch``).

A pass first finishes what an earlier, interrupted run left (in ledger order), then takes the
files that are ready, in the flow's order. A lock file stops two runs from overlapping.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bridge.config import Config, Flow
from bridge.errors import BridgeError, ConfigError, TransientError
from bridge.ledger import Ledger, open_ledger
from bridge.pipeline import Outcome, Pipeline
from bridge.transport import Entry, Transport, UnsafeName, matches

#: States a pass picks up again by itself (held waits for `bridge approve`).
RESUMABLE = frozenset({"claimed", "fetched", "checked", "written", "approved", "failed"})
MAX_ATTEMPTS = 10


class LockBusy(BridgeError):
    exit_code = 0


@dataclass
class PassResult:
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    config_errors: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        states = {o.state for o in self.outcomes}
        if self.config_errors:
            return 2
        if self.errors or "failed" in states:
            return 3
        if states & {"rejected", "held"}:
            return 1
        return 0


@contextmanager
def run_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockBusy(f"another bridge run holds {path}; this one stops here") from None
        yield
    finally:
        os.close(fd)


def run_pass(cfg: Config, *, flows: list[str] | None = None, dry_run: bool = False,
             clock: Callable[[], float] = time.time,
             report: Callable[[Outcome], None] | None = None,
             should_stop: Callable[[], bool] = lambda: False,
             full: bool = False) -> PassResult:
    """One pass. ``should_stop`` is asked before each file: a signal lets the current file
    finish, then the pass ends."""
    chosen = flows or list(cfg.flows)
    for name in chosen:
        if name not in cfg.flows:
            raise ConfigError(f"no flow named {name!r} (known: {', '.join(cfg.flows)})")
    with run_lock(cfg.path(cfg.lock_file)):
        # Downloads left by a run that died: with the lock held, nobody else is writing.
        shutil.rmtree(cfg.path(cfg.work_dir) / "incoming", ignore_errors=True)
        ledger = open_ledger(cfg.path(cfg.ledger))
        transports: dict[str, Transport] = {}
        try:
            return _pass(cfg, ledger, transports, chosen, dry_run, clock, report, should_stop,
                         full)
        finally:
            for t in transports.values():
                t.close()
            ledger.close()


def _pass(cfg: Config, ledger: Ledger, transports: dict[str, Transport], flows: list[str],
          dry_run: bool, clock: Callable[[], float],
          report: Callable[[Outcome], None] | None,
          should_stop: Callable[[], bool], full: bool) -> PassResult:
    now = clock()
    run_id = None if dry_run else ledger.start_run(now, "run --full" if full else "run")
    pipe = Pipeline(cfg, ledger, transports, run_id, now, full=full)
    result = PassResult()

    def note(o: Outcome | None) -> None:
        if o is not None:
            result.outcomes.append(o)
            if report is not None:
                report(o)

    for name in flows:
        flow = cfg.flows[name]
        try:
            if not dry_run:
                for row in ledger.files(flow=name, states=RESUMABLE):
                    if should_stop():
                        break
                    if _due(row.state, row.attempts, row.updated, now, flow):
                        note(pipe.process(row.id))
            for entry in ready(pipe, name, flow, ledger, now):
                if should_stop():
                    break
                if dry_run:
                    note(Outcome(name, entry.name, "ready", message="would be taken"))
                    continue
                try:
                    note(pipe.take(name, flow, entry))
                except UnsafeName as exc:
                    note(Outcome(name, entry.name, "failed", message=str(exc)))
        except TransientError as exc:
            result.errors.append(f"{name}: {exc}")
        except ConfigError as exc:
            # An unknown host key, a missing tracciato...: this flow stops, the others go on.
            result.config_errors.append(f"{name}: {exc}")
    if run_id is not None:
        ledger.end_run(run_id, clock(), f"exit {result.exit_code}")
    return result


def _due(state: str, attempts: int, updated: float, now: float, flow: Flow) -> bool:
    """Failed files are retried with exponential backoff, up to MAX_ATTEMPTS."""
    if state != "failed":
        return True
    if attempts >= MAX_ATTEMPTS:
        return False
    wait = flow.retry_backoff * float(2 ** max(attempts - 1, 0))
    return bool(now - updated >= wait)


def ready(pipe: Pipeline, name: str, flow: Flow, ledger: Ledger, now: float) -> list[Entry]:
    """The files of a flow's folder that are complete, in the flow's processing order."""
    src = pipe.transport(flow.source.connection)
    listing = src.list(flow.source.folder)
    names = {e.name for e in listing}
    rule = flow.source.ready
    wanted = [e for e in listing if matches(e.name, flow.source.patterns, flow.source.ignore)
              and not (rule.rule == "done-file" and e.name.endswith(rule.done_suffix))]
    seen = ledger.observe(name, [(e.name, e.size, e.mtime) for e in wanted], now)
    found = []
    for e in wanted:
        obs = seen[e.name]
        if obs.done_id is not None:
            continue  # done, left in place, unchanged
        if rule.rule == "done-file":
            if e.name + rule.done_suffix in names:
                found.append(e)
        elif now - obs.stable_since >= rule.window and now - obs.first_seen >= rule.min_age:
            found.append(e)
    key = (lambda e: (e.mtime, e.name)) if flow.source.order == "mtime" else (lambda e: e.name)
    waiting = {r.path for r in ledger.files(flow=name, states=frozenset({"held"}))}
    return sorted((e for e in found if e.name not in waiting), key=key)
