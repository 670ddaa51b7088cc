"""The drifting-band curriculum on a tiny student: rounds drawn from its own frontier, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from sentence_transformers.cross_encoder import CrossEncoder

from protege.client.training import curriculum as curriculum_module
from protege.client.training.config import CurriculumConfig, TrainingConfig
from protege.client.training.curriculum import CURRICULUM_RECORD, train_curriculum
from protege.filters.likelihood import StudentLikelihood
from protege.filters.settings import FilterSettings, QuotaRule

# Only the quota runs, so a round's pick is the excess rule's alone.
QUOTA_ONLY = FilterSettings(
    band_high=None,
    plausibility_quantile=None,
    dedup_threshold=None,
    refinement=False,
    quota_rule=QuotaRule("excess", noise_tail=0.0),
)


def labelled_rows(queries: int = 12, per_query: int = 4) -> tuple[pa.Table, np.ndarray]:
    rng = np.random.default_rng(0)
    rows = pa.table(
        {
            "query": [f"cordless drill {i}" for i in range(queries) for _ in range(per_query)],
            "document": [f"product {i} {j} with a battery" for i in range(queries) for j in range(per_query)],
        }
    )
    return rows, rng.uniform(size=rows.num_rows)


def test_each_round_after_the_first_draws_the_queries_the_student_can_still_learn_most_of(
    tiny_cross_encoder: Path, tmp_path: Path
) -> None:
    rows, targets = labelled_rows()
    training = TrainingConfig(base=str(tiny_cross_encoder), epochs=1, progress=False)
    config = CurriculumConfig(curriculum_rounds=2, curriculum_share=0.25)
    train_curriculum(rows, targets, training, config, QUOTA_ONLY, tmp_path / "student")
    record = json.loads((tmp_path / "student" / CURRICULUM_RECORD).read_text())
    assert [r["pairs"] for r in record] == [12, 12] and [r["queries"] for r in record] == [3, 3]
    assert record[0]["seen_before"] == 0
    # Round 1's queries: the highest mean excess loss under round 0's student.
    first = CrossEncoder(str(tmp_path / "student" / "round-0"))
    stats = StudentLikelihood(first).statistics(
        rows["query"].to_pylist(), rows["document"].to_pylist(), targets
    )
    per_query = stats["excess"].reshape(12, 4).mean(axis=1)
    expected = {f"cordless drill {i}" for i in np.argsort(-per_query)[:3]}
    chosen = np.load(tmp_path / "student" / "round-1" / "rows.npy")
    assert set(rows["query"].take(pa.array(chosen)).to_pylist()) == expected
    assert CrossEncoder(str(tmp_path / "student")).predict([("drill", "a drill")]).shape == (1,)


def test_random_rounds_without_filters_and_a_rerun_trains_nothing_again(
    tiny_cross_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, targets = labelled_rows()
    training = TrainingConfig(base=str(tiny_cross_encoder), epochs=1, progress=False)
    config = CurriculumConfig(curriculum_rounds=3, curriculum_share=0.5)
    train_curriculum(rows, targets, training, config, None, tmp_path / "student")
    first = json.loads((tmp_path / "student" / CURRICULUM_RECORD).read_text())
    assert len(first) == 3 and all(r["pairs"] == 24 for r in first)

    def refuse(*args, **kwargs):
        raise AssertionError("a finished round was trained again")

    monkeypatch.setattr(curriculum_module, "train_cross_encoder", refuse)
    train_curriculum(rows, targets, training, config, None, tmp_path / "student")
    assert json.loads((tmp_path / "student" / CURRICULUM_RECORD).read_text()) == first


def test_a_share_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match="curriculum_share a share"):
        CurriculumConfig(curriculum_rounds=2, curriculum_share=1.5)
