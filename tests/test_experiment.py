"""``protege experiment`` on a relevance file with its own column names, format and grade scale."""

from __future__ import annotations

import csv
import json
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from protege.client.synthetic import generate_catalog

from protege.cli import main
from protege.experiment import MIN_QUERIES, STUDENTS, bucket, is_validation


def test_experiment_runs_on_any_judged_file_given_its_columns(
    tiny_encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "judged.jsonl"
    with data.open("w") as file:
        for row in generate_catalog(products=120, queries=60, seed=3):
            record = {"search": row["search_term"], "item": row["product_title"], "sku": row["product_uid"],
                      "grade": round((float(row["relevance"]) - 1) * 2, 2)}  # fmt: skip
            file.write(json.dumps(record) + "\n")
    out = tmp_path / "study"
    command = [
        "experiment", "--data", str(data), "--query-col", "search", "--doc-col", "item",
        "--doc-id-col", "sku", "--label-col", "grade", "--out", str(out),
        "--teacher-base", str(tiny_encoder), "--student-base", str(tiny_encoder), "--seeds", "0,1",
        "--rounds", "1", "--per-seed", "3",
    ]  # fmt: skip
    assert main(command) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["label_range"] == [0.0, 4.0]  # taken from the grades when not given
    models = {"teacher", "random", "student_unfiltered", "student_filtered", "student_gold"}
    assert set(results["ndcg@10"]) == models
    labels = results["teacher_labels"]
    assert labels["student_unfiltered"] == results["split_pairs"]["pool"]
    # The filtered student's budget: half the unfiltered student's labels (rounding aside).
    assert 0 < labels["student_filtered"] <= labels["student_unfiltered"] // 2 + 1
    assert labels["student_gold"] == 0
    per_seed = [json.loads((out / f"seed-{seed}" / "distill" / "report.json").read_text()) for seed in (0, 1)]
    assert labels["student_filtered"] == round(np.mean([report["teacher_labels"] for report in per_seed]))
    assert set(results["per_seed"]) == {"0", "1"} and set(results["ndcg@10_spread"]) == set(STUDENTS)
    assert {point["student"] for point in results["curve"]} == {"unfiltered", "filtered"}
    assert (out / "learning_curve.png").stat().st_size > 0
    # Paired on the test queries, with a bootstrap interval around each difference.
    paired = results["paired_test_ndcg@10"]
    assert set(paired) == {
        "student_filtered - teacher", "student_filtered - student_unfiltered", "student_unfiltered - teacher"
    }  # fmt: skip
    for value in paired.values():
        low, high = value["interval95"]
        assert low <= value["difference"] <= high and value["queries"] == results["test_queries_scored"]
    assert "paired on the test queries" in capsys.readouterr().out
    # The shared split: the students' pool holds only buckets 3-7, less the validation queries.
    pool = set(pq.read_table(out / "pool.parquet")["query"].to_pylist())
    assert pool and all(3 <= bucket(query) <= 7 and not is_validation(query) for query in pool)
    assert results["split_pairs"]["validation"] > 0
    assert {"rounds": 1, "per_seed": 3}.items() <= results["settings"]["sizes"].items()
    rounds = sorted(path.name for path in (out / "seed-0" / "distill").glob("round-*"))
    assert rounds == ["round-0", "round-1"]
    for pairs in (out / "seed-0" / "distill").glob("round-*/pairs.parquet"):
        table = pq.read_table(pairs)
        strategy = table["strategy"].to_pylist()
        seeds = {q for q, how in zip(table["query"].to_pylist(), strategy, strict=True) if how == "seed"}
        assert seeds <= pool  # every round starts from pool queries only
    # Finished models are reused only under the settings they were trained with.
    assert main([*command, "--loss", "bce"]) == 2
    assert "holds a study with other settings (loss;" in capsys.readouterr().err


def test_experiment_without_augmentation_spends_the_label_budget_on_pool_pairs(
    tiny_encoder: Path, tmp_path: Path
) -> None:
    # Laid out like Wayfair's WANDS: tab-separated though named .csv, grades written as words.
    data = tmp_path / "judged.csv"
    with data.open("w", newline="") as file:
        writer = csv.writer(file, delimiter="\t")
        writer.writerow(["query", "product_name", "product_id", "label"])
        for number, row in enumerate(generate_catalog(products=120, queries=80, seed=4)):
            grade = ("Irrelevant", "Partial", "Exact")[round(float(row["relevance"])) - 1]
            writer.writerow([row["search_term"], row["product_title"], row["product_uid"], grade])
            if number % 50 == 0:  # a pair nobody graded: left out, not read as gold
                writer.writerow([row["search_term"], f"{row['product_title']} kit", "ungraded", ""])
    out = tmp_path / "study"
    # No column options: the query, product, product id and grade columns are found by name.
    command = [
        "experiment", "--data", str(data), "--out", str(out), "--strategies", "", "--curve", "",
        "--teacher-base", str(tiny_encoder), "--student-base", str(tiny_encoder),
    ]  # fmt: skip
    assert main(command) == 0
    results = json.loads((out / "results.json").read_text())
    # --curve "": no smaller unfiltered students, only the one on every pool label.
    assert [point["labels"] for point in results["curve"] if point["student"] == "unfiltered"] == [
        results["split_pairs"]["pool"]
    ]
    graded = sum(1 for line in data.read_text().splitlines()[1:] if not line.endswith("\t"))
    assert sum(results["split_pairs"].values()) == graded
    columns = results["settings"]["columns"]
    assert (columns["query"], columns["docs"], columns["doc_id"], columns["label"]) == (
        "query", ["product_name"], "product_id", "label"
    )  # fmt: skip
    assert results["label_range"] == [0.0, 2.0]  # Irrelevant, Partial, Exact read by rank
    # Rounds take enough seeds for their share of the budget (not fewer, as if each seed brought
    # generated queries too); pool pairs labelled in round 0 cost nothing when a later seed has them.
    budget = round(results["split_pairs"]["pool"] / 2)
    assert 0.7 * budget <= results["teacher_labels"]["student_filtered"] <= budget
    strategies = pq.read_table(out / "seed-0" / "distill" / "round-1" / "pairs.parquet")["strategy"]
    assert set(strategies.to_pylist()) == {"seed"}


def test_experiment_runs_unchanged_on_a_crowdflower_laid_out_file(
    tiny_encoder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Laid out like Kaggle's CrowdFlower search relevance, zipped as Kaggle hands it out: the
    # grade is a median of 1-4 beside its variance, and no column has a usual grade's name.
    csv_file = tmp_path / "train.csv"
    with csv_file.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["id", "query", "product_title", "product_description", "median_relevance",
                         "relevance_variance"])  # fmt: skip
        for number, row in enumerate(generate_catalog(products=100, queries=60, seed=6)):
            grade = round((float(row["relevance"]) - 1) * 1.5) + 1
            # Some titles run past the served teacher's limit on text: cut, not refused mid-study.
            title = row["product_title"] + (" with accessories" * 600 if number % 10 == 0 else "")
            writer.writerow([number, row["search_term"], title, "", grade, 0.5 * (number % 3)])
    rows = len(csv_file.read_text().splitlines()) - 1
    data = tmp_path / "train.csv.zip"
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(csv_file, "train.csv")
    out = tmp_path / "study"
    command = [
        "experiment", "--data", str(data), "--out", str(out), "--strategies", "", "--curve", "",
        "--rounds", "1", "--teacher-base", str(tiny_encoder), "--student-base", str(tiny_encoder),
        "--max-rows", str(rows * 3 // 4),
    ]  # fmt: skip
    with caplog.at_level("WARNING", logger="protege.experiment"):
        assert main(command) == 0
    assert "documents are longer than the teacher's limit of 8192 characters and are cut to it" in caplog.text
    results = json.loads((out / "results.json").read_text())
    assert f"only {results['test_queries_scored']} test queries can be scored" in caplog.text
    columns = results["settings"]["columns"]
    assert (columns["query"], columns["docs"], columns["doc_id"], columns["label"]) == (
        "query", ["product_title"], None, "median_relevance"
    )  # fmt: skip
    assert results["label_range"] == [1.0, 4.0]
    assert set(results["ndcg@10"]) == {"teacher", "random", *STUDENTS}
    # A file over --max-rows is cut (here its 60 queries to 4 of their 6 documents each), and the
    # cut is part of the study's settings.
    assert rows * 2 // 3 <= sum(results["split_pairs"].values()) <= rows * 3 // 4
    assert results["settings"]["max_rows"] == rows * 3 // 4


def test_a_large_file_is_cut_to_whole_queries_keeping_each_split_s_share() -> None:
    from protege.experiment import _rows_within

    rng = np.random.default_rng(0)
    queries = [f"query {number}" for number in rng.integers(0, 10_000, 50_000)]
    documents = [f"product {number}" for number in range(len(queries))]
    kept = _rows_within(queries, documents, 20_000)
    assert 19_900 < len(kept) <= 20_000 and np.all(np.diff(kept) > 0)
    chosen = {queries[row] for row in kept}
    assert len(chosen) > MIN_QUERIES
    assert sum(query in chosen for query in queries) == len(kept)  # every row of a chosen query
    test_share = np.mean([bucket(queries[row]) >= 8 for row in kept])
    assert abs(test_share - np.mean([bucket(query) >= 8 for query in queries])) < 0.03
    assert _rows_within(queries, documents, 50_000) is None and _rows_within(queries, documents, None) is None


def test_a_file_of_few_queries_with_long_lists_keeps_every_query_with_fewer_documents() -> None:
    from protege.experiment import _rows_within

    # WANDS-like: 100 queries, 150-250 judged products each; whole queries would keep 25 of them.
    rng = np.random.default_rng(1)
    pairs = [(f"query {q}", f"product {d}") for q in range(100) for d in range(rng.integers(150, 250))]

    def kept_pairs(rows: list[tuple[str, str]]) -> set[tuple[str, str]]:
        queries, documents = map(list, zip(*rows, strict=True))
        kept = _rows_within(queries, documents, 5000)
        assert set(Counter(queries[row] for row in kept).values()) == {50}  # all 100 queries, 50 each
        return {rows[row] for row in kept}

    # The same pairs whatever the file's order.
    assert kept_pairs(pairs) == kept_pairs([pairs[row] for row in rng.permutation(len(pairs))])


def test_a_study_cut_short_keeps_the_figures_of_the_models_it_finished(
    tiny_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from protege.client.distill import Distiller
    from protege.client.readers import Columns

    from protege.experiment import run_experiment

    data = tmp_path / "judged.csv"
    with data.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["query", "document", "grade"])
        for row in generate_catalog(products=80, queries=50, seed=5):
            writer.writerow([row["search_term"], row["product_title"], row["relevance"]])

    def machine_lost(self: Distiller) -> None:
        raise RuntimeError("machine lost")

    monkeypatch.setattr(Distiller, "run", machine_lost)
    out = tmp_path / "study"
    with caplog.at_level("INFO", logger="protege.experiment"), pytest.raises(RuntimeError):
        run_experiment(
            data, Columns(label="grade"), out, teacher_base=str(tiny_encoder), student_base=str(tiny_encoder)
        )
    finished = [path.parent.name for path in (out / "seed-0").glob("*/metrics-test.json")]
    assert "student_unfiltered" in finished and any(name.startswith("unfiltered-") for name in finished)
    assert "seed 0 student_unfiltered: test NDCG@10" in caplog.text


def test_experiment_needs_gold_grades(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "pairs.csv"
    data.write_text("query,document,popularity\ndrill,cordless drill,3\n")
    assert main(["experiment", "--data", str(data), "--out", str(tmp_path / "out")]) == 2
    assert "pairs.csv: an experiment needs gold grades" in capsys.readouterr().err


def test_experiment_rejects_zero_rounds_and_unknown_filters(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "pairs.csv"
    data.write_text("query,document,grade\ndrill,cordless drill,3\n")
    command = ["experiment", "--data", str(data), "--label-col", "grade", "--out", str(tmp_path / "out")]
    assert main([*command, "--rounds", "0"]) == 2
    assert "--rounds must be at least 1, not 0" in capsys.readouterr().err
    assert main([*command, "--filters", "nll,typo"]) == 2
    assert (
        "unknown filter typo: choose from nll, ifd, plausibility, dedup, refinement"
        in capsys.readouterr().err
    )
    assert main([*command, "--filters", ""]) == 2
    assert "--no-filters turns them all off" in capsys.readouterr().err
    assert main([*command, "--filters", "ifd"]) == 2
    assert "ifd is off in these settings, so keeping it runs no filter" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse's own usage error
        main([*command, "--curve", "0.5,1.5"])
    assert "each share must be in (0, 1), not '0.5,1.5'" in capsys.readouterr().err
    assert main([*command, "--teacher-backend", "llm-judge"]) == 2
    assert "an llm-judge teacher is fine-tuned from a causal LM" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_experiment_explains_an_empty_split(
    tiny_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("PROTEGE_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "one.csv"
    data.write_text("query,document,grade\ndrill,cordless drill,3\ndrill,paint,1\n")
    with pytest.raises(ValueError, match="the split left"):
        from protege.client.readers import Columns

        from protege.experiment import run_experiment

        run_experiment(data, Columns(label="grade"), tmp_path / "out", teacher_base=str(tiny_encoder))
    # A folder of tables is named, and recorded, as the folder, not as the cached file of its join.
    folder = tmp_path / "judged"
    folder.mkdir()
    (folder / "judgements.tsv").write_text("query_id\tproduct_id\tgrade\n0\t10\t3\n0\t11\t1\n")
    (folder / "queries.tsv").write_text("query_id\tquery\n0\tdrill\n")
    (folder / "products.tsv").write_text("product_id\ttitle\n10\tcordless drill\n11\tpaint\n")
    out = tmp_path / "folder-study"
    assert main(["experiment", "--data", str(folder), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith(f"protege experiment: {folder}: the split left")
    assert json.loads((out / "settings.json").read_text())["data"] == str(folder.resolve())


def test_experiment_explains_queries_judged_on_one_document(tmp_path: Path) -> None:
    from protege.client.readers import Columns

    from protege.experiment import run_experiment

    data = tmp_path / "one-each.csv"
    rows = "".join(f"query {i},product {i},{i % 3}\n" for i in range(300))
    data.write_text("query,document,grade\n" + rows)
    with pytest.raises(ValueError, match="no test query has judged documents of two different grades"):
        run_experiment(data, Columns(label="grade"), tmp_path / "out")
    # Positives-only qrels: one grade, and nothing to rank, said before anything is trained.
    data.write_text("query,document,grade\n" + "".join(f"query {i},product {i},1\n" for i in range(300)))
    with pytest.raises(ValueError, match=r"every grade in column 'grade' is 1; .*positives-only qrels"):
        run_experiment(data, Columns(label="grade"), tmp_path / "out")


def test_experiment_with_an_llm_judge_teacher(tiny_llm: Path, tiny_encoder: Path, tmp_path: Path) -> None:
    data = tmp_path / "judged.csv"
    with data.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["q", "title", "uid", "relevance"])
        for row in generate_catalog(products=100, queries=50, seed=5):
            writer.writerow([row["search_term"], row["product_title"], row["product_uid"], row["relevance"]])
    out = tmp_path / "study"
    command = [
        "experiment", "--data", str(data), "--query-col", "q", "--doc-col", "title", "--doc-id-col", "uid",
        "--label-col", "relevance", "--out", str(out), "--rounds", "1", "--teacher-backend", "llm-judge",
        "--teacher-base", str(tiny_llm), "--student-base", str(tiny_encoder),
    ]  # fmt: skip
    assert main(command) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["teacher_backend"] == "llm-judge"
    assert json.loads((out / "teacher" / "provenance.json").read_text())["backend"] == "llm-judge"
    assert results["teacher_labels"]["student_unfiltered"] == results["split_pairs"]["pool"]
    assert set(results["ndcg@10"]) == {"teacher", "random", *STUDENTS}
    labels = pq.read_table(next((out / "pool-labels").glob("*.parquet")))
    assert labels.num_rows and all(0 <= score <= 1 for score in labels["score"].to_pylist())


def test_studies_recorded_before_the_teacher_backend_setting_resume(tmp_path: Path) -> None:
    from protege.experiment import _claim

    settings = {"loss": "margin-mse", "teacher_backend": "cross-encoder", "max_rows": None}
    (tmp_path / "settings.json").write_text(json.dumps({"loss": "margin-mse"}))
    _claim(tmp_path, settings)  # a cross-encoder study of a file that fit, written before both settings
    with pytest.raises(ValueError, match="other settings \\(teacher_backend;"):
        _claim(tmp_path, {**settings, "teacher_backend": "llm-judge"})
