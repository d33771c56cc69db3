"""What every command shares: the configuration and ledger it names, and the one place where
a failure becomes a message and an exit code.

Exit codes (every command): 0 ok, 1 rejected or held, 2 usage or configuration, 3 transient
(connection, disk), 4 internal error, 130 interrupted, 141 the output closed early (a pipe
whose reader went away). A traceback never reaches the terminal: one line does, and the
traceback goes to the log.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from bridge.display import printable
from bridge.errors import BridgeError

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.engine.context import Outcome
    from bridge.ledger import Ledger

F = TypeVar("F", bound=Callable[..., Any])

EXIT_INTERNAL = 4
EXIT_INTERRUPTED = 130
#: Killed by SIGPIPE, as a shell reports it: the reader of the output closed it early.
EXIT_BROKEN_PIPE = 141


def reports_errors(fn: F) -> F:
    """A BridgeError becomes its message and exit code; a bug becomes one line, exit 4, and
    its traceback in the log; Ctrl-C exits 130."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BridgeError as exc:
            click.echo(f"error: {lines(exc)}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # The reader went away (`bridge tracciati list | head`): nothing is wrong with
            # bridge. Python would complain again when it flushes stdout at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_BROKEN_PIPE)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as exc:
            from bridge.logs import log_internal_error

            where = log_internal_error(exc, f"bridge {fn.__name__.replace('_', ' ')}")
            click.echo(f"internal error: {type(exc).__name__}: {printable(exc)} (traceback in "
                       f"{where})", err=True)
            sys.exit(EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


def lines(text: object) -> str:
    """A message for the terminal: line by line, with what could steer the terminal
    escaped (messages quote names and what servers said)."""
    return "\n".join(printable(line) for line in str(text).split("\n"))


def root_option(ctx: click.Context, key: str) -> Any:
    obj = ctx.find_root().obj or {}
    return obj.get(key)


def extra_tracciati(ctx: click.Context) -> list[Path]:
    """The folders of tracciati a layout command searches before the shipped ones:
    ``--tracciati``, then the ``tracciati:`` list of the configuration when there is one
    (``--config``, ``$BRIDGE_CONFIG``, or a ``bridge.yaml`` here), as ``run`` would."""
    import os

    from bridge.config import default_path, load

    given = root_option(ctx, "config")
    path = given or default_path()
    folders = list(root_option(ctx, "tracciati") or [])
    if given is not None or "BRIDGE_CONFIG" in os.environ or path.is_file():
        cfg = load(path, secrets=False)
        folders += [cfg.path(p) for p in cfg.tracciati]
    return folders


def load_config(ctx: click.Context, *, secrets: bool = True) -> Config:
    """The configuration named by --config, $BRIDGE_CONFIG or ./bridge.yaml; from here on,
    internal errors are logged to its log file. ``secrets=False``: for a command that never
    connects, connection secrets whose variables are not set are not needed."""
    from bridge.config import default_path, load
    from bridge.logs import use_log_file

    cfg = load(root_option(ctx, "config") or default_path(), secrets=secrets)
    use_log_file(cfg.log_path())
    return cfg


def open_config_ledger(cfg: Config) -> Ledger:
    from bridge.engine.context import open_config_ledger as opened

    return opened(cfg)


def printer(as_json: bool, say: Callable[[str], None] = click.echo
            ) -> Callable[[Outcome], None]:
    """One line per file outcome, handed to ``say``. Its names and message come from
    senders and servers, so the line is made printable (JSON: escaped) first."""
    from bridge.display import json_text, printable

    def show(o: Outcome) -> None:
        if as_json:
            failed = o.exit_code >= 3 and not o.waits  # a wait for a person is no failure
            level = "error" if failed else "warning" if o.exit_code else "info"
            say(json_text(json.dumps({
                "ts": _now(), "level": level, "flow": o.flow, "file": o.name,
                "event": o.state, "state": o.state, "id": o.file_id, "issues": o.issues,
                "outputs": [n for n, _ in o.outputs], "report": o.report,
                "message": o.message, "error": o.message if failed else None},
                ensure_ascii=False)))
            return
        outs = ", ".join(f"{n} ({r} rows)" for n, r in o.outputs)
        bits = [f"[{o.flow}] {o.name}: {o.state}" + (f" (file {o.file_id})" if o.file_id
                                                     and o.state != "done" else "")]
        if o.issues:
            bits.append(f"{o.issues} issues")
        if outs:
            bits.append(f"-> {outs}")
        if o.message:
            bits.append(o.message)
        if o.report:
            bits.append(f"report: {o.report}")
        say(printable("; ".join(bits)))

    return show


def emit_report(text: str, out: Path | None, fmt: str) -> None:
    """A report printed, or written whole (atomically) to ``out`` with one line saying so;
    a file that cannot be written is a transient error (exit 3)."""
    if out is None:
        click.echo(text, nl=False)
        return
    from bridge.errors import TransientError
    from bridge.reconcile import save

    try:
        click.echo(f"{fmt}: {save(text, out)}")
    except OSError as exc:
        raise TransientError(f"cannot write {out}: {exc.strerror or exc}") from None


def json_error(flow: str | None, error: str) -> str:
    """A failure of a pass as a ``--log-json`` line, with the fields of an outcome's."""
    from bridge.display import json_text

    return json_text(json.dumps({"ts": _now(), "level": "error", "flow": flow, "file": None,
                                 "event": "error", "state": "error", "error": error},
                                ensure_ascii=False))


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds")
