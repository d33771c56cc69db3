"""The `bridge` command: a click group and the commands added to it.

The commands live in their own modules as plain click commands; this module imports them
and adds them to the group, so no command module ever imports the group (arrows point one
way). Heavy libraries are imported inside commands, never at start-up, so `bridge --help`
and an idle cron run stay fast. Exit codes: see :mod:`bridge.cli.common`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

import bridge.cli.business  # noqa: F401  (report commissions, report sales)
from bridge.cli.common import reports_errors
from bridge.cli.connections import connections
from bridge.cli.demo import demo
from bridge.cli.files import ack, history, reject, retry, show, status
from bridge.cli.flows import prune, replay, report_cmd, run, validate, watch
from bridge.cli.held import approve, pending
from bridge.cli.layouts import check, codes, tracciati
from bridge.cli.ledger import ledger
from bridge.cli.metrics import metrics

__all__ = ["main", "reports_errors"]


#: The options of the whole program, that a user may also write after the sub-command
#: (``bridge check FILE --tracciati DIR``), with whether they take a value.
GLOBAL_OPTIONS = {"--config": True, "-c": True, "--tracciati": True}


def hoisted(args: list[str]) -> list[str]:
    """``args`` with the global options found after the sub-command moved before it; what
    follows ``--`` is left as it is (a file may be named ``--config``)."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    seen_command = False
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0] if arg.startswith("--") else arg
        if seen_command and name in GLOBAL_OPTIONS:
            takes = GLOBAL_OPTIONS[name] and "=" not in arg
            front.extend(args[i:i + 2] if takes else [arg])
            i += 2 if takes else 1
            continue
        if not arg.startswith("-") and not seen_command and not _is_value(args, i):
            seen_command = True
        rest.append(arg)
        i += 1
    if not front:
        return args
    at = next((k for k, a in enumerate(rest) if not a.startswith("-")
               and not _is_value(rest, k)), len(rest))
    return rest[:at] + front + rest[at:]


def _is_value(args: list[str], i: int) -> bool:
    """Whether ``args[i]`` is the value of the global option before it."""
    return i > 0 and args[i - 1] in GLOBAL_OPTIONS and GLOBAL_OPTIONS[args[i - 1]]


class Bridge(click.Group):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoisted(list(args)))


@click.group(cls=Bridge, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bridge")
@click.option("--config", "-c", "config", type=click.Path(path_type=Path), default=None,
              help="The configuration file (default: $BRIDGE_CONFIG, else ./bridge.yaml).")
@click.option("--tracciati", "tracciati_dirs", multiple=True, type=click.Path(path_type=Path),
              help="Another folder of tracciati (<system>/<name>.yaml); may repeat.")
@click.pass_context
def main(ctx: click.Context, config: Path | None, tracciati_dirs: tuple[Path, ...]) -> None:
    """bridge: dependable file exchange between e-commerce shops and legacy ERPs."""
    # numpy's OpenBLAS starts a thread per core once numpy is imported (later, by a command,
    # and by the helper process, which inherits this), that spins after it wakes: bridge
    # calls no BLAS, and that thread took about 1% of a run's CPU, on the cores its work
    # needs. A value the user set is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Arrow's memory pool: jemalloc, which Arrow's Linux wheels carry, hands back the pages
    # of a chunk that mimalloc (the default) keeps: a 1M-row orders file peaked 60 MB
    # lower, a 3M-row one under 500 MB (bench/README.md). Read by pyarrow when a command
    # first imports it; a value the user set is kept.
    if sys.platform == "linux" and "ARROW_DEFAULT_MEMORY_POOL" not in os.environ \
            and _arrow_has_jemalloc():
        os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"
    ctx.obj = {"config": config, "tracciati": list(tracciati_dirs)}


def _arrow_has_jemalloc() -> bool:
    """Whether the pyarrow installed was built with jemalloc, as the header it ships says,
    without importing it (the pool is chosen at that import, which costs a fifth of a
    second): asked for a pool it lacks, Arrow prints a warning at every command."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("pyarrow")
    except (ImportError, ValueError):
        return False
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        header = Path(folder) / "include" / "arrow" / "util" / "config.h"
        try:
            text = header.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        return "#define ARROW_JEMALLOC\n" in text
    return False


for command in (check, tracciati, codes, run, validate, watch, replay, prune, report_cmd, status,
                history, show, pending, approve, reject, retry, ack, connections, demo,
                metrics, ledger):
    main.add_command(command)
