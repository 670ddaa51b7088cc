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


def local_or_hub(model: str | Path) -> str:
    """``model`` as given, after checking that one written as a path is a folder that exists: the
    hub's answer to a missing folder ("Repo id must use alphanumeric chars") names neither.

    Example::

        CrossEncoder(local_or_hub("runs/demo/student"))  # FileNotFoundError if it is not there
    """
    text = str(model)
    if Path(text).expanduser().exists():
        return text
    # A hub id is "name" or "owner/name"; anything else can only be a path.
    written_as_path = (
        text.startswith(("/", ".", "~")) or text.count("/") > 1 or text.endswith("/") or "\\" in text
    )
    if written_as_path:
        raise FileNotFoundError(f"model folder {text} not found")
    return text
