"""The distillation loop through a real gRPC teacher, with tiny models."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sentence_transformers import CrossEncoder

from protege.client.data.synthetic import generate_catalog
from protege.client.distill import Distiller
from protege.client.distill_config import DistillConfig
from protege.client.evaluation.metrics import Evaluation
from protege.client.export import ExportSpec
from protege.client.training.config import TrainingConfig
from protege.filters.likelihood import StudentLikelihood
from protege.filters.settings import PrelabelRule


def test_distill_rounds_label_filter_train_and_report(
    cross_encoder_backend, start_teacher, tiny_encoder: Path, tmp_path: Path
) -> None:
    rows = generate_catalog(products=80, queries=40, seed=1)
    pool = pa.table(
        {
            "query": [row["search_term"] for row in rows],
            "document": [row["product_title"] for row in rows],
            "doc_id": [row["product_uid"] for row in rows],
        }
    )
    judged = generate_catalog(products=80, queries=10, seed=2)
    evaluation = Evaluation(
        [row["search_term"] for row in judged],
        [row["product_title"] for row in judged],
        [(float(row["relevance"]) - 1) / 2 for row in judged],
    )
    config = tiny_config(
        tiny_encoder, rounds=2, warmup_pairs=60, seeds_per_round=12, per_seed=2, top_k=3, negatives=1
    )
    config.export = ExportSpec("onnx", quantize="int8")
    server, teacher = start_teacher(cross_encoder_backend)
    report = Distiller(teacher, pool, tmp_path / "run", config, evaluation=evaluation).run()

    assert [entry["round"] for entry in report["rounds"]] == [0, 1, 2]
    assert report["rounds"][0]["labelled"] == 60 and report["rounds"][0]["decision"] == {"accepted": 60}
    for number, entry in enumerate(report["rounds"][1:], start=1):
        # Pairs whose query the query-only filters reject are never sent to the teacher.
        folder = tmp_path / "run" / f"round-{number}"
        screened = pq.read_table(folder / "screened.parquet")
        labelled = set(pq.read_table(folder / "pairs.parquet")["pair_id"].to_pylist())
        assert screened.num_rows == entry["screened"] and labelled.isdisjoint(screened["pair_id"].to_pylist())
        reasons = {"duplicate query", "duplicate of a trained query", "implausible query"}
        assert set(screened["reason"].to_pylist()) <= reasons
        assert sum(entry["decision"].values()) == entry["labelled"] + entry["screened"]
        assert entry["labelled"] > 0
        assert 0.0 <= entry["coverage@0.8"] <= 1.0 and "ndcg@10" in entry["metrics"]
    assert report["teacher_labels"] == sum(entry["labelled"] for entry in report["rounds"])
    # A tiny random encoder embeds every query alike: near-duplicates everywhere.
    assert sum(entry["screened"] for entry in report["rounds"]) > 0
    served = sum(server.server.metrics.pairs.labels(source)._value.get() for source in ("model", "cache"))
    assert served == report["teacher_labels"] + len(evaluation.queries)  # the eval pairs, scored once
    accepted = sum(entry["decision"]["accepted"] for entry in report["rounds"])
    assert report["train_pairs"] == accepted
    rejected = pq.read_table(tmp_path / "run" / "round-1" / "rejected.parquet")
    assert rejected.num_rows == report["rounds"][1]["labelled"] - report["rounds"][1]["decision"]["accepted"]
    assert "" not in rejected["reason"].to_pylist()

    student = tmp_path / "run" / "student"
    provenance = json.loads((student / "provenance.json").read_text())
    assert provenance["teacher_version"] == cross_encoder_backend.version
    assert provenance["train_pairs"] == accepted and provenance["filter_settings"]["band_high"] == 0.99
    assert (student / "profile.json").exists()
    assert CrossEncoder(str(student), device="cpu").predict([("drill", "cordless drill")]).shape == (1,)
    for name in ("report.html", "learning_curve.png", "coverage.png", "filter_decisions.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0
    assert "teacher_metrics" in report and "student_metrics" in report
    exported = tmp_path / "run" / "student-onnx-int8"
    assert report["export"] == str(exported) and (exported / "onnx" / "model.onnx").exists()
    provenance = json.loads((exported / "provenance.json").read_text())
    assert provenance["teacher_version"] == cross_encoder_backend.version
    assert provenance["export"]["quantize"] == "int8"


def catalog_pool(**options: int) -> pa.Table:
    """A (query, document) pool from the synthetic catalog."""
    rows = generate_catalog(**options)
    return pa.table(
        {"query": [row["search_term"] for row in rows], "document": [row["product_title"] for row in rows]}
    )


def tiny_config(encoder: Path, **sizes: int) -> DistillConfig:
    """A quiet run with ``encoder`` as the student and the embedder, at the given sizes."""
    return DistillConfig(
        training=TrainingConfig(base=str(encoder)), embedder=str(encoder), progress=False, **sizes
    )


def test_distill_refuses_an_empty_pool(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="pool is empty"):
        Distiller(
            None,
            pa.table({"query": pa.array([], pa.string()), "document": pa.array([], pa.string())}),
            tmp_path,
            DistillConfig(),
        )


def test_a_warm_up_that_takes_the_whole_label_budget_is_refused_before_any_work() -> None:
    with pytest.raises(ValueError, match="warm-up's 500 pairs take the whole label budget of 300"):
        DistillConfig(label_budget=300)


def test_a_round_with_nothing_left_to_label_ends_the_run_with_the_last_student(
    cross_encoder_backend, start_teacher, tiny_encoder: Path, tmp_path: Path
) -> None:
    """The warm-up labels the whole pool, and no rewrites are asked for: round 1 has no pairs."""
    pool = catalog_pool(products=40, queries=12, seed=6)
    config = tiny_config(tiny_encoder, rounds=2, warmup_pairs=pool.num_rows, seeds_per_round=4, per_seed=1)
    config = replace(config, strategies=())
    _, teacher = start_teacher(cross_encoder_backend)
    report = Distiller(teacher, pool, tmp_path / "run", config).run()
    assert [entry["round"] for entry in report["rounds"]] == [0]
    assert report["teacher_labels"] == pool.num_rows
    assert not (tmp_path / "run" / "round-1" / "labels").exists()
    assert (tmp_path / "run" / "student" / "provenance.json").exists()


def test_a_rerun_resumes_its_rounds_and_refuses_other_settings(
    cross_encoder_backend, start_teacher, tiny_encoder: Path, tmp_path: Path
) -> None:
    from protege.common.stage import StageMismatch

    pool = catalog_pool(products=40, queries=16, seed=7)
    config = tiny_config(tiny_encoder, rounds=1, warmup_pairs=20, seeds_per_round=4, per_seed=1, top_k=2)
    server, teacher = start_teacher(cross_encoder_backend)
    first = Distiller(teacher, pool, tmp_path / "run", config).run()
    served = server.server.metrics.pairs.labels("model")._value.get()
    # Progress shown or not, the same run: every round is taken up as it finished, nothing labelled.
    again = Distiller(teacher, pool, tmp_path / "run", replace(config, progress=True)).run()
    assert again["rounds"] == first["rounds"]
    assert server.server.metrics.pairs.labels("model")._value.get() == served
    with pytest.raises(StageMismatch, match="other settings \\(seeds_per_round;"):
        Distiller(teacher, pool, tmp_path / "run", replace(config, seeds_per_round=5)).run()
    with pytest.raises(StageMismatch, match="pool"):
        Distiller(teacher, catalog_pool(products=40, queries=16, seed=8), tmp_path / "run", config).run()


def test_distill_refuses_to_mix_teacher_versions_unless_told(
    cross_encoder_backend, tiny_graded_cross_encoder: Path, start_teacher, tiny_encoder: Path, tmp_path: Path
) -> None:
    from protege.client.distill_config import DistillError
    from protege.server.backends import load_backend

    pool = catalog_pool(products=60, queries=30, seed=4)
    config = tiny_config(
        tiny_encoder, rounds=1, warmup_pairs=30, seeds_per_round=6, per_seed=1, top_k=2, negatives=1
    )
    out = tmp_path / "run"
    _, teacher = start_teacher(cross_encoder_backend)
    Distiller(teacher, pool, out, replace(config, rounds=0)).run()  # round 0, then the job stops
    other = load_backend("cross-encoder", str(tiny_graded_cross_encoder), device="cpu")
    assert other.version != cross_encoder_backend.version
    _, retrained = start_teacher(other)  # the teacher came back with another model
    with pytest.raises(DistillError, match=r"two teacher versions.*allow_mixed_teachers"):
        Distiller(retrained, pool, out, config).run()
    assert not (out / "round-1").exists()  # refused before labelling anything
    report = Distiller(retrained, pool, out, replace(config, allow_mixed_teachers=True)).run()
    versions = [entry["teacher_version"] for entry in report["rounds"]]
    assert versions == [cross_encoder_backend.version, other.version]


def test_teacher_killed_mid_distill_loses_and_duplicates_nothing(
    tiny_cross_encoder: Path, tiny_encoder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import signal
    import threading
    import time

    import numpy as np
    from conftest import capture, free_port, health, serve_process, wait_for

    from protege.client import TeacherClient
    from protege.client.labelling.jobs import JobError, read_labels

    pool = catalog_pool(products=120, queries=80, seed=5)
    config = tiny_config(
        tiny_encoder, rounds=1, warmup_pairs=60, seeds_per_round=15, per_seed=2, top_k=6, negatives=2
    )
    # The tiny encoder embeds every query alike: with near-duplicates screened out before
    # labelling, round 1 would be too short to cut off.
    config = replace(config, filters=replace(config.filters, dedup_threshold=None))
    # Bit for bit: bf16 autocast on a CPU is not reproducible run to run (the students' likelihoods,
    # and so the filters' decisions, moved here), float32 is.
    config = replace(config, training=replace(config.training, precision="fp32"))
    port = free_port()
    teacher = serve_process(tiny_cross_encoder, port, "--max-batch", "1")
    client = TeacherClient(f"127.0.0.1:{port}", timeout=10)

    def restart() -> subprocess.Popen:
        """A fresh teacher: its memory cache is empty, so round 1 takes long enough to cut off."""
        teacher.kill()
        teacher.wait(30)
        started = serve_process(tiny_cross_encoder, port, "--max-batch", "1")
        wait_for(lambda: health(client) == "SERVING", timeout=120)
        return started

    def kill_when_round_1_labels(out: Path) -> None:
        # The label job has claimed its folder (settings.json): round 1's labelling has begun.
        wait_for(lambda: (out / "round-1" / "labels" / "settings.json").exists(), timeout=120)
        teacher.send_signal(signal.SIGKILL)
        teacher.wait(30)

    try:
        wait_for(lambda: health(client) == "SERVING", timeout=120)
        reference = Distiller(client, pool, tmp_path / "reference", config).run()
        teacher = restart()

        # Killed and back while the run retries: it carries on by itself.
        failure: list[BaseException] = []
        back: list[dict] = []
        running = threading.Thread(
            target=lambda: capture(
                failure, lambda: back.append(Distiller(client, pool, tmp_path / "back", config).run())
            )
        )
        running.start()
        kill_when_round_1_labels(tmp_path / "back")
        time.sleep(1)
        teacher = restart()
        running.join(300)
        assert not failure, failure
        assert any("retrying" in record.getMessage() for record in caplog.records)  # it was cut off

        # Killed for good: the run stops with finished rounds kept; the same command resumes.
        teacher = restart()
        gone = tmp_path / "gone"
        patient = replace(config, retry_seconds=2)
        running = threading.Thread(
            target=lambda: capture(failure, lambda: Distiller(client, pool, gone, patient).run())
        )
        running.start()
        kill_when_round_1_labels(gone)
        running.join(120)
        assert failure and isinstance(failure[0], JobError)
        assert "run the same command again" in str(failure[0])
        assert (gone / "round-0" / "round.json").exists() and not (gone / "round-1" / "round.json").exists()
        round_0 = (gone / "round-0" / "round.json").stat().st_mtime_ns
        teacher = restart()
        resumed = Distiller(client, pool, gone, patient).run()
        assert (gone / "round-0" / "round.json").stat().st_mtime_ns == round_0  # not redone
    finally:
        client.close()
        teacher.kill()
        teacher.wait(30)

    expected = read_labels(tmp_path / "reference" / "round-1" / "labels")
    assert expected.num_rows == reference["rounds"][1]["labelled"] > 150
    expected_train = pq.read_table(tmp_path / "reference" / "round-1" / "train.parquet")
    for run, report in ((tmp_path / "back", back[0]), (gone, resumed)):
        labels = read_labels(run / "round-1" / "labels")
        pairs = pq.read_table(run / "round-1" / "pairs.parquet")
        assert sorted(labels["pair_id"].to_pylist()) == sorted(pairs["pair_id"].to_pylist())  # each once
        assert labels["pair_id"].to_pylist() == expected["pair_id"].to_pylist()
        np.testing.assert_allclose(labels["score"].to_numpy(), expected["score"].to_numpy(), atol=1e-6)
        train = pq.read_table(run / "round-1" / "train.parquet")
        assert train.select(["query", "document"]).equals(expected_train.select(["query", "document"]))
        assert report["teacher_labels"] == reference["teacher_labels"]
        assert report["rounds"][1]["decision"] == reference["rounds"][1]["decision"]


def test_teacher_scores_match_the_backend_and_show_progress(
    cross_encoder_backend, start_teacher, capsys: pytest.CaptureFixture[str]
) -> None:
    from protege.client.labelling.teacher_client import teacher_scores

    queries, documents = ["drill", "drill", "paint"], ["cordless drill", "garden hose", "white paint"]
    _, teacher = start_teacher(cross_encoder_backend)
    quiet = teacher_scores(teacher, queries, documents)
    assert capsys.readouterr().err == ""
    shown = teacher_scores(teacher, queries, documents, progress=True)
    assert "teacher scoring" in capsys.readouterr().err
    expected = cross_encoder_backend.score(queries, documents).scores
    np.testing.assert_allclose(shown, quiet)
    np.testing.assert_allclose(quiet, expected, atol=1e-5)


def test_a_label_budget_too_small_for_a_round_sends_the_teacher_the_queries_the_student_doubts(
    tiny_cross_encoder: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    pool = catalog_pool(products=40, queries=16, seed=8)
    config = tiny_config(tiny_encoder, rounds=1, warmup_pairs=10)
    config = replace(config, label_budget=30, prelabel=PrelabelRule("uncertainty"))
    distiller = Distiller(None, pool, tmp_path / "run", config)
    distiller.labels_used = 10  # the warm-up's: 20 labels are left for round 1
    student = CrossEncoder(str(tiny_cross_encoder))
    chosen = distiller._within_budget(pool, 1, student)
    queries = pool["query"].to_pylist()
    p = 1 / (1 + np.exp(-StudentLikelihood(student).logits(queries, pool["document"].to_pylist())))
    entropy = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    rows_of = {query: [i for i, q in enumerate(queries) if q == query] for query in set(queries)}
    ranked = sorted(rows_of, key=lambda query: entropy[rows_of[query]].mean(), reverse=True)
    taken = list(dict.fromkeys(chosen["query"].to_pylist()))
    assert chosen.num_rows == 20
    # Whole queries, most uncertain first; the last one taken may be cut to fit.
    assert set(ranked[: len(taken) - 1]) <= set(taken) <= set(ranked[: len(taken)])
