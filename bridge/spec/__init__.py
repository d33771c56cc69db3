"""The tracciato language: model and loader."""

from bridge.spec.loader import available, load, load_file, parse
from bridge.spec.model import FieldSpec, RecordSpec, Tracciato

__all__ = ["FieldSpec", "RecordSpec", "Tracciato", "available", "load", "load_file", "parse"]
