"""What ``protege coverage`` measures, and how: its flags' defaults, stated once (the command imports
this without FAISS or torch).

Example::

    CoverageConfig(target=Path("test.csv"), train=Path("labels/"), taus=(0.8,))
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CoverageConfig:
    """What ``protege coverage`` measures, and how (its flags)."""

    target: Path
    train: Path | None = None  # a data file, or a label or filter folder
    index: Path | None = None  # a CoverageIndex folder: loaded if present, saved after
    query_col: str = "query"
    encoding: str = "auto"
    taus: tuple[float, ...] = (0.7, 0.8, 0.9)
    clusters: int = 20
    batch: int = 65_536  # training queries read, embedded and folded at a time (no index)
