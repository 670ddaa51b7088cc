"""Labelling throughput: `protege label` through the client vs the teacher model in-process,
and the spread of a job over three local replicas.

    python bench/label.py [--pairs 2000] [--model PATH] [--replicas 3]

Prints one JSON line last: inprocess_pairs_per_s (CrossEncoder.predict, batch 32),
job_pairs_per_s (protege label against one teacher), share_of_inprocess, and for the
replicated run replica_job_pairs_per_s and replica_shares (pairs each replica labelled).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import TeacherProcess, emit, free_port, load_pairs, log, model_or_packaged

from protege.client import TeacherClient
from protege.client.data import Columns
from protege.client.labelling.jobs import LabelJob


def model_pairs(metrics_port: int) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    match = re.search(r'^protege_pairs_total\{source="model"\} (\S+)', body, re.M)
    return float(match.group(1)) if match else 0.0


def run_job(target: str, data: Path, out: Path, shard_size: int, concurrency: int) -> float:
    with TeacherClient(target) as client:
        job = LabelJob(data, Columns(), out, shard_size=shard_size, concurrency=concurrency, progress=False)
        summary = job.run(client)
    return summary["pairs_per_s"]


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--model", help="cross-encoder (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--concurrency", type=int, default=4)
    return parser.parse_args()


def main() -> None:
    args = arguments()

    from sentence_transformers import CrossEncoder

    args.model, model_name = model_or_packaged(args.model)
    pairs, source = load_pairs(3 * args.pairs)
    scratch = Path(tempfile.mkdtemp(prefix="protege-bench-"))
    files = []
    for part in range(3):
        rows = pairs[part * args.pairs : (part + 1) * args.pairs]
        path = scratch / f"pairs-{part}.parquet"
        pq.write_table(pa.table({"query": [q for q, _ in rows], "document": [d for _, d in rows]}), path)
        files.append(path)

    model = CrossEncoder(args.model, device="cpu")
    model.predict(pairs[:64], batch_size=32, show_progress_bar=False)
    started = time.perf_counter()
    model.predict(pairs[: args.pairs], batch_size=32, show_progress_bar=False)
    inprocess = args.pairs / (time.perf_counter() - started)
    del model
    log(f"in-process: {inprocess:.1f} pairs/s")

    serve = ["--backend", "cross-encoder", "--model", args.model, "--cache", "none"]
    with TeacherProcess(free_port(), *serve, "--metrics-port", "0") as teacher:
        single = run_job(teacher.target, files[1], scratch / "single", args.shard_size, args.concurrency)
    log(f"protege label, one teacher: {single:.1f} pairs/s")

    metrics_ports = [free_port() for _ in range(args.replicas)]
    teachers = [TeacherProcess(free_port(), *serve, "--metrics-port", str(port)) for port in metrics_ports]
    try:
        for teacher in teachers:
            teacher.__enter__()
        target = ",".join(teacher.target for teacher in teachers)
        replicated = run_job(target, files[2], scratch / "replicas", args.shard_size, args.concurrency)
        served = [model_pairs(port) for port in metrics_ports]
    finally:
        for teacher in teachers:
            teacher.__exit__()
    log(f"protege label, {args.replicas} replicas: {replicated:.1f} pairs/s, pairs per replica {served}")
    emit(
        {
            "benchmark": "label",
            "model": model_name,
            "pairs_source": source,
            "pairs": args.pairs,
            "shard_size": args.shard_size,
            "concurrency": args.concurrency,
            "inprocess_pairs_per_s": round(inprocess, 1),
            "job_pairs_per_s": round(single, 1),
            "share_of_inprocess": round(single / inprocess, 3),
            "replicas": args.replicas,
            "replica_job_pairs_per_s": round(replicated, 1),
            "replica_shares": [round(count / sum(served), 3) for count in served],
        }
    )


if __name__ == "__main__":
    main()
