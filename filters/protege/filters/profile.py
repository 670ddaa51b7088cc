"""A likelihood profile: the distribution of the student's statistics on a reference set.

Filter thresholds are quantiles of a profile, so they move with the student; the profile is
saved beside the student so every decision can be explained and repeated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROFILE = "profile.json"  # a student's training profile, saved beside it

# Enough values to place any quantile to within 0.01% while keeping the file small.
MAX_VALUES = 10_000


@dataclass
class Profile:
    """Sorted reference values per statistic (subsampled evenly when there are many).

    Example::

        profile = Profile.from_statistics(likelihood.statistics(queries, documents, scores))
        profile.quantile("nll", 0.9)
        profile.rank("nll", 2.3)  # the share of the reference set below 2.3
        profile.save("student/profile.json")
    """

    values: dict[str, np.ndarray]
    counts: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_statistics(cls, statistics: Mapping[str, np.ndarray]) -> Profile:
        values, counts = {}, {}
        for name, array in statistics.items():
            finite = np.sort(np.asarray(array, dtype=np.float64)[np.isfinite(array)])
            if not len(finite):
                raise ValueError(f"statistic {name!r} has no finite values to profile")
            if len(finite) > MAX_VALUES:
                finite = finite[np.linspace(0, len(finite) - 1, MAX_VALUES).round().astype(int)]
            values[name], counts[name] = finite, int(np.isfinite(array).sum())
        return cls(values, counts)

    def quantile(self, name: str, q: float) -> float:
        return float(np.quantile(self._values(name), q))

    def rank(self, name: str, value: float | np.ndarray) -> float | np.ndarray:
        """The share of reference values below ``value`` (its quantile in the profile)."""
        reference = self._values(name)
        return np.searchsorted(reference, value, side="left") / len(reference)

    def summary(
        self, quantiles: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
    ) -> dict[str, dict[str, float]]:
        return {
            name: {
                "n": self.counts.get(name, len(values)),
                **{f"q{q:g}": self.quantile(name, q) for q in quantiles},
            }
            for name, values in self.values.items()
        }

    def save(self, path: str | Path) -> None:
        payload = {
            "counts": self.counts,
            "summary": self.summary(),
            "values": {name: values.tolist() for name, values in self.values.items()},
        }
        Path(path).write_text(json.dumps(payload))

    @classmethod
    def load(cls, path: str | Path) -> Profile:
        payload = json.loads(Path(path).read_text())
        return cls(
            {name: np.asarray(v, dtype=np.float64) for name, v in payload["values"].items()},
            payload["counts"],
        )

    def _values(self, name: str) -> np.ndarray:
        if name not in self.values:
            raise KeyError(f"the profile has no statistic {name!r} (it has: {', '.join(self.values)})")
        return self.values[name]
