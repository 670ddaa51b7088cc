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
    ndcgs, reciprocal_ranks = [], []
    for members in ranked_queries(queries, gold).values():
        grades = gold[members]
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


def query_ndcgs(
    queries: Sequence[str], gold: Sequence[float], scores: Sequence[float], k: int = 10
) -> dict[str, float]:
    """NDCG@k of each query that counts (as in ``ranking_metrics``), by query: what a paired
    comparison of two models on the same queries needs.

    Example::

        query_ndcgs(["drill", "drill", "saw"], [3.0, 1.0, 2.0], [0.8, 0.2, 0.5])  # {'drill': 1.0}
    """
    gold = np.asarray(gold, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    minimum = gold.min()
    return {
        query: ndcg_at_k(gold[members] - minimum, scores[members], k)
        for query, members in ranked_queries(queries, gold).items()
    }


def paired_difference(
    first: dict[str, float], second: dict[str, float], draws: int = 2000, seed: int = 0
) -> dict[str, float | list[float]]:
    """Mean per-query difference ``first - second`` over the queries both score, with a 95%
    interval from a bootstrap over those queries (how much the figure moves with the choice of
    test queries, which seeds alone do not show).

    Example::

        paired_difference({"a": 0.9, "b": 0.7}, {"a": 0.8, "b": 0.6})  # difference 0.1, interval [0.1, 0.1]
    """
    common = sorted(first.keys() & second.keys())
    if not common:
        raise ValueError("the two models share no scored query")
    differences = np.array([first[query] - second[query] for query in common])
    rng = np.random.default_rng(seed)
    means = differences[rng.integers(0, len(differences), (draws, len(differences)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {
        "difference": float(differences.mean()),
        "interval95": [float(low), float(high)],
        "queries": len(common),
    }


def require_ranked(queries: Sequence[str], gold: Sequence[float], where: str, what: str = "query") -> int:
    """How many queries a ranking metric counts (``ranked_queries``); a ``ValueError`` naming
    ``where`` when there are none, before any model is run on them."""
    count = len(ranked_queries(queries, gold))
    if not count:
        raise ValueError(
            f"{where}: no {what} has judged documents of two different grades, so no ranking can be scored "
            "(is each query judged on one document, or are all grades equal?)"
        )
    return count


def ranked_queries(queries: Sequence[str], gold: Sequence[float]) -> dict[str, list[int]]:
    """Rows of each query that a ranking metric counts: those with judged candidates of at
    least two distinct grades.

    Example::

        ranked_queries(["drill", "drill", "saw"], [3.0, 1.0, 2.0])  # {'drill': [0, 1]}
    """
    gold = np.asarray(gold, dtype=np.float64)
    rows: dict[str, list[int]] = defaultdict(list)
    for row, query in enumerate(queries):
        rows[query].append(row)
    return {query: members for query, members in rows.items() if len(np.unique(gold[members])) > 1}
