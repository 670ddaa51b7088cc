"""Does the student's own selection pay? Each quota rule's quarter of a volume study's largest
labelled set, a drifting-band curriculum and pre-label selection, beside random picks of the same
size and all of it, under the clean teacher and under a teacher that flips a share of its labels.

    python bench/selection.py [--quick] [--data FILE] [--run DIR] [--seeds 0,1] [--rules random,excess]
        [--curricula excess] [--prelabel random,uncertainty,disagreement] [--label-budgets 4000,8000]

Runs the volume study first where ``--run`` holds none (``--quick``: 1,500 and 6,000 labels, every
validation pair, 300 test queries; else every split whole at 4,000 and 20,000 labels), or reuses a
finished one (its settings read from its ``results.json``). Then, for each seed: its smallest
volume's student is the selector; from its largest volume's labels each rule of ``--rules``
(``filters.quota``, with the study's filters before it) keeps a quarter (the study's own quarter
reused where the study's filters are the rule's), and a student trains on it for as many steps as
the student on all of them; the same again with ``--noise`` of the labels flipped, selector included.
Beside them:

* ``band_swapped``: the random quarter with the pairs beyond the selector's frontier swapped for
  in-band pairs of the next random queries (it differs from the random quarter only by the band),
  and on the human-graded pairs, how often the teacher's label is wrong where the band rejects it;
* ``curriculum-RULE``: a student trained in four quarters at the steps of all the labels, each
  drawn from its own current frontier (``client.training.curriculum``), against ``random_rounds``
  (under the clean teacher only: its goal is the clean one);
* clean, ``prelabel-RULE@B``: the selector's own labels plus ``B`` more, picked by ``RULE``
  (``filters.prelabel``) before the teacher's label is read, each ``--label-budgets`` size (none: no
  pre-label arms).

What each selection keeps is logged before it trains, and kept in RUN/selection/kept.json (score
deciles, pairs per query, single-pair queries, strategies). A rerun reuses every finished student.

Rules are judged on validation (grade maps cross-fitted across two halves of the validation
queries: the only figures a choice may be made on) and reported on test, paired, each beside the
random quarter and all the labels. Prints one JSON line last, with the goals of issue 50 it measures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import pyarrow.parquet as pq

from protege.client.data import Columns, read_table
from protege.client.evaluation.scoreboard import Board
from protege.client.retrieval.embedder import MemoEmbedder, load_embedder
from protege.common.stage import PROVENANCE
from protege.filters.settings import FilterSettings, QuotaRule
from protege.study.run import run_study
from protege.study.settings import STUDENT_BATCH_SIZE, VOLUME, VOLUME_QUICK, Models, Sizes
from protege.study.students import Shape
from protege.study.volume import with_labels

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOMEDEPOT, add_kept_scores, emit, log, study_board
from selection_arms import RANDOM, Arms

COLUMNS = Columns(query="search_term", docs=("product_title",), doc_id="product_uid", label="relevance")
# Quick: every validation pair (the pool is not cut: 7,527 on Home Depot, not 466), two volumes; the
# largest 6,000, not 8,000, for the 40 minutes (every arm trains its steps; docs/study.md, session 7).
QUICK = replace(VOLUME_QUICK, pool_pairs=None, volumes=(1_500, 6_000))
# Full: the volume study's whole splits and teacher, its largest volume cut to 20,000 labels so that
# the comparison runs within 2 hours on 2 cores (a student on 100,000 labels takes 17 minutes here
# and this bench trains a dozen at that size; docs/study.md).
FULL = replace(VOLUME, volumes=(4_000, 20_000))
# What each size compares by default: the rules that led on validation at --quick (top-ifd and strata
# lost to a random quarter there, docs/study.md 2026-12-07), one seed and the two budgets
# selection_saves_labels compares; at full size no curriculum (measured at --quick), to stay within
# the 2 hours. One pre-label rule beside random: disagreement, ahead of random on validation at 3,000
# labels where uncertainty was level and behind at 1,500; at --quick, only the excess rule, ahead of the
# random rule on validation in both worlds (docs/study.md, 2026-12-07, session 6), for the 40 minutes.
DEFAULTS = {
    "quick": {
        "seeds": "0",
        "rules": "excess",
        "curricula": "excess",
        "prelabel": "random,disagreement",
        "label_budgets": "1500,3000",
    },
    "full": {
        "seeds": "0",
        "rules": "random,excess",
        "curricula": "",
        "prelabel": "random,disagreement",
        "label_budgets": "4000,8000",
    },
}


def main() -> None:
    args = arguments()
    started = time.perf_counter()
    seeds = tuple(int(seed) for seed in args.seeds.split(","))
    run = args.run or Path("runs/selection-quick" if args.quick else "runs/selection")
    results = finished_study(run, args.data, QUICK if args.quick else FULL, seeds[0])
    sizes = Sizes(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in results["settings"]["sizes"].items()}
    )
    board, shape = study_board(results, sizes), Shape(**results["student_shape"])
    given = results["settings"]["models"]["filters"]
    study_filters = FilterSettings(**{**given, "quota_rule": QuotaRule(**given["quota_rule"])})
    filters = replace(
        study_filters, quota_rule=QuotaRule(), refinement=given["refinement"] and not args.no_refinement
    )
    folder = run / "volume"
    labels = with_labels(pq.read_table(folder / "pairs.parquet"), folder)
    embedder = MemoEmbedder(load_embedder())
    arms = Arms(board, shape, sizes, filters, labels, run / "selection", embedder, study_filters)
    rules, curricula = args.rules.split(","), [rule for rule in args.curricula.split(",") if rule]
    prelabels = ["random", *(rule for rule in args.prelabel.split(",") if rule not in ("", "random"))]
    budgets = sorted(int(budget) for budget in args.label_budgets.split(",") if budget)
    add_kept_scores(board, run)
    grades = human_grades(Path(results["settings"]["data"]), tuple(results["settings"]["label_range"]))
    kept = {}
    for seed in seeds:
        kept[seed] = arms.world(seed, rules, curricula, 0.0, grades)
        if args.noise:
            kept[seed] |= arms.world(seed, rules, [], args.noise, grades)  # curricula: clean only
        if budgets:
            kept[seed]["prelabel"] = arms.prelabel_curve(seed, prelabels, budgets)
    (run / "selection" / "kept.json").write_text(json.dumps(kept, indent=2))
    emit(
        report(
            board, rules, curricula, prelabels, budgets, kept, args, round(time.perf_counter() - started, 1)
        )
    )


def arguments() -> argparse.Namespace:
    """The command line; a comparison list left out is its size's ``DEFAULTS``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=HOMEDEPOT)
    parser.add_argument("--run", type=Path, help="a volume study's folder (default runs/selection[-quick])")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", help=f"comma-separated (default: {_defaults('seeds')})")
    parser.add_argument(
        "--rules",
        help=f"quota rules to compare, comma-separated; options after colons: strata:clusters=16 "
        f"(default: {_defaults('rules')})",
    )
    parser.add_argument(
        "--curricula", help=f"quota rules of the curriculum arms (default: {_defaults('curricula')})"
    )
    parser.add_argument(
        "--prelabel",
        help="pre-label rules beside random (always run: the baseline), comma-separated; options after "
        f"colons: uncertainty:clusters=16 (default: {_defaults('prelabel')})",
    )
    parser.add_argument(
        "--label-budgets", help=f"pre-label teacher-label budgets (default: {_defaults('label_budgets')})"
    )
    parser.add_argument("--noise", type=float, default=0.2, help="share of labels flipped (0: no noisy arm)")
    parser.add_argument(
        "--no-refinement", action="store_true", help="selection without refinement acceptance"
    )
    args = parser.parse_args()
    for key, value in DEFAULTS["quick" if args.quick else "full"].items():
        setattr(args, key, value if getattr(args, key) is None else getattr(args, key))
    for key in ("seeds", "rules"):  # the others may be empty: no such arms
        if not getattr(args, key):
            parser.error(f"--{key} needs at least one (default: {_defaults(key)})")
    return args


def _defaults(key: str) -> str:
    return f"{DEFAULTS['quick'][key] or 'none'} with --quick, else {DEFAULTS['full'][key] or 'none'}"


def finished_study(run: Path, data: Path, sizes: Sizes, seed: int) -> dict:
    """The volume study in ``run``, run first where it is not finished."""
    if not (run / "results.json").exists():
        if not data.exists():
            sys.exit(f"{data} not found (the default is the Home Depot file, ../shared/data/README.md)")
        log(f"running the volume study into {run}")
        run_study(
            data, COLUMNS, run, sizes=sizes, models=Models(runtime="openvino", loss="bce"), seeds=(seed,)
        )
    results = json.loads((run / "results.json").read_text())
    # Its students were trained before this bench's: new arms beside them must step alike.
    smallest = min(results["settings"]["sizes"]["volumes"])
    trained = json.loads((run / "volume" / f"seed-{seed}" / f"volume-{smallest}" / PROVENANCE).read_text())
    if trained["batch_size"] != STUDENT_BATCH_SIZE:
        sys.exit(
            f"{run}'s students stepped {trained['batch_size']} pairs at a time, this bench's step "
            f"{STUDENT_BATCH_SIZE}: run it into a new --run folder"
        )
    return results


def human_grades(data: Path, label_range: tuple[float, float]) -> dict[tuple[str, str], float]:
    """Each judged (query, product id)'s mean human grade of the file, mapped to 0..1."""
    table = read_table(data, COLUMNS, encoding="auto")
    low, high = label_range
    found: dict[tuple[str, str], list[float]] = {}
    keys = zip(
        table["query"].to_pylist(), table["doc_id"].to_pylist(), table["label"].to_pylist(), strict=True
    )
    for query, doc_id, grade in keys:
        found.setdefault((query, str(doc_id)), []).append((grade - low) / (high - low))
    return {key: sum(values) / len(values) for key, values in found.items()}


def report(
    board: Board,
    rules: list[str],
    curricula: list[str],
    prelabels: list[str],
    budgets: list[int],
    kept: dict,
    args: argparse.Namespace,
    seconds: float,
) -> dict:
    """Per arm: validation (cross-fitted) and test figures; paired differences; the goals."""
    worlds = sorted({name.split("/")[0] for name in board.runs if "/" in name})
    figures, paired = {}, {}

    def pair(first: str, second: str) -> None:
        paired[f"{first} - {second}"] = {
            "validation_rmse": board.validation_paired(first, second),
            "test_rmse": board.paired(first, second)["rmse"],
        }

    for world in worlds:
        rounds = curricula if world == "clean" else []
        arms = ["all", RANDOM, "band_swapped", *(f"rule-{r}" for r in rules)]
        arms += [f"curriculum-{rule}" for rule in rounds] + (["random_rounds"] if rounds else [])
        for arm in arms:
            figures[f"{world}/{arm}"] = _figures(board, f"{world}/{arm}")
        for arm in ["band_swapped", *(f"rule-{rule}" for rule in rules)]:
            for other in (RANDOM, "all", "zero_shot"):
                pair(f"{world}/{arm}", other if other == "zero_shot" else f"{world}/{other}")
        for rule in rounds:
            for other in ("random_rounds", "all"):
                pair(f"{world}/curriculum-{rule}", f"{world}/{other}")
    figures |= {f"prelabel-{r}@{b}": _figures(board, f"prelabel-{r}@{b}") for r in prelabels for b in budgets}
    for rule in prelabels:
        for budget in budgets:
            if rule != "random":
                pair(f"prelabel-{rule}@{budget}", f"prelabel-random@{budget}")
        for budget in budgets[:-1]:
            pair(f"prelabel-{rule}@{budget}", f"prelabel-random@{budgets[-1]}")
    for name in ("mean_grade", "zero_shot", "teacher"):
        test = board.figures(name)
        figures[name] = {"test": {key: test[key] for key in ("rmse", "spearman", "ndcg@10") if key in test}}
    return {
        "benchmark": "selection",
        "run": str(args.run),
        "quick": args.quick,
        "seeds": args.seeds,
        "rules": rules,
        "curricula": curricula,
        "prelabel": prelabels,
        "label_budgets": budgets,
        "noise": args.noise,
        "refinement": not args.no_refinement,
        "figures": figures,
        "paired": paired,
        "band": {f"seed-{seed}/{world}": kept[seed][world]["band"] for seed in kept for world in worlds},
        **goals(paired, rules, curricula, prelabels, budgets, worlds),
        "seconds": seconds,
    }


def _figures(board: Board, name: str) -> dict:
    test = board.figures(name)
    return {
        "validation": board.validation_figures(name),
        "test": {key: test[key] for key in ("rmse", "spearman", "ndcg@10", "runs")},
    }


def goals(
    paired: dict,
    rules: list[str],
    curricula: list[str],
    prelabels: list[str],
    budgets: list[int],
    worlds: list[str],
) -> dict:
    """Issue 50's goals that this bench measures, each for the arm best on validation (true or false)."""

    def best(names: list[str], against: str) -> str:
        return min(names, key=lambda name: paired[f"{name} - {against}"]["validation_rmse"]["difference"])

    def test(first: str, second: str, end: int) -> float:
        return paired[f"{first} - {second}"]["test_rmse"]["interval95"][end]

    quarters = [f"clean/rule-{rule}" for rule in rules]
    clean = best(quarters, f"clean/{RANDOM}")
    found = {
        "best_rule_clean": clean.split("rule-")[1],
        "quarter_matches_all": test(clean, "clean/all", 0) <= 0,
        "quarter_beats_random": test(clean, f"clean/{RANDOM}", 1) < 0,
    }
    noisy = next((world for world in worlds if world != "clean"), None)
    if noisy:
        rule = best([f"{noisy}/rule-{r}" for r in rules], f"{noisy}/{RANDOM}")
        found["best_rule_noisy"] = rule.split("rule-")[1]
        found["noisy_quarter_beats_random"] = (
            test(rule, f"{noisy}/{RANDOM}", 1) < 0 and test(rule, f"{noisy}/all", 1) < 0
        )
    if curricula:
        curriculum = best([f"clean/curriculum-{rule}" for rule in curricula], "clean/random_rounds")
        found["best_curriculum"] = curriculum.split("curriculum-")[1]
        found["curriculum_beats_random_rounds"] = test(curriculum, "clean/random_rounds", 1) < 0
    largest = budgets[-1] if budgets else 0
    halves = [budget for budget in budgets if budget <= largest // 2]
    chosen = [rule for rule in prelabels if rule != "random"]
    if chosen and halves:
        rule = best([f"prelabel-{r}@{largest}" for r in chosen], f"prelabel-random@{largest}")
        found["best_prelabel"] = rule.split("prelabel-")[1].split("@")[0]
        # Reaching random's RMSE with half the labels: the point difference at most 0.
        at_half = paired[f"prelabel-{found['best_prelabel']}@{halves[-1]} - prelabel-random@{largest}"]
        found["selection_saves_labels"] = at_half["test_rmse"]["difference"] <= 0
    return found


if __name__ == "__main__":
    main()
