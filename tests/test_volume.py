"""``protege experiment --volumes``: the teacher labels an augmented pair set, students train on
growing shares of it, the student's own selection keeps a quarter."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from protege.cli import main
from protege.client.augment import normalise
from protege.client.data import Columns
from protege.client.data.query_hash import bucket, is_validation
from protege.client.data.synthetic import generate_catalog
from protege.study.settings import Sizes
from protege.study.split import POOL_BUCKETS, TEST_BUCKETS, load_rows
from protege.study.volume import catalog_shortfall, volume_rows

GOALS = {
    "volume_keeps_paying",
    "student_close_at_volume",
    "student_beats_teacher",
    "student_beats_zero_shot_clearly",
    "quarter_matches_all",
    "quarter_beats_random",
}


def test_volume_study_labels_an_augmented_set_without_held_out_queries(
    tiny_encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    data = tmp_path / "catalog.csv"
    rows = generate_catalog(products=150, queries=120, seed=5)
    with data.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "study"
    command = ["experiment", "--data", str(data), "--out", str(out), "--volumes", "150,900"]
    command += ["--teacher-base", str(tiny_encoder), "--student-base", str(tiny_encoder), "--seeds", "0,1"]
    command += ["--runtime", "openvino"]  # the teacher's cross-encoder and the students score under it
    assert main(command) == 0
    results = json.loads((out / "results.json").read_text())

    # The pair set: pool queries, their rewrites and queries cut from products, none held out.
    pairs = pq.read_table(out / "volume" / "pairs.parquet")
    assert {"seed", "product"} <= set(pairs["strategy"].to_pylist())
    assert set(pairs["strategy"].to_pylist()) & {"drop", "reorder", "typo"}
    held_out = {
        normalise(row["search_term"])
        for row in rows
        if bucket(row["search_term"]) in TEST_BUCKETS
        or (bucket(row["search_term"]) in POOL_BUCKETS and is_validation(row["search_term"]))
    }
    assert held_out and not {normalise(query) for query in pairs["query"].to_pylist()} & held_out
    keys = list(zip(pairs["query"].to_pylist(), pairs["doc_id"].to_pylist(), strict=True))
    assert len(keys) == len(set(keys))  # each (query, product) labelled once
    assert results["pairs"]["labels"] == pairs.num_rows >= 900

    # The curve: a student per volume, both seeds below the largest, the first alone at it.
    curve = {point["volume"]: point for point in results["curve"]}
    assert sorted(curve) == [150, 900]
    assert [curve[v]["runs"] for v in (150, 900)] == [2, 1]
    assert all(0 <= point["coverage"] <= 1 for point in curve.values())
    assert curve[900]["coverage"] >= curve[150]["coverage"]  # more queries cover at least as much
    models = results["models"]
    assert {
        "mean_grade",
        "zero_shot",
        "teacher",
        "student_gold",
        "quarter_selected",
        "quarter_random",
    } <= set(models)
    assert results["quarter"]["kept"] == round(0.25 * results["quarter"]["from_labels"])
    # As many steps as the student on all of them: 4 epochs of 900 labels, so 16 of a quarter.
    assert results["quarter"]["epochs"] == pytest.approx(16, rel=0.05)
    selected = pq.read_table(out / "volume" / "seed-0" / "selection.parquet")
    assert 0 < selected.num_rows <= results["quarter"]["kept"]
    assert set(results["goals"]) == GOALS and all(isinstance(v, bool) for v in results["goals"].values())
    for value in results["paired"].values():
        low, high = value["rmse"]["interval95"]
        assert low <= value["rmse"]["difference"] <= high
    assert results["headline"] == "volume@900" and (out / "volume_curve.png").stat().st_size > 0
    printed = capsys.readouterr().out
    assert "volume curve" in printed and "quarter_selected - quarter_random" in printed

    # A rerun reuses every finished stage: nothing is labelled or trained again.
    stamps = {path: path.stat().st_mtime for path in (out / "volume").rglob("model.safetensors")}
    assert stamps and main(command) == 0
    assert all(path.stat().st_mtime == stamp for path, stamp in stamps.items())


def test_volumes_are_nested_whole_queries() -> None:
    queries = [f"q{i // 3}" for i in range(60)]
    labels = pa.table({"query": queries, "score": np.linspace(0, 1, 60)})
    small, large = volume_rows(labels, 10, seed=1), volume_rows(labels, 30, seed=1)
    assert 10 <= small.num_rows < 13 and 30 <= large.num_rows < 33
    assert set(small["query"].to_pylist()) <= set(large["query"].to_pylist())
    counts = {query: large["query"].to_pylist().count(query) for query in set(large["query"].to_pylist())}
    assert set(counts.values()) == {3}


def test_volumes_must_be_counts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["experiment", "--data", str(tmp_path / "x.csv"), "--out", str(tmp_path), "--volumes", "1k"])
    assert "comma-separated label counts" in capsys.readouterr().err


def test_a_file_without_product_ids_keys_its_products_by_their_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With no id column every product's id was None: the volume study indexed a catalog of one
    product and paired each query with it alone, and said nothing."""
    rows = generate_catalog(products=60, queries=30, seed=2)
    path = tmp_path / "graded.csv"
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["search_term", "product_title", "relevance"])
        writer.writerows((row["search_term"], row["product_title"], row["relevance"]) for row in rows)
    columns = Columns(query="search_term", docs=("product_title",), label="relevance")
    table, _, _ = load_rows(path, columns, encoding="utf-8", label_range=None, max_rows=None, source=path)
    catalog = dict(zip(table["doc_id"].to_pylist(), table["document"].to_pylist(), strict=True))
    assert len(catalog) == len({row["product_title"] for row in rows}) > 1
    assert "no product id (no Columns.doc_id found): their products are keyed by their text" in caplog.text
    assert catalog_shortfall(table, Sizes(volumes=(500,))) is None
    few = table.filter(pc.is_in(table["doc_id"], pa.array(sorted(catalog)[:3])))
    told = catalog_shortfall(few, Sizes(volumes=(500,)))
    assert told.startswith("a catalog of 3 products gives each query at most 3 pairs")
