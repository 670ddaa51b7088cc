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
from contextlib import nullcontext
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TeacherProcess, emit, free_port, load_pairs, log, model_or_packaged
from protege.client.export import ExportSpec, export_student
from protege.proto import teacher_pb2, teacher_pb2_grpc


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


def main() -> None:
    args = arguments()

    import torch
    from sentence_transformers import CrossEncoder

    args.model, model_name = model_or_packaged(args.model)
    n = args.pairs
    pool, source = load_pairs(n * (2 * args.rounds + 1))
    warmup, pool = pool[:64], pool[64:]
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    model = CrossEncoder(args.model, device=device)
    model.predict(warmup, batch_size=32, show_progress_bar=False)
    common = ["--backend", "cross-encoder", "--model", args.model, "--metrics-port", "0", "--cache", "none"]
    common += ["--device", device]
    batched_args = [*common, "--max-batch", str(args.max_batch), "--max-wait-ms", str(args.max_wait_ms)]
    unbatched_args = [*common, "--max-batch", "1", "--max-wait-ms", "0"]
    # ONNX Runtime serves on the CPU only.
    onnx_args = [*batched_args, "--runtime", "onnx"] if device == "cpu" else None
    scratch = tempfile.TemporaryDirectory()
    if onnx_args:
        int8 = export_student(args.model, Path(scratch.name) / "int8", ExportSpec("onnx", quantize="int8"))
        int8_args = [*onnx_args, "--model", str(int8)]  # the later --model wins

    rates: dict[str, list[float]] = {key: [] for key in ("inprocess", "grpc", "unbatched", "cache_hit")}
    rates |= {"onnx": [], "onnx_int8": []}
    with (
        scratch,
        TeacherProcess(free_port(), *batched_args) as batched,
        TeacherProcess(free_port(), *unbatched_args) as unbatched,
        TeacherProcess(free_port(), *onnx_args) if onnx_args else nullcontext() as onnx,
        TeacherProcess(free_port(), *int8_args) if onnx_args else nullcontext() as onnx_int8,
    ):
        for teacher in (batched, unbatched, onnx, onnx_int8):
            if teacher:
                grpc_rate(teacher.target, warmup, args.clients)
        for round_ in range(args.rounds):
            fresh = pool[2 * n * round_ : 2 * n * (round_ + 1)]
            started = time.perf_counter()
            model.predict(fresh[:n], batch_size=32, show_progress_bar=False)
            rates["inprocess"].append(n / (time.perf_counter() - started))
            rates["grpc"].append(grpc_rate(batched.target, fresh[n:], args.clients))
            rates["unbatched"].append(grpc_rate(unbatched.target, fresh[:n], args.clients))
            rates["cache_hit"].append(grpc_rate(batched.target, fresh[n:], 4, per_call=args.cache_batch))
            if onnx:
                rates["onnx"].append(grpc_rate(onnx.target, fresh[:n], args.clients))
                rates["onnx_int8"].append(grpc_rate(onnx_int8.target, fresh[n:], args.clients))
            log(
                f"round {round_ + 1}/{args.rounds}: "
                + ", ".join(f"{k} {v[-1]:.1f}/s" for k, v in rates.items() if v)
            )
    median = {key: statistics.median(values) if values else None for key, values in rates.items()}
    emit(
        {
            "benchmark": "serve",
            "model": model_name,
            "device": device,
            "pairs_source": source,
            "pairs": n,
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
            "onnx_grpc_pairs_per_s": median["onnx"] and round(median["onnx"], 1),
            "onnx_speedup_vs_torch": median["onnx"] and round(median["onnx"] / median["grpc"], 3),
            "onnx_int8_grpc_pairs_per_s": median["onnx_int8"] and round(median["onnx_int8"], 1),
            "onnx_int8_speedup_vs_torch": median["onnx_int8"]
            and round(median["onnx_int8"] / median["grpc"], 3),
        }
    )


if __name__ == "__main__":
    main()
