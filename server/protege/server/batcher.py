"""Dynamic batching: merges items from concurrent calls into model batches.

One model worker thread runs the batches (one worker per device: a model is not
thread-safe, and two batches at once would only fight over the same cores). A batch
starts when ``max_batch`` items are waiting or the oldest has waited ``max_wait_s``;
when more than a batch is queued, up to ``bucket_batches`` batches are taken together
and sorted by length, so each batch pads to similar lengths. The queue is bounded:
``submit`` raises ``QueueFull`` instead of letting memory grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class QueueFull(Exception):
    """The batcher's queue cannot take the items: the server is overloaded."""


class BatchObserver(Protocol):
    def observe_batch(self, size: int, queue_seconds: Sequence[float], model_seconds: float) -> None: ...

    def observe_queue(self, depth: int) -> None: ...


@dataclass(eq=False)
class _Job(Generic[R]):
    future: asyncio.Future[list[R]]
    results: list[Any]
    remaining: int
    enqueued: float = field(default_factory=time.perf_counter)


class DynamicBatcher(Generic[T, R]):
    """Runs ``process(list_of_items) -> list_of_results`` on batches of submitted items.

    Example::

        def lengths(texts):
            return [len(t) for t in texts]

        batcher = DynamicBatcher(lengths, max_batch=32, max_wait_s=0.005, max_queue=4096)
        await batcher.start()
        await batcher.submit(["a", "bb"])  # [1, 2]
        await batcher.stop()
    """

    def __init__(
        self,
        process: Callable[[list[T]], Sequence[R]],
        *,
        max_batch: int,
        max_wait_s: float,
        max_queue: int,
        length: Callable[[T], int] = len,  # type: ignore[assignment]
        bucket_batches: int = 4,
        observer: BatchObserver | None = None,
    ) -> None:
        if max_batch < 1 or max_queue < max_batch:
            raise ValueError(f"need 1 <= max_batch ({max_batch}) <= max_queue ({max_queue})")
        self.process = process
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.max_queue = max_queue
        self.length = length
        self.bucket_batches = bucket_batches
        self.observer = observer
        self._pending: deque[tuple[_Job[R], int, T]] = deque()
        self._outstanding = 0  # accepted and not yet answered: what the bound applies to
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="protege-model")
        self._worker: asyncio.Task[None] | None = None

    @property
    def outstanding(self) -> int:
        """Items accepted and not yet answered."""
        return self._outstanding

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name="protege-batcher")

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._executor.shutdown(wait=True)

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Results for ``items``, in order. Raises ``QueueFull`` when they do not fit."""
        if not items:
            return []
        if self._outstanding + len(items) > self.max_queue:
            raise QueueFull(
                f"{self._outstanding} pairs queued; {len(items)} more would pass "
                f"the limit of {self.max_queue}"
            )
        job: _Job[R] = _Job(asyncio.get_running_loop().create_future(), [None] * len(items), len(items))
        self._pending.extend((job, i, item) for i, item in enumerate(items))
        self._outstanding += len(items)
        self._observe_queue()
        self._wakeup.set()
        return await job.future

    async def run_exclusive(self, fn: Callable[[], R]) -> R:
        """Runs ``fn`` on the model worker, between batches (e.g. generation)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self._wait_for_batch()
            taken = self._take(self.max_batch * self.bucket_batches)
            if not taken:
                continue
            if len(taken) > self.max_batch:
                taken.sort(key=lambda entry: self.length(entry[2]))
            for start in range(0, len(taken), self.max_batch):
                await self._run_batch(loop, taken[start : start + self.max_batch])
            if self._pending:
                self._wakeup.set()

    async def _wait_for_batch(self) -> None:
        """Waits, up to the oldest item's deadline, until a full batch is queued."""
        while self._pending and len(self._pending) < self.max_batch:
            remaining = self._pending[0][0].enqueued + self.max_wait_s - time.perf_counter()
            if remaining <= 0:
                return
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                return

    def _take(self, limit: int) -> list[tuple[_Job[R], int, T]]:
        """Pops up to ``limit`` items, dropping those of cancelled calls."""
        taken = []
        while self._pending and len(taken) < limit:
            entry = self._pending.popleft()
            if entry[0].future.done():
                self._outstanding -= 1
            else:
                taken.append(entry)
        self._observe_queue()
        return taken

    async def _run_batch(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[_Job[R], int, T]]) -> None:
        started = time.perf_counter()
        try:
            results = await loop.run_in_executor(self._executor, self.process, [item for _, _, item in batch])
        except Exception as error:
            self._outstanding -= len(batch)
            self._observe_queue()
            for job, _, _ in batch:
                if not job.future.done():
                    job.future.set_exception(error)
            return
        if self.observer is not None:
            queue_seconds = [started - job.enqueued for job, _, _ in batch]
            self.observer.observe_batch(len(batch), queue_seconds, time.perf_counter() - started)
        self._outstanding -= len(batch)
        self._observe_queue()
        for (job, index, _), result in zip(batch, results, strict=False):
            if job.future.done():
                continue
            job.results[index] = result
            job.remaining -= 1
            if job.remaining == 0:
                job.future.set_result(job.results)

    def _observe_queue(self) -> None:
        if self.observer is not None:
            self.observer.observe_queue(self._outstanding)
