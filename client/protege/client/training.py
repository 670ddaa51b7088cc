"""Training a CrossEncoder on soft relevance targets with sentence-transformers' trainer.

The same code fits a teacher (gold grades normalised to 0..1) and trains a student (teacher
scores). GPU when present (bf16 where supported), CPU otherwise; batches grouped by length;
under ``torchrun`` the trainer runs DDP and only the first process saves.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from sentence_transformers.base.sampler import DefaultBatchSampler
from sentence_transformers.cross_encoder import (
    CrossEncoder,
    CrossEncoderTrainer,
    CrossEncoderTrainingArguments,
    losses,
)
from transformers.trainer_utils import get_last_checkpoint

from protege.common.paths import local_or_hub
from protege.common.stage import PROVENANCE, Stage
from protege.common.trainer_arguments import quiet, shared_arguments, uses_bf16

from .losses import GroupMarginMSELoss
from .models import PACKAGED_MINILM, packaged_minilm
from .training_config import TrainingConfig
from .training_data import pairs_per_epoch, rows_per_batch, training_dataset

logger = logging.getLogger(__name__)

# Short runs are cheaper to redo than to checkpoint (a MiniLM checkpoint with optimizer state is ~270 MB).
CHECKPOINT_MIN_STEPS = 50
# Settings that change neither the data nor the optimisation a checkpoint holds.
FINGERPRINT_SKIPS = ("progress", "checkpoint_steps")


class LengthGroupedBatchSampler(DefaultBatchSampler):
    """Shuffles, then sorts each window of ``50 × batch_size`` rows by text length and cuts it
    into batches, served in random order: batches of like lengths pad less (``bench/train.py``
    measures the gain), and every epoch still sees a new order.

    Example::

        CrossEncoderTrainingArguments(..., batch_sampler=LengthGroupedBatchSampler)
    """

    WINDOW_BATCHES = 50

    def __init__(
        self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None, generator=None, seed=0
    ):
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        text_columns = [
            name for name in dataset.column_names if name not in (valid_label_columns or ["label"])
        ]
        self.lengths = np.zeros(len(dataset), dtype=np.int64)
        for name in text_columns:
            lengths = (len(text) if isinstance(text, str) else sum(map(len, text)) for text in dataset[name])
            self.lengths += np.fromiter(lengths, np.int64, len(dataset))

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed + self.epoch)
        order = rng.permutation(len(self.lengths))
        window = self.batch_size * self.WINDOW_BATCHES
        batches = []
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [
                chunk[i : i + self.batch_size].tolist() for i in range(0, len(chunk), self.batch_size)
            ]
        if self.drop_last:
            batches = [batch for batch in batches if len(batch) == self.batch_size]
        for number in rng.permutation(len(batches)):
            yield batches[number]

    def __len__(self) -> int:
        full, rest = divmod(len(self.lengths), self.batch_size)
        return full if self.drop_last else full + bool(rest)


def load_student(base: str | None = None, layers: int | None = None, max_length: int = 128) -> CrossEncoder:
    """A one-label CrossEncoder from ``base`` (default: the packaged MiniLM-L6), keeping only
    its first ``layers`` transformer layers when given (a smaller, faster student)."""
    base = local_or_hub(base) if base else packaged_minilm()
    model = CrossEncoder(base, num_labels=1, max_length=max_length)
    if layers is not None:
        network = model.transformers_model
        stack = getattr(getattr(network.base_model, "encoder", None), "layer", None)
        if stack is None:
            raise ValueError(
                f"--layers needs a BERT-like encoder; {type(network).__name__} has no encoder.layer"
            )
        if not 1 <= layers <= len(stack):
            raise ValueError(f"--layers must be between 1 and {len(stack)}, not {layers}")
        network.base_model.encoder.layer = stack[:layers]
        network.config.num_hidden_layers = layers
    return model


def train_cross_encoder(
    queries: Sequence[str],
    documents: Sequence[str],
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
    ``model`` (to go on training a student) or loads ``config.base``.

    ``checkpoints`` (default ``out/.checkpoints`` when ``out`` is given): a folder where the
    trainer saves its state every ``config.checkpoint_steps``; a run killed part-way resumes
    from the last one when called again with the same data and settings, and the folder is
    removed once the model is saved.

    Example::

        model = train_cross_encoder(queries, documents, (grades - 1) / 2, out="teacher/")
        CrossEncoder("teacher/").predict([("cordless drill", "DEWALT 20V Drill")])
    """
    targets = _checked_targets(queries, documents, targets)
    torch.manual_seed(config.seed)
    origin = config.base or ("a given model" if model is not None else PACKAGED_MINILM)
    model = model if model is not None else load_student(config.base, config.layers, config.max_length)
    model.transformers_model.get_input_embeddings().weight.requires_grad_(not config.freeze_embeddings)
    dataset = training_dataset(queries, documents, targets, config.loss, config.seed)
    if checkpoints is None and out is not None:
        checkpoints = Path(out) / ".checkpoints"
    fingerprint = {"data": data_hash(queries, documents, targets.tolist()), "origin": origin}
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
        if folder is not None and trainer.is_world_process_zero():
            shutil.rmtree(folder, ignore_errors=True)
    return model


def _settings(config: TrainingConfig) -> dict:
    """The settings of ``config`` that checkpoints and provenance record: not how it shows progress."""
    return {key: value for key, value in asdict(config).items() if key not in FINGERPRINT_SKIPS}


def _checked_targets(
    queries: Sequence[str], documents: Sequence[str], targets: Sequence[float]
) -> np.ndarray:
    if not (len(queries) == len(documents) == len(targets)):
        raise ValueError("queries, documents and targets must have the same length")
    if not len(queries):
        raise ValueError("no training pairs")
    values = np.asarray(targets, dtype=np.float64)
    if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
        raise ValueError(
            "training targets must be finite and within 0..1 (normalise gold grades with --label-range)"
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


def save_student(model, out: str | Path, provenance: dict) -> None:
    """Saves ``model`` where ``CrossEncoder(out)`` loads it, with its provenance as JSON and
    as a section of the model card."""
    out = Path(out)
    model.save_pretrained(str(out))
    (out / PROVENANCE).write_text(json.dumps(provenance, indent=2, default=str))
    card = out / "README.md"
    lines = "\n".join(f"- **{key}**: `{value}`" for key, value in provenance.items())
    text = card.read_text() if card.exists() else ""
    card.write_text(f"{text}\n\n## protege provenance\n\n{lines}\n")


def data_hash(*columns: Sequence) -> str:
    """A short fingerprint of training data, for provenance."""
    digest = hashlib.sha256()
    for column in columns:
        for value in column:
            digest.update(repr(value).encode("utf-8"))
            digest.update(b"\x1f")
    return digest.hexdigest()[:16]


def normalise_grades(grades: Sequence[float], label_range: tuple[float, float] | None = None) -> np.ndarray:
    """Gold grades mapped to 0..1 targets by ``(g - low) / (high - low)``; without a range,
    labels already within 0..1 are taken as they are.

    Example::

        >>> normalise_grades([1.0, 2.0, 3.0], (1, 3)).tolist()
        [0.0, 0.5, 1.0]
    """
    values = np.asarray(grades, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError(f"{int(np.isnan(values).sum())} rows have no label")
    if label_range is None:
        if values.min() < 0 or values.max() > 1:
            raise ValueError(
                f"labels run from {values.min():g} to {values.max():g}: "
                "give --label-range LOW,HIGH to map them to 0..1"
            )
        return values
    low, high = label_range
    if high <= low:
        raise ValueError(f"--label-range needs LOW < HIGH, not {low:g},{high:g}")
    outside = (values < low) | (values > high)
    if outside.any():
        raise ValueError(f"{int(outside.sum())} labels lie outside --label-range {low:g},{high:g}")
    return (values - low) / (high - low)
