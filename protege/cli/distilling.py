"""``protege distill``: the loop — warm up, then augment, label, filter and train each round."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from protege.client.distill_config import DistillConfig, DistillError
from protege.common.config_flags import add_config_flag, add_flags, from_flags
from protege.filters.settings import FilterSettings, QuotaRule

from .arguments import (
    add_data_arguments,
    add_export_argument,
    add_training_arguments,
    data_spec,
    label_range,
    training_config,
)
from .connection import add_connection_arguments, connect

if TYPE_CHECKING:
    from protege.client.evaluation.metrics import Evaluation


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
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
    add_flags(distill, DistillConfig)
    add_flags(distill.add_argument_group("how --quota picks"), QuotaRule)
    distill.add_argument("--no-filters", action="store_true", help="train on every labelled pair")
    distill.add_argument("--target", type=Path, help="target queries for coverage (default: the pool's)")
    distill.add_argument(
        "--eval-data", type=Path, help="gold-judged pairs (same columns) to measure each round"
    )
    distill.add_argument("--label-range", type=label_range, help="LOW,HIGH of --eval-data grades")
    add_export_argument(distill, "the final student")
    add_training_arguments(distill)
    add_config_flag(distill)
    distill.set_defaults(run=run_distill)


def run_distill(args: argparse.Namespace) -> int:
    from protege.client.data import read_queries, read_table
    from protege.client.distill import Distiller
    from protege.client.labelling.jobs import JobError
    from protege.client.labelling.teacher_client import TeacherError

    spec = data_spec(args)
    pool = read_table(spec.path, spec.columns, encoding=spec.encoding)
    targets = read_queries(args.target, spec.columns.query, spec.encoding) if args.target else None
    config = from_flags(
        DistillConfig,
        args,
        filters=None if args.no_filters else FilterSettings(quota_rule=from_flags(QuotaRule, args)),
        training=training_config(args),
        seed=args.seed,
        export=args.export,
    )
    with connect(args) as teacher:
        try:
            report = Distiller(teacher, pool, args.out, config, targets, _evaluation(args)).run()
        except (DistillError, JobError, TeacherError) as error:
            print(f"protege distill: {error}; finished rounds are kept in {args.out}", file=sys.stderr)
            return 1
    shown = ("teacher_labels", "train_pairs", "html", "export")
    print(json.dumps({key: report[key] for key in shown if key in report}))
    return 0


def _evaluation(args: argparse.Namespace) -> Evaluation | None:
    """``--eval-data``'s judged pairs, grades mapped to 0..1, to measure each round on."""
    from protege.client.data import read_table
    from protege.client.data.grades import normalise_grades
    from protege.client.evaluation.metrics import Evaluation

    if not args.eval_data:
        return None
    spec = data_spec(args, args.eval_data, gold=True)
    judged = read_table(spec.path, spec.columns, encoding=spec.encoding)
    gold = normalise_grades(judged["label"].to_numpy(zero_copy_only=False), args.label_range)
    return Evaluation(judged["query"].to_pylist(), judged["document"].to_pylist(), gold.tolist())
