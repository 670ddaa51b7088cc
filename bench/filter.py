"""Filter cost: candidates per second through the student-side filters vs plain student
forward passes over the same pairs.

    python bench/filter.py [--queries 250] [--per-query 8] [--products 400] [--student PATH]

Candidates look like an augmented set: each query paired with ``--per-query`` products drawn
from ``--products`` (so products repeat, as top-k retrieval makes them), half the queries
marked as generated from a seed. Prints one JSON line last: candidates,
student_forward_pairs_per_s, filter_pairs_per_s, cost_in_forward_passes (forward rate /
filter rate; goal ≤ 1.5), and the filter's outcome counts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import emit, load_pairs, log, model_or_packaged

from protege.filters.select import select


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=250)
    parser.add_argument("--per-query", type=int, default=8)
    parser.add_argument("--products", type=int, default=400)
    parser.add_argument("--student", help="CrossEncoder student (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main() -> None:
    args = arguments()

    import torch
    from sentence_transformers import CrossEncoder

    args.student, student_name = model_or_packaged(args.student)
    rng = np.random.default_rng(args.seed)
    pairs, source = load_pairs(args.queries + args.products)
    queries = list(dict.fromkeys(q for q, _ in pairs))[: args.queries]
    products = list(dict.fromkeys(d for _, d in pairs))[: args.products]
    rows = [
        (q, products[int(i)])
        for q in queries
        for i in rng.choice(len(products), args.per_query, replace=False)
    ]
    half = len(queries) // 2
    origin = {q: (queries[i - half] if i >= half else "") for i, q in enumerate(queries)}
    candidate_queries, documents = [q for q, _ in rows], [d for _, d in rows]
    scores = rng.uniform(0, 1, len(rows))
    origin_query = [origin[q] for q in candidate_queries]
    strategy = ["refine" if origin[q] else "seed" for q in candidate_queries]

    torch.manual_seed(args.seed)
    student = CrossEncoder(args.student, device="cpu")
    student.predict(rows[:64], batch_size=args.batch_size, show_progress_bar=False)
    started = time.perf_counter()
    student.predict(rows, batch_size=args.batch_size, show_progress_bar=False)
    forward = len(rows) / (time.perf_counter() - started)
    log(f"student forward: {forward:.1f} pairs/s")
    started = time.perf_counter()
    selection = select(
        student,
        candidate_queries,
        documents,
        scores,
        origin_query=origin_query,
        strategy=strategy,
        batch_size=args.batch_size,
    )
    filtered = len(rows) / (time.perf_counter() - started)
    log(f"filter: {filtered:.1f} pairs/s, {selection.decision.counts()}")
    emit(
        {
            "benchmark": "filter",
            "student": student_name,
            "pairs_source": source,
            "candidates": len(rows),
            "unique_queries": len(set(candidate_queries)),
            "unique_documents": len(set(documents)),
            "student_forward_pairs_per_s": round(forward, 1),
            "filter_pairs_per_s": round(filtered, 1),
            "cost_in_forward_passes": round(forward / filtered, 3),
            "student_pairs_forwarded_by_filter": selection.forward_pairs,
            "outcome": selection.decision.counts(),
        }
    )


if __name__ == "__main__":
    main()
