"""jinja2 for file names and templated outputs, always sandboxed.

A template from a configuration cannot reach the file system nor attributes it should not:
it runs in jinja2's immutable sandbox, with undefined names as errors.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bridge.errors import ConfigError

if TYPE_CHECKING:
    from jinja2 import Template
    from jinja2.sandbox import ImmutableSandboxedEnvironment


@lru_cache(maxsize=4)
def environment(autoescape: bool = False, folder: str | None = None
                ) -> ImmutableSandboxedEnvironment:
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class RowsFirst(ImmutableSandboxedEnvironment):
        """``row.field`` on a row (a plain dict) is its value, found at the first try: the
        sandbox would first look for an attribute of the dict, fail, and only then take the
        key (an exception per value, a fifth of an XML render). Anything else, and a name
        that is no key, goes through the sandbox's own checks."""

        def getattr(self, obj: Any, attribute: str) -> Any:
            if type(obj) is dict:
                try:
                    return obj[attribute]
                except KeyError:
                    pass
            return super().getattr(obj, attribute)

    env = RowsFirst(
        undefined=StrictUndefined,
        autoescape=autoescape,
        keep_trailing_newline=True,
        loader=FileSystemLoader(folder) if folder else None,
    )
    env.filters["zfill"] = lambda v, n: str(v).zfill(int(n))
    return env


def render_name(template: str, variables: dict[str, Any]) -> str:
    """A file name from its template, e.g. ``ORD{{ seq | zfill(6) }}_{{ now:%Y%m%d }}.TXT``."""
    from jinja2 import TemplateError

    try:
        name = _compiled(template).render(**variables)
    except TemplateError as exc:
        raise ConfigError(f"file name template {template!r}: {exc}") from None
    return name.strip()


@lru_cache(maxsize=64)
def _compiled(template: str) -> Template:
    return environment().from_string(template)


def name_variables(now: datetime, seq: int, source_name: str, flow: str) -> dict[str, Any]:
    stem = Path(source_name).stem
    return {
        "now": now,
        "date": now.strftime("%Y%m%d"),
        "time": now.strftime("%H%M%S"),
        "seq": seq,
        "source_name": source_name,
        "source_stem": stem,
        "flow": flow,
    }


#: What a templated output may be: markup escapes every value, text escapes none.
KINDS = ("xml", "html", "text")


def render_file(template: Path, variables: dict[str, Any], kind: str) -> str:
    """A templated output of the declared ``kind``: in XML and HTML every value is escaped,
    so data cannot break the markup. The kind is declared (a target's ``format``), never
    guessed from the template's name: ``ORDERS.XML`` or ``orders.xml.tmpl`` is markup too."""
    from jinja2 import TemplateError

    if kind not in KINDS:
        raise ConfigError(f"template {template}: format {kind!r} is not one of "
                          f"{', '.join(KINDS)}")
    env = environment(autoescape=kind != "text", folder=str(template.parent))
    try:
        return env.get_template(template.name).render(**variables)
    except TemplateError as exc:
        raise ConfigError(f"template {template}: {exc}") from None


def fmt_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")
