"""Where protege keeps what it can make again."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The label cache and joined tables' folder: $PROTEGE_CACHE_DIR, else ~/.cache/protege.

    Example::

        cache_dir() / "labels.sqlite"
    """
    return Path(os.environ.get("PROTEGE_CACHE_DIR") or Path.home() / ".cache" / "protege")
