"""Coverage at scale: nearest training query for 100k target queries among 1M training
queries, exact (flat) vs approximate (the IVF index ``CoverageIndex`` switches to).

    python bench/coverage.py [--targets 100000] [--train 1000000] [--dim 384] [--flat-sample 2000]

Vectors are synthetic unit vectors in the embedding's dimension, drawn around 20,000 topic
centres (queries cluster by topic, as real query embeddings do); embedding a million real
queries would take hours on this CPU and measures the embedder, not the index. Exact search
over all targets would take ~15 minutes here, so it runs on ``--flat-sample`` targets and its
time is scaled to all of them (reported as such); the approximate index searches all targets.
Neighbour recall is the share of sampled targets whose approximate nearest neighbour is the
exact one; coverage@0.8 from both on the sample shows what the misses cost. One JSON line last.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import emit, log


def vectors(count: int, centres: np.ndarray, rng: np.random.Generator, spread: float) -> np.ndarray:
    out = np.empty((count, centres.shape[1]), dtype=np.float32)
    for start in range(0, count, 100_000):
        size = min(100_000, count - start)
        chunk = centres[rng.integers(len(centres), size=size)] + spread * rng.standard_normal(
            (size, centres.shape[1]), dtype=np.float32
        )
        out[start : start + size] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--train", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--flat-sample", type=int, default=2000)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = arguments()

    import faiss

    from protege.client.retrieval.coverage import approximate_index

    rng = np.random.default_rng(args.seed)
    centres = rng.standard_normal((20_000, args.dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = 0.5 / np.sqrt(args.dim)  # neighbours within a topic at cosine ~0.8
    log(f"drawing {args.train:,} training and {args.targets:,} target vectors ({args.dim}-d)")
    train = vectors(args.train, centres, rng, spread)
    targets = vectors(args.targets, centres, rng, spread)
    sample = targets[: args.flat_sample]

    started = time.perf_counter()
    flat = faiss.IndexFlatIP(args.dim)
    flat.add(train)
    flat_build = time.perf_counter() - started
    started = time.perf_counter()
    exact_similarity, exact_rows = flat.search(sample, 1)
    flat_search_sample = time.perf_counter() - started
    log(f"flat: {len(sample):,} targets in {flat_search_sample:.1f} s")

    started = time.perf_counter()
    ivf = approximate_index(train, nprobe=args.nprobe, seed=args.seed)
    ivf_build = time.perf_counter() - started
    log(f"IVF ({ivf.nlist} lists) built in {ivf_build:.1f} s")
    started = time.perf_counter()
    approximate_similarity, approximate_rows = ivf.search(targets, 1)
    ivf_search = time.perf_counter() - started
    log(f"IVF: {len(targets):,} targets in {ivf_search:.1f} s")
    on_sample = approximate_rows[: len(sample), 0]
    flat_search_all = flat_search_sample * len(targets) / len(sample)
    emit(
        {
            "benchmark": "coverage",
            "targets": len(targets),
            "train": len(train),
            "dim": args.dim,
            "threads": faiss.omp_get_max_threads(),
            "flat_build_s": round(flat_build, 2),
            "flat_search_s_scaled": round(flat_search_all, 1),
            "flat_search_sample_targets": len(sample),
            "ivf_lists": int(ivf.nlist),
            "ivf_nprobe": int(ivf.nprobe),
            "ivf_build_s": round(ivf_build, 1),
            "ivf_search_s": round(ivf_search, 1),
            "search_speedup": round(flat_search_all / ivf_search, 1),
            "neighbour_recall_at_1": round(float((on_sample == exact_rows[:, 0]).mean()), 4),
            "coverage@0.8_flat": round(float((exact_similarity[:, 0] >= 0.8).mean()), 4),
            "coverage@0.8_ivf": round(float((approximate_similarity[: len(sample), 0] >= 0.8).mean()), 4),
        }
    )


if __name__ == "__main__":
    main()
