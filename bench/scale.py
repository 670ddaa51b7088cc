"""Labelling past one process: the same pairs through 1, 2 and 4 teacher replicas on loopback, and
what keeping track of shards costs at 10,000 and 100,000 shards.

    python bench/scale.py [--pairs 20000] [--replicas 1,2,4] [--shard-size 500]

The replicas serve a tiny random cross-encoder (2 layers, 32 wide; the tests' model) with no label
cache, so the model is cheap and what is measured is protege's serving and labelling path: gRPC,
batching, the job's reading and writing. They share this machine's cores with the job, so pairs/s
flattens where the cores run out, not where protege does; the JSON line says how many there are.

Shard bookkeeping, without a teacher: before 2026-12-08 a job rewrote its whole manifest after
every shard (``manifest_rewrite_s_per_shard``: one rewrite of a manifest of N shards, what the
N-th shard paid); now a shard's file is its record (``shard_write_s``: one small shard written
with its metadata) and the manifest is written once from the listing of N shard files
(``listing_s``, ``manifest_once_s``). One JSON line last.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import REPO, TeacherProcess, emit, free_port, load_pairs, log

sys.path.insert(0, str(REPO / "tests"))
from tiny_models import make_tiny_bert

from protege.client import TeacherClient
from protege.client.data import Columns
from protege.client.labelling.jobs import LabelJob, finished_shards, write_shard
from protege.common.files import write_json_atomic


def label_through(replicas: int, model: Path, data: Path, out: Path, shard_size: int) -> float:
    """Pairs/s of a label job through ``replicas`` teacher processes (two streams each)."""
    serve = ["--backend", "cross-encoder", "--model", str(model), "--cache", "none", "--metrics-port", "0"]
    teachers = [TeacherProcess(free_port(), *serve) for _ in range(replicas)]
    for teacher in teachers:
        teacher.__enter__()
    try:
        with TeacherClient(",".join(teacher.target for teacher in teachers)) as client:
            job = LabelJob(
                data, Columns(), out, shard_size=shard_size, concurrency=2 * replicas, progress=False
            )
            return job.run(client)["pairs_per_s"]
    finally:
        for teacher in teachers:
            teacher.__exit__(None, None, None)


def bookkeeping(shards: int, scratch: Path) -> dict:
    """What tracking ``shards`` shards costs, the old way and the new (module docstring)."""
    entry = {"file": "labels-000000.parquet", "rows": 1000, "skipped": 0}
    manifest = {"shards": {str(index): entry for index in range(shards)}}
    started = time.perf_counter()
    write_json_atomic(scratch / "manifest.json", manifest)
    rewrite = time.perf_counter() - started
    folder = scratch / f"shards-{shards}"
    folder.mkdir()
    table = pa.table({"pair_id": ["0"], "score": [0.5]})
    started = time.perf_counter()
    for index in range(shards):
        write_shard(folder, index, table, 0)
    writes = time.perf_counter() - started
    started = time.perf_counter()
    done = finished_shards(folder)
    listing = time.perf_counter() - started
    started = time.perf_counter()
    write_json_atomic(
        folder / "manifest.json", {"shards": {str(index): done[index] for index in sorted(done)}}
    )
    once = time.perf_counter() - started
    log(f"{shards:,} shards: rewrite {rewrite:.3f} s a shard; write {writes / shards * 1e3:.2f} ms a shard")
    return {
        "manifest_rewrite_s_per_shard": round(rewrite, 4),
        "manifest_rewrites_total_s_estimated": round(rewrite * shards / 2, 1),  # they grow linearly
        "shard_write_s": round(writes / shards, 5),
        "listing_s": round(listing, 2),
        "manifest_once_s": round(once, 3),
    }


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=20_000)
    parser.add_argument("--replicas", default="1,2,4", help="replica counts, comma-separated")
    parser.add_argument("--shard-size", type=int, default=500)
    parser.add_argument("--shards", default="10000,100000", help="shard counts for the bookkeeping")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    scratch = Path(tempfile.mkdtemp(prefix="protege-scale-"))
    model = make_tiny_bert(scratch / "tiny-ce")
    pairs, source = load_pairs(args.pairs)
    data = scratch / "pairs.parquet"
    pq.write_table(pa.table({"query": [q for q, _ in pairs], "document": [d for _, d in pairs]}), data)
    rates = {}
    for replicas in (int(count) for count in args.replicas.split(",")):
        rates[replicas] = label_through(
            replicas, model, data, scratch / f"labels-{replicas}", args.shard_size
        )
        log(f"{replicas} replica(s): {rates[replicas]:,.0f} pairs/s")
    kept = {int(count): bookkeeping(int(count), scratch) for count in args.shards.split(",")}
    emit(
        {
            "benchmark": "scale",
            "pairs": len(pairs),
            "source": source,
            "cores": os.cpu_count(),
            "shard_size": args.shard_size,
            "pairs_per_s": {str(replicas): rate for replicas, rate in rates.items()},
            "speedup": {
                str(replicas): round(rate / rates[min(rates)], 2) for replicas, rate in rates.items()
            },
            "bookkeeping": {str(shards): figures for shards, figures in kept.items()},
        }
    )


if __name__ == "__main__":
    main()
