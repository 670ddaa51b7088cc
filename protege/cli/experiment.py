"""``protege experiment``: the study (``protege.study``) on one labelled relevance file."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from protege.common.config_flags import add_config_flag, add_flags, from_flags
from protege.filters.settings import FILTER_SWITCHES, FilterSettings, QuotaRule
from protege.study.settings import (
    FULL,
    MAX_ROWS,
    QUICK,
    VOLUME,
    VOLUME_QUICK,
    Models,
    Sizes,
)

from .arguments import add_data_arguments, add_export_argument, data_spec, label_range


def add_parsers(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "experiment",
        help="fit a teacher, serve it, distill students, compare them with the baselines on held-out queries",
        description="Splits a labelled relevance file by query (buckets 0-2 teacher, 3-7 student pool with a "
        "fifth of its queries held out for validation, 8-9 test), fits a teacher on gold grades, serves it "
        "over gRPC on localhost, and trains small students on its labels of the pool: chosen at random and "
        "by distill's loop at several label budgets, under the teacher and under a noisy copy of it, for "
        "each seed; then reports RMSE, Spearman, NDCG@10 and MRR beside the mean grade, a random order and "
        "the zero-shot bi-encoder (OUT/results.json, OUT/learning_curve.png).",
    )
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument(
        "--label-range", type=label_range, help="LOW,HIGH of the grades (default: their min,max)"
    )
    parser.add_argument("--quick", action="store_true", help="samples of each split: minutes, not hours")
    _add_model_arguments(parser)
    parser.add_argument(
        "--label-budgets",
        type=_shares,
        help="label budgets, as shares of the pool's pairs (default 1/16 … 1/2)",
    )
    parser.add_argument(
        "--volumes",
        nargs="?",
        const=(),
        type=_volume_list,
        help="run the volume study instead of the label-budget arms: students on these many teacher labels "
        f"of an augmented pair set (no value: {', '.join(f'{v:,}' for v in VOLUME.volumes)}; with --quick, "
        f"{', '.join(f'{v:,}' for v in VOLUME_QUICK.volumes)})",
    )
    parser.add_argument(
        "--rounds", type=int, help=f"distillation rounds after round 0 (default {Sizes.rounds})"
    )
    parser.add_argument(
        "--per-seed", type=int, help=f"queries generated from each seed query (default {Sizes.per_seed})"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-filters", action="store_true", help="distill keeps every label")
    which.add_argument(
        "--filters",
        help=f"keep only these filters on, comma-separated, for ablations ({', '.join(FILTER_SWITCHES)})",
    )
    add_flags(parser.add_argument_group("how distill's quota and the volume study's quarter pick"), QuotaRule)
    parser.add_argument("--seeds", type=_seed_list, default=(0,), help="comma-separated, e.g. 0,1,2")
    add_export_argument(parser, "the headline student")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=MAX_ROWS,
        help=f"graded rows read at most, queries in hash order, fewer documents each where a file has few "
        f"queries (default {MAX_ROWS:,}; 0: all)",
    )
    add_config_flag(parser)
    parser.set_defaults(run=run)


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The teacher's recipe and the students' shape: ``Models``'s fields."""
    add_flags(parser, Models)
    parser.add_argument(
        "--teacher-epochs",
        type=float,
        help=f"epochs the teacher trains on gold (default {Sizes.teacher_epochs:g})",
    )


def run(args: argparse.Namespace) -> int:
    from protege.study import results, volume_results
    from protege.study.run import RESULTS, run_study

    spec = data_spec(args, gold=True)
    report = run_study(
        spec.path,
        spec.columns,
        args.out,
        encoding=spec.encoding,
        label_range=args.label_range,
        sizes=_sizes(args),
        models=_models(args),
        seeds=args.seeds,
        max_rows=args.max_rows or None,
        source=spec.source,
        export=args.export,
    )
    print((volume_results if args.volumes is not None else results).table(report))
    print(f"\nresults: {args.out / RESULTS}\nlearning curves: {report['plot']}")
    return 0


def _sizes(args: argparse.Namespace) -> Sizes:
    sizes = QUICK if args.quick else FULL
    if args.volumes is not None:
        preset = VOLUME_QUICK if args.quick else VOLUME
        sizes = replace(preset, volumes=args.volumes or preset.volumes)  # a bare --volumes: the preset's
    given = {name: getattr(args, name) for name in ("teacher_epochs", "label_budgets", "rounds", "per_seed")}
    return replace(sizes, **{name: value for name, value in given.items() if value is not None})


def _models(args: argparse.Namespace) -> Models:
    if args.no_filters:
        return from_flags(Models, args, filters=None)
    return from_flags(
        Models, args, filters=replace(_filters(args.filters), quota_rule=from_flags(QuotaRule, args))
    )


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are comma-separated integers, not {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds repeat in {text!r}")
    return seeds


def _volume_list(text: str) -> tuple[int, ...]:
    try:
        volumes = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"volumes are comma-separated label counts, not {text!r}") from None
    if not volumes or volumes[0] < 2:
        raise argparse.ArgumentTypeError(f"give at least one volume of 2 labels or more, not {text!r}")
    return volumes


def _shares(text: str) -> tuple[float, ...]:
    try:
        shares = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"shares are comma-separated numbers, not {text!r}") from None
    if not shares or not all(0 < share < 1 for share in shares):
        raise argparse.ArgumentTypeError(f"give at least one share, each in (0, 1), not {text!r}")
    return shares


def _filters(names: str | None) -> FilterSettings:
    if names is None:
        return FilterSettings()
    chosen = {name.strip() for name in names.split(",") if name.strip()}
    if not chosen:
        raise ValueError("--filters needs at least one filter; --no-filters turns them all off")
    return FilterSettings().keeping(chosen)
