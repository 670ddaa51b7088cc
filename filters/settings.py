"""Filter settings (a light module: the CLI reads its defaults without loading torch)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace

# The filters an ablation can keep on alone, by the settings that turn each off.
FILTER_SWITCHES = {
    "nll": {"band_low": None, "band_high": None},
    "ifd": {"ifd_margin": None},
    "plausibility": {"plausibility_quantile": None},
    "dedup": {"dedup_threshold": None},
    "refinement": {"refinement": False},
}


@dataclass(frozen=True)
class FilterSettings:
    """Which filters run, and their thresholds (quantiles of the profile where so named).
    ``None`` turns a filter off. Defaults from ``bench/filter_quality.py`` (README): against
    the profile of the student's training set, ``nll`` above its 0.99 quantile caught every
    flipped teacher label at 10%, 20% and 40% noise while keeping ~99% of clean pairs; a low
    cut and the IFD ceiling only cost clean pairs there, so both are off; plausibility at
    0.95 catches about three times the gibberish of 0.99 for ≤ 0.5% of good generated queries."""

    band_low: float | None = None
    band_high: float | None = 0.99
    ifd_margin: float | None = None
    plausibility_quantile: float | None = 0.95
    dedup_threshold: float | None = 0.98
    refinement: bool = True
    budget: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def keeping(self, names: Iterable[str]) -> FilterSettings:
        """These settings with every filter not named turned off, for ablations.

        Example::

            FilterSettings().keeping({"nll"})  # the likelihood band alone
        """
        names = set(names)
        unknown = names - FILTER_SWITCHES.keys()
        if unknown:
            raise ValueError(
                f"unknown filter {', '.join(sorted(unknown))}: choose from {', '.join(FILTER_SWITCHES)}"
            )
        idle = sorted(
            name
            for name in names
            if all(getattr(self, key) == value for key, value in FILTER_SWITCHES[name].items())
        )
        if idle:
            # Keeping a filter that these settings already turn off would run nothing silently.
            raise ValueError(
                f"{', '.join(idle)} is off in these settings, so keeping it runs no filter: "
                "turn it on first (FilterSettings field), or use --no-filters"
            )
        off = {
            key: value
            for name, switch in FILTER_SWITCHES.items()
            if name not in names
            for key, value in switch.items()
        }
        return replace(self, **off)
