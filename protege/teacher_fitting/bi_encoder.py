"""Fine-tuning a sentence-embedding model (a bi-encoder) on graded pairs, with sentence-transformers'
trainer and CoSENT loss: the cosine of a pair's embeddings learns to order pairs as their grades do,
starting from what the embedding model already knows (its zero-shot cosine is a strong baseline).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer import (
    SentenceTransformerTrainer,
    SentenceTransformerTrainingArguments,
    losses,
)

from protege.client.models import packaged_minilm
from protege.common.trainer_arguments import quiet, shared_arguments, uses_bf16


def train_bi_encoder(
    queries: Sequence[str],
    documents: Sequence[str],
    targets: Sequence[float],
    *,
    base: str | None = None,
    out: str | Path | None = None,
    epochs: float = 1.0,
    batch_size: int = 32,
    learning_rate: float = 2e-5,
    seed: int = 0,
    progress: bool = True,
    precision: str = "auto",
):
    """Fine-tunes ``base`` (default: the packaged MiniLM-L6) so that the cosine of a query's and a
    document's embeddings follows ``targets`` (grades in 0..1), and saves it to ``out`` when given,
    where ``SentenceTransformer(out)`` loads it. ``precision``: as ``TrainingConfig``'s (``auto``:
    bf16 autocast where the GPU or CPU computes it in hardware).

    Example::

        model = train_bi_encoder(queries, documents, (grades - 1) / 2, out="bi-encoder/")
        model.similarity(model.encode(["cordless drill"]), model.encode(["DEWALT 20V Drill"]))
    """
    if not (len(queries) == len(documents) == len(targets)) or not len(queries):
        raise ValueError("a bi-encoder trains on as many queries, documents and targets, at least one")
    torch.manual_seed(seed)
    model = SentenceTransformer(base or packaged_minilm())
    dataset = Dataset.from_dict(
        {
            "query": list(queries),
            "document": list(documents),
            "label": np.asarray(targets, dtype=np.float64).tolist(),
        }
    )
    settings = shared_arguments(
        rows=len(dataset),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        seed=seed,
        progress=progress,
        bf16=uses_bf16(precision),
    )
    with tempfile.TemporaryDirectory(prefix="protege-train-") as scratch:
        arguments = SentenceTransformerTrainingArguments(output_dir=scratch, save_strategy="no", **settings)
        loss = losses.CoSENTLoss(model)
        quiet(
            SentenceTransformerTrainer(model=model, args=arguments, train_dataset=dataset, loss=loss)
        ).train()
    if out is not None:
        model.save(str(out))
    return model
