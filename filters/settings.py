"""Filter settings (a light module: the CLI reads its defaults without loading torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class FilterSettings:
    """Which filters run, and their thresholds (quantiles of the profile where so named).
    ``None`` turns a filter off. ``plausibility_quantile`` is set by bench/filter_quality.py
    (0.95 catches about three times the gibberish of 0.99 and loses ≤ 0.5% of good generated
    queries); the band and the IFD margin await the learning-curve study."""

    band_low: float | None = 0.1
    band_high: float | None = 0.9
    ifd_margin: float | None = 0.1
    plausibility_quantile: float | None = 0.95
    dedup_threshold: float | None = 0.98
    refinement: bool = True
    budget: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)
