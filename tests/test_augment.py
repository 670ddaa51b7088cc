from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from protege.client.augment import (
    Augmenter,
    SynonymTable,
    drop_token,
    normalise,
    query_from_product,
    reorder,
    typo,
)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_drop_leaves_out_exactly_one_token() -> None:
    for seed in range(20):
        dropped = drop_token("white ceiling paint gallon", rng(seed)).split()
        assert len(dropped) == 3 and set(dropped) < {"white", "ceiling", "paint", "gallon"}
    assert drop_token("paint", rng()) is None


def test_reorder_keeps_the_tokens_in_another_order() -> None:
    for seed in range(20):
        moved = reorder("white ceiling paint", rng(seed))
        assert moved != "white ceiling paint" and sorted(moved.split()) == ["ceiling", "paint", "white"]
    assert reorder("paint paint", rng()) is None


def test_typo_changes_one_word_by_one_keystroke() -> None:
    for seed in range(50):
        words = typo("cordless drill kit", rng(seed)).split()
        changed = [(a, b) for a, b in zip("cordless drill kit".split(), words, strict=True) if a != b]
        assert len(changed) <= 1
        if changed:
            original, slipped = changed[0]
            assert abs(len(original) - len(slipped)) <= 1 and original[0] == slipped[0]
    assert typo("a 12 kit", rng()) is None


def test_product_queries_are_cut_from_the_product_text() -> None:
    title = "DEWALT 20-Volt MAX Lithium-Ion Cordless Drill/Driver Kit with Battery"
    words = set(title.lower().replace("/", " ").split())
    for seed in range(20):
        query = query_from_product(title, rng(seed))
        assert 2 <= len(query.split()) <= 4 and all(
            word in words or word in title.lower() for word in query.split()
        )


def test_synonym_swaps_a_token_for_a_neighbour() -> None:
    table = SynonymTable(["bracket", "brace", "angle"], {"bracket": ["brace"]})
    assert table.replace("angle bracket", rng()) == "angle brace"
    assert table.replace("deck paint", rng()) is None


def test_synonym_table_from_real_embeddings(minilm_path) -> None:
    from protege.client.retrieval.embedder import load_embedder

    texts = [
        "cordless drill",
        "cordless drill",
        "power drill",
        "drill bits",
        "screwdriver set",
        "screwdriver",
    ]
    table = SynonymTable.build(texts * 2, load_embedder(str(minilm_path)), threshold=0.3)
    assert table.neighbours, "expected neighbours among related hardware words"
    assert all(word[:4] != near[:4] for word, options in table.neighbours.items() for near in options)


def test_augmenter_records_origins_and_never_repeats_a_query() -> None:
    refinements = {"angle bracket": ["corner brace", "angle bracket"]}  # one rewrite repeats its seed
    augmenter = Augmenter(
        ("drop", "reorder", "typo", "product", "refine"),
        per_seed=3,
        seed=1,
        refine=lambda query, n, seed: refinements.get(query, []),
    )
    seeds = ["angle bracket", "white ceiling paint", "cordless drill kit"]
    products = [
        ("p1", "Simpson Strong-Tie Galvanized Angle Bracket"),
        ("p2", "BEHR Flat White Ceiling Paint"),
    ]
    generated = augmenter.generate(seeds, products, from_products=2)
    queries = [normalise(g.query) for g in generated]
    assert len(queries) == len(set(queries)) and not set(queries) & set(seeds)
    assert Counter(g.origin_query for g in generated if g.strategy != "product")["angle bracket"] <= 3
    refine = [g for g in generated if g.strategy == "refine"]
    assert (
        refine == [refine[0]]
        and refine[0].query == "corner brace"
        and refine[0].origin_query == "angle bracket"
    )
    from_products = [g for g in generated if g.strategy == "product"]
    assert {g.origin_doc_id for g in from_products} <= {"p1", "p2"} and all(
        g.origin_query is None for g in from_products
    )
    assert {g.strategy for g in generated} >= {"drop", "reorder", "typo"}
    assert generated == Augmenter(
        ("drop", "reorder", "typo", "product", "refine"), 3, 1, refine=lambda q, n, s: refinements.get(q, [])
    ).generate(seeds, products, 2)


def test_augmenter_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="unknown strategies"):
        Augmenter(("drop", "paraphrase"))
    with pytest.raises(ValueError, match="needs a SynonymTable"):
        Augmenter(("synonym",))
    with pytest.raises(ValueError, match="needs a generative teacher"):
        Augmenter(("refine",))
