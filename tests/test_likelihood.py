from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import CrossEncoder
from stand_ins import DesignedStudent

from protege.filters.likelihood import StudentLikelihood, label_nll
from protege.filters.profile import MAX_VALUES, Profile


def test_label_nll_is_binary_cross_entropy_and_stable() -> None:
    logits, targets = np.array([-2.0, 0.0, 1.5, 3.0]), np.array([0.0, 0.5, 1.0, 0.25])
    sigmoid = 1 / (1 + np.exp(-logits))
    direct = -(targets * np.log(sigmoid) + (1 - targets) * np.log(1 - sigmoid))
    np.testing.assert_allclose(label_nll(logits, targets), direct, rtol=1e-12)
    assert np.all(np.isfinite(label_nll(np.array([-800.0, 800.0]), np.array([1.0, 0.0]))))
    grid = np.linspace(-6, 6, 1201)
    assert grid[np.argmin(label_nll(grid, np.full_like(grid, 0.8)))] == pytest.approx(
        np.log(0.8 / 0.2), abs=0.01
    )


def test_ifd_separates_learned_uninformative_and_contradictory_pairs() -> None:
    student = DesignedStudent(
        {
            ("known query", "doc A"): 5.0,  # agrees with the teacher's 1.0
            ("", "doc A"): 0.0,
            ("idle query", "doc B"): 0.3,  # the query changes nothing
            ("", "doc B"): 0.3,
            ("odd query", "doc C"): -3.0,  # the query pushes against the teacher's 1.0
            ("", "doc C"): 0.0,
        }
    )
    stats = StudentLikelihood(student).statistics(
        ["known query", "idle query", "odd query"], ["doc A", "doc B", "doc C"], [1.0, 0.6, 1.0]
    )
    assert stats["ifd"][0] < 0.05
    assert stats["ifd"][1] == pytest.approx(1.0)
    assert stats["ifd"][2] > 4.0
    np.testing.assert_allclose(stats["ifd"], stats["nll"] / stats["nll_blank"])


def test_blanked_pass_runs_once_per_document() -> None:
    table = {(f"q{i}", f"doc {i % 3}"): 0.1 * i for i in range(9)} | {("", f"doc {j}"): 0.0 for j in range(3)}
    student = DesignedStudent(table)
    likelihood = StudentLikelihood(student)
    queries, documents = [f"q{i}" for i in range(9)], [f"doc {i % 3}" for i in range(9)]
    likelihood.statistics(queries, documents, [0.5] * 9)
    assert likelihood.forward_pairs == 9 + 3
    likelihood.statistics(queries, documents, [0.5] * 9)
    assert likelihood.forward_pairs == 2 * 9 + 3


def test_statistics_of_a_real_crossencoder(tiny_cross_encoder: Path) -> None:
    model = CrossEncoder(str(tiny_cross_encoder), device="cpu")
    queries, documents = ["cordless drill", "white paint"], ["drill driver kit", "flat white ceiling paint"]
    stats = StudentLikelihood(model).statistics(queries, documents, [0.9, 0.2])
    logits = model.predict(list(zip(queries, documents, strict=True)), activation_fn=lambda x: x)
    np.testing.assert_allclose(stats["logit"], logits, rtol=1e-5)
    np.testing.assert_allclose(stats["nll"], label_nll(logits, np.array([0.9, 0.2])), rtol=1e-5)
    assert np.all(stats["nll_blank"] > 0)


def test_a_multi_label_student_is_refused(tiny_graded_cross_encoder: Path) -> None:
    with pytest.raises(ValueError, match="one output label"):
        StudentLikelihood(CrossEncoder(str(tiny_graded_cross_encoder), device="cpu"))


def test_profile_quantiles_ranks_and_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    nll = rng.exponential(1.0, size=3 * MAX_VALUES)
    profile = Profile.from_statistics({"nll": nll, "ifd": np.append(rng.normal(1, 0.2, 500), np.nan)})
    assert profile.counts == {"nll": 3 * MAX_VALUES, "ifd": 500}
    assert len(profile.values["nll"]) == MAX_VALUES
    assert profile.quantile("nll", 0.9) == pytest.approx(np.quantile(nll, 0.9), rel=0.01)
    assert profile.rank("nll", profile.quantile("nll", 0.25)) == pytest.approx(0.25, abs=0.001)
    profile.save(tmp_path / "profile.json")
    loaded = Profile.load(tmp_path / "profile.json")
    assert loaded.quantile("ifd", 0.5) == profile.quantile("ifd", 0.5)
    assert loaded.summary()["nll"]["n"] == 3 * MAX_VALUES
    with pytest.raises(KeyError, match="no statistic 'plausibility'"):
        profile.quantile("plausibility", 0.5)
    with pytest.raises(ValueError, match="no finite values"):
        Profile.from_statistics({"nll": np.array([np.nan])})
