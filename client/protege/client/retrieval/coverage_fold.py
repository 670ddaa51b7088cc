"""Coverage of a target query set by training queries that are never held at once.

``CoverageIndex`` holds every training query (an index of them all, their texts in a list). At
100M training queries that is ~154 GB of vectors. ``CoverageFold`` indexes the *targets* instead
and folds each batch of training vectors through that index into a running best match per target:
a range search at ``floor`` finds, for every training vector, the targets within that cosine, and
each target keeps its highest cosine and the id of the training query that gave it. The state is
two arrays the size of the targets (a few MB at 100k); a batch folded twice, or batches in any
order, or folds on several workers merged, give the same state — so a fold is order-free and safe
to retry, and a Ray task can fold its share of the embeddings and return its state.

Exact over a flat index of the targets up to ``FLAT_TARGETS`` of them, IVF beyond
(``bench/coverage.py`` measures its recall and time against the flat search).
"""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from .coverage import DEFAULT_TAU, approximate_index

# The lowest cosine a best match is kept from: coverage@τ is exact for every τ at or above it.
DEFAULT_FLOOR = 0.5
# Targets searched exactly: a flat index of more costs every training vector a pass over them all,
# as much as the flat index of every training query the fold replaces.
FLAT_TARGETS = 20_000


class CoverageFold:
    """The best training match of every target query, folded from batches of training vectors.

    Args:
        targets: unit embeddings of the target queries (n, d).
        floor: matches below this cosine are not kept; ``coverage(tau)`` needs ``tau >= floor``.
        flat_limit: targets searched exactly (a flat index) up to this many, else through IVF.
        nprobe: IVF lists a training vector searches, above ``flat_limit``.
        lists: IVF lists of the targets (default ``√n``): more lists, fewer targets a search scans.

    Example::

        fold = CoverageFold(embed(targets))
        for batch, ids in training_batches:  # any order, any number of times
            fold.fold(embed(batch), ids)
        fold.coverage(0.8)  # share of targets with a training query at cosine >= 0.8
    """

    def __init__(
        self,
        targets: np.ndarray,
        floor: float = DEFAULT_FLOOR,
        flat_limit: int = FLAT_TARGETS,
        nprobe: int = 16,
        lists: int | None = None,
    ) -> None:
        targets = np.ascontiguousarray(targets, dtype=np.float32)
        if not len(targets):
            raise ValueError("no target queries to measure coverage on")
        self.floor = floor
        if len(targets) <= flat_limit:
            self.index: faiss.Index = faiss.IndexFlatIP(targets.shape[1])
            self.index.add(targets)
        else:
            self.index = approximate_index(targets, nprobe=nprobe, lists=lists)
        self.best = np.full(len(targets), -np.inf, dtype=np.float32)
        self.match = np.full(len(targets), -1, dtype=np.int64)

    def fold(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Folds training ``vectors`` (unit, (m, d)) with their ``ids`` (m non-negative ints, e.g.
        row numbers of the training set) into the best match of every target."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        if len(vectors) != len(ids):
            raise ValueError(f"{len(vectors)} vectors and {len(ids)} ids")
        if not len(vectors):
            return
        limits, similarity, target = self.index.range_search(vectors, self.floor)
        source = ids[np.repeat(np.arange(len(vectors)), np.diff(limits.astype(np.int64)))]
        self._keep_best(target, similarity, source)

    def merge(self, other: CoverageFold) -> None:
        """Takes in the state of a fold of other training vectors over the same targets."""
        if len(other.best) != len(self.best) or other.floor != self.floor:
            raise ValueError(
                f"a fold over {len(other.best)} targets from {other.floor:g}, not {len(self.best)}"
            )
        held = np.flatnonzero(other.match >= 0)
        self._keep_best(held, other.best[held], other.match[held])

    def _keep_best(self, target: np.ndarray, similarity: np.ndarray, source: np.ndarray) -> None:
        """Each target's highest similarity, ties to the lowest id: the same whatever the order."""
        if not len(target):
            return
        target = np.concatenate([target, np.flatnonzero(self.match >= 0)])
        similarity = np.concatenate([similarity, self.best[self.match >= 0]])
        source = np.concatenate([source, self.match[self.match >= 0]])
        order = np.lexsort((source, -similarity, target))
        first = order[np.r_[True, target[order][1:] != target[order][:-1]]]
        self.best[target[first]] = similarity[first]
        self.match[target[first]] = source[first]

    def coverage(self, tau: float = DEFAULT_TAU) -> float:
        """Share of targets with a training query folded in at cosine ≥ ``tau``."""
        if tau < self.floor:
            raise ValueError(f"coverage@{tau:g} needs matches from {tau:g}; the floor is {self.floor:g}")
        return float((self.best >= tau).mean())

    def save(self, path: str | Path) -> None:
        """The state (best cosine and match per target) as ``.npz``; the index comes from the targets."""
        np.savez(path, best=self.best, match=self.match, floor=self.floor)

    def load_state(self, path: str | Path) -> None:
        """A state ``save`` wrote, over these same targets."""
        state = np.load(path)
        if len(state["best"]) != len(self.best) or float(state["floor"]) != self.floor:
            raise ValueError(f"{path}: a fold of other targets or another floor")
        self.best, self.match = state["best"], state["match"]


__all__ = ["DEFAULT_FLOOR", "FLAT_TARGETS", "CoverageFold"]
