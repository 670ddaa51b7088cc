"""One interface for every filter: candidates in, a decision with a reason for every rejection out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .profile import Profile


@dataclass
class Candidates:
    """Column arrays of equal length, one row per candidate pair: ``query``, ``document``,
    ``score`` (teacher), the student's statistics (``nll``, ``ifd``, …) and optionally
    ``origin_query``, ``doc_id``, ``strategy``.

    Example::

        candidates = Candidates({"query": np.array(["drill"]), "nll": np.array([0.4])})
    """

    columns: dict[str, np.ndarray]

    def __post_init__(self) -> None:
        lengths = {name: len(values) for name, values in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"candidate columns differ in length: {lengths}")
        self.columns = {name: np.asarray(values) for name, values in self.columns.items()}

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), ()))

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise KeyError(f"candidates have no column {name!r} (they have: {', '.join(self.columns)})")
        return self.columns[name]

    def __contains__(self, name: str) -> bool:
        return name in self.columns


class Filter(Protocol):
    """Rejects some of the candidates still ``alive``; returns the reason per row ('' = kept)."""

    def __call__(self, candidates: Candidates, alive: np.ndarray, profile: Profile) -> np.ndarray: ...


@dataclass
class Decision:
    """``accepted[i]`` and, for a rejected row, ``reasons[i]``: the first filter that refused it."""

    accepted: np.ndarray
    reasons: np.ndarray

    def counts(self) -> dict[str, int]:
        return {"accepted": int(self.accepted.sum()), **Counter(self.reasons[~self.accepted].tolist())}


def is_seed(origin_query: Sequence | None, strategy: Sequence | None, size: int) -> np.ndarray:
    """Rows whose query is an original (no origin query, strategy absent or ``seed``)."""
    seed = np.ones(size, dtype=bool)
    if origin_query is not None:
        seed &= np.array([not origin for origin in origin_query], dtype=bool)
    if strategy is not None:
        seed &= np.array([s in (None, "", "seed") for s in strategy], dtype=bool)
    return seed


def seed_rows(candidates: Candidates) -> np.ndarray:
    """``is_seed`` of each candidate, from its ``origin_query`` and ``strategy`` columns where it has them."""
    origins = candidates["origin_query"].tolist() if "origin_query" in candidates else None
    strategies = candidates["strategy"].tolist() if "strategy" in candidates else None
    return is_seed(origins, strategies, len(candidates))


def no_reasons(size: int) -> np.ndarray:
    return np.full(size, "", dtype=object)


class FilterPipeline:
    """Applies filters in order; each sees only what the ones before it kept.

    Example::

        pipeline = FilterPipeline([FrontierBand(), IfdCeiling(), Quota(10_000)])
        decision = pipeline(candidates, profile)
        decision.counts()  # {"accepted": 9_000, "known": 500, "beyond frontier": 500, ...}
    """

    def __init__(self, filters: Sequence[Filter]) -> None:
        self.filters = list(filters)

    def __call__(self, candidates: Candidates, profile: Profile) -> Decision:
        reasons = no_reasons(len(candidates))
        for step in self.filters:
            alive = reasons == ""
            verdict = step(candidates, alive, profile)
            newly = alive & (verdict != "")
            reasons[newly] = verdict[newly]
        return Decision(reasons == "", reasons)


def counts_table(decision: Decision, profile: Profile) -> str:
    """A plain-text summary: pairs per outcome, then the profile's quantiles."""
    lines = [f"{'outcome':<32}{'pairs':>10}"]
    lines += [f"{reason:<32}{count:>10}" for reason, count in decision.counts().items()]
    lines.append("")
    for name, summary in profile.summary().items():
        lines.append(f"{name:<14}" + "  ".join(f"{key}={value:.4g}" for key, value in summary.items()))
    return "\n".join(lines)
