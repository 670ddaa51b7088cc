"""How much of the target query distribution the training queries cover (FAISS).

``coverage@τ`` is the share of target queries with a training query at cosine ≥ τ. Clusters
(faiss k-means over the targets) show *where* coverage is missing, with example queries; the
distill loop steers augmentation toward seeds near the largest uncovered clusters.

The index is exact (flat) up to ``FLAT_LIMIT`` training queries; beyond, it becomes an IVF
index trained on what it holds (``bench/coverage.py`` measures its neighbour recall and time).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

Embed = Callable[[Sequence[str]], np.ndarray]

FLAT_LIMIT = 200_000
DEFAULT_TAU = 0.8
QUERIES = "queries.json"  # a saved index's queries


def approximate_index(
    vectors: np.ndarray, nprobe: int = 16, seed: int = 0, lists: int | None = None
) -> faiss.Index:
    """An inner-product IVF index over ``vectors`` (``lists`` lists, default ``√n``, k-means on 64
    vectors per list), searching ``nprobe`` lists; recall and time measured in ``bench/coverage.py``."""
    count, dim = vectors.shape
    lists = max(1, min(count, lists or int(np.sqrt(count))))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    sample = vectors
    if count > 64 * lists:
        sample = vectors[np.random.default_rng(seed).choice(count, 64 * lists, replace=False)]
    index.cp.seed = seed
    index.train(np.ascontiguousarray(sample))
    index.add(np.ascontiguousarray(vectors))
    index.nprobe = min(nprobe, lists)
    return index


@dataclass
class Cluster:
    number: int
    size: int
    covered: float  # share of its target queries with a training query at cosine ≥ τ
    examples: list[str]  # uncovered ones first

    @property
    def uncovered(self) -> float:
        return self.size * (1.0 - self.covered)


@dataclass
class ClusterReport:
    clusters: list[Cluster]  # the largest uncovered mass first
    centroids: np.ndarray
    coverage: float


class CoverageIndex:
    """Training queries in a FAISS inner-product index over unit embeddings; grows by ``add``.

    Args:
        embed: texts to unit-length vectors (``partial(embed, load_embedder())``).
        flat_limit: queries held in an exact index before it becomes an IVF one.

    Example::

        index = CoverageIndex(embed)
        index.add(training_queries)
        index.coverage(target_queries, tau=0.8)  # share of targets with a close training query
        index.save("coverage/")
    """

    def __init__(self, embed: Embed, flat_limit: int = FLAT_LIMIT) -> None:
        self.embed = embed
        self.flat_limit = flat_limit
        self.queries: list[str] = []
        self._seen: set[str] = set()
        self.index: faiss.Index | None = None

    def __len__(self) -> int:
        return len(self.queries)

    def add(self, queries: Sequence[str]) -> int:
        """Adds the queries not in the index yet; returns how many were new."""
        fresh = [query for query in dict.fromkeys(queries) if query not in self._seen]
        if not fresh:
            return 0
        self.add_vectors(self.embed(fresh), fresh)
        return len(fresh)

    def add_vectors(self, vectors: np.ndarray, queries: Sequence[str]) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.index is None:
            self.index = faiss.IndexFlatIP(vectors.shape[1])
        self.index.add(vectors)
        self.queries += list(queries)
        self._seen.update(queries)
        if isinstance(self.index, faiss.IndexFlat) and self.index.ntotal > self.flat_limit:
            self.index = approximate_index(self.index.reconstruct_n(0, self.index.ntotal))

    def nearest(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(cosine, training row) of the nearest training query per target vector."""
        if self.index is None or not len(self):
            return np.full(len(vectors), -1.0, dtype=np.float32), np.full(len(vectors), -1)
        similarity, rows = self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
        return similarity[:, 0], rows[:, 0]

    def coverage(self, targets: Sequence[str] | np.ndarray, tau: float = DEFAULT_TAU) -> float:
        vectors = targets if isinstance(targets, np.ndarray) else self.embed(list(targets))
        if not len(vectors):
            raise ValueError("no target queries to measure coverage on")
        return float((self.nearest(vectors)[0] >= tau).mean())

    def clusters(
        self,
        targets: Sequence[str],
        tau: float = DEFAULT_TAU,
        k: int = 20,
        examples: int = 3,
        seed: int = 0,
        vectors: np.ndarray | None = None,
    ) -> ClusterReport:
        """Target clusters (faiss spherical k-means), the largest uncovered mass first;
        ``vectors`` are the targets' embeddings when the caller already has them."""
        targets = list(targets)
        vectors = self.embed(targets) if vectors is None else vectors
        return target_clusters(targets, vectors, self.nearest(vectors)[0], tau, k, examples, seed)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.index is not None:
            faiss.write_index(self.index, str(folder / "coverage.faiss"))
        (folder / QUERIES).write_text(json.dumps(self.queries))

    @classmethod
    def load(cls, folder: str | Path, embed: Embed, flat_limit: int = FLAT_LIMIT) -> CoverageIndex:
        folder = Path(folder)
        index = cls(embed, flat_limit)
        index.queries = json.loads((folder / QUERIES).read_text())
        index._seen = set(index.queries)
        if (folder / "coverage.faiss").exists():
            index.index = faiss.read_index(str(folder / "coverage.faiss"))
            if index.index.ntotal != len(index.queries):
                raise ValueError(f"{folder}: {index.index.ntotal} vectors for {len(index.queries)} queries")
        return index


def target_clusters(
    targets: Sequence[str],
    vectors: np.ndarray,
    best: np.ndarray,
    tau: float = DEFAULT_TAU,
    k: int = 20,
    examples: int = 3,
    seed: int = 0,
) -> ClusterReport:
    """The targets' k-means clusters (faiss, spherical), the largest uncovered mass first, from
    each target's ``best`` cosine to a training query (an index's nearest, or a fold's best)."""
    k = max(1, min(k, len(targets) // 39))  # faiss wants ≥ 39 points per centroid
    kmeans = faiss.Kmeans(vectors.shape[1], k, niter=20, seed=seed, spherical=True, verbose=False)
    kmeans.train(vectors)
    assignment = kmeans.index.search(vectors, 1)[1][:, 0]
    covered = best >= tau
    found = []
    for number in range(k):
        members = np.flatnonzero(assignment == number)
        if not len(members):
            continue
        uncovered = members[~covered[members]]
        shown = uncovered if len(uncovered) else members
        found.append(
            Cluster(
                number, len(members), float(covered[members].mean()), [targets[r] for r in shown[:examples]]
            )
        )
    found.sort(key=lambda cluster: -cluster.uncovered)
    return ClusterReport(found, kmeans.centroids.copy(), float(covered.mean()))


def steering_weights(seed_vectors: np.ndarray, report: ClusterReport, floor: float = 0.1) -> np.ndarray:
    """Augmentation share per seed: the uncovered target mass of the cluster nearest to it,
    plus ``floor`` of the largest such mass so every seed keeps a chance; sums to 1."""
    uncovered = np.zeros(len(report.centroids))
    for cluster in report.clusters:
        uncovered[cluster.number] = cluster.uncovered
    nearest = (np.asarray(seed_vectors, dtype=np.float32) @ report.centroids.T).argmax(axis=1)
    weight = uncovered[nearest] + floor * max(float(uncovered.max()), 1.0)
    return weight / weight.sum()


def coverage_report(
    targets: Sequence[str], vectors: np.ndarray, best: np.ndarray, taus: Sequence[float], clusters: int
) -> dict:
    """coverage@τ of ``targets`` for each of ``taus`` from each target's ``best`` cosine to a
    training query, and the ``clusters`` k-means clusters of the targets least covered at the
    first τ (five shown, with example queries)."""
    report = target_clusters(targets, vectors, best, taus[0], clusters)
    return {
        "targets": len(targets),
        **{f"coverage@{tau:g}": round(float((best >= tau).mean()), 4) for tau in taus},
        "least_covered_clusters": [
            {"size": c.size, "covered": round(c.covered, 3), "examples": c.examples}
            for c in report.clusters[:5]
        ],
    }
