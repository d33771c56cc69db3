"""Running the steps of a flow over the decoded tables.

:func:`apply_steps` takes pandas tables (typed with ``pd.ArrowDtype``, as the codecs give
them), works on Arrow tables inside, and hands them back as Arrow tables, and as pandas
ones when asked. Configuration mistakes
(a missing table or field, an expression that does not parse) raise
:class:`bridge.errors.ConfigError` naming the step; bad data becomes issues. Pandas,
pyarrow and jinja2 are imported only when steps run, so loading a configuration stays fast.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bridge.issues import Issue
from bridge.steps.context import StepContext

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from bridge.steps.spec import StepSpec


@dataclass
class StepResult:
    """The tables to write, and what the run found on the way. ``arrow`` are the tables as
    the steps left them; ``tables`` the same as pandas, made when first asked (a writer of
    fixed-width or CSV files reads the Arrow ones, and a small file's hand-overs cost)."""

    arrow: dict[str, pa.Table]
    issues: list[Issue] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    skipped_keys: list[str] = field(default_factory=list)
    sent_keys: list[str] = field(default_factory=list)
    #: Business key -> fingerprint of the rows a delta step lets through: the caller
    #: remembers them once the outputs are written.
    fingerprints: dict[str, str] = field(default_factory=dict)
    unchanged: int = 0
    #: A delta step with ``gone``: the keys that reached it, and the types of its fields.
    delta_seen: list[str] = field(default_factory=list)
    delta_types: dict[str, pa.DataType] = field(default_factory=dict)
    delta_table: str | None = None
    #: Notes past the caller's room, counted by code and not built.
    counted: Counter[str] = field(default_factory=Counter)
    #: Errors past the caller's room, not built: how many of each code, and the source
    #: lines of their rows (null: an error of the whole table), to leave them out.
    unbuilt: Counter[str] = field(default_factory=Counter)
    unbuilt_lines: list[pa.Array | pa.ChunkedArray] = field(default_factory=list)
    #: The keys a ``dedupe keep: sent`` left out as never sent (a cancellation of an order
    #: the target does not have): the caller records them with the file's plan.
    unsent_keys: list[str] = field(default_factory=list)

    @functools.cached_property
    def tables(self) -> dict[str, pd.DataFrame]:
        import pandas as pd

        from bridge.codecs import as_frame

        return {name: as_frame(t) if t.num_columns else
                pd.DataFrame(index=pd.RangeIndex(t.num_rows)) for name, t in self.arrow.items()}


def apply_steps(
    steps: Sequence[StepSpec], tables: Mapping[str, pd.DataFrame | pa.Table], ctx: StepContext
) -> StepResult:
    """Run ``steps`` in order over ``tables`` (which are not modified)."""

    from bridge.codecs import as_table
    from bridge.steps.business import BUSINESS
    from bridge.steps.combine import group, lookup
    from bridge.steps.ops import OPS
    from bridge.steps.spread import spread
    from bridge.steps.work import Work

    work = Work({name: as_table(df) for name, df in tables.items()}, ctx)
    runners: dict[str, Callable[[Work, Any], None]] = {**OPS, **BUSINESS, "lookup": lookup,
                                                "group": group, "spread": spread}
    for i, step in enumerate(steps):
        work.where = f"steps[{i}].{step.kind}"
        runners[step.kind](work, step.args)
    return StepResult(dict(work.tables), work.issues, work.held, work.skipped, work.sent,
                      work.fingerprints, work.unchanged, work.delta_seen, work.delta_types,
                      work.delta_table, work.counted, work.unbuilt, work.unbuilt_lines,
                      work.unsent)

