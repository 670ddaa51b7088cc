"""Atomic writes: a reader sees all of a file or none of it, and a failed write leaves what was
there before."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


class OutputError(OSError):
    """An output that could not be written (disk full, read-only, no permission); what was
    written before is intact."""


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Writes ``table`` to ``path`` through a temporary file and a rename.

    Example::

        write_parquet_atomic(pa.table({"query": ["drill"]}), Path("out/pairs.parquet"))
    """
    _replace_atomically(path, lambda temporary: pq.write_table(table, temporary))


def write_json_atomic(path: Path, value: object) -> None:
    """Writes ``value`` as indented, key-sorted JSON through a temporary file and a rename."""
    _replace_atomically(
        path, lambda temporary: temporary.write_text(json.dumps(value, indent=2, sort_keys=True))
    )


def _replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    # Its own name per writer: two writers of one file (a pod and its replacement) never share one.
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    try:
        write(temporary)
        temporary.replace(path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(
            error.errno,
            f"cannot write {path}: {error.strerror or error}; everything written before is intact: "
            "free space or fix permissions, then run the same command again",
        ) from error
