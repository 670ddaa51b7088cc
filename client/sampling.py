"""Label budgets spent by whole queries: a query's candidates are judged together, as a rater sees
them and as a margin loss needs them (it learns from differences between documents of one query;
pairs drawn one by one leave most queries with a single labelled document)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def whole_queries(queries: Sequence[str], size: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted row numbers of ``size`` pairs drawn query by query: queries in random order, every row
    of each, the last one cut to fit. All rows when ``size`` is None or not below their number.

    Example::

        rows = whole_queries(labels["query"].to_pylist(), 1000, np.random.default_rng(0))
        chosen = labels.take(rows)
    """
    if size is None or size >= len(queries):
        return np.arange(len(queries))
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, query in enumerate(queries):
        rows_of[query].append(row)
    groups = list(rows_of.values())
    chosen: list[int] = []
    for group in rng.permutation(len(groups)):
        chosen.extend(groups[group][: size - len(chosen)])
        if len(chosen) == size:
            break
    return np.sort(np.asarray(chosen, dtype=np.int64))
