"""`bridge watch`: passes for ever, woken early by file-system events on local folders.

watchdog (only here) tells when a local source folder changes, so a new file is taken
without waiting for the next poll; remote folders, and local ones where events are not
available, are polled every ``interval`` seconds. SIGTERM and SIGINT let the current file
finish, then the loop ends.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

from bridge.runner import LockBusy, run_pass

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.pipeline import Outcome


def watch_loop(cfg: Config, *, interval: float, passes: int = 0,
               report: Callable[[Outcome], None] | None = None) -> int:
    stop = threading.Event()
    wake = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        wake.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    observer = _observe(cfg, wake)
    done = 0
    try:
        while not stop.is_set():
            with contextlib.suppress(LockBusy):
                run_pass(cfg, report=report, should_stop=stop.is_set)
            done += 1
            if passes and done >= passes:
                break
            wake.wait(interval)
            wake.clear()
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
    return done


def _observe(cfg: Config, wake: threading.Event) -> Any:
    """A watchdog observer on every local source folder, or None to poll only."""
    from bridge.config import LocalConnection

    folders = []
    for flow in cfg.flows.values():
        conn = cfg.connection(flow.source.connection)
        if isinstance(conn, LocalConnection):
            path = cfg.path(conn.root) / flow.source.folder
            if path.is_dir():
                folders.append(path)
    if not folders:
        return None
    try:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer
    except ImportError:
        return None

    class Wake(FileSystemEventHandler):
        def on_any_event(self, event: FileSystemEvent) -> None:
            wake.set()

    observer = Observer()
    for path in folders:
        observer.schedule(Wake(), str(path), recursive=False)
    try:
        observer.start()
    except OSError:
        return None  # no inotify here: polling alone still works
    return observer
