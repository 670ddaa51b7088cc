"""Selection before labelling on constructed candidates whose right pick is known."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from protege.filters.prelabel import prelabel
from protege.filters.settings import PrelabelRule


def queries_of(count: int, per_query: int = 3) -> list[str]:
    return [f"q{i}" for i in range(count) for _ in range(per_query)]


def picked(queries: list[str], rows: np.ndarray) -> Counter:
    return Counter(queries[i] for i in rows)


def test_random_takes_whole_queries_within_the_budget_and_repeats_with_its_seed() -> None:
    queries = queries_of(10)
    rows = prelabel(queries, None, None, 9, PrelabelRule(seed=3))
    assert len(rows) == 9 and set(picked(queries, rows).values()) == {3}
    assert np.array_equal(rows, prelabel(queries, None, None, 9, PrelabelRule(seed=3)))
    assert not np.array_equal(rows, prelabel(queries, None, None, 9, PrelabelRule(seed=4)))


def test_uncertainty_labels_the_queries_the_student_is_least_sure_of_first() -> None:
    queries = queries_of(6)
    logits = np.repeat([6.0, -5.0, 0.1, 4.0, -0.2, 8.0], 3)  # q2 and q4 sit near 0.5
    rows = prelabel(queries, logits, None, 6, PrelabelRule("uncertainty"))
    assert set(picked(queries, rows)) == {"q2", "q4"}


def test_disagreement_labels_the_queries_where_student_and_embedding_order_products_apart() -> None:
    queries = queries_of(4)
    logits = np.tile([3.0, 2.0, 1.0], 4)
    cheap = np.tile([0.9, 0.5, 0.1], 4)
    cheap[6:9] = [0.1, 0.5, 0.9]  # q2: the embedding reverses the student's order
    rows = prelabel(queries, logits, cheap, 3, PrelabelRule("disagreement"))
    assert set(picked(queries, rows)) == {"q2"}


def test_clusters_spread_the_pick_over_the_inputs() -> None:
    """The four most uncertain queries all sit in one cluster; in turns, the pick takes both."""
    queries = queries_of(8, per_query=1)
    logits = np.array([0.0, 0.1, 0.2, 0.3, 5.0, 5.1, 5.2, 5.3])
    directions = {f"q{i}": [1.0, 0.0] if i < 4 else [0.0, 1.0] for i in range(8)}

    def embed(texts):
        return np.array([directions[text] for text in texts], dtype=np.float32)

    alone = prelabel(queries, logits, None, 2, PrelabelRule("uncertainty"))
    spread = prelabel(queries, logits, None, 2, PrelabelRule("uncertainty", prelabel_clusters=2), embed)
    assert set(picked(queries, alone)) == {"q0", "q1"}
    assert {queries[i] < "q4" for i in spread} == {True, False}


def test_rules_say_what_they_need() -> None:
    with pytest.raises(ValueError, match="unknown pre-label rule 'smart'"):
        PrelabelRule("smart")
    with pytest.raises(ValueError, match="disagreement pre-label rule needs the cheap scores"):
        prelabel(queries_of(2), np.zeros(6), None, 3, PrelabelRule("disagreement"))
    with pytest.raises(ValueError, match="uncertainty pre-label rule needs the student scores"):
        prelabel(queries_of(2), None, None, 3, PrelabelRule("uncertainty"))
    with pytest.raises(ValueError, match="needs a query embedder"):
        prelabel(queries_of(4), np.zeros(12), None, 3, PrelabelRule("uncertainty", prelabel_clusters=2))
