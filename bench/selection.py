"""Does the student's own selection pay? Each budget rule's quarter of a volume study's largest
labelled set, beside a random quarter and all of it, under the clean teacher and under a teacher
that flips a share of its labels.

    python bench/selection.py [--quick] [--data FILE] [--run DIR] [--seeds 0,1] [--rules top-ifd,strata]

Runs the volume study first where ``--run`` holds none (``--quick``: 1,500 and 8,000 labels, every
validation pair, 300 test queries; else ``VOLUME``'s sizes), or reuses a finished one (its settings
read from its ``results.json``). Then, for each seed: its smallest volume's student is the selector;
from its largest volume's labels each rule of ``--rules`` (``filters.budget``, with the study's
filters before it) keeps a quarter, and a student trains on it for as many steps as the student on
all of them; the same again with ``--noise`` of the labels flipped, selector included. What each
selection keeps is logged before it trains, and kept in RUN/selection/kept.json (score deciles,
pairs per query, single-pair queries, strategies).

Rules are judged on validation (grade maps cross-fitted across two halves of the validation
queries: the only figures a choice may be made on) and reported on test, paired, each beside the
random quarter and all the labels. Prints one JSON line last, with the goals of issue 50 it measures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from protege.client.data import Columns
from protege.client.embedder import MemoEmbedder, load_embedder
from protege.client.scoreboard import Board
from protege.common.files import write_parquet_atomic
from protege.common.stage import Stage
from protege.filters.settings import BudgetRule, FilterSettings

from protege.study.run import run_study
from protege.study.settings import VOLUME, VOLUME_QUICK, Models, Sizes
from protege.study.students import Shape, random_labels, study_student
from protege.study.teachers import with_flips
from protege.study.volume import selected, volume_rows, with_labels

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import HOMEDEPOT, add_kept_scores, emit, log, study_board

COLUMNS = Columns(query="search_term", docs=("product_title",), doc_id="product_uid", label="relevance")
# Quick: every validation pair (the pool is not cut: 7,527 on Home Depot, not 466), two volumes.
QUICK = replace(VOLUME_QUICK, pool_pairs=None, volumes=(1_500, 8_000))
RULES = "top-ifd,random,excess,strata"
RANDOM = "random_quarter"  # the baseline: whole queries at random, no filter


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=HOMEDEPOT)
    parser.add_argument("--run", type=Path, help="a volume study's folder (default runs/selection[-quick])")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument(
        "--rules",
        default=RULES,
        help="budget rules to compare, comma-separated; options after colons: strata:clusters=16",
    )
    parser.add_argument("--noise", type=float, default=0.2, help="share of labels flipped (0: no noisy arm)")
    parser.add_argument(
        "--no-refinement", action="store_true", help="selection without refinement acceptance"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    seeds = tuple(int(seed) for seed in args.seeds.split(","))
    run = args.run or Path("runs/selection-quick" if args.quick else "runs/selection")
    results = finished_study(run, args.data, QUICK if args.quick else VOLUME, seeds[0])
    sizes = Sizes(
        **{k: tuple(v) if isinstance(v, list) else v for k, v in results["settings"]["sizes"].items()}
    )
    board, shape = study_board(results, sizes), Shape(**results["student_shape"])
    filters = FilterSettings(**{**results["settings"]["models"]["filters"], "budget_rule": BudgetRule()})
    filters = replace(filters, refinement=filters.refinement and not args.no_refinement)
    folder = run / "volume"
    labels = with_labels(pq.read_table(folder / "pairs.parquet"), folder)
    arms = Arms(board, shape, sizes, filters, labels, run / "selection", MemoEmbedder(load_embedder()))
    rules = args.rules.split(",")
    add_kept_scores(board, run)
    kept = {}
    for seed in seeds:
        kept[seed] = arms.world(seed, rules, 0.0)
        if args.noise:
            kept[seed] |= arms.world(seed, rules, args.noise)
    (run / "selection" / "kept.json").write_text(json.dumps(kept, indent=2))
    emit(report(board, rules, args, round(time.perf_counter() - started, 1)))


def finished_study(run: Path, data: Path, sizes: Sizes, seed: int) -> dict:
    """The volume study in ``run``, run first where it is not finished."""
    if not (run / "results.json").exists():
        if not data.exists():
            sys.exit(f"{data} not found (the default is the Home Depot file, ../shared/data/README.md)")
        log(f"running the volume study into {run}")
        run_study(
            data, COLUMNS, run, sizes=sizes, models=Models(runtime="openvino", loss="bce"), seeds=(seed,)
        )
    return json.loads((run / "results.json").read_text())


class Arms:
    """The selector, all the labels, the random quarter and each rule's quarter, per seed and world."""

    def __init__(
        self, board: Board, shape: Shape, sizes: Sizes, filters: FilterSettings, labels, out, embedder
    ):
        self.board, self.shape, self.sizes, self.filters = board, shape, sizes, filters
        self.labels, self.out, self.embedder = labels, out, embedder
        self.volumes = sorted({min(v, labels.num_rows) for v in sizes.volumes})

    def world(self, seed: int, rules: list[str], noise: float) -> dict[str, dict]:
        """Every arm of one seed under labels with ``noise`` flipped; what each selection kept."""
        world = f"noisy{noise:g}" if noise else "clean"
        folder = self.out / f"seed-{seed}" / world
        study = self.out.parent / "volume" / f"seed-{seed}"  # the clean world's students are the study's
        rows = self._labels(volume_rows(self.labels, max(self.volumes), seed), noise)
        smallest = self._labels(volume_rows(self.labels, self.volumes[0], seed), noise)
        keep = max(2, round(self.sizes.quarter * rows.num_rows))
        epochs = self.sizes.student_epochs(rows.num_rows)
        quarter_epochs = epochs * rows.num_rows / keep
        places = {
            "selector": study / f"volume-{self.volumes[0]}",
            "all": study / f"volume-{max(self.volumes)}",
            "random_quarter": study / "quarter_random",
        }
        place = {
            name: path if not noise and Stage(path).done else folder / name for name, path in places.items()
        }
        selector = self._student(
            place["selector"], smallest, seed, self.sizes.student_epochs(smallest.num_rows)
        )
        self._student(place["all"], rows, seed, epochs, f"{world}/all")
        chosen = {RANDOM: random_labels(rows, keep, seed)}
        for rule in rules:
            settings = replace(self.filters, budget=keep, budget_rule=budget_rule(rule, seed))
            record = folder / f"rule-{rule}" / "selection.parquet"
            chosen[f"rule-{rule}"] = selected(
                rows, settings, selector, self.shape.runtime, self.embedder, record
            )
        described = {"all": describe(rows)}
        for name, subset in chosen.items():
            described[name] = describe(subset)
            log(f"{world} seed {seed} {name}: {described[name]}")
            path = place[RANDOM] if name == RANDOM else folder / name
            self._student(path, subset, seed, quarter_epochs, f"{world}/{name}")
        return {world: described}

    def _labels(self, rows: pa.Table, noise: float) -> pa.Table:
        if not noise:
            return rows
        scores = with_flips(
            rows["score"].to_numpy(), rows["query"].to_pylist(), rows["document"].to_pylist(), noise
        )
        return rows.set_column(rows.column_names.index("score"), "score", pa.array(scores, pa.float64()))

    def _student(self, path: Path, rows: pa.Table, seed: int, epochs: float, name: str | None = None) -> Path:
        """A student on ``rows`` (kept where one is finished), on the board as ``name`` where given."""
        study_student(path, rows, rows["score"].to_numpy(), self.shape, seed, epochs)
        if not (path / "rows.parquet").exists():  # the selector's reference profile reads it
            write_parquet_atomic(rows.select(["query", "document", "score"]), path / "rows.parquet")
        if name:
            self.board.add(name, path, self.shape.scorer(path))
        return path


def budget_rule(spec: str, seed: int) -> BudgetRule:
    """``strata:clusters=16:noise_tail=0.1`` as a ``BudgetRule``."""
    rule, *options = spec.split(":")
    given = dict(option.split("=") for option in options)
    return BudgetRule(
        rule, seed=seed, **{key: float(v) if key == "noise_tail" else int(v) for key, v in given.items()}
    )


def describe(rows: pa.Table) -> dict:
    """What a selection keeps: rows, score deciles, pairs per query, single-pair queries, strategies."""
    per_query = Counter(rows["query"].to_pylist())
    strategies = Counter(rows["strategy"].to_pylist())
    return {
        "rows": rows.num_rows,
        "score_deciles": np.round(
            np.quantile(rows["score"].to_numpy(), [0.1, 0.3, 0.5, 0.7, 0.9]), 3
        ).tolist(),
        "pairs_per_query": round(rows.num_rows / len(per_query), 2),
        "single_pair_queries": round(sum(n == 1 for n in per_query.values()) / len(per_query), 3),
        "strategies": {name: round(count / rows.num_rows, 3) for name, count in sorted(strategies.items())},
    }


def report(board: Board, rules: list[str], args, seconds: float) -> dict:
    """Per world and arm: validation (cross-fitted) and test figures; paired differences; the goals."""
    worlds = sorted({name.split("/")[0] for name in board.runs if "/" in name})
    figures, paired = {}, {}
    for world in worlds:
        arms = ["all", RANDOM, *(f"rule-{rule}" for rule in rules)]
        for arm in arms:
            name = f"{world}/{arm}"
            test = board.figures(name)
            figures[name] = {
                "validation": board.validation_figures(name),
                "test": {key: test[key] for key in ("rmse", "spearman", "ndcg@10", "runs")},
            }
        for rule in rules:
            for other in (RANDOM, "all"):
                first, second = f"{world}/rule-{rule}", f"{world}/{other}"
                paired[f"{first} - {second}"] = {
                    "validation_rmse": board.validation_paired(first, second),
                    "test_rmse": board.paired(first, second)["rmse"],
                }
    for name in ("zero_shot", "teacher"):
        figures[name] = {"test": {key: board.figures(name)[key] for key in ("rmse", "spearman", "ndcg@10")}}
    return {
        "benchmark": "selection",
        "run": str(args.run),
        "quick": args.quick,
        "seeds": args.seeds,
        "rules": rules,
        "noise": args.noise,
        "refinement": not args.no_refinement,
        "figures": figures,
        "paired": paired,
        **goals(paired, rules),
        "seconds": seconds,
    }


def goals(paired: dict, rules: list[str]) -> dict:
    """Issue 50's goals that this bench measures, for the best rule on validation (each true or false)."""

    def best(world: str) -> str:
        return min(
            rules,
            key=lambda rule: paired[f"{world}/rule-{rule} - {world}/{RANDOM}"]["validation_rmse"][
                "difference"
            ],
        )

    clean = best("clean")
    found = {"best_rule_clean": clean}
    found["quarter_matches_all"] = (
        paired[f"clean/rule-{clean} - clean/all"]["test_rmse"]["interval95"][0] <= 0
    )
    found["quarter_beats_random"] = (
        paired[f"clean/rule-{clean} - clean/{RANDOM}"]["test_rmse"]["interval95"][1] < 0
    )
    noisy = next((world for world in {key.split("/")[0] for key in paired} if world != "clean"), None)
    if noisy:
        rule = best(noisy)
        found["best_rule_noisy"] = rule
        found["noisy_quarter_beats_random"] = (
            paired[f"{noisy}/rule-{rule} - {noisy}/{RANDOM}"]["test_rmse"]["interval95"][1] < 0
            and paired[f"{noisy}/rule-{rule} - {noisy}/all"]["test_rmse"]["interval95"][1] < 0
        )
    return found


if __name__ == "__main__":
    main()
