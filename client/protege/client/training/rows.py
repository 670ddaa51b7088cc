"""The rows each loss trains on, made from (query, document, teacher score) triples, and how
many pairs a row holds.

Example::

    dataset = training_dataset(queries, documents, scores, "group-margin-mse", seed=0)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from datasets import Dataset

from protege.client.training.config import LOSSES
from protege.common.scores import logit

# group-margin-mse: a query's documents in rows of at most this many (every pair of a row is learned from).
GROUP_SIZE = 8


def learnable(queries: Sequence[str], targets: Sequence[float], loss: str) -> bool:
    """Whether ``loss`` has a row to learn from: any pair for ``bce`` and ``mse``; for the margin
    losses, a query with two differently scored documents."""
    if loss not in ("margin-mse", "group-margin-mse"):
        return len(queries) > 0
    scores: dict[str, set[float]] = defaultdict(set)
    for query, target in zip(queries, targets, strict=True):
        scores[query].add(float(target))
    return any(len(values) > 1 for values in scores.values())


def training_dataset(
    queries: Sequence[str], documents: Sequence[str], targets: Sequence[float], loss: str, seed: int
):
    """The rows a loss trains on: (query, document, label) for ``bce`` and ``mse``; for
    ``margin-mse``, (query, document, other document of the same query) with the two teacher
    scores as logits, one row per document whose query has another, differently scored one; for
    ``group-margin-mse``, (query, up to ``GROUP_SIZE`` of its documents) with their logits."""
    if loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}: choose from {', '.join(LOSSES)}")
    if loss in ("bce", "mse"):
        return Dataset.from_dict(
            {"query": list(queries), "document": list(documents), "label": [float(t) for t in targets]}
        )
    rng = np.random.default_rng(seed)
    by_query: dict[str, list[int]] = defaultdict(list)
    for row, query in enumerate(queries):
        by_query[query].append(row)
    logits = logit(targets)
    if loss == "group-margin-mse":
        return _groups(by_query, documents, targets, logits, rng)
    rows: dict[str, list] = {"query": [], "first": [], "second": [], "label": []}
    for query, members in by_query.items():
        for row in members:
            others = [other for other in members if targets[other] != targets[row]]
            if not others:
                continue
            other = others[int(rng.integers(len(others)))]
            rows["query"].append(query)
            rows["first"].append(documents[row])
            rows["second"].append(documents[other])
            rows["label"].append([float(logits[row]), float(logits[other])])
    if not rows["query"]:
        raise ValueError(
            "margin-mse needs queries with two or more differently scored documents; there are none"
        )
    return Dataset.from_dict(rows)


def _groups(
    by_query: dict[str, list[int]],
    documents: Sequence[str],
    targets: Sequence[float],
    logits: np.ndarray,
    rng: np.random.Generator,
) -> Dataset:
    """Each query's documents, shuffled and cut into rows of at most ``GROUP_SIZE`` (at least two
    each), where its teacher scores differ at all."""
    rows: dict[str, list] = {"query": [], "docs": [], "label": []}
    for query, members in by_query.items():
        if len({float(targets[row]) for row in members}) < 2:
            continue
        order = rng.permutation(members)
        for group in np.array_split(order, -(-len(order) // GROUP_SIZE)):
            rows["query"].append(query)
            rows["docs"].append([documents[row] for row in group])
            rows["label"].append([float(logits[row]) for row in group])
    if not rows["query"]:
        raise ValueError(
            "group-margin-mse needs queries with two or more differently scored documents; there are none"
        )
    return Dataset.from_dict(rows)


def pairs_per_epoch(dataset: Dataset) -> int:
    """The (query, document) pairs an epoch over ``dataset`` passes through the model."""
    if "docs" in dataset.column_names:
        return sum(len(documents) for documents in dataset["docs"])
    return len(dataset) * (len(dataset.column_names) - 2)  # query, label, and one column a document


def rows_per_batch(dataset: Dataset, pairs: int) -> int:
    """Dataset rows per step that hold about ``pairs`` (query, document) pairs: grouped rows hold
    several."""
    if "docs" not in dataset.column_names:
        return pairs
    mean_group = float(np.mean([len(documents) for documents in dataset["docs"]]))
    return max(1, round(pairs / mean_group))
