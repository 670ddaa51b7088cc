"""Filters on the queries themselves, in the student's own embedding space: plausibility
(the r-IFD side: a generated query must look like the seed queries) and near-duplicates
(SemDeDup)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import faiss
import numpy as np

from .base import Candidates, no_reasons, seed_rows
from .profile import Profile

Embed = Callable[[Sequence[str]], np.ndarray]


class StudentQueryEmbedder:
    """Unit-length query embeddings from the student's encoder (mean of its last hidden layer,
    the query alone), so "plausible" means plausible to this student.

    Example::

        embed = StudentQueryEmbedder(CrossEncoder("student/"))
        embed(["cordless drill", "xq zzv blorf"]).shape  # (2, hidden size)
    """

    def __init__(self, model, batch_size: int = 128) -> None:
        self.tokenizer = model.tokenizer
        self.encoder = model.model.base_model
        self.batch_size = batch_size
        self.max_length = min(getattr(model, "max_length", None) or 128, 128)

    def __call__(self, queries: Sequence[str]) -> np.ndarray:
        import torch  # here: the filters' settings load without it (protege --help)

        device = next(self.encoder.parameters()).device
        parts = []
        for start in range(0, len(queries), self.batch_size):
            batch = self.tokenizer(
                list(queries[start : start + self.batch_size]),
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(device)
            with torch.inference_mode():
                hidden = self.encoder(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
            parts.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
        width = self.encoder.config.hidden_size
        return np.concatenate(parts) if parts else np.zeros((0, width), np.float32)


def _index(vectors: np.ndarray) -> faiss.IndexFlatIP:
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def seed_distances(seed_vectors: np.ndarray) -> np.ndarray:
    """Each seed query's cosine distance to its nearest other seed: the seeds' own density
    profile, against which a generated query is judged (store it in the profile as
    ``seed_distance``)."""
    if len(seed_vectors) < 2:
        raise ValueError("the seed density profile needs at least two seed queries")
    similarities, _ = _index(seed_vectors).search(np.ascontiguousarray(seed_vectors, np.float32), 2)
    return 1.0 - similarities[:, 1]


@dataclass
class Plausibility:
    """Rejects generated queries farther from every seed query than the seeds' own
    ``quantile`` nearest-neighbour distance ("implausible query"). Seed queries pass."""

    seed_vectors: np.ndarray
    embed: Embed
    quantile: float = 0.99

    def __post_init__(self) -> None:
        self._seeds = _index(self.seed_vectors)

    def __call__(self, candidates: Candidates, alive: np.ndarray, profile: Profile) -> np.ndarray:
        reasons = no_reasons(len(candidates))
        rows = np.flatnonzero(alive & ~seed_rows(candidates))
        if not len(rows):
            return reasons
        limit = profile.quantile("seed_distance", self.quantile)
        queries, inverse = np.unique(candidates["query"][rows].astype(str), return_inverse=True)
        similarities, _ = self._seeds.search(np.ascontiguousarray(self.embed(list(queries)), np.float32), 1)
        too_far = (1.0 - similarities[:, 0]) > limit
        reasons[rows[too_far[inverse]]] = "implausible query"
        return reasons


@dataclass
class NearDuplicates:
    """Keeps one query of each group whose embeddings have cosine ≥ ``threshold`` (SemDeDup);
    seed queries are kept first, then queries in row order. Other texts of a group are
    rejected ("duplicate query"); the same text with other products is not a duplicate. A
    generated query as close to an ``accepted`` one (trained on already) is rejected too
    ("duplicate of a trained query"), unless it is that query's own text.

    Example::

        NearDuplicates(embed, accepted=training_queries)(candidates, alive, profile)
    """

    embed: Embed
    threshold: float = 0.98
    accepted: Sequence[str] = ()

    def __call__(self, candidates: Candidates, alive: np.ndarray, profile: Profile) -> np.ndarray:
        reasons = no_reasons(len(candidates))
        rows = np.flatnonzero(alive)
        if not len(rows):
            return reasons
        texts = candidates["query"][rows].astype(str)
        generated = ~seed_rows(candidates)[rows]
        order = np.lexsort((rows, generated))  # seeds first, then row order
        unique: dict[str, None] = dict.fromkeys(texts[order].tolist())
        queries = list(unique)
        vectors = np.ascontiguousarray(self.embed(queries), np.float32)
        accepted = list(dict.fromkeys(self.accepted))
        near_trained = np.zeros(len(queries), dtype=bool)
        if accepted:
            similarities, _ = _index(self.embed(accepted)).search(vectors, 1)
            exempt = set(accepted) | set(texts[~generated].tolist())  # trained texts and seeds
            near_trained = (similarities[:, 0] >= self.threshold) & ~np.isin(queries, list(exempt))
        kept = faiss.IndexFlatIP(vectors.shape[1])
        duplicates, trained = set(), set()
        for query, vector, near in zip(queries, vectors, near_trained, strict=True):
            if near:
                trained.add(query)
            elif kept.ntotal and kept.search(vector[None], 1)[0][0, 0] >= self.threshold:
                duplicates.add(query)
            else:
                kept.add(vector[None])
        reasons[rows[np.isin(texts, list(duplicates))]] = "duplicate query"
        reasons[rows[np.isin(texts, list(trained))]] = "duplicate of a trained query"
        return reasons
