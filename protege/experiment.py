"""``protege experiment``: the whole study on one labelled relevance file.

The file is split by query (``bucket(query)`` as ``../shared/data/README.md`` defines it):
buckets 0–2 fit the teacher on gold grades, 3–7 are the student pool (the students never see
its gold labels, except the ``student_gold`` reference), 8–9 are the test set, read only to
evaluate. The teacher is served over real gRPC on localhost; every student is measured on the
same test pairs as the teacher. Each finished stage is kept in ``OUT`` and skipped when the
command runs again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("protege.experiment")

TEACHER_BUCKETS, POOL_BUCKETS, TEST_BUCKETS = range(0, 3), range(3, 8), range(8, 10)
STUDENTS = ("student_unfiltered", "student_filtered", "student_gold")


def bucket(query: str) -> int:
    """The shared split: ``int(sha1(query.strip().lower()), 16) % 10``."""
    return int(hashlib.sha1(query.strip().lower().encode("utf-8")).hexdigest(), 16) % 10


@dataclass
class Sizes:
    """How much of each split one run uses (``None``: all of it)."""

    teacher_pairs: int | None = None
    pool_pairs: int | None = None
    test_queries: int | None = None
    teacher_epochs: float = 1.0
    rounds: int = 2
    warmup: int = 1000
    seeds_per_round: int = 500
    per_seed: int = 2


FULL = Sizes()
QUICK = Sizes(teacher_pairs=3000, pool_pairs=2000, test_queries=300, warmup=500, seeds_per_round=150)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from protege.client.cli import add_data_arguments
    from protege.client.student_cli import label_range

    parser = subparsers.add_parser(
        "experiment",
        help="fit a teacher, serve it, distill students and compare them on held-out queries",
        description="Splits a labelled relevance file by query (buckets 0-2 teacher, 3-7 student pool, 8-9 "
        "test), fits a teacher on gold grades, serves it over gRPC on localhost, trains students on the pool "
        "(all teacher labels; protege's filters; gold labels) and writes OUT/results.json with NDCG@10 of "
        "each on the test queries.",
    )
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument(
        "--label-range", type=label_range, help="LOW,HIGH of the grades (default: their min,max)"
    )
    parser.add_argument("--quick", action="store_true", help="samples of each split: minutes, not hours")
    parser.add_argument("--teacher-base", help="the teacher's backbone (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument("--student-base", help="the students' backbone (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument("--layers", type=int, help="student transformer layers to keep")
    parser.add_argument("--loss", choices=("bce", "mse", "margin-mse"), default="bce")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from protege.client.cli import columns_from_args

    if not args.label_col:
        raise ValueError("an experiment needs gold grades: give --label-col")
    results = run_experiment(
        args.data,
        columns_from_args(args),
        args.out,
        encoding=args.encoding,
        label_range=args.label_range,
        sizes=QUICK if args.quick else FULL,
        teacher_base=args.teacher_base,
        student_base=args.student_base,
        layers=args.layers,
        loss=args.loss,
        seed=args.seed,
    )
    print(results_table(results))
    print(f"\nresults: {args.out / 'results.json'}")
    return 0


def run_experiment(
    data: Path,
    columns,
    out: Path,
    *,
    encoding: str = "utf-8",
    label_range: tuple[float, float] | None = None,
    sizes: Sizes = FULL,
    teacher_base: str | None = None,
    student_base: str | None = None,
    layers: int | None = None,
    loss: str = "bce",
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Runs the study; returns (and writes to ``out/results.json``) the results."""
    import pyarrow as pa
    from sentence_transformers.cross_encoder import CrossEncoder

    from protege.client.distill import DistillConfig, Distiller, Evaluation, teacher_scores
    from protege.client.evaluation import ranking_metrics
    from protege.client.jobs import LabelJob, read_labels, write_parquet_atomic
    from protege.client.readers import Columns, read_table
    from protege.client.teacher_client import TeacherClient
    from protege.client.training import normalise_grades, train_cross_encoder
    from protege.server.app import BackgroundTeacher, ServeConfig

    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    table = read_table(data, columns, encoding=encoding)
    grades = table["label"].to_numpy(zero_copy_only=False)
    label_range = label_range or (float(np.nanmin(grades)), float(np.nanmax(grades)))
    table = table.set_column(
        table.column_names.index("label"), "label", pa.array(normalise_grades(grades, label_range))
    )
    buckets = np.array([bucket(query) for query in table["query"].to_pylist()])
    teacher_rows = _sample(np.flatnonzero(np.isin(buckets, TEACHER_BUCKETS)), sizes.teacher_pairs, rng)
    pool_rows = _sample(np.flatnonzero(np.isin(buckets, POOL_BUCKETS)), sizes.pool_pairs, rng)
    test = table.take(pa.array(_test_rows(table, buckets, sizes.test_queries, rng)))
    pool = table.take(pa.array(pool_rows))
    if not len(teacher_rows) or not pool.num_rows or not test.num_rows:
        raise ValueError(
            f"{data}: the split left {len(teacher_rows)} teacher, {pool.num_rows} pool and "
            f"{test.num_rows} test pairs; the study needs some of each"
        )
    log.info(
        "split: %d teacher-train, %d pool, %d test pairs", len(teacher_rows), pool.num_rows, test.num_rows
    )

    def fitted(name: str, rows: pa.Table, targets, base: str | None, **options):
        folder = out / name
        if not (folder / "provenance.json").exists():
            log.info("training %s on %d pairs", name, rows.num_rows)
            train_cross_encoder(
                rows["query"].to_pylist(), rows["document"].to_pylist(), targets, base=base, out=folder,
                seed=seed, progress=progress, **options,
            )  # fmt: skip
        return folder

    teacher_set = table.take(pa.array(teacher_rows))
    teacher_dir = fitted(
        "teacher", teacher_set, teacher_set["label"].to_numpy(), teacher_base, epochs=sizes.teacher_epochs
    )
    test_eval = Evaluation(test["query"].to_pylist(), test["document"].to_pylist(), test["label"].to_pylist())
    config = ServeConfig(
        "cross-encoder", str(teacher_dir), host="127.0.0.1", port=0, cache=str(out / "labels.sqlite")
    )
    student_options = {"layers": layers, "loss": loss}
    labels_used: dict[str, int] = {}
    with (
        BackgroundTeacher(config) as server,
        TeacherClient(f"127.0.0.1:{server.port}", timeout=120) as teacher,
    ):
        pool_file = out / "pool.parquet"
        if not pool_file.exists():
            write_parquet_atomic(pool.select(["pair_id", "query", "document", "doc_id"]), pool_file)
        LabelJob(
            pool_file, Columns(pair_id="pair_id", doc_id="doc_id"), out / "pool-labels", progress=progress
        ).run(teacher)
        pool_labels = read_labels(out / "pool-labels")
        labels_used["student_unfiltered"] = pool_labels.num_rows
        fitted(
            "student_unfiltered",
            pool_labels,
            pool_labels["score"].to_numpy(),
            student_base,
            **student_options,
        )

        distill = DistillConfig(
            rounds=sizes.rounds,
            warmup_pairs=min(sizes.warmup, pool.num_rows),
            seeds_per_round=sizes.seeds_per_round,
            per_seed=sizes.per_seed,
            base=student_base,
            seed=seed,
            progress=progress,
            **student_options,
        )
        filtered_dir = out / "distill"
        if not (filtered_dir / "report.json").exists():
            Distiller(teacher, pool, filtered_dir, distill, evaluation=test_eval).run()
        report = json.loads((filtered_dir / "report.json").read_text())
        labels_used["student_filtered"] = report["teacher_labels"]
        gold_rows = _sample(np.arange(pool.num_rows), min(report["train_pairs"], pool.num_rows), rng)
        gold_set = pool.take(pa.array(gold_rows))
        fitted("student_gold", gold_set, gold_set["label"].to_numpy(), student_base, **student_options)
        labels_used["student_gold"] = 0

        teacher_on_test = teacher_scores(teacher, test_eval.queries, test_eval.documents)
        metrics = {"teacher": ranking_metrics(test_eval.queries, test_eval.gold, teacher_on_test)}
    # What ranking by chance scores on these pairs: graded data sets with few judged candidates
    # per query give a random order a high NDCG, the floor every model is read against.
    chance = [
        ranking_metrics(test_eval.queries, test_eval.gold, np.random.default_rng(draw).random(test.num_rows))
        for draw in range(5)
    ]
    metrics["random"] = {name: float(np.mean([m[name] for m in chance])) for name in chance[0]}
    pairs = list(zip(test_eval.queries, test_eval.documents, strict=True))
    for name, folder in (
        ("student_unfiltered", out / "student_unfiltered"),
        ("student_filtered", filtered_dir / "student"),
        ("student_gold", out / "student_gold"),
    ):
        scores = CrossEncoder(str(folder)).predict(pairs, batch_size=64, show_progress_bar=False)
        metrics[name] = ranking_metrics(test_eval.queries, test_eval.gold, scores)
    results = {
        "data": str(data),
        "quick": sizes != FULL,
        "seed": seed,
        "label_range": list(label_range),
        "split_pairs": {"teacher_train": len(teacher_rows), "pool": pool.num_rows, "test": test.num_rows},
        "test_queries_scored": metrics["teacher"]["queries"],
        "ndcg@10": {name: round(values["ndcg@10"], 4) for name, values in metrics.items()},
        "teacher_labels": labels_used,
        "train_pairs": {
            "student_unfiltered": pool_labels.num_rows,
            "student_filtered": report["train_pairs"],
            "student_gold": gold_set.num_rows,
        },
        "metrics": metrics,
        "report": str(filtered_dir / "report.html"),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


def results_table(results: dict) -> str:
    lines = [f"{'model':<20} {'NDCG@10':>8} {'MRR':>6} {'Spearman':>8} {'teacher labels':>15}"]
    for name, values in results["metrics"].items():
        labels = results["teacher_labels"].get(name, "–")
        lines.append(
            f"{name:<20} {values['ndcg@10']:8.4f} {values['mrr']:6.3f} {values['spearman']:8.3f} "
            f"{labels!s:>15}"
        )
    return "\n".join(lines)


def _sample(rows: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    if size is None or size >= len(rows):
        return rows
    return np.sort(rng.choice(rows, size, replace=False))


def _test_rows(table, buckets: np.ndarray, queries: int | None, rng: np.random.Generator) -> np.ndarray:
    """Test pairs, all judged pairs of a sample of ``queries`` test queries."""
    rows = np.flatnonzero(np.isin(buckets, TEST_BUCKETS))
    if queries is None:
        return rows
    names = np.array(table["query"].to_pylist(), dtype=object)[rows]
    distinct = sorted(set(names))
    keep = set(rng.choice(distinct, min(queries, len(distinct)), replace=False).tolist())
    return rows[[name in keep for name in names]]
