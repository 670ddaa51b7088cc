"""Sentence embeddings for retrieval, coverage and the zero-shot baseline: the embedder, a
memoising wrapper, and unit-length vectors."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from protege.client.models import packaged_minilm
from protege.common.paths import local_or_hub

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def load_embedder(path: str | None = None, device: str | None = None) -> SentenceTransformer:
    """The bi-encoder at ``path`` (a folder or hub id), else the packaged all-MiniLM-L6-v2."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(local_or_hub(path) if path else packaged_minilm(), device=device)


class MemoEmbedder:
    """An embedder that embeds each distinct text once in its lifetime: several distillation runs
    over one pool (a study's label budgets and seeds) embed its products and queries once, not per run.

    Args:
        embedder: a model with sentence-transformers' ``encode`` (``load_embedder()``).

    Example::

        embedder = MemoEmbedder(load_embedder())
        embed(embedder, ["cordless drill"]); embed(embedder, ["cordless drill"])  # the model runs once
    """

    def __init__(self, embedder) -> None:
        self.embedder = embedder
        self.vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str], **options) -> np.ndarray:
        new = [text for text in dict.fromkeys(texts) if text not in self.vectors]
        if new:
            self.vectors.update(zip(new, self.embedder.encode(new, **options), strict=True))
        return np.stack([self.vectors[text] for text in texts])


def embed(embedder, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
    """Unit-length float32 embeddings, so inner product is cosine similarity. Batches of 32 (sorted
    by length by ``encode``) pad less than larger ones: faster on a CPU, as the teacher backends'."""
    vectors = embedder.encode(
        texts,
        batch_size=batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=progress,
    )
    return np.ascontiguousarray(vectors, dtype=np.float32)
