"""`bridge.yaml`: connections, reference tables and flows, validated when loaded.

Secrets never live in the file: a value written ``${NAME}`` is read from the environment
when the configuration loads; secret fields are SecretStr, so they never show in a repr or log.
Relative paths are relative to the folder of the configuration file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bridge.config_connections import Connection as Connection  # the names are bridge.config's
from bridge.config_connections import FtpConnection as FtpConnection
from bridge.config_connections import LocalConnection as LocalConnection
from bridge.config_connections import SftpConnection as SftpConnection
from bridge.config_connections import Strict as Strict
from bridge.config_parts import NEVER_READY as NEVER_READY  # the names are bridge.config's
from bridge.config_parts import DoneFile as DoneFile
from bridge.config_parts import Each as Each
from bridge.config_parts import FactSpec as FactSpec
from bridge.config_parts import Readiness as Readiness
from bridge.config_parts import Source as Source
from bridge.config_parts import Target as Target
from bridge.config_parts import Totals as Totals
from bridge.errors import ConfigError
from bridge.steps import StepSpec

#: Bytes of a file read whole, or of one group of its rows held at once, at most: a flow's
#: ``whole_max_bytes`` unless it says otherwise, and the bound of reads outside a flow.
WHOLE_MAX_BYTES = 64 << 20

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms]?)")


def _seconds(value: object) -> object:
    """``30d``, ``12h``, ``15m``, ``45s`` or a number of seconds."""
    if isinstance(value, str):
        m = DURATION.fullmatch(value.strip())
        if not m:
            raise ValueError(f"{value!r}: give a number of seconds, or a number with d, h, m "
                             "or s (30d, 12h)")
        return float(m.group(1)) * {"d": 86400, "h": 3600, "m": 60, "s": 1, "": 1}[m.group(2)]
    return value


Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0)]


class Retention(Strict):
    """How long bridge keeps what it holds of each file once that file is finished."""

    work: Duration | None = Field(30 * 86400, description="bridge's own copy of each file and "
                                  "what it rendered (replays need it); null: for ever.")
    reports: Duration | None = Field(90 * 86400, description="refused files and their reports "
                                     "in the quarantine folder, and the values quoted in the "
                                     "ledger's issues of every file (of one that waits, "
                                     "from its last change); null: for ever.")
    archive: Duration | None = Field(None, description="archived source files (a business "
                                     "decision: kept for ever unless set).")


class Approval(Strict):
    """``approval: true``, or ``approval: {alert_after: 4h}``: every file waits for an
    operator (``bridge approve``, whole or row by row); ``alert_after`` makes ``bridge status
    --check`` fail once one of the flow's held files has waited longer (for this flow, in
    place of ``--held-for``)."""

    alert_after: Duration | None = Field(None, description="How long a held file may wait "
                                         "before `status --check` fails (30m, 4h, 2d).")


def _approval(value: object) -> object:
    """``true`` or a mapping turn approval on, ``false`` (or nothing) leaves it off."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, dict | Approval):
        return value
    raise ValueError("give true, false, or a mapping such as {alert_after: 4h}")


class Flow(Strict):
    source: Source
    tracciato: str
    steps: list[StepSpec] = Field(default_factory=list)
    targets: list[Target]
    on_bad_rows: Literal["reject-file", "skip-rows"] = "reject-file"
    approval: Annotated[Approval | None, BeforeValidator(_approval)] = Field(
        None, description="Outputs wait for `bridge approve`: true, or {alert_after: 4h}.")
    archive: Literal["move", "delete", "leave"] = "move"
    archive_folder: str = "archive"
    quarantine_folder: str = "quarantine"
    retry_backoff: float = Field(
        30.0, ge=0, description="Seconds before retrying a failed file; doubles per attempt."
    )
    max_attempts: int = Field(
        10, ge=1, description="Attempts before a file that keeps failing waits for a person."
    )
    totals: Totals = Field(default_factory=Totals)
    facts: list[FactSpec] = Field(
        default_factory=list, description="Rows kept in the ledger as business facts (an "
        "order's amounts, agent and commission) for `bridge report commissions` and `sales`.")
    max_bytes: int = Field(1 << 30, gt=0, description="A bigger file is refused "
                                                     "(file-too-large), never read.")
    retention: Retention = Field(default_factory=Retention)
    chunk_bytes: int = Field(5 << 20, ge=0, description="The file is read, transformed and "
                             "written this many bytes at a time (groups are never split); "
                             "0: the whole file at once.")
    whole_max_bytes: int = Field(
        WHOLE_MAX_BYTES, ge=0, description="A file larger than this that would be read whole "
        "(its groups apart, a template without `each`, chunk_bytes 0...), or one group of its "
        "rows held at once past it, is refused (too-large-to-read-whole) instead: read whole, "
        "it takes many times its size in memory. 0: no limit. Default 64 MB, or chunk_bytes "
        "when that is larger.")
    order: Literal["arrival", "any"] = Field(
        "arrival", description="arrival: one worker at a time, files in the order they came, "
        "a file waiting behind one not yet written. any: on a PostgreSQL ledger, every "
        "worker carries on files of the flow at once, numbered as they are planned.")

    @property
    def alert_after(self) -> float | None:
        """Seconds a held file of this flow may wait before `status --check` fails (None:
        the command's --held-for)."""
        return self.approval.alert_after if isinstance(self.approval, Approval) else None

    @field_validator("targets")
    @classmethod
    def _some(cls, v: list[Target]) -> list[Target]:
        if not v:
            raise ValueError("a flow needs at least one target")
        return v

    @model_validator(mode="after")
    def _any_order_alone(self) -> Flow:
        history = [f"steps[{i}].{s.kind}" for i, s in enumerate(self.steps)
                   if s.kind in ("dedupe", "delta", "recall")]
        if self.order == "any" and (history or self.archive == "leave"):
            why = (f"{history[0]} compares a file with what the files before it sent"
                   if history else "archive: leave reads the files in place, unclaimed")
            raise ValueError(f"order: any carries on several files at once, but {why}: keep "
                             "order: arrival for this flow")
        return self

    @model_validator(mode="before")
    @classmethod
    def _whole_follows_a_larger_chunk(cls, data: Any) -> Any:
        # A configuration from before whole_max_bytes, with chunks over its default: the
        # default follows the chunk (a chunk is read at once anyway), not an error.
        chunk = data.get("chunk_bytes") if isinstance(data, dict) else None
        if isinstance(chunk, int) and chunk > WHOLE_MAX_BYTES and "whole_max_bytes" not in data:
            return {**data, "whole_max_bytes": chunk}
        return data

    @model_validator(mode="after")
    def _whole_past_a_chunk(self) -> Flow:
        if 0 < self.whole_max_bytes < self.chunk_bytes:
            raise ValueError(f"whole_max_bytes ({self.whole_max_bytes}) is under chunk_bytes "
                             f"({self.chunk_bytes}), whose chunks are each read at once")
        return self

    @field_validator("steps")
    @classmethod
    def _one_gone(cls, v: list[StepSpec]) -> list[StepSpec]:
        gone = [i for i, s in enumerate(v) if getattr(s.args, "gone", None) is not None]
        trailer = next((i for i, s in enumerate(v) if s.kind == "trailer"), len(v))
        if len(gone) > 1 or (gone and gone[0] > trailer):
            raise ValueError(f"steps[{gone[-1]}].delta: gone withdraws once per file: one "
                             "delta with gone per flow, before any trailer")
        return v


class Reference(Strict):
    """A reference table (e.g. the ERP's customers), read with its own tracciato."""

    file: Path
    tracciato: str
    record: str | None = None


class Config(Strict):
    ledger: str = Field(".bridge/ledger.sqlite", repr=False,  # a URL may hold a password
                        description="The ledger: a SQLite file (a path, or sqlite:///PATH) or "
                        "a PostgreSQL URL (postgresql://user@host/db; the password from "
                        "${VAR}, PGPASSWORD or .pgpass).")
    work_dir: Path = Path(".bridge/work")
    lock_file: Path = Path(".bridge/run.lock")
    log_file: Path | None = Field(None, description="bridge's own log (0600): every pass, "
                                                    "every problem (default: beside the ledger).")
    reports_dir: Path = Field(Path(".bridge/reports"), description="Unused: `bridge report "
                              "--out FILE` names the file. Kept so that older files load.")
    tracciati: list[Path] = Field(default_factory=list)
    transform_ahead: bool = Field(True, description="With many small files ready, a second "
                                  "process transforms the next ones while this one writes "
                                  "(on two cores or more).")
    connections: dict[str, Connection] = Field(default_factory=dict)
    references: dict[str, Reference] = Field(default_factory=dict)
    flows: dict[str, Flow]
    base: Path = Field(Path("."), exclude=True)
    source: Path | None = Field(None, exclude=True)  # the file it was read from
    #: A worker's (``watch --workers``): the configuration's own lock, beside which an
    #: operator's command marks its wait; the worker's lock file is one of its own.
    operator_lock: Path | None = Field(None, exclude=True)

    def path(self, p: Path | str) -> Path:
        """A configured path, relative to the configuration's folder."""
        p = Path(p)
        return p if p.is_absolute() else self.base / p

    def operators_lock(self) -> Path:
        """The lock beside which operators' commands mark their wait (:mod:`runlock`)."""
        return self.path(self.operator_lock or self.lock_file)

    def ledger_location(self) -> Path | str:
        """The ledger's file, or its PostgreSQL URL."""
        from bridge.ledger import is_url

        if is_url(self.ledger):
            return self.ledger
        return self.path(self.ledger.removeprefix("sqlite:///"))

    def log_path(self) -> Path:
        if self.log_file:
            return self.path(self.log_file)
        where = self.ledger_location()
        return (self.path(self.work_dir).parent if isinstance(where, str) else where.parent
                ) / "bridge.log"

    def connection(self, name: str) -> LocalConnection | SftpConnection | FtpConnection:
        if name in self.connections:
            return self.connections[name]
        if name == "local":
            return LocalConnection()
        raise ConfigError(f"no connection named {name!r}")


def default_path() -> Path:
    return Path(os.environ.get("BRIDGE_CONFIG", "bridge.yaml"))


#: The keys of a connection that hold secrets: a command that never connects (status,
#: show...) starts without them.
SECRET_KEYS = frozenset({"password", "key_passphrase"})


def load(path: Path, *, secrets: bool = True) -> Config:
    """Read and validate a configuration; every mistake names the file and the key.

    ``secrets=False``: for commands that never connect, a connection's secret whose
    variable is not set is left out instead of being an error."""
    from bridge.yamlio import YamlError, line_of, load_nodes

    try:
        raw, root = load_nodes(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except YamlError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must hold a mapping with flows")
    data = _expand(raw, path, (), secrets, root)
    data["base"] = path.resolve().parent
    data["source"] = path.resolve()
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        from bridge.spec.loader import describe

        raise ConfigError("\n".join(f"{path}: {line}" for line in describe(exc, root=root))
                          ) from None
    for name, flow in cfg.flows.items():
        for where, loc, conn in [("source", ("source",), flow.source.connection)] + [
            (f"targets[{i}]", ("targets", i), t.connection) for i, t in enumerate(flow.targets)
        ]:
            if conn != "local" and conn not in cfg.connections:
                line = line_of(root, ("flows", name, *loc, "connection"))
                raise ConfigError(f"{path}: line {line}: flows.{name}.{where}.connection: no "
                                  f"connection named {conn!r}")
    return cfg


def _expand(value: Any, path: Path, where: tuple[str, ...], secrets: bool = True,
            root: Any = None) -> Any:
    """Replace ${VAR} by the environment's value; a missing variable is an error, with the
    line where ``root`` (the file's YAML nodes) has it (but for a connection's secret when
    ``secrets`` is False: left out).

    Fields that hold secrets are SecretStr, so the value never shows in a repr or a log."""
    if isinstance(value, dict):
        return {k: _expand(v, path, (*where, str(k)), secrets, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, path, (*where, str(i)), secrets, root)
                for i, v in enumerate(value)]
    if isinstance(value, str) and ENV_REF.search(value):
        if (not secrets and len(where) == 3 and where[0] == "connections"
                and where[2] in SECRET_KEYS
                and any(m.group(1) not in os.environ for m in ENV_REF.finditer(value))):
            return None

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name not in os.environ:
                from bridge.yamlio import line_of

                line = line_of(root, where)
                at = f"line {line}: " if line is not None else ""
                raise ConfigError(f"{path}: {at}{'.'.join(where)}: environment variable "
                                  f"{name} is not set")
            return os.environ[name]

        return ENV_REF.sub(sub, value)
    return value
