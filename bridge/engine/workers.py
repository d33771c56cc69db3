"""`bridge watch --workers N`: N watch processes on one machine, one PostgreSQL ledger.

Each worker is ``bridge watch --worker K``, a process of its own with a work area and a lock
file of its own (``work_dir/worker-K``, ``run-K.lock``): on the ledger the workers take turns
flow by flow as workers on other machines do (:mod:`bridge.ledger.postgres`). This parent only
starts them, starts again one that dies (a SIGKILL, a crash) after a pause, and passes
SIGTERM or SIGINT on to all of them: each finishes its current file, then they end, and so
does the parent, with the worst of their exit codes. A worker that ends by itself (after
``--passes``, or on a configuration error) is not started again.

A worker starts the helper process that transforms files ahead (``transform_ahead``,
:mod:`bridge.engine.ahead`) only when the machine has two cores for each worker: with fewer,
the workers already keep the cores busy, and helpers would only take turns with them
(bench/README.md, "Workers on a PostgreSQL ledger").
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.config import Config

log = logging.getLogger("bridge.workers")

#: Seconds before a worker that died is started again.
RESTART_PAUSE = 2.0
#: Seconds between two looks at the workers.
TICK = 0.2


def own_places(cfg: Config, worker: int, workers: int = 1, cores: int | None = None
               ) -> Config:
    """The configuration as worker ``worker`` of ``workers`` runs it: its own work area and
    lock file; no helper process unless the machine (``cores``: this process's) has two
    cores for each worker."""
    from bridge.engine.ahead import cores_here

    lock = Path(cfg.lock_file)
    update: dict[str, object] = {
        "work_dir": Path(cfg.work_dir) / f"worker-{worker}",
        "lock_file": lock.with_name(f"{lock.stem}-{worker}{lock.suffix}"),
        # An operator's command marks the configuration's lock: each worker lets it in.
        "operator_lock": cfg.operators_lock(),
    }
    cores = cores_here() if cores is None else cores
    if cfg.transform_ahead and cores < 2 * workers:
        update["transform_ahead"] = False
        if worker == 1:
            log.info("%d workers on %d cores: no helper process transforms files ahead",
                     workers, cores)
    return cfg.model_copy(update=update)


def supervise(argv: list[str], workers: int) -> int:
    """Run ``workers`` children ``argv + ['--workers', N, '--worker', K]`` until a signal
    or their end."""
    stopping: list[int] = []

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.append(signum)
        for p in running.values():
            if p.poll() is None:
                p.send_signal(signum)

    def start(k: int) -> subprocess.Popen[bytes]:
        p = subprocess.Popen([*argv, "--workers", str(workers), "--worker", str(k)])
        log.info("worker %d started (pid %d)", k, p.pid)
        return p

    running: dict[int, subprocess.Popen[bytes]] = {}
    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    codes: list[int] = []
    restart_at: dict[int, float] = {}
    try:
        for k in range(1, workers + 1):
            running[k] = start(k)
        while running or (restart_at and not stopping):
            now = time.monotonic()
            for k, at in list(restart_at.items()):
                if at <= now and not stopping:
                    del restart_at[k]
                    running[k] = start(k)
            for k, p in list(running.items()):
                rc = p.poll()
                if rc is None:
                    continue
                del running[k]
                if rc < 0 and not stopping:  # killed: started again
                    log.warning("worker %d (pid %d) died (signal %d): started again in "
                                "%g s", k, p.pid, -rc, RESTART_PAUSE)
                    restart_at[k] = now + RESTART_PAUSE
                else:
                    codes.append(0 if stopping and rc in (-signal.SIGTERM, 130) else rc)
            time.sleep(TICK)
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        for p in running.values():
            p.kill()
            p.wait()
    if stopping and stopping[0] == signal.SIGINT:
        return 130
    return max((c for c in codes if c >= 0), default=0)


def worker_argv(config: Path | None, interval: float, passes: int, heartbeat: float,
                log_json: bool) -> list[str]:
    """The command line of one worker, without its number."""
    argv = [sys.executable, "-m", "bridge"]
    if config is not None:
        argv += ["--config", str(config)]
    argv += ["watch", "--interval", str(interval), "--passes", str(passes), "--heartbeat",
             str(heartbeat)]
    return argv + (["--log-json"] if log_json else [])
