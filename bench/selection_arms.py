"""The arms of ``bench/selection.py``: per seed and world (clean, or a share of labels flipped) the
selector, all the labels, a random quarter, each quota rule's quarter, the band-swapped quarter,
the drifting-band curricula and random rounds; and, clean, pre-label selection at fixed budgets."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
from harness import log

from protege.client.evaluation.scoreboard import Board
from protege.client.retrieval.embedder import MemoEmbedder, embed
from protege.client.training.config import CurriculumConfig
from protege.client.training.curriculum import CURRICULUM_RECORD, train_curriculum
from protege.common.files import write_parquet_atomic
from protege.common.runtimes import load_cross_encoder
from protege.common.stage import Stage
from protege.filters.grouping import query_groups, take_in_order
from protege.filters.prelabel import prelabel, prelabel_signals
from protege.filters.settings import FilterSettings, PrelabelRule, QuotaRule
from protege.study.settings import Sizes
from protege.study.students import Shape, random_labels, study_student
from protege.study.teachers import with_flips
from protege.study.volume import selected, volume_rows

RANDOM = "random_quarter"  # the baseline: whole queries at random, no filter
CURRICULUM_ROUNDS = 4  # each a quarter: all the labels' steps in four draws from the frontier
BOOTSTRAP_DRAWS = 2000


class Arms:
    """Every arm of one volume study's largest labelled set, on one board."""

    def __init__(
        self,
        board: Board,
        shape: Shape,
        sizes: Sizes,
        filters: FilterSettings,
        labels: pa.Table,
        out: Path,
        embedder: MemoEmbedder,
        study_filters: FilterSettings,
    ) -> None:
        self.board, self.shape, self.sizes, self.filters = board, shape, sizes, filters
        self.study_filters = study_filters  # what made the study's own quarter_selected
        self.labels, self.out, self.embedder = labels, out, embedder
        self.volumes = sorted({min(v, labels.num_rows) for v in sizes.volumes})
        self.selectors: dict[int, Path] = {}  # each seed's clean selector, which picks before labels too

    def world(
        self, seed: int, rules: list[str], curricula: list[str], noise: float, grades: dict
    ) -> dict[str, dict]:
        """Every arm of one seed under labels with ``noise`` flipped: what each selection kept, and
        how often the band's rejects are wrong against the human grade."""
        world = f"noisy{noise:g}" if noise else "clean"
        folder = self.out / f"seed-{seed}" / world
        study = self.out.parent / "volume" / f"seed-{seed}"  # the clean world's students are the study's
        clean = volume_rows(self.labels, max(self.volumes), seed)
        rows, smallest = (
            self._noisy(clean, noise),
            self._noisy(volume_rows(self.labels, self.volumes[0], seed), noise),
        )
        keep = max(2, round(self.sizes.quarter * rows.num_rows))
        epochs = self.sizes.student_epochs(max(self.volumes))  # the study's, for the students it made
        places = {
            "selector": study / f"volume-{self.volumes[0]}",
            "all": study / f"volume-{max(self.volumes)}",
            RANDOM: study / "quarter_random",
        }
        place = {
            name: path if not noise and Stage(path).done else folder / name for name, path in places.items()
        }
        selector = self._student(
            place["selector"], smallest, seed, self.sizes.student_epochs(self.volumes[0])
        )
        if not noise:
            self.selectors[seed] = selector
        self._student(place["all"], rows, seed, epochs, f"{world}/all")
        in_band = self._in_band(rows, selector, folder)
        chosen = {
            RANDOM: random_labels(rows, keep, seed),
            "band_swapped": band_swapped(rows, in_band, keep, seed),
        }
        study_quarter = replace(
            self.study_filters,
            quota=keep,
            quota_rule=replace(self.study_filters.quota_rule, seed=seed),
        )
        for rule in rules:
            settings = replace(self.filters, quota=keep, quota_rule=quota_rule(rule, seed))
            record = folder / f"rule-{rule}" / "selection.parquet"
            if not noise and settings == study_quarter and Stage(study / "quarter_selected").done:
                # The study's own quarter: the same rows, selector and settings, so the same student.
                place[f"rule-{rule}"], record = study / "quarter_selected", study / "selection.parquet"
            chosen[f"rule-{rule}"] = selected(
                rows, settings, selector, self.shape.runtime, self.embedder, record
            )
        described = {"all": describe(rows)}
        for name, subset in chosen.items():
            described[name] = describe(subset)
            log(f"{world} seed {seed} {name}: {described[name]}")
            path = place.get(name, folder / name)
            self._student(path, subset, seed, epochs * rows.num_rows / subset.num_rows, f"{world}/{name}")
        for rule in [None, *curricula] if curricula else []:  # random rounds: the curricula's baseline
            name = f"curriculum-{rule}" if rule else "random_rounds"
            described[name] = self._curriculum(folder / name, rows, seed, epochs, rule, f"{world}/{name}")
        described["band"] = band_errors(rows, in_band, grades, clean["score"].to_numpy() if noise else None)
        log(f"{world} seed {seed} band against the human grades: {described['band']}")
        return {world: described}

    def prelabel_curve(self, seed: int, rules: list[str], budgets: list[int]) -> dict:
        """Clean labels: the selector's own labels plus ``budget`` more, picked from the rest of the
        largest volume's candidates before their labels are read, by each rule; a fresh student each.
        Runs after ``world(seed, …, noise=0)``, which makes the selector."""
        rows = volume_rows(self.labels, max(self.volumes), seed)
        warm = volume_rows(self.labels, self.volumes[0], seed)
        candidates = rows.filter(
            pa.array(~np.isin(rows["pair_id"].to_numpy(False), warm["pair_id"].to_numpy(False)))
        )
        folder = self.out / f"seed-{seed}" / "prelabel"
        queries = candidates["query"].to_pylist()
        logits, cosines = self._signals(candidates, seed, folder / "signals.npz")
        kept = {}
        for spec in rules:
            rule = prelabel_rule(spec, seed)
            for budget in budgets:
                picked = candidates.take(
                    pa.array(prelabel(queries, logits, cosines, budget, rule, partial(embed, self.embedder)))
                )
                name = f"prelabel-{spec}@{budget}"
                kept[name] = describe(picked)
                train = pa.concat_tables([warm.select(picked.column_names), picked])
                path = folder / name
                self._student(path, train, seed, self.sizes.student_epochs(train.num_rows), name)
        return kept

    def _signals(self, candidates: pa.Table, seed: int, path: Path) -> tuple[np.ndarray, np.ndarray]:
        """The selector's logit and the zero-shot cosine of each candidate (made once, in ``path``)."""
        if not path.exists():
            selector = load_cross_encoder(self.selectors[seed], self.shape.runtime)
            queries, documents = candidates["query"].to_pylist(), candidates["document"].to_pylist()
            embedded = partial(embed, self.embedder)
            logits, cosines = prelabel_signals("disagreement", selector, queries, documents, embedded)
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, logits=logits, cosines=cosines)
        signals = np.load(path)
        return signals["logits"], signals["cosines"]

    def _noisy(self, rows: pa.Table, noise: float) -> pa.Table:
        if not noise:
            return rows
        scores = with_flips(
            rows["score"].to_numpy(), rows["query"].to_pylist(), rows["document"].to_pylist(), noise
        )
        return rows.set_column(rows.column_names.index("score"), "score", pa.array(scores, pa.float64()))

    def _in_band(self, rows: pa.Table, selector: Path, folder: Path) -> np.ndarray:
        """Which of ``rows`` the selector's likelihood band keeps (the band alone, no quota)."""
        band = self.filters.keeping({"band"})
        kept = selected(
            rows, band, selector, self.shape.runtime, self.embedder, folder / "band" / "selection.parquet"
        )
        return np.isin(rows["pair_id"].to_numpy(False), kept["pair_id"].to_numpy(False))

    def _curriculum(
        self, path: Path, rows: pa.Table, seed: int, epochs: float, rule: str | None, name: str
    ) -> list:
        """A student trained in ``CURRICULUM_ROUNDS`` quarters at the steps of all ``rows``: each drawn
        from its own frontier by ``rule`` after the study's filters, or at random without ``rule``."""
        keep = max(2, round(self.sizes.quarter * rows.num_rows))
        if not Stage(path).done:
            log(f"training {name}: {CURRICULUM_ROUNDS} rounds of {keep} pairs")
            filters = None if rule is None else replace(self.filters, quota_rule=quota_rule(rule, seed))
            train_curriculum(
                rows,
                rows["score"].to_numpy(),
                self.shape.training(seed, epochs * rows.num_rows / (CURRICULUM_ROUNDS * keep)),
                CurriculumConfig(CURRICULUM_ROUNDS, self.sizes.quarter),
                filters,
                path,
                embed_queries=partial(embed, self.embedder),
            )
        self.board.add(name, path, self.shape.scorer(path))
        return json.loads((path / CURRICULUM_RECORD).read_text())

    def _student(self, path: Path, rows: pa.Table, seed: int, epochs: float, name: str | None = None) -> Path:
        """A student on ``rows`` (kept where one is finished), on the board as ``name`` where given."""
        study_student(path, rows, rows["score"].to_numpy(), self.shape, seed, epochs)
        if not (path / "rows.parquet").exists():  # the selector's reference profile reads it
            write_parquet_atomic(rows.select(["query", "document", "score"]), path / "rows.parquet")
        if name:
            self.board.add(name, path, self.shape.scorer(path))
        return path


def band_swapped(rows: pa.Table, in_band: np.ndarray, keep: int, seed: int) -> pa.Table:
    """The random quarter with the band's rejects left out and its place filled by the in-band pairs
    of the next queries in the same random order: an arm that differs from it only by the band."""
    groups = query_groups(np.asarray(rows["query"].to_pylist(), dtype=object))
    order = np.random.default_rng(seed).permutation(len(groups))  # whole_queries' order for this seed
    return rows.take(pa.array(np.sort(take_in_order([groups[i][in_band[groups[i]]] for i in order], keep))))


def band_errors(rows: pa.Table, in_band: np.ndarray, grades: dict, clean: np.ndarray | None) -> dict:
    """On the pairs with a human grade (0..1): the teacher's mean absolute error, and the share off
    by more than half the scale, for pairs the band rejects and those it keeps, with a 95% bootstrap
    interval of the difference in error; with ``clean`` scores, the share of flipped labels in each."""
    keys = zip(rows["query"].to_pylist(), rows["doc_id"].to_pylist(), strict=True)
    grade = np.array([grades.get(key, np.nan) for key in keys])
    judged = ~np.isnan(grade)
    error = np.abs(rows["score"].to_numpy() - grade)
    found = {"pairs": len(in_band), "rejected": int((~in_band).sum()), "judged": int(judged.sum())}
    for name, part in (("in_band", in_band & judged), ("rejected", ~in_band & judged)):
        found[f"judged_{name}"] = int(part.sum())
        found[f"error_{name}"] = round(float(error[part].mean()), 4) if part.any() else None
        found[f"wrong_{name}"] = round(float((error[part] > 0.5).mean()), 4) if part.any() else None
    inside, outside = error[in_band & judged], error[~in_band & judged]
    if len(inside) and len(outside):
        rng = np.random.default_rng(0)
        draws = [
            rng.choice(outside, len(outside)).mean() - rng.choice(inside, len(inside)).mean()
            for _ in range(BOOTSTRAP_DRAWS)
        ]
        found["error_difference"] = round(float(outside.mean() - inside.mean()), 4)
        found["interval95"] = np.round(np.percentile(draws, [2.5, 97.5]), 4).tolist()
    if clean is not None:
        flipped = rows["score"].to_numpy() != clean
        found["flipped_in_band"] = round(float(flipped[in_band].mean()), 4)
        found["flipped_rejected"] = round(float(flipped[~in_band].mean()), 4) if (~in_band).any() else None
        found["flips_caught"] = round(float((flipped & ~in_band).sum() / max(1, flipped.sum())), 4)
    return found


def _options(spec: str) -> tuple[str, dict[str, str]]:
    rule, *options = spec.split(":")
    return rule, dict(option.split("=") for option in options)


def quota_rule(spec: str, seed: int) -> QuotaRule:
    """``strata:clusters=16:noise_tail=0.1`` as a ``QuotaRule``."""
    rule, given = _options(spec)
    return QuotaRule(
        rule, seed=seed, **{key: float(v) if key == "noise_tail" else int(v) for key, v in given.items()}
    )


def prelabel_rule(spec: str, seed: int) -> PrelabelRule:
    """``uncertainty:clusters=16`` as a ``PrelabelRule``."""
    rule, given = _options(spec)
    return PrelabelRule(rule, seed=seed, **{f"prelabel_{key}": int(v) for key, v in given.items()})


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
