"""`bridge demo`: the sample order flow, run for real against an SFTP server in the process.

Nothing is faked: the shop exports sit on an SFTP server (asyncssh, on loopback, with a host
key made for this run and pinned by its fingerprint in the demo's bridge.yaml, so the host
key is checked by the same code as in production), and the flow is the ordinary runner with
its readiness rule, ledger and atomic writes. Only the clock can be pinned (``at``), so that
a test can compare the ERP files with golden ones byte for byte.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bridge.errors import BridgeError, TransientError
from bridge.shipped import shipped
from bridge.yamlio import YamlError
from bridge.yamlio import load as load_yaml

if TYPE_CHECKING:
    from bridge.engine.context import Outcome

SAMPLES = shipped("samples")
FLOW = "ordini"
SERVER_USER = "shop"
#: Polls of the server stop after this long: the files should be taken in about 1 s.
TAKE_TIMEOUT = 15.0
POLL_INTERVAL = 0.2

#: A shop export with bad rows, dropped beside the samples' good ones: it shows quarantine.
BROKEN = ("orders_export_broken.csv", SAMPLES / "tracciati" / "shopify" / "ordini.broken.csv")


class DemoError(BridgeError):
    """The demo cannot start: the repository's samples are not where they should be, or
    another demo runs in the same folder."""

    exit_code = 3


@dataclass
class DemoResult:
    workdir: Path
    config: Path
    server: str
    fingerprint: str
    outcomes: list[Outcome] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    report: Path | None = None

    @property
    def erp(self) -> Path:
        return self.workdir / "erp"

    @property
    def exit_code(self) -> int:
        if self.errors or any(o.state == "failed" for o in self.outcomes):
            return 3
        return 0


def run_demo(workdir: Path, *, at: datetime | None = None,
             say: Callable[[str], None] = lambda line: None) -> DemoResult:
    """Serve the sample exports over SFTP, run the order flow until every export is taken,
    and write the HTML report; the server is stopped whatever happens."""
    started = time.monotonic()
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with _alone_in(workdir):
        result = _run(workdir, at, say)
        result.seconds = round(time.monotonic() - started, 2)
        result.report = write_html(result)
    return result


@contextlib.contextmanager
def _alone_in(workdir: Path) -> Iterator[None]:
    """The folder held for this demo alone: a second demo in it rewrote its bridge.yaml,
    and the first, reading it, went to the second's server (stopped by then) and
    failed with "connection refused"."""
    fd = os.open(workdir / ".demo.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DemoError(f"another bridge demo is running in {workdir}: wait for it to "
                            "end, or give another --workdir") from None
        yield
    finally:
        os.close(fd)


def _run(workdir: Path, at: datetime | None, say: Callable[[str], None]) -> DemoResult:
    from bridge.sftpserver import SftpServer

    for name in ("erp", "keys", "sftp"):
        (workdir / name).mkdir(exist_ok=True)
    sample, exports = _sample_flow()
    folder = sample["flows"][FLOW]["source"]["folder"]
    with SftpServer(workdir / "sftp", user=SERVER_USER) as server:
        say(f"SFTP server on {server.host}:{server.port}, serving {server.root}, "
            f"host key {server.fingerprint}")
        key = server.write_client_key(workdir / "keys" / "id_ed25519")
        inbox = server.root / folder
        inbox.mkdir(parents=True, exist_ok=True)
        for name, path in exports.items():
            _drop(path, inbox / name)
        say(f"put {len(exports)} shop exports in sftp://{server.host}:{server.port}/{folder}")
        config = _write_config(workdir, sample, server.host, server.port, key,
                               server.fingerprint)
        result = DemoResult(workdir, config, f"{server.host}:{server.port}",
                            server.fingerprint)
        _run_until_taken(result, set(exports), _clock(at), say)
    return result


def _sample_flow() -> tuple[dict[str, Any], dict[str, Path]]:
    """The sample company's order flow (samples/bridge.yaml) and the exports it would take:
    the shop's exports in the flow's source folder, plus one broken export."""
    conf_path = SAMPLES / "bridge.yaml"
    try:
        conf = load_yaml(conf_path.read_text(encoding="utf-8"))
        flow = conf["flows"][FLOW]
        folder = SAMPLES / flow["source"]["folder"]
        patterns = flow["source"].get("patterns", ["*"])
    except (OSError, KeyError, TypeError, YamlError) as exc:
        raise DemoError(f"{conf_path}: no sample flow {FLOW!r} to run ({exc}); `bridge demo` "
                        "needs the repository's samples/ folder (pip install -e .)") from None
    exports = {p.name: p for pat in patterns for p in sorted(folder.glob(pat)) if p.is_file()}
    if not exports or not BROKEN[1].is_file():
        raise DemoError(f"no sample exports in {folder} or no {BROKEN[1]}")
    exports.setdefault(*BROKEN)
    return conf, dict(sorted(exports.items()))


def _drop(src: Path, dest: Path) -> None:
    """Copy like a careful sender: a hidden temporary name, then a rename."""
    tmp = dest.with_name(f".{dest.name}.part")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)


def _clock(at: datetime | None) -> Callable[[], float]:
    """The real clock, or one that starts at ``at`` and runs at the real pace, so that the
    readiness window still lasts what it says."""
    if at is None:
        return time.time
    origin, base = time.monotonic(), at.timestamp()
    return lambda: base + (time.monotonic() - origin)


def _local_target(target: dict[str, Any]) -> dict[str, Any]:
    """A sample target written under erp/ of the demo's folder, its template found in
    samples/."""
    moved = dict(target, connection="local", folder="erp")
    if "template" in moved:
        moved["template"] = str(SAMPLES / moved["template"])
    return moved


def _write_config(workdir: Path, sample: dict[str, Any], host: str, port: int, key: Path,
                  fingerprint: str) -> Path:
    """The sample's order flow, moved: its source is the SFTP server, its target erp/.
    Paths the sample keeps beside itself (reference tables, tracciati) are made absolute."""
    flow = dict(sample["flows"][FLOW])
    source = dict(flow["source"], connection="shop")
    # A short window keeps the demo quick; production keeps the sample's own.
    source["ready"] = {"rule": "stable", "window": 1, "min_age": 0}
    flow["source"] = source
    flow["targets"] = [_local_target(t) for t in flow["targets"]]
    flow["retry_backoff"] = 0
    conf: dict[str, Any] = {
        "ledger": ".bridge/ledger.sqlite",
        "work_dir": ".bridge/work",
        "lock_file": ".bridge/run.lock",
        "reports_dir": ".bridge/reports",
        "tracciati": [str(SAMPLES / p) for p in sample.get("tracciati", [])],
        "connections": {
            "shop": {"type": "sftp", "host": host, "port": port, "user": SERVER_USER,
                     "key_file": str(key.relative_to(workdir)),
                     "host_key_fingerprint": fingerprint,
                     "root": "/", "timeout": 10},
        },
        "references": {name: dict(ref, file=str(SAMPLES / ref["file"]))
                       for name, ref in sample.get("references", {}).items()},
        "flows": {FLOW: flow},
    }
    path = workdir / "bridge.yaml"
    text = ("# Written by `bridge demo`: the sample order flow, reading the shop's exports from\n"
            "# an SFTP server and writing the ERP's files into erp/.\n")
    path.write_text(text + yaml.safe_dump(conf, sort_keys=False, allow_unicode=True, width=96,
                                          default_flow_style=None),
                    encoding="utf-8")
    return path


def _run_until_taken(result: DemoResult, names: set[str], clock: Callable[[], float],
                     say: Callable[[str], None]) -> None:
    """Passes of the real runner until every export has an outcome: the first pass only
    sees the files, a later one finds them stable for the window and takes them."""
    from bridge.config import load
    from bridge.engine.runner import run_pass

    cfg = load(result.config)
    taken: dict[str, Outcome] = {}
    deadline = time.monotonic() + TAKE_TIMEOUT
    while True:
        try:
            done = run_pass(cfg, clock=clock)
        except TransientError as exc:
            result.errors.append(str(exc))
            break
        for outcome in done.outcomes:
            taken[outcome.name] = outcome
            say(f"{outcome.name}: {outcome.state}")
        result.errors.extend(done.errors)
        if done.errors or names <= taken.keys():
            break
        if time.monotonic() > deadline:
            waiting = ", ".join(sorted(names - taken.keys()))
            result.errors.append(f"not taken within {TAKE_TIMEOUT:.0f} s: {waiting}")
            break
        time.sleep(POLL_INTERVAL)
    result.outcomes = [taken[n] for n in sorted(taken)]


def write_html(result: DemoResult) -> Path:
    """The run's HTML page: each file's outcome, its outputs, and the report of a rejected
    file (bridge keeps a copy of it in the work area)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=jinja2.select_autoescape(default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined)
    work = result.workdir / ".bridge" / "work"
    files = []
    for o in result.outcomes:
        report = None
        if o.report and o.file_id is not None:
            local = work / str(o.file_id) / "report" / Path(o.report).name
            report = local.relative_to(result.workdir).as_posix() if local.is_file() else None
        files.append({
            "name": o.name, "state": o.state, "issues": o.issues, "message": o.message,
            "report": report,
            "outputs": [{"name": n, "rows": r, "href": f"erp/{n}"} for n, r in o.outputs],
        })
    html = env.get_template("demo.html").render(
        flow=FLOW, when=datetime.now().isoformat(timespec="seconds"), seconds=result.seconds,
        server=result.server, fingerprint=result.fingerprint,
        erp="erp/", files=files, config=result.config.name)
    path = result.workdir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
