"""Soak and overload on loopback: many concurrent LabelStreams against one teacher process.

    python bench/load.py [--streams 64] [--seconds 60] [--pairs-per-message 4] [--max-queue 1024]
                         [--out runs/load]

Three phases against one ``protege serve`` (cross-encoder, label cache off and, unless
``--cache-memory-items`` says otherwise, no memory cache either, so every pair reaches the model):

1. soak: ``--streams`` streams, each sending one message of ``--pairs-per-message`` pairs and
   waiting for its answer before the next, for ``--seconds``. Every answer is checked (ids,
   scores in 0..1). The server's RSS, ``protege_queue_depth`` and ``protege_cache_memory_items``
   are sampled every second, saved to ``OUT/rss.json`` and plotted in ``OUT/rss.png``.
2. overload: a burst of unary calls holding far more pairs than ``--max-queue``: the server
   must refuse some with RESOURCE_EXHAUSTED and answer the rest.
3. recovery: plain calls right after the burst must all succeed.

Prints one JSON line last: throughput, p50/p99 message latency, failed requests (anything but
the deliberate RESOURCE_EXHAUSTED of phase 2), RSS at the start and end of the soak's steady
state (from the moment every stream has had its first answer) and its growth, the growth over
the soak's second half (after warm-up: a least-squares line through its samples, as MB per
minute and as a share of the RSS it starts from), the deepest queue seen, the burst's
refusals, and whether recovery succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import TeacherProcess, emit, free_port, load_pairs, log, model_or_packaged

from protege.v1 import teacher_pb2, teacher_pb2_grpc


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc (Linux)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def gauges(metrics_url: str, *names: str) -> list[float]:
    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    return [float(re.search(rf"^{name} (\S+)$", text, re.MULTILINE).group(1)) for name in names]


class Sampler(threading.Thread):
    """Samples the server's RSS, queue depth and memory-cache size once a second."""

    def __init__(self, pid: int, metrics_url: str) -> None:
        super().__init__(daemon=True)
        self.pid, self.metrics_url = pid, metrics_url
        self.samples: list[tuple[float, int, float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            depth, cached = gauges(self.metrics_url, "protege_queue_depth", "protege_cache_memory_items")
            self.samples.append((time.monotonic(), rss_bytes(self.pid), depth, cached))


def second_half_growth(steady: list[tuple[float, int, float, float]]) -> dict[str, float]:
    """RSS over the second half of the steady state (after warm-up): a least-squares line's
    slope, in MB per minute, and its rise over that half as a share of where the line starts;
    and the median RSS of each half (RSS saw-tooths by a hundred MB as the allocator returns
    blocks, so two single samples say little)."""
    middle = (steady[0][0] + steady[-1][0]) / 2
    halves = [[(t, rss / 2**20) for t, rss, *_ in steady if (t >= middle) == late] for late in (False, True)]
    times, megabytes = (np.array(values) for values in zip(*halves[1], strict=True))
    slope, start = np.polyfit(times - times[0], megabytes, 1)
    return {
        "rss_second_half_mb_per_min": round(float(slope * 60), 2),
        "rss_second_half_growth": round(float(slope * (times[-1] - times[0]) / start), 4),
        "rss_median_first_half_mb": round(float(np.median([mb for _, mb in halves[0]])), 1),
        "rss_median_second_half_mb": round(float(np.median(megabytes)), 1),
    }


def save_series(samples, warm: float, out: Path) -> Path:
    """The samples as ``OUT/rss.json`` and a plot of RSS (and the memory cache, where it holds
    labels), ``OUT/rss.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    first = samples[0][0]
    series = [
        {"seconds": round(t - first, 1), "rss_mb": round(rss / 2**20, 1), "queue": depth, "cached": cached}
        for t, rss, depth, cached in samples
    ]
    (out / "rss.json").write_text(json.dumps({"warm_after_s": round(warm - first, 1), "samples": series}))
    figure, rss_axis = plt.subplots(figsize=(8, 4))
    minutes = np.array([sample["seconds"] for sample in series]) / 60
    rss = np.array([sample["rss_mb"] for sample in series])
    rss_axis.plot(minutes, rss, color="tab:blue", linewidth=0.8, label="server RSS (MB)")
    late = minutes >= (minutes[0] + minutes[-1]) / 2
    slope, start = np.polyfit(minutes[late], rss[late], 1)
    rss_axis.plot(
        minutes[late], start + slope * minutes[late], color="black", label="second half: fitted line"
    )
    rss_axis.axvline((warm - first) / 60, color="grey", linestyle=":", label="every stream answered")
    rss_axis.set_xlabel("minutes of soak")
    rss_axis.set_ylabel("RSS (MB)")
    if any(sample["cached"] for sample in series):
        cache_axis = rss_axis.twinx()
        cache_axis.plot(
            minutes, [s["cached"] for s in series], color="tab:orange", label="labels in memory cache"
        )
        cache_axis.set_ylabel("labels in the memory cache")
    figure.legend(loc="lower center", ncol=4, fontsize="small")
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(out / "rss.png", dpi=110)
    plt.close(figure)
    return out / "rss.png"


def request(pairs: list[tuple[str, str]], prefix: str) -> teacher_pb2.LabelRequest:
    return teacher_pb2.LabelRequest(
        pairs=[teacher_pb2.Pair(id=f"{prefix}-{i}", query=q, document=d) for i, (q, d) in enumerate(pairs)]
    )


def check(response: teacher_pb2.LabelResponse, sent: teacher_pb2.LabelRequest) -> None:
    if [label.id for label in response.labels] != [pair.id for pair in sent.pairs]:
        raise AssertionError("answer ids differ from the request's")
    if not all(0.0 <= label.score <= 1.0 for label in response.labels):
        raise AssertionError("a score outside 0..1")


async def soak(target: str, pairs, streams: int, per_message: int, seconds: float) -> dict:
    latencies: list[float] = []
    failures: dict[str, int] = {}
    answered: set[int] = set()
    warm: list[float] = []  # when every stream has had its first answer: the steady state begins
    deadline = time.monotonic() + seconds

    async def stream(worker: int, stub) -> None:
        call = stub.LabelStream()
        sent = 0
        try:
            while time.monotonic() < deadline:
                start = (worker * 997 + sent * per_message) % (len(pairs) - per_message)
                message = request(pairs[start : start + per_message], f"w{worker}-{sent}")
                began = time.perf_counter()
                await call.write(message)
                response = await call.read()
                if response is grpc.aio.EOF:
                    raise AssertionError("stream ended early")
                check(response, message)
                latencies.append(time.perf_counter() - began)
                sent += 1
                answered.add(worker)
                if len(answered) == streams and not warm:
                    warm.append(time.monotonic())
            await call.done_writing()
            code = await call.code()
            if code != grpc.StatusCode.OK:
                failures[code.name] = failures.get(code.name, 0) + 1
        except grpc.RpcError as error:
            failures[error.code().name] = failures.get(error.code().name, 0) + 1
        except AssertionError as error:
            failures[str(error)] = failures.get(str(error), 0) + 1

    started = time.perf_counter()
    async with grpc.aio.insecure_channel(target) as channel:
        stub = teacher_pb2_grpc.TeacherStub(channel)
        await asyncio.gather(*(stream(worker, stub) for worker in range(streams)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "messages": len(latencies),
        "pairs_per_s": round(len(latencies) * per_message / elapsed, 1),
        "latency_p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "latency_p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
        "failures": failures,
        "warm_at": warm[0] if warm else None,
    }


async def overload(target: str, pairs, calls: int, per_call: int) -> dict:
    outcomes: dict[str, int] = {}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = teacher_pb2_grpc.TeacherStub(channel)

        async def one(index: int) -> None:
            start = (index * 131) % (len(pairs) - per_call)
            message = request(pairs[start : start + per_call], f"burst-{index}")
            try:
                check(await stub.Label(message, timeout=600), message)
                name = "OK"
            except grpc.RpcError as error:
                name = error.code().name
            outcomes[name] = outcomes.get(name, 0) + 1

        await asyncio.gather(*(one(index) for index in range(calls)))
    return outcomes


async def recovery(target: str, pairs, calls: int) -> int:
    """Plain sequential calls after the burst; returns how many succeeded."""
    succeeded = 0
    async with grpc.aio.insecure_channel(target) as channel:
        stub = teacher_pb2_grpc.TeacherStub(channel)
        for index in range(calls):
            message = request(pairs[index : index + 4], f"after-{index}")
            try:
                check(await stub.Label(message, timeout=60), message)
                succeeded += 1
            except grpc.RpcError as error:
                log(f"recovery call {index}: {error.code().name} {error.details()}")
    return succeeded


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pairs-per-message", type=int, default=4)
    parser.add_argument("--max-queue", type=int, default=1024)
    parser.add_argument("--model", help="cross-encoder teacher (default: the packaged MiniLM-L6)")
    parser.add_argument(
        "--cache-memory-items", type=int, default=0, help="the server's memory LRU (default 0: none)"
    )
    parser.add_argument("--out", type=Path, default=Path("runs/load"), help="where rss.json and rss.png go")
    return parser.parse_args()


def steady_figures(sampler: Sampler, soaked: dict, out: Path) -> dict:
    """Memory over the soak once it is warm: start, end, growth, the second half's, the plot."""
    warm = soaked["warm_at"] or sampler.samples[0][0]
    steady = [sample for sample in sampler.samples if sample[0] >= warm] or sampler.samples
    rss_start, rss_end = steady[0][1], steady[-1][1]
    return {
        "rss_start_mb": round(rss_start / 2**20, 1),
        "rss_end_mb": round(rss_end / 2**20, 1),
        "rss_growth": round(rss_end / rss_start - 1, 4),
        "rss_max_mb": round(max(sample[1] for sample in steady) / 2**20, 1),
        **second_half_growth(steady),
        "cached_labels_end": sampler.samples[-1][3],
        "steady_after_s": round(warm - sampler.samples[0][0] + 1.0, 1),
        "max_queue_depth": max(sample[2] for sample in sampler.samples),
        "plot": str(save_series(sampler.samples, warm, out)),
    }


def main() -> None:
    args = arguments()
    model, model_name = model_or_packaged(args.model)
    pairs, source = load_pairs(20_000)
    port, metrics_port = free_port(), free_port()
    options = ["--backend", "cross-encoder", "--model", model, "--cache", "none"]
    options += ["--cache-memory-items", str(args.cache_memory_items)]
    options += ["--metrics-port", str(metrics_port), "--max-queue", str(args.max_queue)]
    target, metrics_url = f"127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics"
    with TeacherProcess(port, *options) as teacher:
        sampler = Sampler(teacher.process.pid, metrics_url)
        sampler.start()
        log(f"soak: {args.streams} streams for {args.seconds:g} s")
        soaked = asyncio.run(soak(target, pairs, args.streams, args.pairs_per_message, args.seconds))
        sampler.stop.set()
        sampler.join()
        steady = steady_figures(sampler, soaked, args.out)
        burst_calls, per_call = 48, 256  # 12,288 pairs at once, far beyond --max-queue
        log(f"overload: {burst_calls} calls of {per_call} pairs at once (--max-queue {args.max_queue})")
        burst = asyncio.run(overload(target, pairs, burst_calls, per_call))
        recovered = asyncio.run(recovery(target, pairs, 20))
        rss_after = rss_bytes(teacher.process.pid)
    failed = (
        sum(soaked["failures"].values())
        + sum(count for name, count in burst.items() if name not in ("OK", "RESOURCE_EXHAUSTED"))
        + (20 - recovered)
    )
    emit(
        {
            "model": model_name,
            "pairs_source": source,
            "streams": args.streams,
            "seconds": args.seconds,
            "pairs_per_message": args.pairs_per_message,
            **{key: soaked[key] for key in ("messages", "pairs_per_s", "latency_p50_ms", "latency_p99_ms")},
            "soak_failures": soaked["failures"],
            "failed_requests": failed,
            **steady,
            "rss_after_overload_mb": round(rss_after / 2**20, 1),
            "max_queue": args.max_queue,
            "overload": burst,
            "recovered_calls": f"{recovered}/20",
            "samples": str(args.out / "rss.json"),
        }
    )


if __name__ == "__main__":
    main()
