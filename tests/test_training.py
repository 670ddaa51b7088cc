from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from protege.client.training import train_cross_encoder
from sentence_transformers import CrossEncoder


def test_trained_model_is_saved_and_loads_as_a_crossencoder(tiny_encoder: Path, tmp_path: Path) -> None:
    queries = ["cordless drill", "ceiling paint"] * 16
    documents = ["drill driver kit", "flat white ceiling paint"] * 8 + [
        "flat white ceiling paint",
        "drill driver kit",
    ] * 8
    targets = [1.0] * 16 + [0.0] * 16
    before = CrossEncoder(str(tiny_encoder), device="cpu").model.state_dict()
    train_cross_encoder(
        queries, documents, targets, base=str(tiny_encoder), out=tmp_path / "student", epochs=1
    )
    model = CrossEncoder(str(tmp_path / "student"), device="cpu")
    assert model.num_labels == 1
    after = model.model.state_dict()
    assert any(not np.allclose(before[name].numpy(), after[name].numpy()) for name in before if name in after)
    assert np.all(np.isfinite(model.predict([("cordless drill", "drill driver kit")])))


def test_lengths_must_match(tiny_encoder: Path) -> None:
    with pytest.raises(ValueError, match="same length"):
        train_cross_encoder(["q"], ["d", "e"], [1.0], base=str(tiny_encoder))
