"""A trained student saved where ``CrossEncoder(folder)`` loads it, with where it came from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from protege.common.stage import PROVENANCE


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


def data_hash(*columns: Sequence) -> str:
    """A short fingerprint of training data, for provenance."""
    digest = hashlib.sha256()
    for column in columns:
        for value in column:
            digest.update(repr(value).encode("utf-8"))
            digest.update(b"\x1f")
    return digest.hexdigest()[:16]
