"""Filters on the student's likelihood of the teacher's label."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Candidates, no_reasons
from .profile import Profile


@dataclass
class FrontierBand:
    """Keeps pairs whose ``nll`` lies between the profile's ``low`` and ``high`` quantiles:
    below, the student already knows the label ("known"); above, it cannot reach it yet
    ("beyond frontier"). A bound of 0 or 1 cuts nothing on its side."""

    low: float = 0.1
    high: float = 0.9

    def __call__(self, candidates: Candidates, alive: np.ndarray, profile: Profile) -> np.ndarray:
        nll = candidates["nll"]
        reasons = no_reasons(len(candidates))
        if self.low > 0:
            reasons[nll < profile.quantile("nll", self.low)] = "known"
        if self.high < 1:
            reasons[nll > profile.quantile("nll", self.high)] = "beyond frontier"
        return reasons


@dataclass
class IfdCeiling:
    """Rejects pairs whose query makes the teacher's label less likely than no query at all:
    ``ifd > 1 + margin`` ("contradictory": a teacher error, or beyond the frontier)."""

    margin: float = 0.1

    def __call__(self, candidates: Candidates, alive: np.ndarray, profile: Profile) -> np.ndarray:
        reasons = no_reasons(len(candidates))
        reasons[candidates["ifd"] > 1.0 + self.margin] = "contradictory"
        return reasons
