"""A trained student saved where ``CrossEncoder(folder)`` loads it, with where it came from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from protege.common.stage import PROVENANCE

HASH_SLICE = 65_536  # values turned into Python objects at a time


def save_student(model, out: str | Path, provenance: dict) -> None:
    """Saves ``model`` where ``CrossEncoder(out)`` loads it, with its provenance as JSON and
    as a section of the model card."""
    out = Path(out)
    model.save_pretrained(str(out))
    (out / PROVENANCE).write_text(json.dumps(provenance, indent=2, default=str))
    card = out / "README.md"
    lines = "\n".join(f"- **{key}**: `{value}`" for key, value in provenance.items())
    text = card.read_text() if card.exists() else ""
    card.write_text(f"{text}\n\n## protege provenance\n\n{lines}\n")


def data_hash(*columns: Sequence | np.ndarray | pa.ChunkedArray) -> str:
    """A short fingerprint of training data, for provenance: the same for a list, a NumPy array or
    an Arrow column of the same values (Arrow and NumPy read a slice at a time)."""
    digest = hashlib.sha256()
    for column in columns:
        for value in _values(column):
            digest.update(repr(value).encode("utf-8"))
            digest.update(b"\x1f")
    return digest.hexdigest()[:16]


def _values(column: Sequence | np.ndarray | pa.ChunkedArray) -> Iterator:
    if not isinstance(column, (np.ndarray, pa.Array, pa.ChunkedArray)):
        yield from column
        return
    for start in range(0, len(column), HASH_SLICE):
        piece = column[start : start + HASH_SLICE]
        yield from piece.tolist() if isinstance(piece, np.ndarray) else piece.to_pylist()
