"""Training a CrossEncoder on soft relevance targets with sentence-transformers' trainer.

The same code fits a teacher (gold grades normalised to 0..1) and trains a student (teacher
scores). GPU when present (bf16 where supported), CPU otherwise; batches grouped by length;
under ``torchrun`` the trainer runs DDP and only the first process saves.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from sentence_transformers.cross_encoder import (
    CrossEncoder,
    CrossEncoderTrainer,
    CrossEncoderTrainingArguments,
    losses,
)
from transformers.trainer_utils import get_last_checkpoint

from protege.client.models import PACKAGED_MINILM, packaged_minilm
from protege.client.training.config import TrainingConfig
from protege.client.training.losses import GroupMarginMSELoss
from protege.client.training.rows import Texts, pairs_per_epoch, rows_per_batch, training_dataset
from protege.client.training.sampler import LengthGroupedBatchSampler
from protege.client.training.saving import data_hash, save_student
from protege.common.paths import local_or_hub
from protege.common.setting_names import SettingError
from protege.common.stage import Stage
from protege.common.trainer_arguments import quiet, shared_arguments, uses_bf16

logger = logging.getLogger(__name__)

# Where a run keeps its rows (memory-mapped Arrow) while it trains, inside its output folder.
ROWS = ".rows"
# Short runs are cheaper to redo than to checkpoint (a MiniLM checkpoint with optimizer state is ~270 MB).
CHECKPOINT_MIN_STEPS = 50

# Settings that change neither the data nor the optimisation a checkpoint holds.
FINGERPRINT_SKIPS = ("progress", "checkpoint_steps")


def load_student(base: str | None = None, layers: int | None = None, max_length: int = 128) -> CrossEncoder:
    """A one-label CrossEncoder from ``base`` (default: the packaged MiniLM-L6), keeping only
    its first ``layers`` transformer layers when given (a smaller, faster student)."""
    base = local_or_hub(base) if base else packaged_minilm()
    model = CrossEncoder(base, num_labels=1, max_length=max_length)
    if layers is not None:
        network = model.transformers_model
        stack = getattr(getattr(network.base_model, "encoder", None), "layer", None)
        if stack is None:
            raise SettingError(
                f"{{layers}} needs a BERT-like encoder; {type(network).__name__} has no encoder.layer",
                "layers",
            )
        if not 1 <= layers <= len(stack):
            raise SettingError(f"{{layers}} must be between 1 and {len(stack)}, not {layers}", "layers")
        network.base_model.encoder.layer = stack[:layers]
        network.config.num_hidden_layers = layers
    return model


def train_cross_encoder(
    queries: Texts,
    documents: Texts,
    targets: Sequence[float],
    config: TrainingConfig = TrainingConfig(),
    *,
    model: CrossEncoder | None = None,
    out: str | Path | None = None,
    checkpoints: str | Path | None = None,
    provenance: dict | None = None,
) -> CrossEncoder:
    """Fine-tunes a one-label CrossEncoder on soft targets in 0..1 and saves it to ``out``
    when given, with ``provenance`` in ``provenance.json`` and the model card. Starts from
    ``model`` (to go on training a student) or loads ``config.base``. ``queries`` and
    ``documents``: lists or Arrow columns (a memory-mapped table's are not copied into Python).

    With ``out``, the loss's rows are memory-mapped from ``out/.rows`` while it trains, and the
    trainer's state is saved every ``config.checkpoint_steps`` in ``checkpoints`` (default
    ``out/.checkpoints``): a run killed part-way resumes from the last one when called again with
    the same data and settings. Both folders are removed once the model is saved.

    Example::

        model = train_cross_encoder(queries, documents, (grades - 1) / 2, out="teacher/")
        CrossEncoder("teacher/").predict([("cordless drill", "DEWALT 20V Drill")])
    """
    targets = _checked_targets(queries, documents, targets)
    torch.manual_seed(config.seed)
    origin = config.base or ("a given model" if model is not None else PACKAGED_MINILM)
    model = model if model is not None else load_student(config.base, config.layers, config.max_length)
    model.transformers_model.get_input_embeddings().weight.requires_grad_(not config.freeze_embeddings)
    rows = Path(out) / ROWS if out is not None else None
    dataset = training_dataset(queries, documents, targets, config.loss, config.seed, rows)
    if checkpoints is None and out is not None:
        checkpoints = Path(out) / ".checkpoints"
    fingerprint = {"data": data_hash(queries, documents, targets), "origin": origin}
    fingerprint |= _settings(config)
    resume = _last_checkpoint(Path(checkpoints), fingerprint) if checkpoints is not None else None
    with tempfile.TemporaryDirectory(prefix="protege-train-") as scratch:
        folder = Path(checkpoints) if checkpoints is not None else None
        trainer = _trainer(model, dataset, config, folder, Path(scratch))
        if resume is not None:
            logger.info("resuming training from %s", resume)
        result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
        if out is not None and trainer.is_world_process_zero():
            record = {**_settings(config), "base": origin, "training_rows": len(dataset)}
            record["training_pairs"] = pairs_per_epoch(dataset)
            record |= {
                "train_loss": round(float(result.training_loss), 6),
                "train_seconds": round(float(result.metrics.get("train_runtime", 0.0)), 2),
                **({"resumed_from_step": _step(resume)} if resume else {}),
                **(provenance or {}),
            }
            save_student(model, out, record)
        if trainer.is_world_process_zero():
            for scratch_folder in (folder, rows):
                if scratch_folder is not None:
                    shutil.rmtree(scratch_folder, ignore_errors=True)
    return model


def _settings(config: TrainingConfig) -> dict:
    """The settings of ``config`` that checkpoints and provenance record: not how it shows progress."""
    return {key: value for key, value in asdict(config).items() if key not in FINGERPRINT_SKIPS}


def _checked_targets(queries: Texts, documents: Texts, targets: Sequence[float]) -> np.ndarray:
    if not (len(queries) == len(documents) == len(targets)):
        raise ValueError("queries, documents and targets must have the same length")
    if not len(queries):
        raise ValueError("no training pairs")
    values = np.asarray(targets, dtype=np.float64)
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise ValueError(
            "training targets must be finite and within 0..1 (map gold grades first: normalise_grades)"
        )
    return values


def _trainer(
    model: CrossEncoder, dataset: Dataset, config: TrainingConfig, checkpoints: Path | None, scratch: Path
) -> CrossEncoderTrainer:
    """sentence-transformers' trainer for ``config``, saving to ``checkpoints`` when given."""
    batch_size = rows_per_batch(dataset, config.batch_size)
    steps = int(np.ceil(len(dataset) / batch_size) * config.epochs)
    saving = (
        {
            "save_strategy": "steps",
            "save_steps": config.checkpoint_steps or max(CHECKPOINT_MIN_STEPS, steps // 10),
            "save_total_limit": 1,
        }
        if checkpoints is not None
        else {"save_strategy": "no"}
    )
    arguments = CrossEncoderTrainingArguments(
        output_dir=str(checkpoints or scratch),
        **shared_arguments(
            rows=len(dataset),
            epochs=config.epochs,
            batch_size=batch_size,
            learning_rate=config.learning_rate,
            seed=config.seed,
            progress=config.progress,
            bf16=uses_bf16(config.precision),
        ),
        **saving,
        torch_compile=config.compile,
        dataloader_drop_last=False,
        ddp_find_unused_parameters=False,  # every parameter is used; the search breaks DDP here
        **({"batch_sampler": LengthGroupedBatchSampler} if config.length_grouping else {}),
    )
    objective = {
        "bce": lambda: losses.BinaryCrossEntropyLoss(model),
        "mse": lambda: losses.MSELoss(model, activation_fn=torch.nn.Sigmoid()),
        "margin-mse": lambda: losses.MarginMSELoss(model),
        "group-margin-mse": lambda: GroupMarginMSELoss(model),
    }[config.loss]()
    return quiet(CrossEncoderTrainer(model=model, args=arguments, train_dataset=dataset, loss=objective))


def _last_checkpoint(folder: Path, fingerprint: dict) -> Path | None:
    """The newest checkpoint in ``folder`` of a run with this ``fingerprint``; a folder left by
    other data or settings is emptied instead (its state would not fit this run)."""
    # Under torchrun, the first process tends the folder.
    if int(os.environ.get("RANK", "0")) == 0 and Stage(folder, settings=fingerprint).discard_if_other():
        logger.warning("%s held checkpoints of another run: starting afresh", folder)
    last = get_last_checkpoint(str(folder)) if folder.is_dir() else None
    return Path(last) if last else None


def _step(checkpoint: Path) -> int:
    return int(checkpoint.name.rsplit("-", 1)[-1])
