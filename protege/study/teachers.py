"""The study's teachers: the one fitted on the teacher-train gold, the same teacher made noisy, and
what each costs per pair.

The noisy teacher replaces its score by ``1 - score`` on a fixed random share of pairs (chosen by a
hash of the pair, so every call and every student sees the same flips): what an LLM judge's
disagreements look like to a student, and what the student-side filters exist for.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

from protege import teacher_fit
from protege.server.backends import Backend, Scores
from protege.server.backends.ensemble import MANIFEST as ENSEMBLE_MANIFEST

log = logging.getLogger("protege.study")

FLIP_RESOLUTION = 1_000_000


def fit_teacher(
    rows: pa.Table, recipe: str, base: str | None, epochs: float, folder: Path, seed: int
) -> Path:
    """The teacher of ``recipe`` fitted on ``rows`` (gold ``label`` in 0..1) into ``folder``; a
    folder that already holds a finished teacher is kept as it is."""
    finished = folder / (ENSEMBLE_MANIFEST if recipe == "ensemble" else "provenance.json")
    if finished.exists():
        return folder
    queries, documents = rows["query"].to_pylist(), rows["document"].to_pylist()
    targets = rows["label"].to_numpy(zero_copy_only=False)
    return teacher_fit.fit_teacher(
        recipe,
        queries,
        documents,
        targets,
        folder,
        teacher_fit.training_for(recipe, base=base, epochs=epochs, seed=seed),
    )


def cross_encoder_of(recipe: str, folder: Path) -> Path | None:
    """The teacher's cross-encoder, which students start from (its first layers and its head, as
    DistilBERT starts from its teacher's layers): the teacher itself, an ensemble's cross-encoder
    member, or None for an LLM judge."""
    if recipe == "cross-encoder":
        return folder
    if recipe == "ensemble":
        members = json.loads((folder / ENSEMBLE_MANIFEST).read_text())["members"]
        return next((folder / m["model"] for m in members if m["kind"] == "cross-encoder"), None)
    return None


def flipped(queries: Sequence[str], documents: Sequence[str], share: float) -> np.ndarray:
    """Which pairs a noisy teacher flips: a fixed ``share`` of them, by a hash of the pair."""
    threshold = round(share * FLIP_RESOLUTION)
    return np.array(
        [
            int(hashlib.sha1(f"{query}\n{document}".encode()).hexdigest(), 16) % FLIP_RESOLUTION < threshold
            for query, document in zip(queries, documents, strict=True)
        ],
        dtype=bool,
    )


def with_flips(
    scores: np.ndarray, queries: Sequence[str], documents: Sequence[str], share: float
) -> np.ndarray:
    """``scores`` as the noisy teacher gives them: ``1 - score`` on the flipped pairs."""
    scores = np.array(scores, dtype=np.float64)
    flips = flipped(queries, documents, share)
    scores[flips] = 1 - scores[flips]
    return scores


class NoisyBackend(Backend):
    """A teacher whose score is ``1 - score`` on a fixed random ``share`` of pairs, with a version of
    its own (its labels are never cached as the clean teacher's). ``known``: the clean teacher's
    scores of pairs it has labelled already (the pool's), used instead of asking it again.

    Example::

        noisy = NoisyBackend(load_backend("ensemble", "teacher/"), share=0.2)
    """

    kind = "noisy"

    def __init__(
        self, inner: Backend, share: float, known: dict[tuple[str, str], float] | None = None
    ) -> None:
        self.inner, self.share, self.known = inner, share, known or {}
        super().__init__(f"{inner.model_name} (noisy {share:g})", f"noisy{share:g}-{inner.version}")

    def score(self, queries: list[str], documents: list[str]) -> Scores:
        pairs = list(zip(queries, documents, strict=True))
        missing = [number for number, pair in enumerate(pairs) if pair not in self.known]
        clean = np.array([self.known.get(pair, np.nan) for pair in pairs])
        if missing:
            asked = self.inner.score([queries[i] for i in missing], [documents[i] for i in missing])
            clean[missing] = asked.scores
        return Scores(with_flips(clean, queries, documents, self.share))


def pairs_per_second(
    score: Callable[[list[str], list[str]], object], queries: list[str], documents: list[str], batch: int = 32
) -> float:
    """In-process pairs a second of ``score`` over the pairs, in batches of ``batch``."""
    started = time.perf_counter()
    for start in range(0, len(queries), batch):
        score(queries[start : start + batch], documents[start : start + batch])
    return len(queries) / (time.perf_counter() - started)
