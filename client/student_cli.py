"""Student commands: ``protege train``, ``eval``, ``coverage`` and ``distill``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from protege.filters.settings import FilterSettings

from .cli import (
    add_connection_arguments,
    add_data_arguments,
    add_label_map_argument,
    columns_from_args,
    connect,
)

log = logging.getLogger("protege")
PROFILE_PAIRS = 10_000  # training pairs profiled after training: quantiles to ~1%, a bounded cost


def label_range(text: str) -> tuple[float, float]:
    low, high = (float(value) for value in text.split(","))
    return low, high


def add_training_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", help="backbone or model to start from (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument(
        "--layers", type=int, help="keep only the first N transformer layers (a smaller student)"
    )
    parser.add_argument("--loss", choices=("bce", "mse", "margin-mse"), default="bce")
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--max-length", type=int, default=128, help="tokens per (query, document) pair")
    parser.add_argument("--seed", type=int, default=0)


def add_training_data_arguments(parser: argparse.ArgumentParser, label_col: str, label_help: str) -> None:
    """``--data`` and the column mapping that ``training_table`` reads."""
    parser.add_argument(
        "--data", required=True, type=Path, help="data file, or a protege label/filter folder"
    )
    parser.add_argument("--query-col", default="query")
    parser.add_argument("--doc-col", action="append", help="document column(s), joined; default: document")
    parser.add_argument("--label-col", default=label_col, help=label_help)
    parser.add_argument("--label-range", type=label_range, help="LOW,HIGH of gold grades, mapped to 0..1")
    add_label_map_argument(parser)
    parser.add_argument("--encoding", default="utf-8")


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a CrossEncoder on teacher scores or gold grades",
        description="Trains on the label column: teacher scores (a protege label folder's `score`) or gold "
        "grades mapped to 0..1 with --label-range (how a teacher is fitted). Runs DDP under torchrun.",
    )
    add_training_data_arguments(train, "score", "the training target (default: score)")
    train.add_argument(
        "--out", required=True, type=Path, help="folder for the model (loads with CrossEncoder)"
    )
    train.add_argument("--teacher-version", help="recorded in the model card (read from label folders)")
    add_training_arguments(train)
    train.set_defaults(run=run_train)

    evaluate = subparsers.add_parser(
        "eval",
        help="RMSE, Spearman, NDCG@10 and MRR of a model (or a teacher over gRPC) beside the baselines",
        description="The yardstick: RMSE of the grade each score maps to (isotonic regression fitted on "
        "--validation), Spearman over all pairs, NDCG@10 and MRR over each query's judged documents (queries "
        "with fewer than two distinct grades are skipped), beside the mean grade, a random order and the "
        "zero-shot bi-encoder, with paired 95%% intervals.",
    )
    add_data_arguments(evaluate)
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a CrossEncoder folder or hub id")
    source.add_argument("--teacher", help="a protege teacher (host:port, dns:///name:port or a replica list)")
    add_connection_arguments(evaluate, target=False)
    evaluate.add_argument(
        "--validation",
        type=Path,
        help="gold-judged pairs (same columns) on which each model's score → grade map is fitted; "
        "with it, RMSE and the baselines (mean grade, random order, zero-shot bi-encoder) are reported",
    )
    evaluate.add_argument("--embedder", help="the zero-shot baseline's model (default: packaged MiniLM)")
    evaluate.add_argument("--k", type=int, default=10, help="NDCG cut-off")
    evaluate.set_defaults(run=run_eval)

    coverage = subparsers.add_parser(
        "coverage",
        help="how much of a target query set the training queries cover (FAISS)",
        description="coverage@τ: the share of target queries with a training query at cosine ≥ τ; then the "
        "target clusters (faiss k-means) with the least coverage, with example queries.",
    )
    coverage.add_argument("--target", required=True, type=Path, help="file of target queries")
    coverage.add_argument("--train", type=Path, help="file of training queries, added to --index")
    coverage.add_argument("--index", type=Path, help="coverage index folder: loaded if present, saved after")
    coverage.add_argument("--query-col", default="query")
    coverage.add_argument("--encoding", default="utf-8")
    coverage.add_argument("--tau", type=float, nargs="+", default=[0.7, 0.8, 0.9])
    coverage.add_argument("--clusters", type=int, default=20)
    coverage.add_argument(
        "--embedder", help="sentence-transformers model (default: packaged all-MiniLM-L6-v2)"
    )
    coverage.set_defaults(run=run_coverage)

    distill = subparsers.add_parser(
        "distill",
        help="the distillation loop: warm up, then augment, label, filter and train each round",
        description="Reads the pool (queries and products; labels, if any, are ignored), distills a student "
        "through the teacher and writes OUT/student, OUT/report.json and OUT/report.html. Run the same "
        "command again to resume.",
    )
    add_connection_arguments(distill)
    add_data_arguments(distill)
    distill.add_argument("--out", required=True, type=Path)
    distill.add_argument("--rounds", type=int, default=2)
    distill.add_argument("--warmup", type=int, default=500, help="pool pairs labelled for round 0")
    distill.add_argument("--seeds-per-round", type=int, default=200)
    distill.add_argument("--per-seed", type=int, default=2, help="generated queries per seed")
    distill.add_argument("--strategies", default="drop,reorder,typo", help="augmentation strategies")
    distill.add_argument("--budget", type=int, help="accepted pairs per round, most informative first")
    distill.add_argument(
        "--label-budget", type=int, help="teacher labels for the whole run (warm-up included)"
    )
    distill.add_argument(
        "--allow-mixed-teachers",
        action="store_true",
        help="go on although earlier rounds were labelled by another teacher version",
    )
    distill.add_argument(
        "--retry-seconds",
        type=float,
        default=300,
        help="how long to retry an unreachable teacher before stopping (finished rounds and shards are kept)",
    )
    distill.add_argument("--no-filters", action="store_true", help="train on every labelled pair")
    distill.add_argument("--target", type=Path, help="target queries for coverage (default: the pool's)")
    distill.add_argument(
        "--eval-data", type=Path, help="gold-judged pairs (same columns) to measure each round"
    )
    distill.add_argument("--label-range", type=label_range, help="LOW,HIGH of --eval-data grades")
    add_training_arguments(distill)
    distill.set_defaults(run=run_distill)


def training_table(args: argparse.Namespace):
    """Training rows from a data file or a protege label/filter folder."""
    import pyarrow.parquet as pq

    from .jobs import read_labels
    from .readers import DataError, read_table

    if args.data.is_dir():
        if (args.data / "accepted.parquet").exists():
            table = pq.read_table(args.data / "accepted.parquet")
        else:
            table = read_labels(args.data)
        if args.label_col not in table.column_names:
            raise DataError(
                f"{args.data} has no column {args.label_col!r} (it has: {', '.join(table.column_names)})"
            )
        return table.rename_columns(["label" if n == args.label_col else n for n in table.column_names])
    from .readers import Columns

    columns = Columns(
        query=args.query_col,
        docs=tuple(args.doc_col or ["document"]),
        label=args.label_col,
        label_map=args.label_map,
    )
    return read_table(args.data, columns, encoding=args.encoding)


def run_train(args: argparse.Namespace) -> int:
    import numpy as np
    from protege.filters.select import training_profile

    from .training import data_hash, normalise_grades, train_cross_encoder

    table = training_table(args)
    queries, documents = table["query"].to_pylist(), table["document"].to_pylist()
    targets = normalise_grades(table["label"].to_numpy(zero_copy_only=False), args.label_range)
    version = args.teacher_version
    if version is None and "teacher_version" in table.column_names:
        version = table["teacher_version"][0].as_py()
    log.info("training on %d pairs from %s", len(queries), args.data)
    model = train_cross_encoder(
        queries,
        documents,
        targets,
        base=args.base,
        out=args.out,
        layers=args.layers,
        loss=args.loss,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_length=args.max_length,
        seed=args.seed,
        provenance={
            "data": str(args.data),
            "data_hash": data_hash(queries, documents, targets.tolist()),
            "label": args.label_col,
            "label_range": args.label_range,
            "teacher_version": version,
        },
    )
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, the first process writes
        return 0
    # The filters' reference: what this student's own training set looks like to it.
    sample = np.random.default_rng(args.seed).permutation(len(queries))[:PROFILE_PAIRS]
    training_profile(
        model, [queries[i] for i in sample], [documents[i] for i in sample], targets[sample]
    ).save(args.out / "profile.json")
    print(json.dumps({"out": str(args.out), "pairs": len(queries)}))
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from .baselines import baseline_scores
    from .catalog import load_embedder
    from .evaluation import format_table, ranking_metrics
    from .scoreboard import Board

    judged = {"test": _judged(args.data, args)}
    if args.validation:
        judged["validation"] = _judged(args.validation, args)
    if args.model:
        from sentence_transformers.cross_encoder import CrossEncoder

        model = CrossEncoder(args.model)
        scores = {
            name: model.predict(list(zip(e.queries, e.documents, strict=True)), batch_size=64)
            for name, e in judged.items()
        }
    else:
        from .distill import teacher_scores

        with connect(args) as teacher:
            scores = {
                name: teacher_scores(teacher, e.queries, e.documents, progress=True)
                for name, e in judged.items()
            }
    name = args.model or args.teacher
    if "validation" not in judged:
        # RMSE needs a grade map fitted on other pairs than those it is measured on.
        metrics = ranking_metrics(judged["test"].queries, judged["test"].gold, scores["test"], k=args.k)
        print(json.dumps({"model": name, **metrics, "rmse": None, "note": "give --validation for RMSE"}))
        return 0
    embedder = load_embedder(args.embedder)
    baselines = {
        split: baseline_scores(e.queries, e.documents, embedder, seed=number)
        for number, (split, e) in enumerate(judged.items())
    }
    board = Board(judged["validation"], judged["test"], k=args.k)
    board.add_scores(name, scores["validation"], scores["test"])
    for baseline in baselines["test"]:
        board.add_scores(baseline, baselines["validation"][baseline], baselines["test"][baseline])
    results = board.against("zero_shot")
    print(format_table(results, k=args.k))
    print(json.dumps({"model": name, "metrics": results}))
    return 0


def _judged(path: Path, args: argparse.Namespace):
    """Gold-judged pairs of ``path`` read with the command's columns; refused when no query has two grades."""
    from .evaluation import Evaluation, require_ranked
    from .readers import DataError, read_table

    columns = columns_from_args(argparse.Namespace(**{**vars(args), "data": path}), gold=True)
    if not columns.label:
        raise DataError(
            f"{path}: eval needs gold grades, and no one column is named or looks like a grade: "
            "give --label-col"
        )
    table = read_table(path, columns, encoding=args.encoding)
    queries, gold = table["query"].to_pylist(), table["label"].to_numpy(zero_copy_only=False)
    require_ranked(queries, gold, str(path))
    return Evaluation(queries, table["document"].to_pylist(), gold.tolist())


def run_coverage(args: argparse.Namespace) -> int:
    from .catalog import embed, load_embedder
    from .coverage import CoverageIndex

    embedder = load_embedder(args.embedder)

    def embed_queries(texts):
        return embed(embedder, list(texts))

    targets = _queries(args.target, args)
    if args.index and (args.index / "queries.json").exists():
        index = CoverageIndex.load(args.index, embed_queries)
    else:
        index = CoverageIndex(embed_queries)
    if args.train:
        added = index.add(_queries(args.train, args))
        log.info("added %d new training queries (%d in the index)", added, len(index))
    if not len(index):
        raise ValueError("no training queries: give --train, or --index with a saved index")
    if args.index:
        index.save(args.index)
    vectors = embed_queries(targets)
    report = index.clusters(targets, args.tau[0], args.clusters, vectors=vectors)
    result = {
        "targets": len(targets),
        "training_queries": len(index),
        **{f"coverage@{tau:g}": round(index.coverage(vectors, tau), 4) for tau in args.tau},
        "least_covered_clusters": [
            {"size": c.size, "covered": round(c.covered, 3), "examples": c.examples}
            for c in report.clusters[:5]
        ],
    }
    print(json.dumps(result, indent=2))
    return 0


def _queries(path: Path, args: argparse.Namespace) -> list[str]:
    from .readers import Columns, read_pairs

    queries: dict[str, None] = {}
    header_only = Columns(query=args.query_col, docs=(args.query_col,))
    for chunk in read_pairs(path, header_only, encoding=args.encoding):
        queries.update(dict.fromkeys(chunk["query"].to_pylist()))
    return list(queries)


def run_distill(args: argparse.Namespace) -> int:
    from .distill import DistillConfig, Distiller, DistillError
    from .evaluation import Evaluation
    from .jobs import JobError
    from .readers import read_table
    from .teacher_client import TeacherError
    from .training import normalise_grades

    columns = columns_from_args(args)
    pool = read_table(args.data, columns, encoding=args.encoding)
    evaluation = None
    if args.eval_data:
        judged = read_table(args.eval_data, columns, encoding=args.encoding)
        gold = normalise_grades(judged["label"].to_numpy(zero_copy_only=False), args.label_range)
        evaluation = Evaluation(judged["query"].to_pylist(), judged["document"].to_pylist(), gold.tolist())
    targets = _queries(args.target, args) if args.target else None
    config = DistillConfig(
        rounds=args.rounds,
        warmup_pairs=args.warmup,
        seeds_per_round=args.seeds_per_round,
        per_seed=args.per_seed,
        strategies=tuple(name.strip() for name in args.strategies.split(",") if name.strip()),
        budget=args.budget,
        label_budget=args.label_budget,
        allow_mixed_teachers=args.allow_mixed_teachers,
        retry_seconds=args.retry_seconds,
        filters=None if args.no_filters else FilterSettings(),
        base=args.base,
        layers=args.layers,
        loss=args.loss,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        max_length=args.max_length,
        seed=args.seed,
    )
    with connect(args) as teacher:
        try:
            report = Distiller(teacher, pool, args.out, config, targets, evaluation).run()
        except (DistillError, JobError, TeacherError) as error:
            print(f"protege distill: {error}; finished rounds are kept in {args.out}", file=sys.stderr)
            return 1
    print(json.dumps({k: report[k] for k in ("teacher_labels", "train_pairs", "html") if k in report}))
    return 0
