"""Queries as the unit of selection: each query's rows together, taken in an order until a count
is reached, spread over clusters of the query embeddings. Shared by the quota, pre-label selection and
``client.data.sampling``'s random whole queries."""

from __future__ import annotations

from collections import defaultdict

import faiss
import numpy as np

from .queries import Embed


def query_clusters(
    queries: list[str], count: int, embed: Embed | None, rng: np.random.Generator
) -> np.ndarray:
    """A spherical k-means cluster of each query's embedding, ``count`` clusters (all 0 below 2).

    Example::

        clusters = query_clusters(["drill", "cordless drill", "paint"], 2, embed, np.random.default_rng(0))
    """
    count = min(count, len(queries))
    if count < 2:
        return np.zeros(len(queries), dtype=np.int64)
    if embed is None:
        raise ValueError("spreading over query clusters needs a query embedder")
    vectors = np.ascontiguousarray(embed(queries), np.float32)
    kmeans = faiss.Kmeans(vectors.shape[1], count, niter=20, seed=int(rng.integers(2**31)), spherical=True)
    kmeans.train(vectors)
    return kmeans.index.search(vectors, 1)[1][:, 0]


def query_groups(queries: np.ndarray) -> list[np.ndarray]:
    """Positions of each distinct query's rows, queries in order of first appearance."""
    positions: dict[str, list[int]] = defaultdict(list)
    for position, query in enumerate(queries.tolist()):
        positions[query].append(position)
    return [np.asarray(group, dtype=np.int64) for group in positions.values()]


def take_in_order(groups: list[np.ndarray], count: int) -> np.ndarray:
    """The rows of ``groups`` in turn until ``count`` are taken, the last group cut to fit."""
    taken: list[np.ndarray] = []
    left = count
    for group in groups:
        if left <= 0:
            break
        taken.append(group[:left])
        left -= len(taken[-1])
    return np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)


def interleaved(order: list[int], clusters: np.ndarray, cluster_order: list[int] | None = None) -> list[int]:
    """``order`` (queries) rearranged so consecutive ones come from different ``clusters``, each
    cluster's own queries kept in ``order``; a turn visits the clusters in ``cluster_order``
    (default: the order of their first query).

    Example::

        interleaved([0, 1, 2, 3], np.array([0, 0, 1, 1]))  # [0, 2, 1, 3]
    """
    queues: dict[int, list[int]] = defaultdict(list)
    for cluster in cluster_order or []:
        queues[int(cluster)] = []
    for query in order:
        queues[int(clusters[query])].append(query)
    turns: list[int] = []
    for turn in range(max((len(queue) for queue in queues.values()), default=0)):
        turns += [queue[turn] for queue in queues.values() if turn < len(queue)]
    return turns
