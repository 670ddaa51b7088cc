import numpy as np

from protege.client.data.sampling import whole_queries

QUERIES = ["drill", "drill", "saw", "saw", "saw", "paint", "hose", "hose"]


def test_pairs_are_drawn_by_whole_queries_and_the_last_query_is_cut_to_fit() -> None:
    for seed in range(20):
        rows = whole_queries(QUERIES, 5, np.random.default_rng(seed))
        assert len(rows) == 5 and list(rows) == sorted(set(rows))
        counts = {query: [QUERIES[row] for row in rows].count(query) for query in set(QUERIES)}
        cut = [query for query, count in counts.items() if 0 < count < QUERIES.count(query)]
        assert len(cut) <= 1  # every query drawn is whole, but the one that filled the budget


def test_a_size_of_none_or_beyond_the_pairs_takes_them_all() -> None:
    everything = list(range(len(QUERIES)))
    assert list(whole_queries(QUERIES, None, np.random.default_rng(0))) == everything
    assert list(whole_queries(QUERIES, 99, np.random.default_rng(0))) == everything
