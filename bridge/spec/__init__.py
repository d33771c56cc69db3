"""The tracciato language: model and loader.

Their names are imported here on first use, not with the package: a run with nothing to do
finds its layouts' files (:mod:`bridge.spec.finding`, to see whether they changed) without
building the layouts' models."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.spec import loader, model
    from bridge.spec.loader import available, load, load_file, parse
    from bridge.spec.model import FieldSpec, RecordSpec, Tracciato

__all__ = ["FieldSpec", "RecordSpec", "Tracciato", "available", "load", "load_file", "loader",
           "model", "parse"]

#: Where each name lives; ``loader`` and ``model`` are the modules themselves.
_HOME = {"available": "loader", "load": "loader", "load_file": "loader", "parse": "loader",
         "FieldSpec": "model", "RecordSpec": "model", "Tracciato": "model"}


def __getattr__(name: str) -> Any:
    if name in ("loader", "model"):
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value  # found directly from now on
    return value
