"""Where the folders shipped with bridge are: the tracciati and the samples.

They live at the top of the source tree (``tracciati/``, ``samples/``), where people edit
them; a built wheel carries them inside the package as ``bridge/_shipped/<name>`` (see
``[tool.hatch.build.targets.wheel.force-include]`` in pyproject.toml). An installed bridge
finds them there; a checkout or an editable install finds them in the tree.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
#: Inside an installed wheel.
INSIDE = PACKAGE / "_shipped"
#: In a checkout (the package's parent is the repository).
TREE = PACKAGE.parent


def shipped(name: str) -> Path:
    """The shipped folder ``name`` (``tracciati`` or ``samples``): inside the package when
    installed from a wheel, else at the top of the source tree."""
    inside = INSIDE / name
    return inside if inside.is_dir() else TREE / name
