"""Serving throughput: the gRPC teacher vs the same model in-process, batched vs unbatched,
and label-cache hits.

    python bench/serve.py [--pairs 1024] [--clients 16] [--model PATH] [--rounds 2]

Prints one JSON line last: inprocess_pairs_per_s (CrossEncoder.predict, batch 32),
grpc_pairs_per_s (``--clients`` concurrent clients, one pair per Label call),
ratio_vs_inprocess, unbatched_pairs_per_s (same load, --max-batch 1), speedup_vs_unbatched,
cache_hit_pairs_per_s (relabelling labelled pairs, ``--cache-batch`` pairs per call), and the
same model served under ONNX Runtime (``--runtime onnx``, exported on start) and as an int8
export (``protege export --quantize int8``, a teacher of its own version): onnx_grpc_pairs_per_s,
onnx_int8_grpc_pairs_per_s and their speed-ups over torch. Each figure is the median over
``--rounds`` rounds that alternate the configurations.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import TeacherProcess, emit, free_port, load_pairs, log, model_or_packaged

from protege.client.export import ExportSpec, export_student
from protege.v1 import teacher_pb2, teacher_pb2_grpc


async def _label_concurrently(
    target: str, pairs: list[tuple[str, str]], clients: int, per_call: int
) -> float:
    """Pairs per second with ``clients`` concurrent callers, ``per_call`` pairs per Label call."""
    calls = [pairs[i : i + per_call] for i in range(0, len(pairs), per_call)]
    async with grpc.aio.insecure_channel(target) as channel:
        stub = teacher_pb2_grpc.TeacherStub(channel)

        async def caller(worker: int) -> None:
            for index in range(worker, len(calls), clients):
                request = teacher_pb2.LabelRequest(
                    pairs=[
                        teacher_pb2.Pair(id=str(j), query=query, document=document)
                        for j, (query, document) in enumerate(calls[index])
                    ]
                )
                await stub.Label(request, timeout=300)

        started = time.perf_counter()
        await asyncio.gather(*(caller(worker) for worker in range(clients)))
        return len(pairs) / (time.perf_counter() - started)


def grpc_rate(target: str, pairs: list[tuple[str, str]], clients: int, per_call: int = 1) -> float:
    return asyncio.run(_label_concurrently(target, pairs, clients, per_call))


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=1024, help="pairs per measurement")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", help="cross-encoder (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=5.0)
    parser.add_argument(
        "--cache-batch", type=int, default=256, help="pairs per call when measuring cache hits"
    )
    parser.add_argument("--device", default="auto")
    return parser.parse_args()


def teacher_flags(args: argparse.Namespace, device: str, scratch: Path) -> dict[str, list[str] | None]:
    """Each served configuration's ``protege serve`` flags: batched, unbatched, and on the CPU the
    model under ONNX Runtime and as an int8 export (None where a configuration is not run)."""
    common = ["--backend", "cross-encoder", "--model", args.model, "--metrics-port", "0", "--cache", "none"]
    common += ["--device", device]
    batched = [*common, "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
    flags: dict[str, list[str] | None] = {"grpc": batched, "unbatched": [*common, "--max-batch", "1"]}
    flags["unbatched"] += ["--max-wait-ms", "0"]
    flags |= {"onnx": None, "onnx_int8": None}
    if device == "cpu":  # ONNX Runtime serves on the CPU only.
        int8 = export_student(args.model, scratch / "int8", ExportSpec("onnx", quantize="int8"))
        flags["onnx"] = [*batched, "--runtime", "onnx"]
        flags["onnx_int8"] = [*flags["onnx"], "--model", str(int8)]  # the later --model wins
    return flags


def measure(model, targets: dict[str, str | None], pool: list, args: argparse.Namespace) -> dict:
    """Each configuration's pairs/s per round, alternating them, fresh pairs for each (no caching)."""
    n = args.pairs
    rates: dict[str, list[float]] = {key: [] for key in ("inprocess", "grpc", "unbatched", "cache_hit")}
    rates |= {"onnx": [], "onnx_int8": []}
    for round_ in range(args.rounds):
        fresh = pool[2 * n * round_ : 2 * n * (round_ + 1)]
        started = time.perf_counter()
        model.predict(fresh[:n], batch_size=32, show_progress_bar=False)
        rates["inprocess"].append(n / (time.perf_counter() - started))
        rates["grpc"].append(grpc_rate(targets["grpc"], fresh[n:], args.clients))
        rates["unbatched"].append(grpc_rate(targets["unbatched"], fresh[:n], args.clients))
        rates["cache_hit"].append(grpc_rate(targets["grpc"], fresh[n:], 4, per_call=args.cache_batch))
        if targets["onnx"]:
            rates["onnx"].append(grpc_rate(targets["onnx"], fresh[:n], args.clients))
            rates["onnx_int8"].append(grpc_rate(targets["onnx_int8"], fresh[n:], args.clients))
        log(
            f"round {round_ + 1}/{args.rounds}: "
            + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in rates.items() if v)
        )
    return {key: statistics.median(values) if values else None for key, values in rates.items()}


def summary(args: argparse.Namespace, model_name: str, device: str, source: str, median: dict) -> dict:
    """The JSON line: the medians and their ratios."""
    onnx, int8 = median["onnx"], median["onnx_int8"]
    return {
        "benchmark": "serve",
        "model": model_name,
        "device": device,
        "pairs_source": source,
        "pairs": args.pairs,
        "clients": args.clients,
        "rounds": args.rounds,
        "max_batch": args.max_batch,
        "inprocess_pairs_per_s": round(median["inprocess"], 1),
        "grpc_pairs_per_s": round(median["grpc"], 1),
        "ratio_vs_inprocess": round(median["grpc"] / median["inprocess"], 3),
        "unbatched_pairs_per_s": round(median["unbatched"], 1),
        "speedup_vs_unbatched": round(median["grpc"] / median["unbatched"], 3),
        "cache_hit_pairs_per_s": round(median["cache_hit"], 1),
        "cache_hit_batch": args.cache_batch,
        "onnx_grpc_pairs_per_s": onnx and round(onnx, 1),
        "onnx_speedup_vs_torch": onnx and round(onnx / median["grpc"], 3),
        "onnx_int8_grpc_pairs_per_s": int8 and round(int8, 1),
        "onnx_int8_speedup_vs_torch": int8 and round(int8 / median["grpc"], 3),
    }


def main() -> None:
    args = arguments()

    import torch
    from sentence_transformers import CrossEncoder

    args.model, model_name = model_or_packaged(args.model)
    pool, source = load_pairs(args.pairs * (2 * args.rounds + 1))
    warmup, pool = pool[:64], pool[64:]
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    model = CrossEncoder(args.model, device=device)
    model.predict(warmup, batch_size=32, show_progress_bar=False)
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as teachers:
        targets = {
            name: teachers.enter_context(TeacherProcess(free_port(), *flags)).target if flags else None
            for name, flags in teacher_flags(args, device, Path(scratch)).items()
        }
        for target in filter(None, targets.values()):
            grpc_rate(target, warmup, args.clients)
        median = measure(model, targets, pool, args)
    emit(summary(args, model_name, device, source, median))


if __name__ == "__main__":
    main()
