"""``protege experiment`` on a relevance file with its own column names, format and grade scale."""

from __future__ import annotations

import csv
import json
import sys
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from protege.cli import main
from protege.client.data.query_hash import bucket, is_validation
from protege.client.data.synthetic import generate_catalog
from protege.client.labelling.jobs import read_labels
from protege.common.runtimes import load_cross_encoder
from protege.study.split import MIN_QUERIES, rows_within
from protege.study.students import GOLD_LOSS

MODELS = {
    "mean_grade",
    "random",
    "zero_shot",
    "teacher",
    "student_unfiltered",
    "student_filtered",
    "student_gold",
}
GOALS = {
    "beats_zero_shot",
    "teacher_worth_having",
    "student_cheap_and_close",
    "student_beats_teacher",
    "filtered_reaches_plateau_on_half",
    "filtered_beats_random_small_budgets",
    "noisy_filtered_beats_unfiltered",
}


def test_experiment_runs_on_any_judged_file_given_its_columns(
    tiny_encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "judged.jsonl"
    with data.open("w") as file:
        for row in generate_catalog(products=120, queries=60, seed=3):
            record = {
                "search": row["search_term"],
                "item": row["product_title"],
                "sku": row["product_uid"],
                "grade": round((float(row["relevance"]) - 1) * 2, 2),
            }
            file.write(json.dumps(record) + "\n")
    out = tmp_path / "study"
    command = [
        "experiment",
        "--data",
        str(data),
        "--query-col",
        "search",
        "--doc-col",
        "item",
        "--doc-id-col",
        "sku",
        "--label-col",
        "grade",
        "--out",
        str(out),
        "--teacher-base",
        str(tiny_encoder),
        "--student-base",
        str(tiny_encoder),
        "--seeds",
        "0,1",
        "--rounds",
        "1",
        "--per-seed",
        "3",
        "--label-budgets",
        "0.25,0.5",
        "--export",
        "onnx-int8",
    ]
    assert main(command) == 0
    results = json.loads((out / "results.json").read_text())
    # The headline student, exported as asked: what a user deploys.
    assert results["export"] == str(out / "student-onnx-int8")
    exported = load_cross_encoder(results["export"], "onnx").predict([("drill", "cordless drill")])
    assert exported.shape == (1,) and 0 <= exported[0] <= 1
    assert results["label_range"] == [0.0, 4.0]  # taken from the grades when not given
    assert set(results["models"]) == MODELS | {"teacher_noisy"}
    models, pool = results["models"], results["split_pairs"]["pool"]
    assert models["mean_grade"]["ndcg@10"] is None and models["zero_shot"]["rmse"] > 0
    assert (
        models["student_unfiltered"]["teacher_labels"] == pool
        and models["student_gold"]["teacher_labels"] == 0
    )
    # Gold grades train with the teacher's cross-encoder's loss, not as logits (0 and 1 are ±13.8).
    assert json.loads((out / "seed-0" / "student_gold" / "provenance.json").read_text())["loss"] == GOLD_LOSS
    # The filtered student's budget: half the pool's labels (rounding aside), at most.
    assert 0 < models["student_filtered"]["teacher_labels"] <= round(pool / 2)
    assert models["student_filtered"]["runs"] == 2 and models["teacher"]["runs"] == 1
    assert models["teacher"]["pairs_per_second"] > 0 and models["student_filtered"]["pairs_per_second"] > 0
    assert results["speed"]["student_cost_share"] > 0
    # Learning curves: random and distill's selection at each budget, under both teachers; random on
    # every label is the unfiltered plateau.
    budgets = sorted({round(0.25 * pool), round(0.5 * pool)})
    for arm in ("clean", "noisy"):
        points = {(p["selection"], p["label_budget"]) for p in results["curve"] if p["arm"] == arm}
        assert points == {(s, b) for s in ("random", "filtered") for b in budgets} | {("random", pool)}
    assert set(results["goals"]) == GOALS and all(isinstance(v, bool) for v in results["goals"].values())
    assert set(results["labels_to_plateau"]) == {"clean", "noisy"}
    assert (out / "learning_curve.png").stat().st_size > 0
    # Paired on the test set, with a bootstrap interval around each difference.
    assert set(results["paired"]) == {
        "teacher - zero_shot",
        "student_filtered - zero_shot",
        "student_filtered - teacher",
        "student_filtered - student_gold",
        "student_filtered - student_unfiltered",
    }
    for value in results["paired"].values():
        for figure in value.values():
            low, high = figure["interval95"]
            assert low <= figure["difference"] <= high
    printed = capsys.readouterr().out
    assert "paired on the test pairs" in printed and "goals:" in printed and "zero_shot" in printed
    # The shared split: the students' pool holds only buckets 3-7, less the validation queries.
    pool_queries = set(pq.read_table(out / "pool.parquet")["query"].to_pylist())
    assert pool_queries and all(
        3 <= bucket(query) <= 7 and not is_validation(query) for query in pool_queries
    )
    for pairs in (out / "seed-0" / "clean").glob("distill-*/round-*/pairs.parquet"):
        table = pq.read_table(pairs)
        strategy = table["strategy"].to_pylist()
        seeds = {q for q, how in zip(table["query"].to_pylist(), strategy, strict=True) if how == "seed"}
        assert seeds <= pool_queries  # every round starts from pool queries only
    # The noisy teacher served to distill flips the clean teacher's score on a fixed share of pairs.
    clean = {
        (row["query"], row["document"]): row["score"] for row in read_labels(out / "pool-labels").to_pylist()
    }
    noisy = read_labels(out / "seed-0" / "noisy" / f"distill-{budgets[0]}" / "round-0" / "labels").to_pylist()
    flips = [abs(clean[row["query"], row["document"]] - row["score"]) > 1e-6 for row in noisy]
    assert all(
        abs(clean[row["query"], row["document"]] - (1 - row["score"])) < 1e-6
        for row, flip in zip(noisy, flips, strict=True)
        if flip
    )
    assert 0 < sum(flips) < len(flips)
    # Finished models are reused only under the settings they were trained with.
    assert main([*command, "--loss", "mse"]) == 2
    assert "holds work made with other settings (models;" in capsys.readouterr().err


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
        "experiment",
        "--data",
        str(data),
        "--out",
        str(out),
        "--strategies",
        "",
        "--label-budgets",
        "0.5",
        "--noise",
        "0",
        "--teacher",
        "cross-encoder",
        "--teacher-base",
        str(tiny_encoder),
        "--student-base",
        str(tiny_encoder),
        "--warm-start",
    ]
    assert main(command) == 0
    results = json.loads((out / "results.json").read_text())
    # --noise 0: no noisy arm; one budget: a random and a filtered student on it, and the plateau.
    pool = results["split_pairs"]["pool"]
    points = [(p["arm"], p["selection"], p["label_budget"]) for p in results["curve"]]
    assert sorted(points) == [
        ("clean", "filtered", round(pool / 2)),
        ("clean", "random", round(pool / 2)),
        ("clean", "random", pool),
    ]
    assert (
        "teacher_noisy" not in results["models"] and not results["goals"]["noisy_filtered_beats_unfiltered"]
    )
    graded = sum(1 for line in data.read_text().splitlines()[1:] if not line.endswith("\t"))
    assert sum(results["split_pairs"].values()) == graded
    columns = results["settings"]["columns"]
    assert (columns["query"], columns["docs"], columns["doc_id"], columns["label"]) == (
        "query",
        ["product_name"],
        "product_id",
        "label",
    )
    assert results["label_range"] == [0.0, 2.0]  # Irrelevant, Partial, Exact read by rank
    # Rounds take enough seeds for their share of the budget (not fewer, as if each seed brought
    # generated queries too); pool pairs labelled in round 0 cost nothing when a later seed has them.
    budget = round(pool / 2)
    assert 0.7 * budget <= results["models"]["student_filtered"]["teacher_labels"] <= budget
    strategies = pq.read_table(out / "seed-0" / "clean" / f"distill-{budget}" / "round-1" / "pairs.parquet")[
        "strategy"
    ]
    assert set(strategies.to_pylist()) == {"seed"}


def test_experiment_runs_unchanged_on_a_crowdflower_laid_out_file(
    tiny_encoder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Laid out like Kaggle's CrowdFlower search relevance, zipped as Kaggle hands it out: the
    # grade is a median of 1-4 beside its variance, and no column has a usual grade's name.
    csv_file = tmp_path / "train.csv"
    with csv_file.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(
            ["id", "query", "product_title", "product_description", "median_relevance", "relevance_variance"]
        )
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
        "experiment",
        "--data",
        str(data),
        "--out",
        str(out),
        "--strategies",
        "",
        "--label-budgets",
        "0.5",
        "--rounds",
        "1",
        "--noise",
        "0",
        "--teacher",
        "cross-encoder",
        "--teacher-base",
        str(tiny_encoder),
        "--student-base",
        str(tiny_encoder),
        "--max-rows",
        str(rows * 3 // 4),
    ]
    with caplog.at_level("WARNING", logger="protege.study"):
        assert main(command) == 0
    assert "documents are longer than the teacher's limit of 8192 characters and are cut to it" in caplog.text
    results = json.loads((out / "results.json").read_text())
    assert f"only {results['test_queries_scored']} test queries can be scored" in caplog.text
    columns = results["settings"]["columns"]
    assert (columns["query"], columns["docs"], columns["doc_id"], columns["label"]) == (
        "query",
        ["product_title"],
        None,
        "median_relevance",
    )
    assert results["label_range"] == [1.0, 4.0]
    assert set(results["models"]) == MODELS
    # A file over --max-rows is cut (here its 60 queries to 4 of their 6 documents each), and the
    # cut is part of the study's settings.
    assert rows * 2 // 3 <= sum(results["split_pairs"].values()) <= rows * 3 // 4
    assert results["settings"]["max_rows"] == rows * 3 // 4


def test_a_large_file_is_cut_to_whole_queries_keeping_each_split_s_share() -> None:
    rng = np.random.default_rng(0)
    queries = [f"query {number}" for number in rng.integers(0, 10_000, 50_000)]
    documents = [f"product {number}" for number in range(len(queries))]
    kept = rows_within(queries, documents, 20_000)
    assert 19_900 < len(kept) <= 20_000 and np.all(np.diff(kept) > 0)
    chosen = {queries[row] for row in kept}
    assert len(chosen) > MIN_QUERIES
    assert sum(query in chosen for query in queries) == len(kept)  # every row of a chosen query
    test_share = np.mean([bucket(queries[row]) >= 8 for row in kept])
    assert abs(test_share - np.mean([bucket(query) >= 8 for query in queries])) < 0.03
    assert rows_within(queries, documents, 50_000) is None and rows_within(queries, documents, None) is None


def test_a_file_of_few_queries_with_long_lists_keeps_every_query_with_fewer_documents() -> None:
    # WANDS-like: 100 queries, 150-250 judged products each; whole queries would keep 25 of them.
    rng = np.random.default_rng(1)
    pairs = [(f"query {q}", f"product {d}") for q in range(100) for d in range(rng.integers(150, 250))]

    def kept_pairs(rows: list[tuple[str, str]]) -> set[tuple[str, str]]:
        queries, documents = map(list, zip(*rows, strict=True))
        kept = rows_within(queries, documents, 5000)
        assert set(Counter(queries[row] for row in kept).values()) == {50}  # all 100 queries, 50 each
        return {rows[row] for row in kept}

    # The same pairs whatever the file's order.
    assert kept_pairs(pairs) == kept_pairs([pairs[row] for row in rng.permutation(len(pairs))])


def test_a_study_cut_short_keeps_the_figures_of_the_models_it_finished(
    tiny_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from protege.client.data import Columns
    from protege.client.distill import Distiller
    from protege.study.run import run_study
    from protege.study.settings import Models, Sizes

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
    models = Models(teacher="cross-encoder", teacher_base=str(tiny_encoder), student_base=str(tiny_encoder))
    with caplog.at_level("INFO", logger="protege.study"), pytest.raises(RuntimeError):
        run_study(data, Columns(label="grade"), out, sizes=Sizes(label_budgets=(0.5,)), models=models)
    finished = sorted(path.parent.name for path in (out / "seed-0" / "clean").glob("*/scores-test.npy"))
    assert len(finished) == 2 and all(name.startswith("random-") for name in finished)
    assert all(
        (out / "baselines" / name / "scores-test.npy").exists() for name in ("mean_grade", "zero_shot")
    )
    assert "seed-0/clean/random-" in caplog.text and ": test RMSE" in caplog.text


def test_experiment_needs_gold_grades(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = tmp_path / "pairs.csv"
    data.write_text("query,document,popularity\ndrill,cordless drill,3\n")
    assert main(["experiment", "--data", str(data), "--out", str(tmp_path / "out")]) == 2
    assert (
        "pairs.csv: no column is named as the label (columns: query, document, popularity); give --label-col"
        in (capsys.readouterr().err)
    )


def test_experiment_rejects_zero_rounds_and_unknown_filters(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "pairs.csv"
    data.write_text("query,document,grade\ndrill,cordless drill,3\n")
    command = ["experiment", "--data", str(data), "--label-col", "grade", "--out", str(tmp_path / "out")]
    assert main([*command, "--rounds", "0"]) == 2
    assert "--rounds must be at least 1, not 0" in capsys.readouterr().err
    assert main([*command, "--filters", "band,typo"]) == 2
    assert (
        "unknown filter typo: choose from band, ifd, plausibility, dedup, refinement"
        in capsys.readouterr().err
    )
    assert main([*command, "--filters", ""]) == 2
    assert "--no-filters turns them all off" in capsys.readouterr().err
    assert main([*command, "--filters", "ifd"]) == 2
    assert "ifd is off in these settings, so keeping it runs no filter" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse's own usage error
        main([*command, "--label-budgets", "0.5,1.5"])
    assert "each in (0, 1), not '0.5,1.5'" in capsys.readouterr().err
    assert main([*command, "--teacher", "llm-judge"]) == 2
    assert "an llm-judge teacher is fine-tuned from a causal LM" in capsys.readouterr().err
    assert main([*command, "--noise", "0.5"]) == 2
    assert (
        "--noise is the share of labels the noisy teacher flips, in [0, 0.5), not 0.5"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "out").exists()


def test_a_runtime_that_is_not_installed_stops_the_study_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A missing OpenVINO once stopped a volume study after its 12-minute teacher fit."""
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino fails
    data = tmp_path / "pairs.csv"
    data.write_text("query,document,grade\ndrill,cordless drill,3\n")
    command = ["experiment", "--data", str(data), "--label-col", "grade", "--out", str(tmp_path / "out")]
    assert main([*command, "--runtime", "openvino"]) == 2
    assert "pip install 'protege[openvino]'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_experiment_explains_an_empty_split(
    tiny_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("PROTEGE_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "one.csv"
    data.write_text("query,document,grade\ndrill,cordless drill,3\ndrill,paint,1\n")
    with pytest.raises(ValueError, match="the split left"):
        from protege.client.data import Columns
        from protege.study.run import run_study

        run_study(data, Columns(label="grade"), tmp_path / "out")
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
    from protege.client.data import Columns
    from protege.study.run import run_study

    data = tmp_path / "one-each.csv"
    rows = "".join(f"query {i},product {i},{i % 3}\n" for i in range(300))
    data.write_text("query,document,grade\n" + rows)
    with pytest.raises(ValueError, match="no validation query has judged documents of two different grades"):
        run_study(data, Columns(label="grade"), tmp_path / "out")
    # Positives-only qrels: one grade, and nothing to rank, said before anything is trained.
    data.write_text("query,document,grade\n" + "".join(f"query {i},product {i},1\n" for i in range(300)))
    with pytest.raises(ValueError, match=r"every grade in column 'grade' is 1; .*positives-only qrels"):
        run_study(data, Columns(label="grade"), tmp_path / "out")


def test_experiment_with_an_llm_judge_teacher(tiny_llm: Path, tiny_encoder: Path, tmp_path: Path) -> None:
    data = tmp_path / "judged.csv"
    with data.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["q", "title", "uid", "relevance"])
        for row in generate_catalog(products=100, queries=50, seed=5):
            writer.writerow([row["search_term"], row["product_title"], row["product_uid"], row["relevance"]])
    out = tmp_path / "study"
    command = [
        "experiment",
        "--data",
        str(data),
        "--query-col",
        "q",
        "--doc-col",
        "title",
        "--doc-id-col",
        "uid",
        "--label-col",
        "relevance",
        "--out",
        str(out),
        "--rounds",
        "1",
        "--teacher",
        "llm-judge",
        "--teacher-base",
        str(tiny_llm),
        "--student-base",
        str(tiny_encoder),
        "--label-budgets",
        "0.5",
        "--noise",
        "0",
    ]
    assert main(command) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["settings"]["models"]["teacher"] == "llm-judge"
    assert json.loads((out / "teacher" / "provenance.json").read_text())["backend"] == "llm-judge"
    assert results["models"]["student_unfiltered"]["teacher_labels"] == results["split_pairs"]["pool"]
    assert set(results["models"]) == MODELS
    labels = pq.read_table(next((out / "pool-labels").glob("*.parquet")))
    assert labels.num_rows and all(0 <= score <= 1 for score in labels["score"].to_pylist())
