from __future__ import annotations

import asyncio
import time

import pytest

from protege.server.batcher import DynamicBatcher, QueueFull
from protege.server.config import ServeConfig


class Recorder:
    def __init__(self, delay: float = 0.0) -> None:
        self.batches: list[list[str]] = []
        self.delay = delay

    def __call__(self, items: list[str]) -> list[int]:
        self.batches.append(list(items))
        time.sleep(self.delay)
        return [len(item) for item in items]


async def _with_batcher(process, test, **options):
    # The serving defaults of the queue (the test's own where it gives one).
    batcher = DynamicBatcher(process, **({"max_queue": ServeConfig.max_queue} | options))
    await batcher.start()
    try:
        return await test(batcher)
    finally:
        await batcher.stop()


def test_concurrent_single_items_are_merged_into_batches() -> None:
    recorder = Recorder(delay=0.01)

    async def test(batcher):
        results = await asyncio.gather(*(batcher.submit(["x" * i]) for i in range(1, 41)))
        assert results == [[i] for i in range(1, 41)]

    asyncio.run(_with_batcher(recorder, test, max_batch=16, max_wait_s=0.05))
    assert sum(len(batch) for batch in recorder.batches) == 40
    assert max(len(batch) for batch in recorder.batches) == 16
    assert len(recorder.batches) <= 4


def test_a_lone_item_waits_at_most_max_wait() -> None:
    async def test(batcher):
        started = time.perf_counter()
        assert await batcher.submit(["abc"]) == [3]
        return time.perf_counter() - started

    elapsed = asyncio.run(_with_batcher(Recorder(), test, max_batch=64, max_wait_s=0.05))
    assert 0.04 <= elapsed < 0.5


def test_results_keep_request_order_across_length_buckets() -> None:
    recorder = Recorder()

    async def test(batcher):
        items = ["x" * n for n in (9, 1, 7, 3, 5, 2, 8, 4, 6, 10, 1, 9)]
        assert await batcher.submit(items) == [len(item) for item in items]

    asyncio.run(_with_batcher(recorder, test, max_batch=4, max_wait_s=0.0, bucket_batches=4))
    assert [len(batch) for batch in recorder.batches] == [4, 4, 4]
    lengths = [[len(item) for item in batch] for batch in recorder.batches]
    assert lengths == sorted(lengths) and all(batch == sorted(batch) for batch in lengths)


def test_full_queue_raises_queue_full_and_recovers() -> None:
    async def test(batcher):
        first = asyncio.create_task(batcher.submit(["a"] * 8))
        await asyncio.sleep(0.01)  # taken by the worker: still counted until answered
        with pytest.raises(QueueFull, match="limit of 8"):
            await batcher.submit(["b"])
        assert await first == [1] * 8
        assert await batcher.submit(["cc"]) == [2]

    asyncio.run(_with_batcher(Recorder(delay=0.05), test, max_batch=4, max_queue=8, max_wait_s=0.0))


def test_cancelled_calls_are_skipped() -> None:
    recorder = Recorder(delay=0.05)

    async def test(batcher):
        running = asyncio.create_task(batcher.submit(["busy"]))
        await asyncio.sleep(0.01)
        doomed = asyncio.create_task(batcher.submit(["doomed"]))
        await asyncio.sleep(0)
        doomed.cancel()
        assert await batcher.submit(["kept"]) == [4]
        await running

    asyncio.run(_with_batcher(recorder, test, max_batch=8, max_wait_s=0.0))
    assert all("doomed" not in batch for batch in recorder.batches)


def test_model_errors_reach_every_caller_of_the_batch() -> None:
    def broken(items: list[str]) -> list[int]:
        raise RuntimeError("model exploded")

    async def test(batcher):
        results = await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b"]), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) and "exploded" in str(r) for r in results)
        assert batcher.outstanding == 0

    asyncio.run(_with_batcher(broken, test, max_batch=8, max_wait_s=0.01))
