"""``protege experiment``: the whole study on one labelled relevance file.

The file is split by query (``bucket(query)`` as ``../shared/data/README.md`` defines it):
buckets 0–2 fit the teacher on gold grades, 3–7 are the student pool (the students never see
its gold labels, except the ``student_gold`` reference), 8–9 are the test set, read only to
report. A fifth of the pool's queries (``is_validation``) is held out with its gold grades: the
validation set, the only gold any setting is chosen on. The teacher (a cross-encoder, or a
causal LM fine-tuned as an llm-judge) is served over real gRPC on localhost. For each seed,
``student_unfiltered`` trains on teacher labels of every pool pair, ``student_filtered`` runs
the distillation loop on a share of those labels, and ``student_gold`` trains on as many gold
pool pairs; the first seed also trains unfiltered students on smaller budgets, for the
learning curve. Each model is scored on validation and test as soon as it is trained
(``metrics-*.json`` and ``scores-*.npy`` beside it), so a study cut short keeps the figures of
what it finished; the kept test scores give paired per-query differences between models. Each
finished stage is kept in ``OUT`` and skipped when the command runs again with the same settings
(``OUT/settings.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np

from protege.filters.settings import FILTER_SWITCHES, FilterSettings

log = logging.getLogger("protege.experiment")

DEFAULT_FILTERS = FilterSettings()
TEACHER_BUCKETS, POOL_BUCKETS, TEST_BUCKETS = range(0, 3), range(3, 8), range(8, 10)
STUDENTS = ("student_unfiltered", "student_filtered", "student_gold")
TEACHER_BACKENDS = ("cross-encoder", "llm-judge")
# Settings a study records that studies written before them lack, with the value those had.
SETTINGS_ADDED_LATER = {"teacher_backend": "cross-encoder", "max_rows": None}
# A full study reads at most this many graded rows (Home Depot has 74,067): more take queries in
# hash order (see _rows_within), so a file of millions of rows still gives a study of hours, not days.
MAX_ROWS = 80_000
# Queries a cut file keeps where it has them, each with fewer judged documents if need be, so
# its test set keeps enough queries to compare models on.
MIN_QUERIES = 2_000
# Fewer scored queries than this in the test or validation set are warned of: NDCG@10 over them
# moves by points with the draw (Home Depot's --quick test set has 255).
FEW_QUERIES = 100


def _digest(query: str) -> int:
    return int(hashlib.sha1(query.strip().lower().encode("utf-8")).hexdigest(), 16)


def bucket(query: str) -> int:
    """The shared split: ``int(sha1(query.strip().lower()), 16) % 10``."""
    return _digest(query) % 10


def is_validation(query: str) -> bool:
    """Whether a pool query is held out for validation: the next decimal digit of the same
    hash, so one fifth of the pool's queries, independent of ``bucket``."""
    return _digest(query) // 10 % 5 == 0


@dataclass
class Sizes:
    """How much of each split one run uses (``None``: all of it), and the students' budgets."""

    teacher_pairs: int | None = None
    pool_pairs: int | None = None
    test_queries: int | None = None
    teacher_epochs: float = 1.0
    rounds: int = 2
    label_share: float = 0.5  # the filtered student's teacher labels, per unfiltered student's label
    warmup_share: float = 1 / 3  # of those, random pool pairs for round 0
    per_seed: int = 2
    curve: tuple[float, ...] = (0.125, 0.25, 0.5)  # smaller unfiltered budgets, shares of the pool


FULL = Sizes()
QUICK = Sizes(teacher_pairs=3000, pool_pairs=2500, test_queries=300, curve=(0.5,))


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from protege.client.cli import add_data_arguments
    from protege.client.student_cli import label_range

    parser = subparsers.add_parser(
        "experiment",
        help="fit a teacher, serve it, distill students and compare them on held-out queries",
        description="Splits a labelled relevance file by query (buckets 0-2 teacher, 3-7 student pool with "
        "a fifth of its queries held out for validation, 8-9 test), fits a teacher on gold grades, serves it "
        "over gRPC on localhost, trains students on the pool (all teacher labels; protege's filters on a "
        "share of them; gold labels) for each seed and writes OUT/results.json and OUT/learning_curve.png.",
    )
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument(
        "--label-range", type=label_range, help="LOW,HIGH of the grades (default: their min,max)"
    )
    parser.add_argument("--quick", action="store_true", help="samples of each split: minutes, not hours")
    parser.add_argument(
        "--teacher-backend",
        choices=TEACHER_BACKENDS,
        default="cross-encoder",
        help="the teacher: a cross-encoder, or a causal LM fine-tuned as an llm-judge (needs --teacher-base)",
    )
    parser.add_argument(
        "--teacher-base",
        help="the teacher's backbone (default: packaged all-MiniLM-L6-v2; llm-judge: a causal LM or .gguf)",
    )
    parser.add_argument("--teacher-epochs", type=float, help="epochs the teacher trains on gold (default 1)")
    parser.add_argument("--student-base", help="the students' backbone (default: packaged all-MiniLM-L6-v2)")
    parser.add_argument("--layers", type=int, help="student transformer layers to keep")
    parser.add_argument(
        "--loss",
        choices=("bce", "mse", "margin-mse"),
        default="margin-mse",
        help="student loss (default margin-mse, Walmart's: score margins between products of one query)",
    )
    parser.add_argument(
        "--label-share", type=float, help="the filtered student's teacher labels, as a share of the pool's"
    )
    parser.add_argument(
        "--strategies", default="drop,reorder,typo", help="augmentation strategies; empty for none"
    )
    parser.add_argument("--rounds", type=int, help="distillation rounds after round 0 (default 2)")
    parser.add_argument("--per-seed", type=int, help="queries generated from each seed query (default 2)")
    parser.add_argument(
        "--curve",
        type=_shares,
        help="the first seed's smaller unfiltered students, as shares of the pool's labels "
        "(default 0.125,0.25,0.5; --quick 0.5; empty for none)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-filters", action="store_true", help="the distilled student keeps every label")
    which.add_argument(
        "--filters",
        help=f"keep only these filters on, comma-separated, for ablations ({', '.join(FILTER_SWITCHES)})",
    )
    parser.add_argument("--seeds", type=_seed_list, default=(0,), help="comma-separated, e.g. 0,1,2")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=MAX_ROWS,
        help=f"graded rows read at most, queries in hash order, fewer documents each where a file has "
        f"few queries (default {MAX_ROWS:,}; 0: all)",
    )
    parser.set_defaults(run=run)


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds are comma-separated integers, not {text!r}") from None
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds repeat in {text!r}")
    return seeds


def _shares(text: str) -> tuple[float, ...]:
    try:
        shares = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"shares are comma-separated numbers, not {text!r}") from None
    if not all(0 < share < 1 for share in shares):
        raise argparse.ArgumentTypeError(f"each share must be in (0, 1), not {text!r}")
    return shares


def _filters(names: str | None) -> FilterSettings:
    if names is None:
        return FilterSettings()
    chosen = {name.strip() for name in names.split(",") if name.strip()}
    if not chosen:
        raise ValueError("--filters needs at least one filter; --no-filters turns them all off")
    return FilterSettings().keeping(chosen)


def run(args: argparse.Namespace) -> int:
    from protege.client.cli import columns_from_args

    columns = columns_from_args(args, gold=True)
    if not columns.label:
        raise ValueError(
            f"{args.data}: an experiment needs gold grades and no one column is named or looks like a grade: "
            "give --label-col"
        )
    sizes = QUICK if args.quick else FULL
    if args.teacher_epochs is not None:
        sizes = replace(sizes, teacher_epochs=args.teacher_epochs)
    if args.label_share is not None:
        if not 0 < args.label_share <= 1:
            raise ValueError(f"--label-share must be in (0, 1], not {args.label_share:g}")
        sizes = replace(sizes, label_share=args.label_share)
    for name in ("rounds", "per_seed"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, not {value}")
            sizes = replace(sizes, **{name: value})
    if args.curve is not None:
        sizes = replace(sizes, curve=args.curve)
    if args.max_rows < 0:
        raise ValueError(f"--max-rows must be 0 (all rows) or more, not {args.max_rows}")
    results = run_experiment(
        args.data,
        columns,
        args.out,
        encoding=args.encoding,
        label_range=args.label_range,
        sizes=sizes,
        teacher_backend=args.teacher_backend,
        teacher_base=args.teacher_base,
        student_base=args.student_base,
        layers=args.layers,
        loss=args.loss,
        strategies=tuple(name.strip() for name in args.strategies.split(",") if name.strip()),
        filters=None if args.no_filters else _filters(args.filters),
        seeds=args.seeds,
        max_rows=args.max_rows or None,
        source=args.data_source,
    )
    print(results_table(results))
    print(f"\nresults: {args.out / 'results.json'}\nlearning curve: {results['plot']}")
    return 0


def run_experiment(
    data: Path,
    columns,
    out: Path,
    *,
    encoding: str = "auto",
    label_range: tuple[float, float] | None = None,
    sizes: Sizes = FULL,
    teacher_backend: str = "cross-encoder",
    teacher_base: str | None = None,
    student_base: str | None = None,
    layers: int | None = None,
    loss: str = "margin-mse",
    strategies: tuple[str, ...] = ("drop", "reorder", "typo"),
    filters: FilterSettings | None = DEFAULT_FILTERS,
    seeds: tuple[int, ...] = (0,),
    max_rows: int | None = MAX_ROWS,
    progress: bool = True,
    source: Path | None = None,
) -> dict:
    """Runs the study; returns (and writes to ``out/results.json``) the results. ``source``: what
    ``data`` was read from, recorded in its place (a folder of tables, where ``data`` is their join)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from protege.client.distill import DistillConfig, Distiller
    from protege.client.evaluation import ranking_metrics, require_ranked
    from protege.client.jobs import LabelJob, read_labels, write_parquet_atomic
    from protege.client.readers import Columns, read_table
    from protege.client.teacher_client import TeacherClient
    from protege.client.training import normalise_grades, train_cross_encoder
    from protege.server.app import BackgroundTeacher, ServeConfig
    from protege.server.judge_training import train_llm_judge
    from protege.server.validation import Limits

    if not seeds:
        raise ValueError("give at least one seed")
    if teacher_backend not in TEACHER_BACKENDS:
        raise ValueError(f"unknown teacher backend {teacher_backend!r}: choose {', '.join(TEACHER_BACKENDS)}")
    if teacher_backend == "llm-judge" and not teacher_base:
        raise ValueError("an llm-judge teacher is fine-tuned from a causal LM: give it as --teacher-base")
    started = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    source = Path(source or data)
    settings = {
        "data": str(source.resolve()),
        "columns": columns.as_dict(),
        "label_range": label_range and list(label_range),
        "sizes": asdict(sizes),
        "teacher_backend": teacher_backend,
        "teacher_base": teacher_base,
        "student_base": student_base,
        "layers": layers,
        "loss": loss,
        "strategies": list(strategies),
        "filters": filters.as_dict() if filters is not None else None,
    }
    table = read_table(data, columns, encoding=encoding)
    ungraded = pc.is_null(table["label"], nan_is_null=True)
    if pc.any(ungraded).as_py():
        log.warning(
            "%s: %d of %d rows have no grade and are left out of the study",
            source, pc.sum(ungraded).as_py(), table.num_rows,
        )  # fmt: skip
        table = table.filter(pc.invert(ungraded))
    limits = Limits()  # the served teacher's
    table = _cut_long_texts(table, limits.max_text_chars, source)
    grades = table["label"].to_numpy(zero_copy_only=False)
    if label_range is None and len(grades) and np.nanmin(grades) == np.nanmax(grades):
        raise ValueError(
            f"{source}: every grade in column {columns.label!r} is {grades[0]:g}; a study ranks judged "
            "documents against each other, so it needs at least two (positives-only qrels rank nothing: add "
            "the judged non-relevant pairs)"
        )
    label_range = label_range or (float(np.nanmin(grades)), float(np.nanmax(grades)))
    table = table.set_column(
        table.column_names.index("label"), "label", pa.array(normalise_grades(grades, label_range))
    )
    queries = table["query"].to_pylist()
    kept = _rows_within(queries, table["document"].to_pylist(), max_rows)
    # Recorded only where it cuts the file, so studies of files that fit resume under any limit.
    settings["max_rows"] = None if kept is None else max_rows
    _claim(out, settings)
    if kept is not None:
        per_query = np.unique(np.array(queries, dtype=object)[kept], return_counts=True)[1]
        log.warning(
            "%s: %d graded rows of %d queries; under --max-rows %d (0 for all) the study reads the %d rows "
            "of the first %d queries in hash order, at most %d judged documents each",
            source, table.num_rows, len(set(queries)), max_rows, len(kept), len(per_query), per_query.max(),
        )  # fmt: skip
        table = table.take(pa.array(kept, pa.int64()))
        queries = table["query"].to_pylist()
    rng = np.random.default_rng(seeds[0])
    buckets = np.array([bucket(query) for query in queries])
    held_out = np.array([is_validation(query) for query in queries])
    teacher_rows = _sample(np.flatnonzero(np.isin(buckets, TEACHER_BUCKETS)), sizes.teacher_pairs, rng)
    pool_rows = _sample(np.flatnonzero(np.isin(buckets, POOL_BUCKETS)), sizes.pool_pairs, rng)
    validation = table.take(pa.array(pool_rows[held_out[pool_rows]], pa.int64()))
    pool = table.take(pa.array(pool_rows[~held_out[pool_rows]], pa.int64()))
    test = table.take(pa.array(_test_rows(table, buckets, sizes.test_queries, rng), pa.int64()))
    if not len(teacher_rows) or not pool.num_rows or not validation.num_rows or not test.num_rows:
        raise ValueError(
            f"{source}: the split left {len(teacher_rows)} teacher, {pool.num_rows} pool, "
            f"{validation.num_rows} validation and {test.num_rows} test pairs; the study needs some of each"
        )
    log.info(
        "split: %d teacher-train, %d pool, %d validation, %d test pairs",
        len(teacher_rows), pool.num_rows, validation.num_rows, test.num_rows,
    )  # fmt: skip
    evaluations = {name: _evaluation(rows) for name, rows in (("test", test), ("validation", validation))}
    for name, evaluation in evaluations.items():
        scored_queries = require_ranked(evaluation.queries, evaluation.gold, str(source), f"{name} query")
        if scored_queries < FEW_QUERIES:
            log.warning(
                "%s: only %d %s queries can be scored; NDCG@10 over so few varies by several points "
                "with the queries drawn (the paired intervals show how far), so read differences with care",
                source, scored_queries, name,
            )  # fmt: skip

    def fitted(
        folder: Path,
        rows: pa.Table,
        targets,
        base: str | None,
        seed: int,
        train=train_cross_encoder,
        **options,
    ) -> Path:
        if not (folder / "provenance.json").exists():
            log.info("training %s on %d pairs", folder.relative_to(out), rows.num_rows)
            train(
                rows["query"].to_pylist(), rows["document"].to_pylist(), targets, base=base, out=folder,
                seed=seed, progress=progress, **options,
            )  # fmt: skip
        return folder

    teacher_set = table.take(pa.array(teacher_rows))
    teacher_dir = fitted(
        out / "teacher", teacher_set, teacher_set["label"].to_numpy(), teacher_base, seeds[0],
        train=train_llm_judge if teacher_backend == "llm-judge" else train_cross_encoder,
        epochs=sizes.teacher_epochs,
    )  # fmt: skip
    config = ServeConfig(
        teacher_backend, str(teacher_dir), host="127.0.0.1", port=0, cache=str(out / "labels.sqlite"),
        limits=limits,
    )  # fmt: skip
    student_options = {"layers": layers, "loss": loss}
    per_seed: dict[int, dict[str, dict]] = {seed: {} for seed in seeds}
    folders: dict[str, list[Path]] = {"teacher": [teacher_dir]}  # each model's folder, one per seed

    def scored(seed: int, model: str, folder: Path) -> None:
        folders.setdefault(model, []).append(folder)
        per_seed[seed][model] = {
            name: _metrics(folder, name, evaluation, partial(_student_scores, folder))
            for name, evaluation in evaluations.items()
        }
        log.info(
            "seed %d %s: test NDCG@10 %.4f, validation %.4f", seed, model,
            per_seed[seed][model]["test"]["ndcg@10"], per_seed[seed][model]["validation"]["ndcg@10"],
        )  # fmt: skip

    labels_used: dict[str, int] = {}
    filtered_labels: list[int] = []  # per seed; the table shows their mean
    train_pairs: dict[str, list[int]] = {name: [] for name in STUDENTS}
    curve: list[dict] = []
    with (
        BackgroundTeacher(config) as server,
        TeacherClient(f"127.0.0.1:{server.port}", timeout=120) as teacher,
    ):
        metrics = {
            name: {"teacher": _metrics(teacher_dir, name, e, partial(_teacher_scores, teacher, progress))}
            for name, e in evaluations.items()
        }
        pool_file = out / "pool.parquet"
        if not pool_file.exists():
            write_parquet_atomic(pool.select(["pair_id", "query", "document", "doc_id"]), pool_file)
        LabelJob(
            pool_file, Columns(pair_id="pair_id", doc_id="doc_id"), out / "pool-labels", progress=progress
        ).run(teacher)
        pool_labels = read_labels(out / "pool-labels")
        labels_used["student_unfiltered"] = pool_labels.num_rows
        label_budget = max(1, round(sizes.label_share * pool_labels.num_rows))
        warmup = min(pool.num_rows, max(1, round(sizes.warmup_share * label_budget)))
        # Candidates one seed query brings: its pool pairs, plus retrieved and negative products
        # for each query generated from it (none without strategies: then rounds take more seeds).
        retrieved = (DistillConfig.top_k + DistillConfig.negatives) if strategies else 0
        pairs_per_seed = pool.num_rows / len(set(pool["query"].to_pylist())) + sizes.per_seed * retrieved
        for seed in seeds:
            folder = out / f"seed-{seed}"
            seed_rng = np.random.default_rng(seed)
            scored(
                seed,
                "student_unfiltered",
                fitted(
                    folder / "student_unfiltered",
                    pool_labels,
                    pool_labels["score"].to_numpy(),
                    student_base,
                    seed,
                    **student_options,
                ),
            )
            if seed == seeds[0]:
                for share in sizes.curve:
                    size = max(1, round(share * pool_labels.num_rows))
                    subset = pool_labels.take(
                        pa.array(_sample(np.arange(pool_labels.num_rows), size, seed_rng))
                    )
                    scored(seed, f"unfiltered-{size}", fitted(
                        folder / f"unfiltered-{size}", subset, subset["score"].to_numpy(), student_base, seed,
                        **student_options,
                    ))  # fmt: skip
                    curve.append({"student": "unfiltered", "labels": size, "model": f"unfiltered-{size}"})
            distill = DistillConfig(
                rounds=sizes.rounds,
                warmup_pairs=warmup,
                seeds_per_round=max(1, int(np.ceil((label_budget - warmup) / sizes.rounds / pairs_per_seed))),
                per_seed=sizes.per_seed,
                strategies=strategies,
                label_budget=label_budget,
                filters=filters,
                base=student_base,
                seed=seed,
                progress=progress,
                **student_options,
            )
            if not (folder / "distill" / "report.json").exists():
                Distiller(
                    teacher, pool, folder / "distill", distill, evaluation=evaluations["validation"]
                ).run()
            report = json.loads((folder / "distill" / "report.json").read_text())
            scored(seed, "student_filtered", folder / "distill" / "student")
            filtered_labels.append(report["teacher_labels"])
            gold_rows = _sample(np.arange(pool.num_rows), min(report["train_pairs"], pool.num_rows), seed_rng)
            gold_set = pool.take(pa.array(gold_rows))
            scored(seed, "student_gold", fitted(
                folder / "student_gold", gold_set, gold_set["label"].to_numpy(), student_base, seed,
                **student_options,
            ))  # fmt: skip
            for name, size in (
                ("student_unfiltered", pool_labels.num_rows),
                ("student_filtered", report["train_pairs"]),
                ("student_gold", gold_set.num_rows),
            ):
                train_pairs[name].append(size)
            if seed == seeds[0]:
                spent = 0
                for entry in report["rounds"][:-1]:  # the last round's student is student_filtered
                    spent += entry["labelled"]
                    scored(
                        seed,
                        f"filtered-round-{entry['round']}",
                        folder / "distill" / f"round-{entry['round']}" / "student",
                    )
                    curve.append(
                        {"student": "filtered", "labels": spent, "model": f"filtered-round-{entry['round']}"}
                    )
        labels_used["student_filtered"] = round(float(np.mean(filtered_labels)))
        labels_used["student_gold"] = 0
    for name, evaluation in evaluations.items():
        # What ranking by chance scores on these pairs: graded data sets with few judged candidates
        # per query give a random order a high NDCG, the floor every model is read against.
        chance = [
            ranking_metrics(
                evaluation.queries, evaluation.gold, np.random.default_rng(draw).random(len(evaluation.gold))
            )
            for draw in range(5)
        ]
        metrics[name]["random"] = {key: float(np.mean([m[key] for m in chance])) for key in chance[0]}
    for name in evaluations:
        for model in STUDENTS:
            metrics[name][model] = _mean_metrics([per_seed[seed][model][name] for seed in seeds])
    first = per_seed[seeds[0]]
    for point in curve:
        point["ndcg@10"] = round(first[point.pop("model")]["test"]["ndcg@10"], 4)
    spread = {
        model: round(float(np.ptp([per_seed[seed][model]["test"]["ndcg@10"] for seed in seeds]) / 2), 4)
        for model in STUDENTS
    }
    for model in ("student_unfiltered", "student_filtered"):
        ndcg = round(metrics["test"][model]["ndcg@10"], 4)
        curve.append(
            {"student": model.removeprefix("student_"), "labels": labels_used[model], "ndcg@10": ndcg,
             "spread": spread[model]}
        )  # fmt: skip
    results = {
        "data": str(source),
        "quick": sizes.pool_pairs is not None,
        "seeds": list(seeds),
        "label_range": list(label_range),
        "split_pairs": {
            "teacher_train": len(teacher_rows),
            "pool": pool.num_rows,
            "validation": validation.num_rows,
            "test": test.num_rows,
        },
        "test_queries_scored": metrics["test"]["teacher"]["queries"],
        "ndcg@10": {model: round(values["ndcg@10"], 4) for model, values in metrics["test"].items()},
        "ndcg@10_spread": spread,
        "paired_test_ndcg@10": _paired_test_differences(folders, evaluations["test"]),
        "validation_ndcg@10": {
            model: round(values["ndcg@10"], 4) for model, values in metrics["validation"].items()
        },
        "teacher_labels": labels_used,
        "train_pairs": {name: int(np.mean(sizes_)) for name, sizes_ in train_pairs.items()},
        "metrics": metrics["test"],
        "validation_metrics": metrics["validation"],
        "per_seed": {
            str(seed): {model: values["test"] for model, values in rows.items()}
            for seed, rows in per_seed.items()
        },
        "curve": sorted(curve, key=lambda point: (point["student"], point["labels"])),
        "settings": settings,
        "report": str(out / f"seed-{seeds[0]}" / "distill" / "report.html"),
        "plot": str(plot_learning_curve(metrics["test"], sorted(curve, key=lambda p: p["labels"]), out)),
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2))
    return results


def _claim(out: Path, settings: dict) -> None:
    """Records the study's settings in ``out``; finished stages are reused only under the same ones
    (more seeds may be added)."""
    path = out / "settings.json"
    settings = json.loads(json.dumps(settings))
    if path.exists():
        recorded = {**SETTINGS_ADDED_LATER, **json.loads(path.read_text())}
        if recorded != settings:
            differ = sorted(
                key for key in settings.keys() | recorded.keys() if recorded.get(key) != settings.get(key)
            )
            raise ValueError(
                f"{out} holds a study with other settings ({', '.join(differ)}; see {path}): its finished "
                "models would be reused as if trained with these; use a new --out"
            )
        return
    path.write_text(json.dumps(settings, indent=2))


def plot_learning_curve(metrics: dict, curve: list[dict], out: Path) -> Path:
    """``learning_curve.png``: test NDCG@10 against teacher labels used, per student kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.8))
    for kind, style in (("unfiltered", "s-"), ("filtered", "o-")):
        points = [point for point in curve if point["student"] == kind]
        axis.errorbar(
            [point["labels"] for point in points], [point["ndcg@10"] for point in points],
            yerr=[point.get("spread", 0) for point in points], fmt=style, capsize=3, label=f"student, {kind}",
        )  # fmt: skip
    for name, style in (("teacher", "--"), ("random", ":")):
        axis.axhline(metrics[name]["ndcg@10"], color="grey", linestyle=style, label=name)
    axis.set(xlabel="teacher labels", ylabel="test NDCG@10", title="Students by teacher labels used")
    axis.legend(fontsize=8)
    figure.tight_layout()
    path = out / "learning_curve.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _evaluation(rows):
    from protege.client.evaluation import Evaluation

    return Evaluation(rows["query"].to_pylist(), rows["document"].to_pylist(), rows["label"].to_pylist())


def _teacher_scores(teacher, progress: bool, evaluation) -> np.ndarray:
    from protege.client.distill import teacher_scores

    return np.asarray(teacher_scores(teacher, evaluation.queries, evaluation.documents, progress=progress))


def _student_scores(folder: Path, evaluation) -> np.ndarray:
    from sentence_transformers.cross_encoder import CrossEncoder

    pairs = list(zip(evaluation.queries, evaluation.documents, strict=True))
    return CrossEncoder(str(folder)).predict(pairs, batch_size=64, show_progress_bar=False)


def _metrics(folder: Path, name: str, evaluation, score) -> dict:
    """A model's metrics on one evaluation set, computed once and kept beside it with the scores
    they come from (``scores-NAME.npy``, for paired comparisons): a rerun scores nothing again."""
    from protege.client.evaluation import ranking_metrics

    path = folder / f"metrics-{name}.json"
    if path.exists():
        return json.loads(path.read_text())
    scores = score(evaluation)
    np.save(folder / f"scores-{name}.npy", scores)
    value = ranking_metrics(evaluation.queries, evaluation.gold, scores)
    path.write_text(json.dumps(value))
    return value


def _paired_test_differences(folders: dict[str, list[Path]], test) -> dict:
    """Filtered against teacher and unfiltered, and unfiltered against teacher: the mean
    per-query NDCG@10 difference on test (students' per-query NDCG averaged over the seeds,
    ``folders`` holding each model's folder per seed) with its bootstrap interval; pairs whose
    scores were not kept (studies scored before scores were saved) are left out."""
    from protege.client.evaluation import paired_difference, query_ndcgs

    by_query = {}
    for model, paths in folders.items():
        if model in ("teacher", *STUDENTS) and all((path / "scores-test.npy").exists() for path in paths):
            runs = [query_ndcgs(test.queries, test.gold, np.load(path / "scores-test.npy")) for path in paths]
            by_query[model] = {query: float(np.mean([run[query] for run in runs])) for query in runs[0]}
    pairs = [("student_filtered", "teacher"), ("student_filtered", "student_unfiltered")]
    pairs.append(("student_unfiltered", "teacher"))
    return {
        f"{first} - {second}": paired_difference(by_query[first], by_query[second])
        for first, second in pairs
        if first in by_query and second in by_query
    }


def _mean_metrics(runs: list[dict]) -> dict:
    return {name: float(np.mean([run[name] for run in runs])) for name in runs[0]}


def results_table(results: dict) -> str:
    """Test metrics, means over the seeds with half their range."""
    spread = results["ndcg@10_spread"] if len(results["seeds"]) > 1 else {}
    lines = [f"{'model':<20} {'NDCG@10':>16} {'MRR':>6} {'Spearman':>8} {'teacher labels':>15}"]
    for name, values in results["metrics"].items():
        labels = results["teacher_labels"].get(name, "–")
        ndcg = f"{values['ndcg@10']:.4f}" + (f" ± {spread[name]:.4f}" if name in spread else "")
        lines.append(f"{name:<20} {ndcg:>16} {values['mrr']:6.3f} {values['spearman']:8.3f} {labels!s:>15}")
    paired = results.get("paired_test_ndcg@10")
    if paired:
        lines.append("\npaired on the test queries: mean NDCG@10 difference, 95% bootstrap interval")
    for name, value in (paired or {}).items():
        low, high = value["interval95"]
        lines.append(f"{name:<40} {value['difference']:+.4f}  [{low:+.4f}, {high:+.4f}]")
    return "\n".join(lines)


def _sample(rows: np.ndarray, size: int | None, rng: np.random.Generator) -> np.ndarray:
    if size is None or size >= len(rows):
        return rows
    return np.sort(rng.choice(rows, size, replace=False))


def _cut_long_texts(table, limit: int, data: Path):
    """Queries and documents cut to the served teacher's ``limit`` on text (which it would refuse);
    its model and the students read far fewer tokens than that many characters anyway."""
    import pyarrow.compute as pc

    for name, plural in (("query", "queries"), ("document", "documents")):
        column = table[name]
        long = pc.greater(pc.utf8_length(column), limit)
        if pc.any(long).as_py():
            log.warning(
                "%s: %d %s are longer than the teacher's limit of %d characters and are cut to it",
                data, pc.sum(long).as_py(), plural, limit,
            )  # fmt: skip
            table = table.set_column(
                table.column_names.index(name), name, pc.utf8_slice_codeunits(column, 0, limit)
            )
    return table


def _rows_within(queries: list[str], documents: list[str], limit: int | None) -> np.ndarray | None:
    """The rows a study reads of a file of more than ``limit`` rows; None when every row fits.

    Whole queries are taken in order of a hash independent of the split, so each split keeps its
    share. Each query first keeps at most as many of its documents (chosen by a hash of the pair)
    as lets the first ``MIN_QUERIES`` queries fit: a file of a few hundred queries with hundreds
    of judged documents each keeps every query, a file of short lists is cut to whole queries.
    """
    if limit is None or len(queries) <= limit:
        return None
    query_key = np.array([_digest(query) // 50 % (1 << 62) for query in queries], dtype=np.int64)
    pairs = zip(queries, documents, strict=True)
    pair_key = np.array(
        [_digest(f"{query}\n{document}") % (1 << 62) for query, document in pairs], dtype=np.int64
    )
    order = np.lexsort((pair_key, query_key))  # a query's rows lie together, in pair-hash order
    first, counts = np.unique(query_key[order], return_index=True, return_counts=True)[1:]
    low, high = 1, int(counts.max())  # the most documents per query that fits MIN_QUERIES queries
    while low < high:
        middle = (low + high + 1) // 2
        fits = np.minimum(counts[:MIN_QUERIES], middle).sum() <= limit
        low, high = (middle, high) if fits else (low, middle - 1)
    order = order[np.arange(len(order)) - np.repeat(first, counts) < low]
    # Keep the queries whose rows end within the limit.
    group_ends = np.searchsorted(query_key[order], query_key[order], side="right")
    return np.sort(order[group_ends <= limit])


def _test_rows(table, buckets: np.ndarray, queries: int | None, rng: np.random.Generator) -> np.ndarray:
    """Test pairs, all judged pairs of a sample of ``queries`` test queries."""
    rows = np.flatnonzero(np.isin(buckets, TEST_BUCKETS))
    if queries is None:
        return rows
    names = np.array(table["query"].to_pylist(), dtype=object)[rows]
    distinct = sorted(set(names))
    keep = set(rng.choice(distinct, min(queries, len(distinct)), replace=False).tolist())
    return rows[[name in keep for name in names]]
