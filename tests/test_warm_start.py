"""A student warm-started on the zero-shot cosine of unlabelled pairs: no gold, no teacher label."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sentence_transformers import CrossEncoder

from protege.client.retrieval.embedder import embed, load_embedder
from protege.client.training.config import TrainingConfig
from protege.client.training.warm_start import NEAREST, RANDOM, warm_start_pairs, warm_start_student

QUERIES = ["cordless drill", "cordless drill", "white paint", "angle bracket", "light bulb", "hammer"]
DOCUMENTS = [
    "drill driver kit",
    "paint roller",
    "white gloss paint",
    "corner brace",
    "led bulb",
    "claw hammer",
]
PRODUCTS = list(dict.fromkeys(DOCUMENTS))


def test_warm_start_pairs_hold_each_query_s_own_nearest_and_random_products(tiny_encoder: Path) -> None:
    embedder = load_embedder(str(tiny_encoder))
    queries, documents, targets = warm_start_pairs(QUERIES, DOCUMENTS, embedder, seed=0)
    distinct = list(dict.fromkeys(QUERIES))
    assert len(queries) == len(documents) == len(targets) == len(QUERIES) + len(distinct) * (NEAREST + RANDOM)
    assert list(zip(queries, documents, strict=True))[: len(QUERIES)] == list(
        zip(QUERIES, DOCUMENTS, strict=True)
    )
    assert targets.min() == 0.0 and targets.max() == 1.0
    # Targets follow the embeddings' cosine: the highest-scored pair of a query is its nearest product.
    vectors = dict(zip(distinct + PRODUCTS, embed(embedder, distinct + PRODUCTS), strict=True))
    cosine = [float(vectors[q] @ vectors[d]) for q, d in zip(queries, documents, strict=True)]
    assert np.corrcoef(cosine, targets)[0, 1] > 0.99
    for query in distinct:
        nearest = max(PRODUCTS, key=lambda product: float(vectors[query] @ vectors[product]))
        assert (query, nearest) in set(zip(queries, documents, strict=True))


def test_a_warm_started_student_is_a_cross_encoder_with_its_record(
    tiny_encoder: Path, tmp_path: Path
) -> None:
    out = warm_start_student(
        QUERIES,
        DOCUMENTS,
        tmp_path / "base",
        TrainingConfig(base=str(tiny_encoder), layers=1),
        embedder=load_embedder(str(tiny_encoder)),
    )
    record = json.loads((out / "provenance.json").read_text())
    assert record["layers"] == 1 and record["warm_start_pairs"] == len(QUERIES) + 5 * (NEAREST + RANDOM)
    student = CrossEncoder(str(out))
    assert student.num_labels == 1 and student.model.config.num_hidden_layers == 1
    scores = student.predict([("cordless drill", "drill driver kit"), ("cordless drill", "white paint")])
    assert np.isfinite(scores).all() and scores[0] != scores[1]
