"""Refinement acceptance (Selective Reflection-Tuning): a refined query replaces its original
only when it is more informative to the student and still feasible."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .base import Candidates, no_reasons
from .profile import Profile


@dataclass
class RefinementAcceptance:
    """For each refinement still alive (it passed the feasibility filters before this one)
    whose original (``origin_query`` with the same document) is among the candidates: keep it
    only if its ``ifd`` is higher than the original's ("refinement not more informative"
    otherwise); an original with an accepted refinement is dropped ("replaced by refinement").
    Refinements without an original to compare with are left alone."""

    def __call__(self, candidates: Candidates, alive: np.ndarray, profile: Profile) -> np.ndarray:
        reasons = no_reasons(len(candidates))
        if "origin_query" not in candidates:
            return reasons
        queries, origins = candidates["query"].tolist(), candidates["origin_query"].tolist()
        documents = (candidates["doc_id"] if "doc_id" in candidates else candidates["document"]).tolist()
        ifd = candidates["ifd"]
        original_row = {pair: row for row, pair in enumerate(zip(queries, documents, strict=True))}
        replaced = set()
        for row in np.flatnonzero(alive):
            original = original_row.get((origins[row], documents[row])) if origins[row] else None
            if original is None or original == row:
                continue
            if ifd[row] > ifd[original]:
                replaced.add(original)
            else:
                reasons[row] = "refinement not more informative"
        for row in replaced:
            if alive[row] and reasons[row] == "":
                reasons[row] = "replaced by refinement"
        return reasons
