"""``CoverageFold``: training queries folded in batches through an index of the targets give each
target the best match a flat index of every training query gives, in any order, retried or merged."""

from __future__ import annotations

import numpy as np
import pytest

from protege.client.retrieval.coverage import CoverageIndex
from protege.client.retrieval.coverage_fold import CoverageFold


def unit(rng: np.random.Generator, count: int, centres: np.ndarray) -> np.ndarray:
    vectors = centres[rng.integers(len(centres), size=count)] + 0.06 * rng.standard_normal((count, 16))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


# a flat index of the targets, then IVF (√400 lists, then more)
@pytest.mark.parametrize(("flat_limit", "lists"), [(10_000, None), (100, None), (100, 80)])
def test_the_fold_equals_the_flat_index_of_every_training_query(flat_limit: int, lists: int | None) -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((30, 16))
    targets, training = unit(rng, 400, centres), unit(rng, 3000, centres)
    flat = CoverageIndex(embed=lambda texts: np.empty(0))
    flat.add_vectors(training, [str(i) for i in range(len(training))])
    exact, rows = flat.nearest(targets)
    fold = CoverageFold(targets, floor=0.5, flat_limit=flat_limit, nprobe=64, lists=lists)
    ivf_lists = None if flat_limit > len(targets) else lists or 20  # √400 by default
    assert getattr(fold.index, "nlist", None) == ivf_lists
    order = rng.permutation(len(training))
    for batch in np.array_split(order, 7):  # batches in a random order
        fold.fold(training[batch], batch)
    fold.fold(training[order[:500]], order[:500])  # a retried batch changes nothing
    kept = exact >= 0.5
    assert kept.mean() > 0.5
    recall = (fold.match[kept] == rows[kept]).mean()
    assert recall == 1.0 if flat_limit > 400 else recall >= 0.95
    if flat_limit > 400:
        np.testing.assert_allclose(fold.best[kept], exact[kept], atol=1e-5)
        assert fold.coverage(0.8) == pytest.approx(flat.coverage(targets, 0.8))
    halves = [
        CoverageFold(targets, floor=0.5, flat_limit=flat_limit, nprobe=64, lists=lists) for _ in range(2)
    ]
    for half, part in zip(halves, np.array_split(np.arange(len(training)), 2), strict=True):
        half.fold(training[part], part)
    halves[0].merge(halves[1])  # two workers' folds, merged
    np.testing.assert_array_equal(halves[0].match, fold.match)
    with pytest.raises(ValueError, match=r"the floor is 0\.5"):
        fold.coverage(0.4)
    far = CoverageFold(targets, floor=0.99)
    far.fold(-targets[:5], np.arange(5))  # nothing within the floor: nothing kept
    assert far.coverage(0.99) == 0.0 and (far.match == -1).all()
