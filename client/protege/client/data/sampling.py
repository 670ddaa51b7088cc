"""Label budgets spent by whole queries: a query's candidates are judged together, as a rater sees
them and as a margin loss needs them (it learns from differences between documents of one query;
pairs drawn one by one leave most queries with a single labelled document)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from protege.filters.grouping import query_groups, take_in_order


def whole_queries(queries: Sequence[str], size: int | None, rng: np.random.Generator) -> np.ndarray:
    """Sorted row numbers of ``size`` pairs drawn query by query: queries in random order, every row
    of each, the last one cut to fit. All rows when ``size`` is None or not below their number.

    Example::

        rows = whole_queries(labels["query"].to_pylist(), 1000, np.random.default_rng(0))
        chosen = labels.take(rows)
    """
    if size is None or size >= len(queries):
        return np.arange(len(queries))
    groups = query_groups(np.asarray(queries, dtype=object))
    return np.sort(take_in_order([groups[i] for i in rng.permutation(len(groups))], size))
