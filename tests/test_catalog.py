from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from protege.client.augment import Generated
from protege.client.retrieval.catalog import Catalog
from protege.client.retrieval.embedder import MemoEmbedder, embed, load_embedder

PRODUCTS = {
    "p1": "DEWALT 20-Volt MAX Cordless Drill/Driver Kit",
    "p2": "BEHR Premium Plus 1 gal. Flat White Ceiling Paint",
    "p3": "Simpson Strong-Tie Galvanized Angle Bracket",
    "p4": "GE 60-Watt Soft White LED Light Bulb",
    "p5": "Husky 3/8 in. Drive Ratchet Set",
    "p6": "BEHR DeckOver Wood and Concrete Coating",
}


@pytest.fixture(scope="module")
def embedder(minilm_path: Path):
    return load_embedder(str(minilm_path), device="cpu")


@pytest.fixture(scope="module")
def catalog(embedder) -> Catalog:
    return Catalog.build(list(PRODUCTS), list(PRODUCTS.values()), embedder, "all-MiniLM-L6-v2")


def test_nearest_product_is_the_relevant_one(catalog: Catalog, embedder) -> None:
    scores, rows = catalog.search(embed(embedder, ["cordless drill", "ceiling paint", "led bulb"]), k=2)
    assert [catalog.doc_ids[row[0]] for row in rows] == ["p1", "p2", "p4"]
    assert np.all(scores[:, 0] >= scores[:, 1])


def test_candidates_are_top_k_plus_distinct_random_negatives(catalog: Catalog, embedder) -> None:
    picked = catalog.candidates(
        embed(embedder, ["angle bracket", "deck paint"]), 2, 3, np.random.default_rng(0)
    )
    for chosen in picked:
        rows = [row for row, _ in chosen]
        assert len(rows) == len(set(rows)) == 5
        assert [how for _, how in chosen] == ["top-k"] * 2 + ["negative"] * 3
    assert catalog.doc_ids[picked[0][0][0]] == "p3"
    everything = catalog.candidates(embed(embedder, ["drill"]), 4, 10, np.random.default_rng(0))[0]
    assert len(everything) == len(PRODUCTS)  # never more than the catalog holds


def test_saved_catalog_loads_and_searches_the_same(catalog: Catalog, embedder, tmp_path: Path) -> None:
    catalog.save(tmp_path / "catalog")
    loaded = Catalog.load(tmp_path / "catalog")
    vectors = embed(embedder, ["ratchet set"])
    assert loaded.doc_ids == catalog.doc_ids and loaded.embedder_name == "all-MiniLM-L6-v2"
    np.testing.assert_array_equal(loaded.search(vectors, 3)[1], catalog.search(vectors, 3)[1])
    with pytest.raises(FileNotFoundError, match="is not a saved catalog"):
        Catalog.load(tmp_path / "nothing")


def test_pair_set_carries_origins(catalog: Catalog, embedder) -> None:
    queries = [
        Generated("angle bracket", "seed"),
        Generated("angle brace", "synonym", origin_query="angle bracket"),
    ]
    table = catalog.pair_set(queries, embedder, top_k=2, negatives=1, rng=np.random.default_rng(0))
    rows = table.to_pylist()
    assert table.num_rows == 6 and len({row["pair_id"] for row in rows}) == 6
    assert rows[3]["strategy"] == "synonym" and rows[3]["origin_query"] == "angle bracket"
    assert {row["retrieval"] for row in rows} == {"top-k", "negative"}


def test_a_memo_embedder_runs_the_model_once_per_distinct_text(embedder) -> None:
    calls: list[list[str]] = []

    class Counting:
        def encode(self, texts: list[str], **options) -> np.ndarray:
            calls.append(list(texts))
            return embedder.encode(texts, **options)

    memo = MemoEmbedder(Counting())
    first = embed(memo, ["cordless drill", "white paint", "cordless drill"])
    again = embed(memo, ["white paint", "angle bracket"])
    assert calls == [["cordless drill", "white paint"], ["angle bracket"]]
    np.testing.assert_allclose(
        first, embed(embedder, ["cordless drill", "white paint", "cordless drill"]), atol=1e-6
    )
    np.testing.assert_allclose(again[0], first[1])
