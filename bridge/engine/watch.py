"""`bridge watch`: passes for ever, woken early by file-system events on local folders.

watchdog (only here) tells when a local source folder changes, so a new file is taken
without waiting for the next poll; on Linux its close-after-write events also say which
files a writer still holds open, and those wait whatever their window says. Remote folders
are polled every ``interval`` seconds. An operator's command (approve, retry...) that ends
starts the next pass too: what it decided is written then (:class:`OperatorDone`).

It logs a start line, every pass's problems as they appear (with times and levels), and a
heartbeat; it stops with exit 2 on a configuration error (nothing will work until a person
fixes it), and SIGTERM or SIGINT let the current file finish, then it ends (0, or 130 after
Ctrl-C).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from bridge.engine.runner import LockBusy, OperatorDone, PassResult, run_pass
from bridge.errors import ConfigError, TransientError

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.engine.context import Outcome

log = logging.getLogger("bridge.watch")
#: Events that change nothing in a folder: a file opened, or closed without a write. A pass
#: reads the reference tables it looks up: woken by its own reads, watch passed again and
#: again (about 20 passes a second with the sample's ERP exports in a watched folder).
QUIET = frozenset({"opened", "closed_no_write"})
#: Seconds between two looks, while watch sleeps, at the mark an operator's command touches
#: as it ends.
OPERATOR_LOOK = 0.5


class Writers:
    """Names a writer holds open in the watched local folders (from inotify's events).

    A write says a writer has the file open until it closes it after writing; so does an
    open right after the name was created (``open(O_CREAT)``), until any close. A name
    created and not opened is a file renamed in (or linked in) whole: inotify calls that
    "created" too, and no close ever follows it."""

    def __init__(self, folders: dict[Path, list[str]]) -> None:
        self.folders = folders  # folder -> flows reading it
        self._written: set[tuple[Path, str]] = set()  # until closed after a write
        self._opened: set[tuple[Path, str]] = set()  # created, then opened: until closed
        self._created: set[tuple[Path, str]] = set()  # created, not opened since
        self._lock = threading.Lock()

    def event(self, kind: str, path: str, dest: str | None = None) -> None:
        p = Path(path)
        key = (p.parent, p.name)
        with self._lock:
            if kind == "created":
                self._created.add(key)
            elif kind == "opened" and key in self._created:
                self._created.discard(key)
                self._opened.add(key)
            elif kind == "modified":
                self._written.add(key)
            elif kind == "closed_no_write":  # a reader's close: a writer may still write
                self._created.discard(key)
                self._opened.discard(key)
            elif kind in ("closed", "deleted", "moved"):
                for name in (key, (Path(dest).parent, Path(dest).name)) if dest else (key,):
                    self._written.discard(name)
                    self._opened.discard(name)
                    self._created.discard(name)

    def busy(self, flow: str, name: str) -> bool:
        with self._lock:
            return any(flow in flows and ((folder, name) in self._written
                                          or (folder, name) in self._opened)
                       for folder, flows in self.folders.items())


def watch_loop(cfg: Config, *, interval: float, passes: int = 0,
               report: Callable[[Outcome], None] | None = None,
               heartbeat: float = 300.0) -> int:
    """Run passes until a signal (or ``passes`` passes); the exit code."""
    stop = threading.Event()
    wake = threading.Event()
    got: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        got.append(signum)
        stop.set()
        wake.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    observer, writers = _observe(cfg, wake)
    done_ops = OperatorDone(cfg.operators_lock())
    log.info("bridge watch started: %d flow(s) (%s), a pass every %g s%s", len(cfg.flows),
             ", ".join(cfg.flows), interval,
             ", local folders watched" if observer is not None else "")
    done, code, beat = 0, 0, time.monotonic()
    ran, skipped, why = 0, 0, ""
    seen: set[str] = set()
    failing: dict[str, str] = {}  # flow ("": the whole pass) -> when it began to fail
    files = 0
    try:
        while not stop.is_set():
            result = _one_pass(cfg, report, stop, writers)
            if result is None:
                skipped += 1  # the lock was another run's (or an operator's): no pass here
            else:
                ran += 1
                code = result.exit_code
                files += len(result.outcomes)
                problems = result.errors + result.config_errors + result.internal_errors
                for line in problems:
                    if line not in seen:
                        log.error("%s", line)
                seen = set(problems)
                if not stop.is_set():
                    _mended(cfg, result, failing)
                if set(result.config_errors) - set(result.waited_errors):
                    log.error("configuration error: bridge watch stops (fix it, then start "
                              "it again)")
                    why = "a configuration error"
                    return 2
                # A reference table the ERP is rewriting (or left broken), a local source
                # folder gone since the check: its flows wait, said once above, and are
                # looked at again at the next pass.
            done += 1
            if passes and done >= passes:
                why = f"--passes {passes} reached"
                return code
            if time.monotonic() - beat >= heartbeat:
                beat = time.monotonic()
                log.info("alive: %d passes, %d files handled since start%s", ran, files,
                         f"; still failing: {'; '.join(sorted(seen))}" if seen else "")
            _rest(wake, interval, done_ops)
            wake.clear()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
        if got:
            why = signal.Signals(got[0]).name
        log.info("%s", stopped(ran, skipped, why))
    return 130 if signal.SIGINT in got else 0


def _rest(wake: threading.Event, interval: float, done_ops: OperatorDone) -> None:
    """Until the next pass: ``interval`` seconds, or less if something wakes watch (a
    signal, a local folder's event) or an operator's command ended (its approval or
    retry is for the next pass: it is made now)."""
    deadline = time.monotonic() + interval
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or wake.wait(min(left, OPERATOR_LOOK)) or done_ops():
            return


def _mended(cfg: Config, result: PassResult, failing: dict[str, str]) -> None:
    """A flow that failed (said at the time) and whose pass now went without a failure:
    said once, so that a person reading the log knows the failure is over."""
    now: set[str] = set(result.retrying)
    for line in result.errors + result.config_errors + result.internal_errors:
        flow = line.partition(": ")[0]
        now.add(flow if flow in cfg.flows else "")
    # A file that waits for a person to settle another is no failure of its flow.
    now.update(o.flow for o in result.outcomes if o.exit_code >= 3 and not o.waits)
    if "" in now:  # the pass as a whole failed: no flow was seen working
        now.update(failing)
    # A flow another run handled, or whose pass was cut short, was not seen whole.
    for flow in sorted(set(failing) - now - set(result.elsewhere) - set(result.cut)):
        log.info("%s works again (failing since %s)", f"flow {flow}" if flow else "bridge",
                 failing.pop(flow))
    for flow in now - set(failing):
        failing[flow] = time.strftime("%Y-%m-%d %H:%M:%S")


def stopped(ran: int, skipped: int, why: str) -> str:
    """The last line of watch: the passes it made itself, and why it stopped."""
    said = (f"after {ran} pass{'' if ran == 1 else 'es'}" if ran else "before its first pass")
    if skipped:
        said += f" ({skipped} skipped: another run or an operator held the lock)"
    return f"bridge watch stopped {said}" + (f": {why}" if why else "")


def _one_pass(cfg: Config, report: Callable[[Outcome], None] | None, stop: threading.Event,
              writers: Writers | None) -> PassResult | None:
    try:
        return run_pass(cfg, report=report, should_stop=stop.is_set,
                        busy=writers.busy if writers is not None else None)
    except LockBusy as exc:
        log.info("%s", exc)
    except ConfigError as exc:
        return PassResult(config_errors=[str(exc)])
    except TransientError as exc:
        return PassResult(errors=[str(exc)])
    return None


def _observe(cfg: Config, wake: threading.Event) -> tuple[Any, Writers | None]:
    """A watchdog observer on every local source folder, or None to poll only."""
    from bridge.config import LocalConnection

    folders: dict[Path, list[str]] = {}
    for name, flow in cfg.flows.items():
        conn = cfg.connection(flow.source.connection)
        if isinstance(conn, LocalConnection):
            path = (cfg.path(conn.root) / flow.source.folder).resolve()
            if path.is_dir():
                folders.setdefault(path, []).append(name)
    if not folders:
        return None, None
    try:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None, None
    observer = Observer()
    # Close-after-write events come from inotify only; elsewhere a name would stay "open".
    writers = Writers(folders) if type(observer).__name__ == "InotifyObserver" else None

    class Wake(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            if writers is not None and not event.is_directory:
                dest = getattr(event, "dest_path", None)
                writers.event(event.event_type, str(event.src_path),
                              str(dest) if dest else None)
            if event.event_type not in QUIET:  # not a file read (by bridge's own pass, too)
                wake.set()

    for path in folders:
        observer.schedule(Wake(), str(path), recursive=False)
    try:
        observer.start()
    except OSError:
        return None, None  # no inotify here: polling alone still works
    return observer, writers
