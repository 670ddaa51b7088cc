"""Coverage at scale: nearest training query for 100k target queries among 1M training
queries, exact (flat) vs approximate (the IVF index ``CoverageIndex`` switches to), and the fold
(``CoverageFold``: an IVF index of the targets, the training vectors folded through it in batches,
no index of the training queries at all).

    python bench/coverage.py [--targets 100000] [--train 1000000] [--dim 384] [--flat-sample 2000]
        [--fold-lists N] [--fold-nprobe 16]

Vectors are synthetic unit vectors in the embedding's dimension, drawn around 20,000 topic
centres (queries cluster by topic, as real query embeddings do); embedding a million real
queries would take hours on this CPU and measures the embedder, not the index. Exact search
over all targets would take ~15 minutes here, so it runs on ``--flat-sample`` targets and its
time is scaled to all of them (reported as such); the approximate index searches all targets.
Neighbour recall is the share of sampled targets whose approximate nearest neighbour is the
exact one (for the fold: among sampled targets whose exact match is above its floor); coverage@0.8
from each on the sample shows what the misses cost. One JSON line last.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import emit, log

from protege.client.retrieval.coverage import approximate_index
from protege.client.retrieval.coverage_fold import CoverageFold


def vectors(count: int, centres: np.ndarray, rng: np.random.Generator, spread: float) -> np.ndarray:
    out = np.empty((count, centres.shape[1]), dtype=np.float32)
    for start in range(0, count, 100_000):
        size = min(100_000, count - start)
        chunk = centres[rng.integers(len(centres), size=size)] + spread * rng.standard_normal(
            (size, centres.shape[1]), dtype=np.float32
        )
        out[start : start + size] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def fold_all(
    targets: np.ndarray, train: np.ndarray, nprobe: int, lists: int | None
) -> tuple[CoverageFold, float, float]:
    """The fold of every training vector, in batches as the embedding step hands them over, and
    the seconds to build its index and to fold."""
    started = time.perf_counter()
    fold = CoverageFold(targets, nprobe=nprobe, lists=lists)
    build = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, len(train), 100_000):
        fold.fold(train[start : start + 100_000], np.arange(start, min(start + 100_000, len(train))))
    seconds = time.perf_counter() - started
    log(f"fold: {len(train):,} training vectors through {len(targets):,} targets in {seconds:.1f} s")
    return fold, build, seconds


def ivf_search_all(
    train: np.ndarray, targets: np.ndarray, args: argparse.Namespace
) -> tuple[dict, float, float, tuple[np.ndarray, np.ndarray]]:
    """The IVF index of every training query ``CoverageIndex`` switches to: its shape, build and
    search seconds, and its nearest training query per target."""
    started = time.perf_counter()
    ivf = approximate_index(train, nprobe=args.nprobe, seed=args.seed)
    build = time.perf_counter() - started
    log(f"IVF ({ivf.nlist} lists) built in {build:.1f} s")
    started = time.perf_counter()
    nearest = ivf.search(targets, 1)
    search = time.perf_counter() - started
    log(f"IVF: {len(targets):,} targets in {search:.1f} s")
    return {"lists": int(ivf.nlist), "nprobe": int(ivf.nprobe)}, build, search, nearest


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--targets", type=int, default=100_000)
    parser.add_argument("--train", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--flat-sample", type=int, default=2000)
    parser.add_argument("--nprobe", type=int, default=16)
    parser.add_argument("--fold-lists", type=int, help="IVF lists of the targets (default: √targets)")
    parser.add_argument("--fold-nprobe", type=int, default=16, help="lists a training vector searches")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = arguments()

    import faiss

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

    del flat  # the fold needs no index of the training queries: memory for the targets only
    ivf, ivf_build, ivf_search, (approximate_similarity, approximate_rows) = ivf_search_all(
        train, targets, args
    )
    on_sample = approximate_rows[: len(sample), 0]
    flat_search_all = flat_search_sample * len(targets) / len(sample)

    fold, fold_build, fold_time = fold_all(targets, train, args.fold_nprobe, args.fold_lists)
    above = exact_similarity[:, 0] >= fold.floor
    fold_hits = fold.match[: len(sample)][above] == exact_rows[above, 0]
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
            "ivf_lists": ivf["lists"],
            "ivf_nprobe": ivf["nprobe"],
            "ivf_build_s": round(ivf_build, 1),
            "ivf_search_s": round(ivf_search, 1),
            "search_speedup": round(flat_search_all / ivf_search, 1),
            "neighbour_recall_at_1": round(float((on_sample == exact_rows[:, 0]).mean()), 4),
            "coverage@0.8_flat": round(float((exact_similarity[:, 0] >= 0.8).mean()), 4),
            "coverage@0.8_ivf": round(float((approximate_similarity[: len(sample), 0] >= 0.8).mean()), 4),
            **{f"fold_{key}": int(getattr(fold.index, key, 0)) for key in ("nlist", "nprobe")},
            "fold_build_s": round(fold_build, 1),
            "fold_s": round(fold_time, 1),
            "fold_speedup": round(flat_search_all / fold_time, 1),
            "fold_recall_at_1": round(float(fold_hits.mean()), 4),
            "coverage@0.8_fold": round(float((fold.best[: len(sample)] >= 0.8).mean()), 4),
            "fold_state_mb": round((fold.best.nbytes + fold.match.nbytes) / 2**20, 2),
        }
    )


if __name__ == "__main__":
    main()
