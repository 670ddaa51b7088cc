"""A scoreboard: every model's scores of the validation and test pairs, one run per seed (kept on
disk beside the model where it has a folder), and the yardstick figures and paired differences read
from them — what ``protege eval`` and the study report.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from protege.client.data import DataError, DataSpec, read_table
from protege.client.data.query_hash import validation_half
from protege.client.evaluation.baselines import UNRANKED, baseline_scores
from protege.client.evaluation.metrics import (
    Evaluation,
    GradeMap,
    paired_difference,
    paired_rmse_difference,
    query_ndcgs,
    ranking_metrics,
    require_ranked,
    yardstick,
)

SPLITS = ("validation", "test")

Scorer = Callable[[Evaluation], np.ndarray]


class Board:
    """Every model's scores of the validation and test pairs by name, one run per seed, and the
    yardstick's figures and paired differences read from them.

    Args:
        validation: the gold-judged pairs grade maps are fitted on.
        test: the gold-judged pairs figures are reported on.
        k: the cut of NDCG.

    Example::

        board = Board(validation, test)
        board.add("teacher", Path("study/teacher"), teacher_scorer)
        board.figures("teacher")["rmse"]
    """

    def __init__(self, validation: Evaluation, test: Evaluation, k: int = 10) -> None:
        self.k, self.ndcg = k, f"ndcg@{k}"
        self.figure_names = ("rmse", "spearman", self.ndcg, "mrr")
        self.evaluations = {"validation": validation, "test": test}
        self.runs: dict[str, list[dict[str, np.ndarray]]] = {}

    def add(self, name: str, folder: Path, score: Scorer) -> None:
        """One run of model ``name``: its scores kept in ``folder/scores-SPLIT.npy``, computed by
        ``score`` only where they are not there yet (a resumed study scores nothing again)."""
        run = {}
        for split, evaluation in self.evaluations.items():
            path = folder / f"scores-{split}.npy"
            if not path.exists():
                folder.mkdir(parents=True, exist_ok=True)
                np.save(path, np.asarray(score(evaluation), dtype=np.float64))
            run[split] = np.load(path)
            if len(run[split]) != len(evaluation.gold):
                raise ValueError(
                    f"{path} holds {len(run[split])} scores, but the {split} set has {len(evaluation.gold)} "
                    "pairs: they were scored on another split; remove the file to score them again"
                )
        self.runs.setdefault(name, []).append(run)

    def add_scores(self, name: str, validation: np.ndarray, test: np.ndarray) -> None:
        """A run whose scores are derived, not computed by a model (the noisy teacher's)."""
        self.runs.setdefault(name, []).append({"validation": validation, "test": test})

    def predicted(self, name: str) -> np.ndarray:
        """Predicted test grades, one row per run: each run's grade map fitted on its validation scores."""
        return np.stack([self._grade_map(run)(run["test"]) for run in self.runs[name]])

    def last_run(self, name: str) -> dict:
        """Test RMSE and NDCG@10 of the last run added under ``name`` (what a progress log shows)."""
        return self._yardstick(self.runs[name][-1])

    def figures(self, name: str) -> dict:
        """Test RMSE, Spearman, NDCG@10 and MRR, means over the runs, with ``spread`` (their
        standard deviation, 0 for one run) and ``runs``."""
        runs = [self._yardstick(run) for run in self.runs[name]]
        figures = {key: float(np.mean([run[key] for run in runs])) for key in self.figure_names}
        spread = {key: float(np.std([run[key] for run in runs])) for key in self.figure_names}
        if name in UNRANKED:
            figures |= {key: None for key in self.figure_names if key != "rmse"}
            spread = {"rmse": spread["rmse"]}
        return {**figures, "spread": spread, "runs": len(runs), "queries": runs[0]["queries"]}

    def paired(self, first: str, second: str) -> dict:
        """``first`` minus ``second`` on the test pairs: RMSE per pair and NDCG@10 per query (each
        averaged over a model's runs), with 95% bootstrap intervals over test queries."""
        test = self.evaluations["test"]
        result = {
            "rmse": paired_rmse_difference(
                test.queries, test.gold, self.predicted(first), self.predicted(second)
            )
        }
        if first not in UNRANKED and second not in UNRANKED:
            result[self.ndcg] = paired_difference(self._query_ndcgs(first), self._query_ndcgs(second))
        return result

    def validation_figures(self, name: str) -> dict:
        """Validation RMSE (grade maps cross-fitted, ``cross_fitted``), Spearman and NDCG@10, means
        over the runs: what a setting may be chosen on."""
        validation = self.evaluations["validation"]
        runs = []
        for run, predicted in zip(self.runs[name], self.cross_fitted(name), strict=True):
            ranking = ranking_metrics(validation.queries, validation.gold, run["validation"], self.k)
            rmse = float(np.sqrt(np.mean((predicted - np.asarray(validation.gold)) ** 2)))
            runs.append({"rmse": rmse, "spearman": ranking["spearman"], self.ndcg: ranking[self.ndcg]})
        return {key: float(np.mean([run[key] for run in runs])) for key in runs[0]} | {"runs": len(runs)}

    def validation_paired(self, first: str, second: str) -> dict:
        """``first`` minus ``second`` in validation RMSE (cross-fitted grade maps), with its 95%
        bootstrap interval over validation queries."""
        validation = self.evaluations["validation"]
        return paired_rmse_difference(
            validation.queries, validation.gold, self.cross_fitted(first), self.cross_fitted(second)
        )

    def cross_fitted(self, name: str) -> np.ndarray:
        """Predicted validation grades, one row per run: each half of the validation queries
        (``query_hash.validation_half``) mapped by the grade map fitted on the other half."""
        validation = self.evaluations["validation"]
        gold = np.asarray(validation.gold, dtype=np.float64)
        half = np.array([validation_half(query) for query in validation.queries])
        if len(set(half.tolist())) < 2:
            raise ValueError("the validation queries all fall in one half: too few to cross-fit grade maps")
        rows = []
        for run in self.runs[name]:
            predicted = np.empty(len(gold))
            for side in (0, 1):
                fit = half != side
                predicted[~fit] = GradeMap(run["validation"][fit], gold[fit])(run["validation"][~fit])
            rows.append(predicted)
        return np.stack(rows)

    def against(self, baseline: str) -> dict[str, dict]:
        """Every model's ``figures``, each but ``baseline`` with its paired differences from it:
        ``rmse_vs`` and, where both rank, ``ndcg_vs``."""
        results = {name: self.figures(name) for name in self.runs}
        for name in results.keys() - {baseline}:
            paired = self.paired(name, baseline)
            results[name]["rmse_vs"] = paired["rmse"]
            if self.ndcg in paired:
                results[name]["ndcg_vs"] = paired[self.ndcg]
        return results

    def _grade_map(self, run: dict[str, np.ndarray]) -> GradeMap:
        return GradeMap(run["validation"], self.evaluations["validation"].gold)

    def _yardstick(self, run: dict[str, np.ndarray]) -> dict[str, float]:
        test = self.evaluations["test"]
        return yardstick(test.queries, test.gold, run["test"], self._grade_map(run), self.k)

    def _query_ndcgs(self, name: str) -> dict[str, float]:
        test = self.evaluations["test"]
        runs = [query_ndcgs(test.queries, test.gold, run["test"], self.k) for run in self.runs[name]]
        return {query: float(np.mean([run[query] for run in runs])) for query in runs[0]}


def read_judged(spec: DataSpec) -> Evaluation:
    """The gold-judged pairs of ``spec`` (its columns with a grade); refused when no query has two
    distinct grades, as nothing could be ranked."""
    if not spec.columns.label:
        raise DataError(f"{spec.path}: measuring needs gold grades: name their column (the label column)")
    table = read_table(spec.path, spec.columns, encoding=spec.encoding)
    queries, gold = table["query"].to_pylist(), table["label"].to_numpy(zero_copy_only=False)
    require_ranked(queries, gold, str(spec.source or spec.path))
    return Evaluation(queries, table["document"].to_pylist(), gold.tolist())


def beside_baselines(
    name: str,
    scores: dict[str, np.ndarray],
    judged: dict[str, Evaluation],
    embedder: SentenceTransformer | None = None,
    k: int = 10,
) -> dict[str, dict]:
    """The figures of model ``name`` (its ``scores`` of ``judged``'s validation and test pairs) and
    of the baselines (``baselines.BASELINES``) on the same pairs, each with its paired difference
    from the zero-shot bi-encoder."""
    board = Board(judged["validation"], judged["test"], k=k)
    board.add_scores(name, scores["validation"], scores["test"])
    baselines = {
        split: baseline_scores(pairs.queries, pairs.documents, embedder, seed=number)
        for number, (split, pairs) in enumerate(judged.items())
    }
    for baseline in baselines["test"]:
        board.add_scores(baseline, baselines["validation"][baseline], baselines["test"][baseline])
    return board.against("zero_shot")
