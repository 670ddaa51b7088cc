"""``protege train``, ``eval`` and ``coverage``: a student trained, measured, and how much of the
real queries its training queries cover."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from protege.client.data.outputs import is_output_folder
from protege.client.retrieval.coverage_config import CoverageConfig
from protege.client.training.config import CurriculumConfig
from protege.common.config_flags import add_flags, from_flags
from protege.common.runtimes import RUNTIMES
from protege.filters.settings import FilterSettings, QuotaRule

from .arguments import (
    add_data_arguments,
    add_encoding_argument,
    add_training_arguments,
    data_spec,
    label_range,
    training_config,
)
from .connection import add_connection_arguments, connect

if TYPE_CHECKING:
    from protege.client.evaluation.metrics import Evaluation


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    _add_train(subparsers)
    _add_eval(subparsers)
    _add_coverage(subparsers)


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train",
        help="train a CrossEncoder on teacher scores or gold grades",
        description="Trains on the label column: teacher scores (a protege label or filter folder's "
        "`score`) or gold grades mapped to 0..1 with --label-range. Runs DDP under torchrun.",
    )
    add_data_arguments(
        train,
        label_help="the training target (default: `score` in a protege label or filter folder, else the "
        "gold grade by its usual name)",
    )
    train.add_argument("--label-range", type=label_range, help="LOW,HIGH of gold grades, mapped to 0..1")
    train.add_argument(
        "--out", required=True, type=Path, help="folder for the model (loads with CrossEncoder)"
    )
    add_training_arguments(train)
    add_flags(
        train.add_argument_group("a curriculum (the student picks each round's share)"), CurriculumConfig
    )
    add_flags(train.add_argument_group("how a curriculum round picks"), QuotaRule)
    train.set_defaults(run=run_train)


def run_train(args: argparse.Namespace) -> int:
    from protege.client.training.student import train_student, training_rows

    spec = data_spec(args, gold=True)
    if not args.label_col and is_output_folder(args.data):
        spec = replace(spec, columns=replace(spec.columns, label="score"))
    rows = training_rows(spec.path, spec.columns, spec.encoding)
    provenance = {"data": str(args.data), "label": spec.columns.label}
    train_student(
        rows,
        training_config(args),
        args.out,
        label_range=args.label_range,
        provenance=provenance,
        curriculum=from_flags(CurriculumConfig, args),
        filters=FilterSettings(quota_rule=from_flags(QuotaRule, args)),
    )
    print(json.dumps({"out": str(args.out), "pairs": rows.num_rows}))
    return 0


def _add_eval(subparsers: argparse._SubParsersAction) -> None:
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
    source.add_argument("--model", help="a CrossEncoder folder (or an exported one: --runtime) or hub id")
    source.add_argument("--teacher", help="a protege teacher (host:port, dns:///name:port or a replica list)")
    add_connection_arguments(evaluate, target=False)
    evaluate.add_argument(
        "--validation",
        type=Path,
        help="gold-judged pairs (same columns) on which each model's score → grade map is fitted; "
        "with it, RMSE and the baselines (mean grade, random order, zero-shot bi-encoder) are reported",
    )
    evaluate.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="torch",
        help="what runs --model (onnx, openvino: see protege export)",
    )
    evaluate.add_argument("--embedder", help="the zero-shot baseline's model (default: packaged MiniLM)")
    evaluate.add_argument("--k", type=int, default=10, help="NDCG cut-off")
    evaluate.set_defaults(run=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from protege.client.evaluation.metrics import format_table, ranking_metrics
    from protege.client.evaluation.scoreboard import beside_baselines, read_judged
    from protege.client.retrieval.embedder import load_embedder

    specs = {"test": data_spec(args, gold=True)}
    if args.validation:
        specs["validation"] = data_spec(args, args.validation, gold=True)
    judged = {split: read_judged(spec) for split, spec in specs.items()}
    scores = _scores(args, judged)
    name = args.model or args.teacher
    if "validation" not in judged:
        # RMSE needs a grade map fitted on other pairs than those it is measured on.
        test = judged["test"]
        metrics = ranking_metrics(test.queries, test.gold, scores["test"], k=args.k)
        print(json.dumps({"model": name, **metrics, "rmse": None, "note": "give --validation for RMSE"}))
        return 0
    results = beside_baselines(name, scores, judged, load_embedder(args.embedder), k=args.k)
    print(format_table(results, k=args.k))
    print(json.dumps({"model": name, "metrics": results}))
    return 0


def _scores(args: argparse.Namespace, judged: dict[str, Evaluation]) -> dict[str, np.ndarray]:
    """The scores of ``--model`` (in process) or ``--teacher`` (over gRPC) of each split's pairs."""
    from protege.client.labelling.teacher_client import teacher_scores
    from protege.common.runtimes import load_cross_encoder

    if args.model:
        model = load_cross_encoder(args.model, args.runtime)
        return {
            split: model.predict(list(zip(pairs.queries, pairs.documents, strict=True)), batch_size=64)
            for split, pairs in judged.items()
        }
    with connect(args) as teacher:
        return {
            split: teacher_scores(teacher, pairs.queries, pairs.documents, progress=True)
            for split, pairs in judged.items()
        }


def _add_coverage(subparsers: argparse._SubParsersAction) -> None:
    coverage = subparsers.add_parser(
        "coverage",
        help="how much of a target query set the training queries cover (FAISS)",
        description="coverage@τ: the share of target queries with a training query at cosine ≥ τ; then the "
        "target clusters (faiss k-means) with the least coverage, with example queries. Without --index, "
        "the training queries are folded through an index of the targets in batches (memory for the "
        "targets only).",
    )
    coverage.add_argument("--target", required=True, type=Path, help="file of target queries")
    coverage.add_argument(
        "--train", type=Path, help="training queries: a file, or a protege label or filter folder"
    )
    coverage.add_argument(
        "--index", type=Path, help="coverage index folder: loaded if present, --train added, saved after"
    )
    coverage.add_argument("--query-col", default=CoverageConfig.query_col, help="the queries' column in both")
    add_encoding_argument(coverage)
    coverage.add_argument("--tau", type=float, nargs="+", default=list(CoverageConfig.taus))
    coverage.add_argument("--clusters", type=int, default=CoverageConfig.clusters)
    coverage.add_argument(
        "--embedder", help="sentence-transformers model (default: packaged all-MiniLM-L6-v2)"
    )
    coverage.set_defaults(run=run_coverage)


def run_coverage(args: argparse.Namespace) -> int:
    from protege.client.retrieval.coverage_job import measure_coverage
    from protege.client.retrieval.embedder import embed, load_embedder

    job = CoverageConfig(
        args.target, args.train, args.index, args.query_col, args.encoding, tuple(args.tau), args.clusters
    )
    print(json.dumps(measure_coverage(job, partial(embed, load_embedder(args.embedder))), indent=2))
    return 0
