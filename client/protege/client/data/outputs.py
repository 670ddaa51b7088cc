"""What protege's own commands leave in an output folder, read without loading a model: a label
job's ``manifest.json`` and a filter run's ``accepted.parquet`` and ``rejected.parquet``.

Example::

    is_output_folder(Path("labels/"))  # True for a `protege label` or `protege filter` folder
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"  # a label job's shards and their state
ACCEPTED, REJECTED = "accepted.parquet", "rejected.parquet"  # what `protege filter` writes


def is_output_folder(path: Path) -> bool:
    """Whether ``path`` is a protege label or filter folder, read as it is rather than joined (an
    unfinished label job's too: its shards are there before its manifest)."""
    if not path.is_dir():
        return False
    return any((path / mark).exists() for mark in (MANIFEST, ACCEPTED)) or any(path.glob("labels-*.parquet"))
