"""What doing nothing scores: the baselines every quality table stands beside, on the same pairs.

- ``mean_grade``: one score for every pair, which the grade map turns into the validation pairs'
  mean grade (the pointwise floor; it orders nothing, so it has no ranking figures);
- ``random``: a random order (the ranking floor: with few judged candidates per query it is high);
- ``zero_shot``: the cosine of the packaged all-MiniLM-L6-v2 embeddings with no training at all,
  the free model any trained one must beat.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from protege.client.retrieval.embedder import embed, load_embedder

BASELINES = ("mean_grade", "random", "zero_shot")
UNRANKED = ("mean_grade",)  # one score for every pair: it has no ranking figures


def zero_shot_scores(
    queries: Sequence[str], documents: Sequence[str], embedder=None, progress: bool = False
) -> np.ndarray:
    """Cosine similarity of each pair's embeddings (default embedder: the packaged MiniLM); each
    distinct text is embedded once.

    Example::

        zero_shot_scores(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"])  # array([0.71])
    """
    embedder = embedder if embedder is not None else load_embedder()
    texts = sorted(set(queries) | set(documents))
    row = {text: number for number, text in enumerate(texts)}
    vectors = embed(embedder, texts, progress=progress)
    first = vectors[[row[query] for query in queries]]
    second = vectors[[row[document] for document in documents]]
    return np.einsum("ij,ij->i", first, second).astype(np.float64)


def baseline_scores(
    queries: Sequence[str], documents: Sequence[str], embedder=None, seed: int = 0, progress: bool = False
) -> dict[str, np.ndarray]:
    """Each baseline's scores of the pairs, by name (``BASELINES``)."""
    return {
        "mean_grade": np.zeros(len(queries)),
        "random": np.random.default_rng(seed).random(len(queries)),
        "zero_shot": zero_shot_scores(queries, documents, embedder, progress),
    }
