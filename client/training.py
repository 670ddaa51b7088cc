"""Training a CrossEncoder on soft relevance targets with sentence-transformers' trainer.

The same code fits a teacher (gold grades normalised to 0..1) and trains a student (teacher
scores). GPU when present (bf16 where supported), CPU otherwise.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from .models import packaged_minilm

logger = logging.getLogger(__name__)


def train_cross_encoder(
    queries: Sequence[str],
    documents: Sequence[str],
    targets: Sequence[float],
    *,
    base: str | None = None,
    out: str | Path | None = None,
    epochs: float = 1.0,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    max_length: int = 128,
    seed: int = 0,
):
    """Fine-tunes ``base`` (default: the packaged MiniLM-L6) as a one-label CrossEncoder on
    soft targets in 0..1 with binary cross-entropy; saves it to ``out`` when given.

    Example::

        model = train_cross_encoder(queries, documents, (grades - 1) / 2, out="teacher/")
        CrossEncoder("teacher/").predict([("cordless drill", "DEWALT 20V Drill")])
    """
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoder,
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
        losses,
    )

    if not (len(queries) == len(documents) == len(targets)):
        raise ValueError("queries, documents and targets must have the same length")
    torch.manual_seed(seed)
    model = CrossEncoder(base or packaged_minilm(), num_labels=1, max_length=max_length)
    dataset = Dataset.from_dict(
        {"query": list(queries), "document": list(documents), "label": [float(t) for t in targets]}
    )
    gpu = torch.cuda.is_available()
    with tempfile.TemporaryDirectory(prefix="protege-train-") as scratch:
        arguments = CrossEncoderTrainingArguments(
            output_dir=scratch,
            num_train_epochs=epochs,
            per_device_train_batch_size=batch_size,
            learning_rate=learning_rate,
            warmup_ratio=0.1,
            seed=seed,
            bf16=gpu and torch.cuda.is_bf16_supported(),
            save_strategy="no",
            report_to="none",
            logging_steps=max(1, len(dataset) // batch_size // 10),
            dataloader_drop_last=False,
            dataloader_pin_memory=gpu,
        )
        trainer = CrossEncoderTrainer(
            model=model, args=arguments, train_dataset=dataset, loss=losses.BinaryCrossEntropyLoss(model)
        )
        trainer.train()
    if out is not None:
        model.save_pretrained(str(out))
    return model
