"""What a file left in its folder was read with besides its own bytes: the reference tables.

A price list the ERP rewrites every night stays where it is (``archive: leave``) and is
joined with the article master. When only the master changes (a new description, another
VAT code) the price list's bytes are the same, so the file alone would look done. bridge
records, with each such file, a digest of the references its flow looks up, as read for
it; a later pass that finds them changed reads the file again, and the flow's ``delta``
step sends what the change made different. A file refused because of a reference (an
article missing from the master) is tried again once the master is put right.

The digest of what was *used* comes from the loaded tables (the bytes they were decoded
from); the digest *now* from the files as they are. When they differ the file is read
again, so a master rewritten between the two is never missed, at worst read once more.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bridge.config import Config, Flow
    from bridge.engine.tables import Refs


def flow_references(flow: Flow) -> list[str]:
    """The reference tables a flow's steps look up, by name."""
    names = {getattr(step.args, "reference", None) for step in flow.steps}
    return sorted(n for n in names if isinstance(n, str))


def _combine(shas: dict[str, str]) -> str:
    text = "".join(f"{name}={sha}\n" for name, sha in sorted(shas.items()))
    return hashlib.sha256(text.encode()).hexdigest()


def watched(flow: Flow) -> bool:
    """Whether a done file of the flow is read again when its references change."""
    return flow.archive == "leave" and bool(flow_references(flow))


def used(ctx: Refs, flow: Flow) -> str | None:
    """The digest of the references this pass reads for the flow (loading them once for
    the pass, as its steps will); None when the flow has none or moves its files."""
    from bridge.engine.tables import reference

    if not watched(flow):
        return None
    return _combine({n: reference(ctx, n).attrs["sha256"] for n in flow_references(flow)})


def now(cfg: Config, flow: Flow) -> str | None:
    """The digest of the flow's reference files as they are now; None as for
    :func:`used`, and when one cannot be read (a file being rewritten, a missing master:
    a done file is not read again for that, and a new one says what is wrong)."""
    if not watched(flow):
        return None
    shas: dict[str, str] = {}
    for name in flow_references(flow):
        ref = cfg.references.get(name)
        if ref is None:
            return None
        try:
            shas[name] = hashlib.sha256(cfg.path(ref.file).read_bytes()).hexdigest()
        except OSError:
            return None
    return _combine(shas)
