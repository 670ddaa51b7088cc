"""A drifting-band curriculum: the student trains in rounds over one labelled set, and before each
round after the first it profiles itself again and draws the round's share from its own current
frontier (the filters, their quota the share), so what it learns from moves as it learns.

Without filters the rounds draw random whole queries: the baseline at the same number of steps.

Example::

    config = CurriculumConfig(curriculum_rounds=4, curriculum_share=0.25)
    student = train_curriculum(
        rows, rows["score"].to_numpy(), TrainingConfig(layers=4), config, FilterSettings(), Path("student/")
    )
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
from sentence_transformers.cross_encoder import CrossEncoder

from protege.client.data.sampling import whole_queries
from protege.client.filtering import PROVENANCE_COLUMNS, filter_labels
from protege.client.training.config import CurriculumConfig, TrainingConfig
from protege.client.training.saving import data_hash, save_student
from protege.client.training.trainer import FINGERPRINT_SKIPS, train_cross_encoder
from protege.common.stage import Stage
from protege.filters.queries import Embed
from protege.filters.select import training_profile
from protege.filters.settings import FilterSettings

logger = logging.getLogger(__name__)

CURRICULUM_RECORD = "curriculum.json"
CHOSEN = "rows.npy"  # a round's rows of the labelled set
PROFILED_PAIRS = 10_000  # of what the student trained on, profiled before a round: quantiles to ~1%


def train_curriculum(
    rows: pa.Table,
    targets: np.ndarray,
    training: TrainingConfig,
    config: CurriculumConfig,
    filters: FilterSettings | None,
    out: Path,
    *,
    embed_queries: Embed | None = None,
    provenance: dict | None = None,
) -> CrossEncoder:
    """A student trained in ``config.curriculum_rounds`` rounds on ``rows`` (query, document;
    provenance columns where present) with ``targets`` in 0..1, each round ``training.epochs`` over
    its share, saved in ``out`` with what each round kept (``curriculum.json``) and ``provenance``.
    Round 0 draws random whole queries; later rounds what ``filters`` keep with the student as it
    is then (random again when ``filters`` is None); a round the filters leave short of its share
    trains as many steps as a full one. Each round is kept in ``out/round-N``: a rerun with the same
    data and settings goes on from the last (``StageMismatch`` under others)."""
    if config.curriculum_rounds < 1:
        raise ValueError("a curriculum has at least one round")
    rows = rows.select(["query", "document", *(c for c in PROVENANCE_COLUMNS if c in rows.column_names)])
    rows = rows.append_column("score", pa.array(np.asarray(targets, dtype=np.float64)))
    keep = max(2, round(config.curriculum_share * rows.num_rows))
    identity = {
        "data": data_hash(rows["query"].to_pylist(), rows["document"].to_pylist(), rows["score"].to_pylist()),
        "share": config.curriculum_share,
        "filters": filters and filters.as_dict(),
        "training": {k: v for k, v in asdict(training).items() if k not in FINGERPRINT_SKIPS},
    }
    model: CrossEncoder | None = None
    trained = np.zeros(rows.num_rows, dtype=bool)
    record = []
    for number in range(config.curriculum_rounds):
        stage = Stage(out / f"round-{number}", settings=identity)
        if stage.done:  # finished by an earlier run: its rows and its student
            chosen = np.load(stage.folder / CHOSEN)
            model = CrossEncoder(str(stage.folder))
        else:
            chosen = _round_rows(rows, model, trained, keep, filters, training.seed + number, embed_queries)
            stage.claim()
            np.save(stage.folder / CHOSEN, chosen)
            subset = rows.take(pa.array(chosen))
            settings = training if model is None else replace(training, layers=None)
            model = train_cross_encoder(
                subset["query"].to_pylist(),
                subset["document"].to_pylist(),
                subset["score"].to_numpy(),
                replace(settings, seed=training.seed + number, epochs=training.epochs * keep / len(chosen)),
                model=model,
                out=stage.folder,
            )
        record.append(_described(rows, chosen, trained, number))
        logger.info("curriculum round %d: %s", number, record[-1])
        trained[chosen] = True
    (out / CURRICULUM_RECORD).write_text(json.dumps(record, indent=2))  # before the marker
    filtered = filters and filters.as_dict()
    save_student(model, out, (provenance or {}) | {"curriculum": record, "filter_settings": filtered})
    return model


def curriculum_rows(out: Path) -> np.ndarray:
    """The rows (sorted) of the labelled set that any round of the curriculum in ``out`` trained on."""
    rounds = sorted(out.glob(f"round-*/{CHOSEN}"))
    return np.unique(np.concatenate([np.load(path) for path in rounds])) if rounds else np.zeros(0, np.int64)


def _round_rows(
    rows: pa.Table,
    model: CrossEncoder | None,
    trained: np.ndarray,
    keep: int,
    filters: FilterSettings | None,
    seed: int,
    embed_queries: Embed | None,
) -> np.ndarray:
    """The rows a round trains on: ``keep`` of ``rows`` by whole queries, random in round 0 and
    without filters, else what the filters keep against the profile of what the student trained on."""
    queries = rows["query"].to_pylist()
    if model is None or filters is None:
        return np.sort(whole_queries(queries, keep, np.random.default_rng(seed)))
    seen = np.flatnonzero(trained)
    seen = np.random.default_rng(seed).permutation(seen)[:PROFILED_PAIRS]
    reference = training_profile(
        model,
        [queries[i] for i in seen],
        rows["document"].take(pa.array(seen)).to_pylist(),
        rows["score"].take(pa.array(seen)).to_pylist(),
    )
    settings = replace(filters, quota=keep, quota_rule=replace(filters.quota_rule, seed=seed))
    selection = filter_labels(model, rows, settings, embed_queries=embed_queries, reference=reference)
    return np.flatnonzero(selection.decision.accepted)


def _described(rows: pa.Table, chosen: np.ndarray, trained: np.ndarray, number: int) -> dict:
    """What a round trained on: pairs, queries, score quartiles, the share trained on before."""
    scores = rows["score"].to_numpy()[chosen]
    return {
        "round": number,
        "pairs": len(chosen),
        "queries": len(set(rows["query"].take(pa.array(chosen)).to_pylist())),
        "score_quartiles": np.round(np.quantile(scores, [0.25, 0.5, 0.75]), 3).tolist(),
        "seen_before": round(float(trained[chosen].mean()), 3),
    }
