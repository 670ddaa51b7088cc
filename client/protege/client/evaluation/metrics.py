"""The yardstick of ``../shared/data/README.md``: how well scores predict gold grades, and rank.

Pointwise: **RMSE** of the grade predicted from a score by a monotone map (isotonic regression,
``GradeMap``) fitted on validation pairs only, and **Spearman** between score and grade, over all
judged pairs. Ranking: **NDCG@10** (linear gain ``grade - min_grade``) and **MRR** (reciprocal
rank of the first candidate holding the query's best grade) over each query's judged candidates,
averaged over the queries with at least two distinct grades. Differences between two models are
paired, per query, with a 95% bootstrap interval over queries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.isotonic import IsotonicRegression

BOOTSTRAP_DRAWS = 2000


@dataclass
class Evaluation:
    """Gold-judged pairs a model is measured on (validation or test), in one order.

    Args:
        queries: each pair's query.
        documents: each pair's document.
        gold: each pair's human grade.

    Example::

        judged = Evaluation(["drill", "drill"], ["Cordless drill", "Paint roller"], [3.0, 1.0])
        scores = model.predict(list(zip(judged.queries, judged.documents)))
        yardstick(judged.queries, judged.gold, scores, grade_map)
    """

    queries: list[str]
    documents: list[str]
    gold: list[float]


class GradeMap:
    """Score → grade, the monotone (isotonic) map fitted on validation pairs: what turns any model's
    scores, whatever their scale, into grades that RMSE can judge.

    Args:
        scores: a model's scores of the validation pairs.
        grades: their human grades.

    Example::

        grade_map = GradeMap(validation_scores, validation_grades)
        grade_map(test_scores)  # predicted grades, within the validation grades' range
    """

    def __init__(self, scores: Sequence[float], grades: Sequence[float]) -> None:
        if not len(scores) or len(scores) != len(grades):
            raise ValueError("a grade map needs validation scores and as many grades")
        self.isotonic = IsotonicRegression(out_of_bounds="clip").fit(
            np.asarray(scores, dtype=np.float64), np.asarray(grades, dtype=np.float64)
        )

    def __call__(self, scores: Sequence[float]) -> np.ndarray:
        return self.isotonic.predict(np.asarray(scores, dtype=np.float64))


def yardstick(
    queries: Sequence[str], grades: Sequence[float], scores: Sequence[float], grade_map: GradeMap, k: int = 10
) -> dict[str, float]:
    """``rmse`` (of ``grade_map(scores)``) with ``ranking_metrics`` (``ndcg@k``, ``mrr``,
    ``spearman``, ``queries``, ``pairs``) of a model's ``scores`` of judged pairs.

    Example::

        grade_map = GradeMap(model(validation), validation.grades)
        yardstick(test.queries, test.grades, model(test), grade_map)["rmse"]
    """
    errors = grade_map(scores) - np.asarray(grades, dtype=np.float64)
    return {"rmse": float(np.sqrt(np.mean(errors**2))), **ranking_metrics(queries, grades, scores, k)}


def format_table(results: dict[str, dict], against: str = "zero_shot", k: int = 10) -> str:
    """A scoreboard's results (``Board.against``) as a table: RMSE, Spearman, NDCG@10 and MRR,
    then each model's paired differences from ``against`` with their 95% intervals."""

    def figure(value: float | None, width: int, digits: int) -> str:
        return f"{'–':>{width}}" if value is None else f"{value:{width}.{digits}f}"

    def interval(name: str, paired: dict | None) -> str:
        if paired is None:
            return ""
        low, high = paired["interval95"]
        return f"{name} {paired['difference']:+.4f} [{low:+.4f}, {high:+.4f}]"

    lines = [f"{'model':<24} {'RMSE':>7} {'Spearman':>9} {f'NDCG@{k}':>8} {'MRR':>6}"]
    for name, values in results.items():
        lines.append(
            f"{name:<24} {figure(values['rmse'], 7, 4)} {figure(values['spearman'], 9, 3)} "
            f"{figure(values[f'ndcg@{k}'], 8, 4)} {figure(values['mrr'], 6, 3)}"
        )
    paired = [(name, values) for name, values in results.items() if "rmse_vs" in values]
    if paired:
        lines.append(f"\npaired against {against} on the test queries (95% bootstrap interval)")
    for name, values in paired:
        ranking = interval(f"NDCG@{k}", values.get("ndcg_vs"))
        lines.append(f"{name:<24} {interval('RMSE', values['rmse_vs'])}   {ranking}")
    return "\n".join(lines)


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
    first: dict[str, float], second: dict[str, float], draws: int = BOOTSTRAP_DRAWS, seed: int = 0
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


def paired_rmse_difference(
    queries: Sequence[str],
    grades: Sequence[float],
    first: Sequence[float] | np.ndarray,
    second: Sequence[float] | np.ndarray,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = 0,
) -> dict[str, float | list[float]]:
    """RMSE of the ``first`` predicted grades minus that of the ``second``, over the same judged
    pairs, with a 95% interval from a bootstrap over queries (a query's pairs move together).
    Either may be a (runs × pairs) array, one row per seed: its RMSE is then the mean of the runs'.

    Example::

        paired_rmse_difference(test.queries, test.gold, student_grades, zero_shot_grades)
        # {'difference': -0.021, 'interval95': [-0.026, -0.016], 'queries': 2380}
    """
    grades = np.asarray(grades, dtype=np.float64)
    names, group = np.unique(np.asarray(queries, dtype=object), return_inverse=True)
    counts = np.bincount(group, minlength=len(names))

    def per_query(predicted) -> np.ndarray:  # squared errors summed by query, one row per run
        runs = np.atleast_2d(np.asarray(predicted, dtype=np.float64))
        return np.stack([np.bincount(group, (run - grades) ** 2, len(names)) for run in runs])

    def rmse(squared: np.ndarray, drawn: np.ndarray) -> np.ndarray:
        return np.sqrt(squared[:, drawn].sum(axis=-1) / counts[drawn].sum(axis=-1)).mean(axis=0)

    squared = per_query(first), per_query(second)
    drawn = np.random.default_rng(seed).integers(0, len(names), (draws, len(names)))
    low, high = np.percentile(rmse(squared[0], drawn) - rmse(squared[1], drawn), [2.5, 97.5])
    everything = np.arange(len(names))
    overall = float(rmse(squared[0], everything) - rmse(squared[1], everything))
    return {"difference": overall, "interval95": [float(low), float(high)], "queries": len(names)}


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
