from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from protege.client.evaluation.metrics import (
    Evaluation,
    GradeMap,
    ndcg_at_k,
    paired_difference,
    paired_rmse_difference,
    query_ndcgs,
    ranking_metrics,
    yardstick,
)
from protege.client.evaluation.scoreboard import Board


def test_ndcg_is_one_for_the_ideal_order_and_matches_a_hand_computation() -> None:
    assert ndcg_at_k(np.array([2.0, 1.0, 0.0]), np.array([0.9, 0.5, 0.1])) == pytest.approx(1.0)
    # Ranked gains 0, 1, 2 against the ideal 2, 1, 0.
    dcg = 0 / math.log2(2) + 1 / math.log2(3) + 2 / math.log2(4)
    ideal = 2 / math.log2(2) + 1 / math.log2(3)
    assert ndcg_at_k(np.array([2.0, 1.0, 0.0]), np.array([0.1, 0.3, 0.9])) == pytest.approx(dcg / ideal)


def test_ndcg_cuts_at_k() -> None:
    gains = np.array([0.0] * 10 + [1.0])
    assert ndcg_at_k(gains, -np.arange(11.0), k=10) == 0.0  # the only relevant item is ranked 11th
    assert ndcg_at_k(gains, -np.arange(11.0), k=11) > 0.0


def test_ranking_metrics_skip_queries_with_one_grade_and_use_linear_gain() -> None:
    queries = ["drill", "drill", "drill", "paint", "paint", "bulb", "bulb"]
    gold = [3.0, 2.0, 1.0, 3.0, 1.0, 2.0, 2.0]  # "bulb" has one grade: not counted
    perfect = ranking_metrics(queries, gold, [0.9, 0.5, 0.1, 0.8, 0.2, 0.3, 0.1])
    assert perfect["ndcg@10"] == pytest.approx(1.0) and perfect["mrr"] == pytest.approx(1.0)
    assert perfect["queries"] == 2 and perfect["pairs"] == 7
    reversed_scores = ranking_metrics(queries, gold, [0.1, 0.5, 0.9, 0.2, 0.8, 0.3, 0.1])
    assert reversed_scores["mrr"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert reversed_scores["spearman"] < 0 < perfect["spearman"]


def test_per_query_ndcg_averages_to_the_reported_ndcg() -> None:
    rng = np.random.default_rng(0)
    queries = [f"q{i % 40}" for i in range(300)]
    gold, scores = rng.integers(0, 4, 300).astype(float), rng.random(300)
    by_query, overall = query_ndcgs(queries, gold, scores), ranking_metrics(queries, gold, scores)
    assert len(by_query) == overall["queries"]
    assert np.mean(list(by_query.values())) == pytest.approx(overall["ndcg@10"])


def test_paired_difference_brackets_the_mean_and_knows_a_constant_shift() -> None:
    rng = np.random.default_rng(1)
    first = {f"q{i}": float(value) for i, value in enumerate(rng.random(500))}
    shifted = {query: value - 0.05 for query, value in first.items()}
    exact = paired_difference(first, shifted)
    assert exact["difference"] == pytest.approx(0.05) and exact["interval95"] == pytest.approx([0.05, 0.05])
    other = {query: float(value) for query, value in zip(first, rng.random(500), strict=True)}
    noisy = paired_difference(first, other)
    low, high = noisy["interval95"]
    assert low < noisy["difference"] < high and high - low < 0.1 and noisy["queries"] == 500
    with pytest.raises(ValueError, match="share no scored query"):
        paired_difference({"a": 1.0}, {"b": 1.0})


def test_ranking_metrics_refuse_mismatched_or_empty_input() -> None:
    with pytest.raises(ValueError, match="same length"):
        ranking_metrics(["q"], [1.0, 2.0], [0.5])
    with pytest.raises(ValueError, match="no judged pairs"):
        ranking_metrics([], [], [])


def test_eval_command_scores_a_model_and_the_same_model_served_alike(
    start_teacher, cross_encoder_backend, tiny_cross_encoder, tmp_path, capsys
) -> None:
    import json

    from protege.cli import main

    data = tmp_path / "judged.csv"
    data.write_text(
        "q,title,grade\ndrill,cordless drill kit,3\ndrill,white paint,1\npaint,white paint,3\npaint,drill,1\n"
    )
    columns = ["--data", str(data), "--query-col", "q", "--doc-col", "title", "--label-col", "grade"]
    _, client = start_teacher(cross_encoder_backend)  # serves tiny_cross_encoder
    metrics = []
    for source in (["--model", str(tiny_cross_encoder)], ["--teacher", client.target]):
        assert main(["eval", *columns, *source]) == 0
        metrics.append(json.loads(capsys.readouterr().out))
    assert metrics[0]["queries"] == metrics[1]["queries"] == 2
    for name in ("ndcg@10", "mrr", "spearman"):
        assert metrics[0][name] == pytest.approx(metrics[1][name], abs=1e-6)
    # With no column options, q, title and grade are found by name: the same figures.
    assert main(["eval", "--data", str(data), "--model", str(tiny_cross_encoder)]) == 0
    assert json.loads(capsys.readouterr().out)["ndcg@10"] == pytest.approx(metrics[0]["ndcg@10"])
    # A grade under a name no list holds is not guessed from its values: the flag reads it.
    stars = tmp_path / "stars.csv"
    stars.write_text(data.read_text().replace("grade", "stars"))
    assert main(["eval", "--data", str(stars), "--model", str(tiny_cross_encoder)]) == 2
    assert "stars.csv: no column is named as the label" in capsys.readouterr().err
    assert (
        main(["eval", "--data", str(stars), "--label-col", "stars", "--model", str(tiny_cross_encoder)]) == 0
    )
    assert json.loads(capsys.readouterr().out)["ndcg@10"] == pytest.approx(metrics[0]["ndcg@10"])
    # No column of gold grades: a clear refusal naming the flag, exit code 2.
    ungraded = tmp_path / "ungraded.csv"
    ungraded.write_text("".join(line.rsplit(",", 1)[0] + "\n" for line in data.read_text().splitlines()))
    assert main(["eval", "--data", str(ungraded), "--model", "x"]) == 2
    assert "ungraded.csv: no column is named as the label (columns: q, title); give --label-col" in (
        capsys.readouterr().err
    )
    # Positives only: nothing to rank, said before the model is loaded (it does not exist here).
    positives = tmp_path / "positives.csv"
    positives.write_text("query,document,grade\ndrill,DEWALT Drill,1\npaint,BEHR Paint,1\n")
    assert main(["eval", "--data", str(positives), "--model", "no-such-model"]) == 2
    assert "positives.csv: no query has judged documents of two different grades" in capsys.readouterr().err


def test_eval_with_validation_pairs_reports_rmse_beside_the_three_baselines(
    tiny_cross_encoder, tiny_encoder, tmp_path, capsys
) -> None:
    import json

    from protege.cli import main

    rows = [("drill", "cordless drill kit", 3), ("drill", "white paint", 1), ("paint", "white paint", 3)]
    rows += [("paint", "drill", 1), ("saw", "circular saw", 2.5), ("saw", "paint roller", 1.5)]
    test, validation = tmp_path / "test.csv", tmp_path / "validation.csv"
    for path, part in ((test, rows), (validation, rows[2:] + rows[:2])):
        path.write_text("query,document,relevance\n" + "".join(f"{q},{d},{g}\n" for q, d, g in part))
    command = ["eval", "--data", str(test), "--validation", str(validation), "--embedder", str(tiny_encoder)]
    assert main([*command, "--model", str(tiny_cross_encoder)]) == 0
    table, last = capsys.readouterr().out.rstrip().rsplit("\n", 1)
    assert "RMSE" in table and "paired against zero_shot" in table
    metrics = json.loads(last)["metrics"]
    assert list(metrics) == [str(tiny_cross_encoder), "mean_grade", "random", "zero_shot"]
    grades = np.array([g for _, _, g in rows])
    # The mean grade: every pair predicted as the validation pairs' mean, which ranks nothing.
    assert metrics["mean_grade"]["rmse"] == pytest.approx(np.sqrt(np.mean((grades - grades.mean()) ** 2)))
    assert metrics["mean_grade"]["ndcg@10"] is None and "ndcg_vs" not in metrics["mean_grade"]
    assert "rmse_vs" not in metrics["zero_shot"]
    for name in (str(tiny_cross_encoder), "random"):
        assert metrics[name]["queries"] == 3 and set(metrics[name]) >= {"rmse", "rmse_vs", "ndcg_vs"}


def test_the_grade_map_is_monotone_and_fitted_on_validation_only() -> None:
    grade_map = GradeMap([0.1, 0.2, 0.8, 0.9], [1.0, 1.0, 3.0, 3.0])
    assert grade_map([0.0, 0.15, 0.85, 5.0]).tolist() == [1.0, 1.0, 3.0, 3.0]  # clipped beyond the ends
    # Scores on any scale: a map of logits predicts the same grades as one of their sigmoid.
    logits = np.array([-3.0, -1.0, 0.5, 2.0])
    grades = np.array([1.0, 2.0, 2.0, 3.0])
    by_logit = GradeMap(logits, grades)(logits)
    assert by_logit == pytest.approx(GradeMap(1 / (1 + np.exp(-logits)), grades)(1 / (1 + np.exp(-logits))))
    with pytest.raises(ValueError, match="validation scores and as many grades"):
        GradeMap([], [])


def test_yardstick_reports_rmse_of_mapped_grades_beside_the_ranking_metrics() -> None:
    queries = ["drill", "drill", "paint", "paint"]
    grades = [3.0, 1.0, 2.0, 1.0]
    grade_map = GradeMap([0.0, 1.0], [1.0, 3.0])  # a linear map from 0..1 to 1..3 between its points
    result = yardstick(queries, grades, [1.0, 0.0, 0.5, 0.0], grade_map)
    assert result["rmse"] == pytest.approx(0.0) and result["ndcg@10"] == pytest.approx(1.0)
    constant = yardstick(queries, grades, [0.5] * 4, grade_map)  # every pair predicted as 2
    assert constant["rmse"] == pytest.approx(np.sqrt(np.mean((np.array(grades) - 2) ** 2)))
    assert constant["spearman"] == 0.0


def test_paired_rmse_difference_is_exact_for_a_model_against_itself_and_signed() -> None:
    rng = np.random.default_rng(2)
    queries = [f"q{i // 5}" for i in range(1000)]
    grades = rng.integers(1, 4, 1000).astype(float)
    good, bad = grades + rng.normal(0, 0.2, 1000), grades + rng.normal(0, 0.6, 1000)
    same = paired_rmse_difference(queries, grades, good, good)
    assert same["difference"] == 0.0 and same["interval95"] == [0.0, 0.0] and same["queries"] == 200
    better = paired_rmse_difference(queries, grades, good, bad)
    low, high = better["interval95"]
    rmse = lambda predicted: np.sqrt(np.mean((predicted - grades) ** 2))  # noqa: E731
    assert better["difference"] == pytest.approx(rmse(good) - rmse(bad))
    assert low < better["difference"] < high < 0
    # Runs of several seeds: the mean of their RMSEs, not the RMSE of their mean prediction.
    runs = np.stack([good, grades + rng.normal(0, 0.3, 1000)])
    seeds = paired_rmse_difference(queries, grades, runs, bad)
    assert seeds["difference"] == pytest.approx(np.mean([rmse(run) for run in runs]) - rmse(bad))


def test_a_scoreboard_refuses_scores_kept_for_another_split(tmp_path: Path) -> None:
    split = Evaluation(["drill", "drill", "saw", "saw"], ["a", "b", "c", "d"], [3.0, 1.0, 2.0, 1.0])
    board = Board(split, split)
    board.add("model", tmp_path, lambda evaluation: np.linspace(0, 1, len(evaluation.gold)))
    # Scores rising where the grades fall: the best monotone map is the mean grade, its RMSE their spread.
    assert board.figures("model")["rmse"] == pytest.approx(np.std(split.gold))
    np.save(tmp_path / "scores-test.npy", np.zeros(3))  # kept from a split of other sizes
    with pytest.raises(ValueError, match=r"scores-test\.npy holds 3 scores, but the test set has 4 pairs"):
        board.add("model", tmp_path, lambda evaluation: np.zeros(len(evaluation.gold)))


def test_validation_rmse_is_cross_fitted_so_noise_cannot_fit_itself() -> None:
    rng = np.random.default_rng(0)
    queries = [f"query {i // 4}" for i in range(200)]
    gold = rng.choice([1.0, 2.0, 3.0], 200)
    validation = Evaluation(queries, [""] * 200, gold.tolist())
    board = Board(validation, validation)
    noise = rng.normal(size=200)
    board.add_scores("noise", noise, noise)
    board.add_scores("signal", gold + rng.normal(0, 0.3, 200), noise)
    in_sample = np.sqrt(np.mean((GradeMap(noise, gold)(noise) - gold) ** 2))
    crossed = board.validation_figures("noise")["rmse"]
    assert in_sample < np.std(gold) < crossed  # fitted on its own pairs, a map beats the mean on noise
    assert board.validation_figures("signal")["rmse"] < 0.5
    paired = board.validation_paired("signal", "noise")
    assert paired["interval95"][1] < 0 and paired["queries"] == 50
