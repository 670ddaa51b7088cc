from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from protege.client.retrieval.coverage import CoverageIndex, approximate_index, steering_weights

# Queries are "<topic> <n>": one direction per topic plus a little per-query noise, so the
# nearest training query of a target is close exactly when it shares the topic.
TOPICS = ["drill", "paint", "faucet", "bulb"]


def embed(texts) -> np.ndarray:
    vectors = []
    for text in texts:
        topic, number = text.split()
        vector = np.zeros(16, dtype=np.float32)
        vector[TOPICS.index(topic)] = 1.0
        vector[4 + int(number) % 12] = 0.1
        vectors.append(vector / np.linalg.norm(vector))
    return np.array(vectors, dtype=np.float32)


TARGETS = [f"{topic} {n}" for topic in TOPICS for n in range(60)]


def test_coverage_counts_targets_near_a_training_query() -> None:
    index = CoverageIndex(embed)
    assert index.add(["drill 1", "paint 2", "drill 1"]) == 2
    assert index.coverage(TARGETS, tau=0.9) == pytest.approx(0.5)
    assert index.coverage(TARGETS, tau=0.999) < 0.5
    index.add(["faucet 3"])
    assert index.coverage(TARGETS, tau=0.9) == pytest.approx(0.75)


def test_clusters_list_the_uncovered_topic_first_and_steer_seeds_to_it() -> None:
    index = CoverageIndex(embed)
    index.add(["drill 1", "paint 2", "faucet 3"])
    report = index.clusters(TARGETS, tau=0.9, k=4)
    assert report.coverage == pytest.approx(0.75)
    worst = report.clusters[0]
    assert worst.covered == 0.0 and all(example.startswith("bulb") for example in worst.examples)
    weights = steering_weights(embed(["drill 5", "bulb 7"]), report)
    assert weights.sum() == pytest.approx(1.0) and weights[1] > 5 * weights[0]


def test_index_saves_loads_and_grows(tmp_path: Path) -> None:
    index = CoverageIndex(embed)
    index.add(["drill 1"])
    index.save(tmp_path / "coverage")
    loaded = CoverageIndex.load(tmp_path / "coverage", embed)
    assert loaded.queries == ["drill 1"] and loaded.add(["drill 1", "paint 1"]) == 1
    assert loaded.coverage(TARGETS, tau=0.9) == pytest.approx(0.5)


def test_large_index_turns_approximate_and_keeps_finding_neighbours() -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(3000, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = CoverageIndex(embed, flat_limit=1000)
    index.add_vectors(vectors, [f"q{i}" for i in range(3000)])
    assert "IVF" in type(index.index).__name__
    similarity, rows = index.nearest(vectors[:200])
    assert (rows == np.arange(200)).mean() > 0.9 and similarity.max() <= 1.0001
    assert approximate_index(vectors).ntotal == 3000


def test_coverage_command_reports_coverage_and_saves_a_growing_index(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    target, train = tmp_path / "target.csv", tmp_path / "train.csv"
    target.write_text("q\n" + "\n".join(f"{topic} {n}" for topic in TOPICS for n in range(50)) + "\n")
    train.write_text("q\ndrill 1\npaint 2\n")
    command = [
        sys.executable,
        "-m",
        "protege",
        "coverage",
        "--target",
        str(target),
        "--query-col",
        "q",
        "--index",
        str(tmp_path / "index"),
        "--tau",
        "0.5",
        "0.9",
    ]
    first = subprocess.run([*command, "--train", str(train)], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)
    assert result["targets"] == 200 and result["training_queries"] == 2
    assert 0 < result["coverage@0.9"] <= result["coverage@0.5"] <= 1
    assert result["least_covered_clusters"][0]["examples"]
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)  # the saved index alone
    assert again.returncode == 0 and json.loads(again.stdout)["training_queries"] == 2


def test_coverage_job_folds_a_file_or_folder_in_batches_to_what_the_index_reports(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from protege.client.data.outputs import ACCEPTED
    from protege.client.retrieval.coverage_config import CoverageConfig
    from protege.client.retrieval.coverage_job import measure_coverage

    target, train = tmp_path / "target.csv", tmp_path / "train.csv"
    target.write_text("q\n" + "\n".join(TARGETS) + "\n")
    queries = [f"{topic} {n}" for topic in ("drill", "paint") for n in range(7)] * 2  # each twice
    train.write_text("q\n" + "\n".join(queries) + "\n")
    folder = tmp_path / "filtered"
    folder.mkdir()
    pq.write_table(pa.table({"q": queries, "label": [0.5] * len(queries)}), folder / ACCEPTED)
    job = CoverageConfig(target, train, query_col="q", taus=(0.9, 0.999), clusters=4, batch=5)
    indexed = measure_coverage(CoverageConfig(**{**vars(job), "index": tmp_path / "index"}), embed)
    assert indexed["training_queries"] == 14
    for source in (train, folder):
        folded = measure_coverage(CoverageConfig(**{**vars(job), "train": source}), embed)
        assert folded["training_queries_folded"] == 28  # batches of 5 rows: a query in two counts twice
        assert folded["coverage@0.9"] == indexed["coverage@0.9"] == pytest.approx(0.5)
        assert folded["coverage@0.999"] == indexed["coverage@0.999"]
        assert folded["least_covered_clusters"] == indexed["least_covered_clusters"]
    with pytest.raises(ValueError, match="no column 'query'"):
        measure_coverage(CoverageConfig(target, folder, query_col="query"), embed)
