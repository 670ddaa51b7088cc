"""One study, stage by stage: split the file, score the baselines, fit and serve the teacher, label
the pool, train the students of each arm and seed, measure their cost, report.

Every finished stage is kept in ``OUT`` (models with their scores beside them, label folders,
distillation rounds) and skipped when the study runs again with the same settings
(``OUT/settings.json``), so a study cut short resumes where it stopped.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa

from protege.client.data import Columns
from protege.client.evaluation.baselines import BASELINES, baseline_scores
from protege.client.evaluation.metrics import Evaluation, require_ranked
from protege.client.evaluation.scoreboard import Board
from protege.client.export import ExportSpec, export_student
from protege.client.labelling.teacher_client import TeacherClient
from protege.client.report import REPORT
from protege.client.retrieval.embedder import MemoEmbedder, load_embedder
from protege.common.runtimes import require
from protege.common.setting_names import SettingError
from protege.common.stage import Stage, StageMismatch
from protege.server.backends import Backend, load_backend
from protege.server.validation import Limits

from . import results, volume_results
from .settings import FULL, MAX_ROWS, STUDENT_DEFAULTS, Models, Sizes
from .split import Split, load_rows, split_rows
from .students import (
    GOLD_LOSS,
    Shape,
    distilled,
    random_labels,
    student_shape,
    study_student,
    warm_started,
)
from .teachers import (
    NoisyBackend,
    add_noisy_teacher,
    cross_encoder_of,
    label_pool,
    measure_speed,
    served,
    served_scores,
    study_teacher,
    with_flips,
)
from .volume import VolumeArm, catalog_shortfall, label_pairs, pair_set_counts, volume_pairs

log = logging.getLogger("protege.study")

# Fewer scored queries than this in the test or validation set are warned of: NDCG@10 over them
# moves by points with the draw (Home Depot's --quick test set has 255).
FEW_QUERIES = 100
RESULTS = "results.json"  # a study's figures: its folder's marker


def run_study(
    data: Path,
    columns: Columns,
    out: Path,
    *,
    encoding: str = "auto",
    label_range: tuple[float, float] | None = None,
    sizes: Sizes = FULL,
    models: Models | None = None,
    seeds: tuple[int, ...] = (0,),
    max_rows: int | None = MAX_ROWS,
    source: Path | None = None,
    export: ExportSpec | None = None,
) -> dict:
    """Runs the study; returns (and writes to ``out/results.json``) its results. ``source``: what
    ``data`` was read from, recorded in its place (a folder of tables, where ``data`` is their join);
    ``export``: the headline student is exported so too, into ``out/student-NAME``.

    Example::

        results = run_study(Path("train.csv"), Columns(query="search_term", docs=("product_title",),
                            label="relevance"), Path("runs/study"), seeds=(0, 1, 2))
    """
    models = models or Models()
    _check(seeds, max_rows, export, models.runtime)
    started, out, source = time.perf_counter(), Path(out), Path(source or data)
    out.mkdir(parents=True, exist_ok=True)
    table, label_range, cut = load_rows(
        data, columns, encoding=encoding, label_range=label_range, max_rows=max_rows, source=source
    )
    if shortfall := catalog_shortfall(table, sizes):
        log.warning("%s: %s", source, shortfall)
    settings = _settings(source, columns, label_range, sizes, models, max_rows if cut else None)
    claim(out, settings)
    split = split_rows(table, sizes.teacher_pairs, sizes.pool_pairs, sizes.test_queries, seeds[0], source)
    board = Board(*(_judged(split, name, label_range, source) for name in ("validation", "test")))
    _add_baselines(board, out / "baselines")
    teacher_dir = study_teacher(
        split.teacher, models.teacher, models.teacher_base, sizes.teacher_epochs, out / "teacher", seeds[0]
    )
    shape = student_shape(models, split.pool, cross_encoder_of(models.teacher, teacher_dir))
    stage = StudyArms(split, sizes, models, shape, board, out)
    if models.warm_start:
        stage.shape = warm_started(stage.shape, split.pool, out / "student-base", stage.embedder)
    report, student = stage.run(teacher_dir, table, seeds)
    report |= {
        "student": str(student),
        "data": str(source),
        "seeds": list(seeds),
        "label_range": list(label_range),
    }
    report |= {"quick": sizes.test_queries is not None, "split_pairs": split.sizes(), "settings": settings}
    report["student_shape"] = asdict(stage.shape)
    if export:
        exported = out / f"student-{export.name}"
        report["export"] = str(exported if exported.exists() else export_student(student, exported, export))
    report["seconds"] = round(time.perf_counter() - started, 1)
    return _written(report, out)


def _check(seeds: tuple[int, ...], max_rows: int | None, export: ExportSpec | None, runtime: str) -> None:
    """What stops a study before any work: bad settings, an export or a runtime not installed."""
    if not seeds:
        raise ValueError("give at least one seed")
    if max_rows is not None and max_rows < 1:
        raise SettingError(f"{{max_rows}} must be 0 (all rows) or more, not {max_rows}", "max_rows")
    if export:
        export.require()  # before hours of work, not after
    if runtime != "torch":
        require(runtime)  # as the export: not after the teacher's fit


def _settings(
    source: Path, columns: Columns, label_range: tuple, sizes: Sizes, models: Models, max_rows: int | None
) -> dict:
    """What a study's finished stages depend on (``claim`` refuses a folder made under others)."""
    settings = {"data": str(source.resolve()), "columns": columns.as_dict(), "label_range": list(label_range)}
    settings |= {"sizes": asdict(sizes), "models": models.as_dict(), "max_rows": max_rows}
    return settings | {"student_defaults": STUDENT_DEFAULTS}


def _written(report: dict, out: Path) -> dict:
    """``report`` with its plot, written to ``out/results.json``; a run whose teacher or student
    does not beat doing nothing says so in the log."""
    volume = "quarter" in report
    report["plot"] = str((volume_results if volume else results).plot(report, out))
    (out / RESULTS).write_text(json.dumps(report, indent=2))
    beats = report["goals"]["student_beats_zero_shot_clearly" if volume else "beats_zero_shot"]
    if not beats:
        log.warning(results.DOING_NOTHING)
    return report


@dataclass
class StudyArms:
    """The students of each arm and seed, and the report they make."""

    split: Split
    sizes: Sizes
    models: Models
    shape: Shape
    board: Board
    out: Path
    # (arm, selection, budget) → the curve point's board name and the labels each seed used
    points: dict[tuple[str, str, int], dict] = field(default_factory=dict)
    # Every distillation run embeds the same pool's products and queries: once, for all of them.
    embedder: MemoEmbedder = field(default_factory=lambda: MemoEmbedder(load_embedder()))

    def label_budgets(self, labels: int) -> list[int]:
        return sorted({max(1, round(share * labels)) for share in self.sizes.label_budgets})

    def headline(self, seed: int, labels: int) -> Path:
        """The student the study is about: ``distill``'s at the largest budget, of the first seed."""
        return self.out / f"seed-{seed}" / "clean" / f"distill-{max(self.label_budgets(labels))}" / "student"

    def run(self, teacher_dir: Path, table: pa.Table, seeds: tuple[int, ...]) -> tuple[dict, Path]:
        """The volume study where the sizes ask for one, else the label-budget arms; their report and
        headline student."""
        runtime = {"runtime": self.models.runtime} if self.models.runtime != "torch" else {}
        backend = load_backend(self.models.teacher, str(teacher_dir), **runtime)
        # A teacher loaded afresh for its speed: the served one's caches hold the test texts already.
        fresh_teacher = partial(load_backend, self.models.teacher, str(teacher_dir), **runtime)
        if self.sizes.volumes:
            return self.volume_study(backend, teacher_dir, table, seeds, fresh_teacher)
        labels = self.run_arms(backend, teacher_dir, seeds, Limits())  # the served teacher's
        student = self.headline(seeds[0], labels.num_rows)
        speed = measure_speed(
            fresh_teacher, student, self.board, self.out / "speed.json", self.models.runtime
        )
        return self.report(speed, labels.num_rows), student

    def run_arms(
        self, backend: Backend, teacher_dir: Path, seeds: tuple[int, ...], limits: Limits
    ) -> pa.Table:
        """The teacher served: its scores, its pool labels (returned) and each seed's students; then
        the noisy teacher served to each seed's noisy arm."""
        with served(backend, self.out / "labels.sqlite", limits) as teacher:
            self.board.add("teacher", teacher_dir, partial(served_scores, teacher))
            labels = label_pool(teacher, self.split.pool, self.out)
            for seed in seeds:
                self.clean_arm(teacher, labels, seed)
        if self.models.noise:
            add_noisy_teacher(self.board, self.models.noise)
            pairs = zip(labels["query"].to_pylist(), labels["document"].to_pylist(), strict=True)
            noisy = NoisyBackend(
                backend, self.models.noise, dict(zip(pairs, labels["score"].to_pylist(), strict=True))
            )
            with served(noisy, self.out / "labels-noisy.sqlite", limits) as teacher:
                for seed in seeds:
                    self.noisy_arm(teacher, labels, seed)
        return labels

    def volume_study(
        self,
        backend: Backend,
        teacher_dir: Path,
        table: pa.Table,
        seeds: tuple[int, ...],
        fresh_teacher: Callable[[], Backend],
    ) -> tuple[dict, Path]:
        """The volume arm (``volume``): the teacher labels the augmented pair set, the first seed
        trains a student per volume and the others the smallest ``repeated_volumes`` of them,
        the first seed's smallest student selects a quarter of the largest; the gold student (the
        first seed's, on at most as many gold grades as the largest volume's labels: a reference
        line, not a point of the curve), the speed, the report. Returns the report and the headline
        student."""
        folder = self.out / "volume"
        pairs = volume_pairs(table, self.sizes, folder, self.embedder, seeds[0])
        with served(backend, self.out / "labels.sqlite", Limits()) as teacher:
            self.board.add("teacher", teacher_dir, partial(served_scores, teacher))
            labels = label_pairs(teacher, pairs, folder)
        arm = VolumeArm(
            labels, self.sizes, self.shape, self.board, folder, self.embedder, self.models.filters
        )
        volumes = arm.volumes()
        first = arm.students(seeds[0], volumes)
        for seed in seeds[1:]:
            arm.students(seed, (volumes[:-1] or volumes)[: self.sizes.repeated_volumes])
        quarter = arm.quarter(seeds[0], first[volumes[0]])
        # As many gold grades as the largest volume has labels (--quick's 29,439 took 5.5 minutes).
        self._gold_student(seeds[0], volumes[-1])
        speed = measure_speed(
            fresh_teacher, first[volumes[-1]], self.board, self.out / "speed.json", self.models.runtime
        )
        report = volume_results.report(self.board, volumes, folder, speed, quarter)
        report["pairs"] = pair_set_counts(labels)
        return report, first[volumes[-1]]

    def clean_arm(self, teacher: TeacherClient, labels: pa.Table, seed: int) -> None:
        self._arm("clean", teacher, labels, labels["score"].to_numpy(), seed)
        folder = self.out / f"seed-{seed}" / "clean"
        unfiltered = folder / f"random-{labels.num_rows}"
        self.board.add("student_unfiltered", unfiltered, self.shape.scorer(unfiltered))
        filtered = self.headline(seed, labels.num_rows)
        self.board.add("student_filtered", filtered, self.shape.scorer(filtered))
        self._gold_student(seed, json.loads((filtered.parent / REPORT).read_text())["train_pairs"])

    def noisy_arm(self, teacher: TeacherClient, labels: pa.Table, seed: int) -> None:
        queries, documents = labels["query"].to_pylist(), labels["document"].to_pylist()
        noisy = with_flips(labels["score"].to_numpy(), queries, documents, self.models.noise)
        self._arm("noisy", teacher, labels, noisy, seed)

    def _arm(self, arm: str, teacher: TeacherClient, labels: pa.Table, scores: np.ndarray, seed: int) -> None:
        """Random selection at every budget and on all labels, and ``distill`` at every budget."""
        folder = self.out / f"seed-{seed}" / arm
        targeted = labels.append_column("target", pa.array(scores))
        for budget in [*self.label_budgets(labels.num_rows), labels.num_rows]:
            chosen = random_labels(targeted, budget, seed)
            path = folder / f"random-{budget}"
            epochs = self.sizes.student_epochs(budget)
            study_student(path, chosen, chosen["target"].to_numpy(), self.shape, seed, epochs)
            self._point(arm, "random", budget, budget, path, plateau=budget == labels.num_rows)
        for budget in self.label_budgets(labels.num_rows):
            path = folder / f"distill-{budget}"
            report = distilled(
                teacher,
                self.split.pool,
                path,
                budget,
                self.models,
                self.sizes,
                self.shape,
                seed,
                self.embedder,
            )
            self._point(arm, "filtered", budget, report["teacher_labels"], path / "student")

    def _point(
        self, arm: str, selection: str, budget: int, used: int, path: Path, plateau: bool = False
    ) -> None:
        """One seed's student at one point of a learning curve, with the teacher labels it used."""
        model = f"{arm}/{selection}@{budget}"
        self.board.add(model, path, self.shape.scorer(path))
        figures = self.board.last_run(model)
        log.info(
            "%s: test RMSE %.4f, NDCG@10 %.4f",
            path.relative_to(self.out),
            figures["rmse"],
            figures["ndcg@10"],
        )
        point = self.points.setdefault(
            (arm, selection, budget), {"model": model, "plateau": plateau, "labels": []}
        )
        point["labels"].append(used)

    def _gold_student(self, seed: int, pairs: int) -> None:
        """The same small model on as many of the pool's gold grades as the filtered student trained on."""
        rows = random_labels(self.split.pool, min(pairs, self.split.pool.num_rows), seed)
        path = self.out / f"seed-{seed}" / "student_gold"
        epochs, shape = self.sizes.student_epochs(rows.num_rows), replace(self.shape, loss=GOLD_LOSS)
        study_student(path, rows, rows["label"].to_numpy(), shape, seed, epochs)
        self.board.add("student_gold", path, self.shape.scorer(path))

    def report(self, speed: dict, pool_labels: int) -> dict:
        """The figures of every model and curve point, the paired differences and the goals."""
        points = [
            {
                "arm": arm,
                "selection": selection,
                "label_budget": budget,
                **point,
                "labels": round(np.mean(point["labels"])),
            }
            for (arm, selection, budget), point in self.points.items()
        ]
        curve = results.curve(self.board, points)
        largest = max(self.label_budgets(pool_labels))
        labels = {"student_unfiltered": pool_labels, "student_gold": 0}
        labels["student_filtered"] = next(
            p["labels"]
            for p in curve
            if (p["arm"], p["selection"], p["label_budget"]) == ("clean", "filtered", largest)
        )
        figures = {name: self.board.figures(name) for name in results.TABLE if name in self.board.runs}
        for name, values in figures.items():
            values["teacher_labels"] = labels.get(name)
            values["pairs_per_second"] = speed["student"] if name.startswith("student") else None
        figures["teacher"]["pairs_per_second"] = speed["teacher"]
        paired = {f"{first} - {second}": self.board.paired(first, second) for first, second in results.PAIRS}
        plateau = figures["student_unfiltered"]["rmse"]
        return {
            "models": figures,
            "paired": paired,
            "curve": curve,
            "labels_to_plateau": {
                arm: results.labels_to_plateau(curve, arm, plateau) for arm in ("clean", "noisy")
            },
            "speed": speed,
            "goals": results.goals(self.board, curve, speed, paired),
            "test_queries_scored": figures["teacher"]["queries"],
        }


def claim(out: Path, settings: dict) -> None:
    """Records the study's settings in ``out``; finished stages are reused only under the same ones
    (more seeds may be added)."""
    try:
        Stage(out, marker=RESULTS, settings=settings).claim()
    except StageMismatch as error:
        raise ValueError(
            f"{error} (a study's finished models would be reused as if trained with these)"
        ) from None


def _judged(split: Split, name: str, label_range: tuple[float, float], source: Path) -> Evaluation:
    judged = split.judged(name, label_range)
    scored = require_ranked(judged.queries, judged.gold, str(source), f"{name} query")
    if scored < FEW_QUERIES:
        log.warning(
            "%s: only %d %s queries can be scored; NDCG@10 over so few varies by several points with the "
            "queries drawn (the paired intervals show how far), so read differences with care",
            source,
            scored,
            name,
        )
    return judged


def _add_baselines(board: Board, folder: Path) -> None:
    embedder = load_embedder()
    computed: dict[str, dict[str, np.ndarray]] = {}

    def baseline(name: str, evaluation: Evaluation) -> np.ndarray:
        key = "test" if evaluation is board.evaluations["test"] else "validation"
        if key not in computed:
            computed[key] = baseline_scores(
                evaluation.queries, evaluation.documents, embedder, seed=len(computed)
            )
        return computed[key][name]

    for name in BASELINES:
        board.add(name, folder / name, partial(baseline, name))
