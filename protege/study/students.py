"""The study's students: one small cross-encoder shape, trained on teacher labels chosen at random
or by ``distill``'s loop (augment → label → filter → train), or on gold grades.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
from transformers import AutoConfig, AutoTokenizer

from protege.client.data.sampling import whole_queries
from protege.client.distill import Distiller
from protege.client.distill_config import DistillConfig
from protege.client.evaluation.metrics import Evaluation
from protege.client.labelling.teacher_client import TeacherClient
from protege.client.models import packaged_minilm
from protege.client.report import REPORT
from protege.client.training.config import TrainingConfig
from protege.client.training.trainer import train_cross_encoder
from protege.client.training.warm_start import warm_start_student
from protege.common.runtimes import load_cross_encoder
from protege.common.setting_names import setting
from protege.common.stage import Stage

from .settings import DEFAULT_LAYERS, STUDENT_BATCH_SIZE, STUDENT_LEARNING_RATE, Models, Sizes
from .split import sample

log = logging.getLogger("protege.study")

# The longest pairs a student reads in full: this quantile of the pool's token lengths, up to
# STUDENT_TOKENS: a step's cost grows with its tokens (on a file with product descriptions the
# quantile alone chose 512 tokens and 8.5 s a step); --max-length reads more.
LENGTH_QUANTILE = 0.99
STUDENT_TOKENS = 128
LENGTH_SAMPLE = 2000
# The gold student's loss: the teacher's cross-encoder's, on the same kind of grades. A margin loss
# reads targets as logits, and the grades at the ends of the range (0 and 1) become ±13.8 there:
# margins of 27.6 that swamp the rest (the gold student fell behind zero-shot, RMSE 0.5162).
GOLD_LOSS = "bce"


@dataclass(frozen=True)
class Shape:
    """What every student of a study is: backbone, layers kept, tokens per pair, loss."""

    base: str | None
    layers: int | None
    max_length: int
    loss: str
    runtime: str = "torch"  # what runs a trained student when it scores (``common.runtimes``)

    def training(self, seed: int = 0, epochs: float = 1.0) -> TrainingConfig:
        return TrainingConfig(
            base=self.base,
            layers=self.layers,
            max_length=self.max_length,
            loss=self.loss,
            learning_rate=STUDENT_LEARNING_RATE,
            batch_size=STUDENT_BATCH_SIZE,
            seed=seed,
            epochs=epochs,
            freeze_embeddings=True,  # bench/train.py: 1.12× the rate, no RMSE cost measured
        )

    def scorer(self, folder: Path) -> Callable[[Evaluation], np.ndarray]:
        """The ``Board`` scorer of the student saved in ``folder``, run by this shape's runtime."""
        return partial(student_scores, folder, runtime=self.runtime)


def student_shape(models: Models, pool: pa.Table, teacher_cross_encoder: Path | None = None) -> Shape:
    """The students' shape. Their backbone: ``models.student_base``, else the teacher's cross-encoder
    where it has one (``teachers.cross_encoder_of``: the students keep its first layers and its
    head, what it learned from the gold), else the packaged MiniLM. Without ``layers``,
    ``DEFAULT_LAYERS`` (or all the base has); without a ``max_length``, the token length that holds
    ``LENGTH_QUANTILE`` of the pool's pairs whole, rounded up to a multiple of 8, at most
    ``STUDENT_TOKENS`` (logged, with the share of pairs it cuts)."""
    base = models.student_base or (str(teacher_cross_encoder) if teacher_cross_encoder else None)
    backbone = base or packaged_minilm()
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    rows = sample(np.arange(pool.num_rows), LENGTH_SAMPLE, np.random.default_rng(0))
    queries = pool["query"].take(pa.array(rows)).to_pylist()
    documents = pool["document"].take(pa.array(rows)).to_pylist()
    lengths = np.array([len(ids) for ids in tokenizer(queries, documents)["input_ids"]])
    max_length = models.max_length
    if max_length is None:
        longest = AutoConfig.from_pretrained(backbone).max_position_embeddings
        fits = 8 * math.ceil(np.quantile(lengths, LENGTH_QUANTILE) / 8)
        max_length = min(longest, STUDENT_TOKENS, fits)
    log.info(
        "students read %d tokens a pair (%s): %.1f%% of the pool's pairs are longer and cut; a step costs "
        "about in proportion to its tokens, so %s trades reading more for training slower",
        max_length,
        setting("max_length")
        if models.max_length
        else f"the pool's {LENGTH_QUANTILE:.0%} quantile, at most {STUDENT_TOKENS}",
        100 * float(np.mean(lengths > max_length)),
        setting("max_length"),
    )
    return Shape(base, models.layers or _default_layers(backbone), max_length, models.loss, models.runtime)


def _default_layers(base: str) -> int:
    """``DEFAULT_LAYERS``, or every layer of a base that has fewer."""
    depth = AutoConfig.from_pretrained(base).num_hidden_layers
    if depth < DEFAULT_LAYERS:
        log.info(
            "%s has %d layers, fewer than the students' %d: the students keep them all",
            base,
            depth,
            DEFAULT_LAYERS,
        )
    return min(DEFAULT_LAYERS, depth)


def warm_started(shape: Shape, pool: pa.Table, folder: Path, embedder) -> Shape:
    """``shape`` starting from a student warm-started on the zero-shot cosine of the pool's unlabelled
    pairs (``client.training.warm_start``), made once in ``folder`` and shared by every student of the
    study."""
    if not Stage(folder).done:
        log.info("warm-starting the students' backbone on the zero-shot cosine of unlabelled pool pairs")
        queries, documents = pool["query"].to_pylist(), pool["document"].to_pylist()
        warm_start_student(queries, documents, folder, shape.training(), embedder=embedder)
    return replace(shape, base=str(folder), layers=None)


def study_student(
    folder: Path, rows: pa.Table, targets: np.ndarray, shape: Shape, seed: int, epochs: float
) -> Path:
    """A student trained on ``rows``' pairs with ``targets`` in 0..1 into ``folder`` (kept when finished)."""
    if not Stage(folder).done:
        log.info("training %s on %d pairs", folder.name, rows.num_rows)
        queries, documents = rows["query"].to_pylist(), rows["document"].to_pylist()
        train_cross_encoder(queries, documents, targets, shape.training(seed, epochs), out=folder)
    return folder


def random_labels(labels: pa.Table, size: int, seed: int) -> pa.Table:
    """``size`` teacher labels drawn at random by whole queries: the selection every other is measured
    against."""
    return labels.take(
        pa.array(whole_queries(labels["query"].to_pylist(), size, np.random.default_rng(seed)))
    )


def distilled(
    teacher: TeacherClient,
    pool: pa.Table,
    folder: Path,
    budget: int,
    models: Models,
    sizes: Sizes,
    shape: Shape,
    seed: int,
    embedder,
) -> dict:
    """``distill``'s loop on ``budget`` teacher labels into ``folder``; returns its report
    (``teacher_labels``, ``train_pairs``, rounds), its student in ``folder / "student"``.
    ``embedder``: shared by the study's runs (a ``MemoEmbedder``)."""
    report = folder / REPORT
    if Stage(folder, marker=report.name).done:
        return json.loads(report.read_text())
    warmup = min(pool.num_rows, max(1, round(sizes.warmup_share * budget)))
    # Candidates one seed query brings: its pool pairs, plus retrieved and negative products for
    # each query generated from it (none without strategies: then rounds take more seeds).
    retrieved = (DistillConfig.top_k + DistillConfig.negatives) if models.strategies else 0
    pairs_per_seed = pool.num_rows / len(set(pool["query"].to_pylist())) + sizes.per_seed * retrieved
    config = DistillConfig(
        rounds=sizes.rounds,
        warmup_pairs=warmup,
        seeds_per_round=max(1, math.ceil((budget - warmup) / sizes.rounds / pairs_per_seed)),
        per_seed=sizes.per_seed,
        strategies=models.strategies,
        label_budget=budget,
        filters=models.filters,
        seed=seed,
        training=shape.training(seed, sizes.student_epochs(budget)),
    )
    Distiller(teacher, pool, folder, config, embedder=embedder).run()
    return json.loads(report.read_text())


def student_scores(folder: Path, evaluation: Evaluation, runtime: str = "torch") -> np.ndarray:
    """The scores of the student saved in ``folder`` on ``evaluation``'s pairs (a ``Board`` scorer),
    run by ``runtime``."""
    pairs = list(zip(evaluation.queries, evaluation.documents, strict=True))
    return load_cross_encoder(folder, runtime).predict(pairs, batch_size=64, show_progress_bar=False)
