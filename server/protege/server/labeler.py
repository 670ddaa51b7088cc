"""The labelling path: label cache, then the dynamic batcher, then the backend."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .backends import Backend, Scores
from .batcher import DynamicBatcher
from .cache import CachedLabel, LabelCache, cache_key
from .config import ServeConfig
from .metrics import Metrics

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelResult:
    score: float
    class_probabilities: tuple[float, ...]
    cached: bool


@dataclass(frozen=True)
class _Item:
    key: bytes
    query: str
    document: str

    def __len__(self) -> int:
        return len(self.query) + len(self.document)


class Labeler:
    """Labels (query, document) pairs: cached labels at once, the rest in dynamic batches.

    Example::

        config = ServeConfig("bi-encoder", path)
        cache = LabelCache(config.cache, config.cache_memory_items)
        labeler = Labeler(load_backend("bi-encoder", path), cache, config)
        await labeler.start()
        await labeler.label([("cordless drill", "DEWALT 20V MAX Cordless Drill")])
    """

    def __init__(
        self, backend: Backend, cache: LabelCache, config: ServeConfig, metrics: Metrics | None = None
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.metrics = metrics or Metrics()
        self.batcher: DynamicBatcher[_Item, LabelResult] = DynamicBatcher(
            self._process,
            max_batch=config.max_batch,
            max_wait_s=config.max_wait_ms / 1000,
            max_queue=config.max_queue,
            observer=self.metrics,
        )

    async def start(self) -> None:
        await self.batcher.start()

    async def stop(self) -> None:
        await self.batcher.stop()

    async def label(self, pairs: Sequence[tuple[str, str]]) -> list[LabelResult]:
        """Labels in the order of ``pairs``. Raises ``QueueFull`` when the server is overloaded."""
        version = self.backend.version
        keys = [cache_key(version, query, document) for query, document in pairs]
        results: list[LabelResult | None] = [None] * len(pairs)
        misses: list[int] = []
        for i, hit in enumerate(self.cache.get_many(keys)):
            if hit is None:
                misses.append(i)
            else:
                results[i] = LabelResult(hit.score, hit.class_probabilities, cached=True)
        if len(pairs) > len(misses):
            self.metrics.pairs.labels("cache").inc(len(pairs) - len(misses))
        if misses:
            items = [_Item(keys[i], *pairs[i]) for i in misses]
            for i, result in zip(misses, await self.batcher.submit(items), strict=False):
                results[i] = result
            self.metrics.pairs.labels("model").inc(len(misses))
        return results  # type: ignore[return-value]

    async def refine(self, query: str, document: str, num_rewrites: int, seed: int) -> list[str]:
        return await self.batcher.run_exclusive(
            lambda: self.backend.refine(query, document, num_rewrites, seed)
        )

    def _process(self, items: list[_Item]) -> list[LabelResult]:
        """Runs on the model worker: one model pass, then the labels go into the cache (all of the
        batch's or, where the backend fails, none)."""
        scores = self._score([item.query for item in items], [item.document for item in items])
        for method, count in (scores.methods or {}).items():
            self.metrics.llm_answers.labels(method).inc(count)
        probabilities = scores.class_probabilities
        results = [
            LabelResult(
                float(scores.scores[i]),
                tuple(probabilities[i].tolist()) if probabilities is not None else (),
                cached=False,
            )
            for i in range(len(items))
        ]
        self.cache.put_many(
            (item.key, CachedLabel(result.score, result.class_probabilities))
            for item, result in zip(items, results, strict=False)
        )
        return results

    def _score(self, queries: list[str], documents: list[str]) -> Scores:
        """Scores a batch; on GPU out-of-memory, halves it instead of failing the calls."""
        try:
            return self.backend.score(queries, documents)
        except torch.OutOfMemoryError:
            if len(queries) == 1:
                raise
            torch.cuda.empty_cache()
            half = len(queries) // 2
            logger.warning("out of memory on a batch of %d pairs; retrying in halves", len(queries))
            first = self._score(queries[:half], documents[:half])
            second = self._score(queries[half:], documents[half:])
            probabilities = None
            if first.class_probabilities is not None and second.class_probabilities is not None:
                probabilities = np.concatenate([first.class_probabilities, second.class_probabilities])
            return Scores(np.concatenate([first.scores, second.scores]), probabilities)
