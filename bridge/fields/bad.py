"""Former home of :class:`BadCells` and :class:`Collector`, now in :mod:`bridge.fields.cells`.

Kept so that callers importing from here keep working; new code imports from
``bridge.fields`` (BadCells) or ``bridge.fields.cells`` (Collector).
"""

from __future__ import annotations

from bridge.fields.cells import BadCells, Collector

__all__ = ["BadCells", "Collector"]
