"""Ranking quality against gold grades: NDCG@10, MRR and Spearman, per query then averaged.

Conventions (as ``../shared/data/README.md`` defines the metric): linear gain
``grade - min_grade``; only the judged candidates of a query are ranked; only queries with at
least two distinct grades count. MRR is the reciprocal rank of the first candidate holding the
query's best grade. Spearman is over all judged pairs at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def ndcg_at_k(gains: np.ndarray, scores: np.ndarray, k: int = 10) -> float:
    """NDCG@k of one query's candidates ranked by ``scores`` (ties broken by input order).

    Example::

        >>> round(ndcg_at_k(np.array([2.0, 0.0, 1.0]), np.array([0.9, 0.8, 0.1])), 3)
        0.94
    """
    discounts = 1.0 / np.log2(np.arange(2, min(k, len(gains)) + 2))
    ranked = gains[np.argsort(-scores, kind="stable")][:k]
    ideal = np.sort(gains)[::-1][:k]
    best = float(ideal @ discounts[: len(ideal)])
    return float(ranked @ discounts[: len(ranked)]) / best if best > 0 else 0.0


def ranking_metrics(
    queries: Sequence[str], gold: Sequence[float], scores: Sequence[float], k: int = 10
) -> dict[str, float]:
    """``ndcg@k``, ``mrr``, ``spearman`` and ``queries`` (how many counted) for model
    ``scores`` of judged (query, document) pairs with ``gold`` grades.

    Example::

        ranking_metrics(["drill", "drill"], [3.0, 1.0], [0.8, 0.2])["ndcg@10"]  # 1.0
    """
    from scipy.stats import spearmanr

    gold = np.asarray(gold, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    if not (len(queries) == len(gold) == len(scores)):
        raise ValueError("queries, gold grades and scores must have the same length")
    if not len(gold):
        raise ValueError("nothing to evaluate: no judged pairs")
    minimum = gold.min()
    rows: dict[str, list[int]] = defaultdict(list)
    for row, query in enumerate(queries):
        rows[query].append(row)
    ndcgs, reciprocal_ranks = [], []
    for members in rows.values():
        grades = gold[members]
        if len(np.unique(grades)) < 2:
            continue
        predicted = scores[members]
        ndcgs.append(ndcg_at_k(grades - minimum, predicted, k))
        order = np.argsort(-predicted, kind="stable")
        first_best = int(np.flatnonzero(grades[order] == grades.max())[0])
        reciprocal_ranks.append(1.0 / (first_best + 1))
    correlation = spearmanr(gold, scores).statistic if len(np.unique(scores)) > 1 else 0.0
    return {
        f"ndcg@{k}": float(np.mean(ndcgs)) if ndcgs else float("nan"),
        "mrr": float(np.mean(reciprocal_ranks)) if reciprocal_ranks else float("nan"),
        "spearman": float(correlation),
        "queries": len(ndcgs),
        "pairs": len(gold),
    }
