from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import CrossEncoder

from protege.client.data.grades import normalise_grades
from protege.client.training.config import TrainingConfig
from protege.client.training.rows import training_dataset
from protege.client.training.sampler import LengthGroupedBatchSampler
from protege.client.training.saving import data_hash
from protege.client.training.trainer import load_student, train_cross_encoder
from protege.common.setting_names import SettingError
from protege.common.stage import PROVENANCE


def test_trained_model_is_saved_and_loads_as_a_crossencoder(tiny_encoder: Path, tmp_path: Path) -> None:
    queries = ["cordless drill", "ceiling paint"] * 16
    documents = ["drill driver kit", "flat white ceiling paint"] * 8 + [
        "flat white ceiling paint",
        "drill driver kit",
    ] * 8
    targets = [1.0] * 16 + [0.0] * 16
    before = CrossEncoder(str(tiny_encoder), device="cpu").model.state_dict()
    train_cross_encoder(
        queries, documents, targets, TrainingConfig(base=str(tiny_encoder)), out=tmp_path / "student"
    )
    model = CrossEncoder(str(tmp_path / "student"), device="cpu")
    assert model.num_labels == 1
    after = model.model.state_dict()
    assert any(not np.allclose(before[name].numpy(), after[name].numpy()) for name in before if name in after)
    assert np.all(np.isfinite(model.predict([("cordless drill", "drill driver kit")])))


def test_lengths_must_match(tiny_encoder: Path) -> None:
    with pytest.raises(ValueError, match="same length"):
        train_cross_encoder(["q"], ["d", "e"], [1.0], TrainingConfig(base=str(tiny_encoder)))


PAIRS = [
    ("cordless drill", "drill driver kit", 0.9),
    ("cordless drill", "flat white ceiling paint", 0.1),
    ("cordless drill", "led light bulb", 0.2),
    ("ceiling paint", "flat white ceiling paint", 0.95),
    ("ceiling paint", "drill driver kit", 0.05),
    ("angle bracket", "corner brace", 0.7),
] * 4


@pytest.mark.parametrize("loss", ["bce", "mse", "margin-mse", "group-margin-mse"])
def test_each_loss_trains_and_records_provenance(loss: str, tiny_encoder: Path, tmp_path: Path) -> None:
    queries, documents, targets = zip(*PAIRS, strict=True)
    out = tmp_path / loss
    config = TrainingConfig(base=str(tiny_encoder), loss=loss, progress=False)
    record = {"teacher_version": "abc123", "data_hash": data_hash(queries, documents, targets)}
    train_cross_encoder(queries, documents, targets, config, out=out, provenance=record)
    provenance = json.loads((out / PROVENANCE).read_text())
    assert provenance["loss"] == loss and provenance["teacher_version"] == "abc123"
    assert np.isfinite(provenance["train_loss"])
    assert "## protege provenance" in (out / "README.md").read_text()
    assert np.all(
        np.isfinite(CrossEncoder(str(out), device="cpu").predict([("cordless drill", "drill driver kit")]))
    )


def test_margin_mse_pairs_documents_of_one_query() -> None:
    queries, documents, targets = zip(*PAIRS[:6], strict=True)
    rows = training_dataset(queries, documents, np.array(targets), "margin-mse", seed=0)
    # "angle bracket" has one document: it cannot form a margin.
    assert set(rows["query"]) == {"cordless drill", "ceiling paint"}
    assert len(rows) == 5
    for first, second, label in zip(rows["first"], rows["second"], rows["label"], strict=True):
        assert first != second
        assert label[0] != label[1]
    with pytest.raises(ValueError, match="two or more differently scored"):
        training_dataset(["q", "r"], ["d", "e"], np.array([0.5, 0.5]), "margin-mse", seed=0)


def test_layers_keeps_the_first_layers(tiny_encoder: Path, tmp_path: Path) -> None:
    model = load_student(str(tiny_encoder), layers=1)
    assert len(model.transformers_model.base_model.encoder.layer) == 1
    model.save_pretrained(str(tmp_path / "one-layer"))
    assert CrossEncoder(str(tmp_path / "one-layer")).transformers_model.config.num_hidden_layers == 1
    with pytest.raises(ValueError, match="between 1 and 2"):
        load_student(str(tiny_encoder), layers=3)


def test_length_grouped_batches_cover_every_row_once_with_like_lengths() -> None:
    from datasets import Dataset

    texts = ["x" * length for length in np.random.default_rng(0).integers(1, 400, 1000)]
    dataset = Dataset.from_dict({"query": texts, "document": [""] * 1000, "label": [0.0] * 1000})
    sampler = LengthGroupedBatchSampler(
        dataset, batch_size=10, drop_last=False, valid_label_columns=["label"]
    )
    batches = list(sampler)
    assert len(batches) == len(sampler) == 100
    assert sorted(row for batch in batches for row in batch) == list(range(1000))
    spread = np.mean([np.ptp([len(texts[row]) for row in batch]) for batch in batches])
    assert spread < 20  # random batches of 10 spread over ~300 characters
    sampler.set_epoch(1)
    assert list(sampler) != batches


def test_grades_are_normalised_or_refused() -> None:
    assert normalise_grades([1.0, 2.0, 3.0], (1, 3)).tolist() == [0.0, 0.5, 1.0]
    assert normalise_grades([0.2, 0.9]).tolist() == [0.2, 0.9]
    with pytest.raises(SettingError, match="give label_range LOW,HIGH"):
        normalise_grades([1.0, 3.0])
    with pytest.raises(SettingError, match="outside label_range 1,3"):
        normalise_grades([1.0, 4.0], (1, 3))
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        train_cross_encoder(["q"], ["d"], [2.0])


def test_torchrun_trains_with_ddp_on_cpu_and_one_process_saves(tiny_encoder: Path, tmp_path: Path) -> None:
    import csv
    import subprocess
    import sys

    data = tmp_path / "train.csv"
    with data.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["query", "document", "score"])
        writer.writerows(PAIRS * 4)
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "-m",
            "protege",
            "train",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "student"),
            "--base",
            str(tiny_encoder),
            "--batch-size",
            "8",
            "--learning-rate",
            "1e-3",
            "--verbose",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    # 96 rows, 8 per batch on each of 2 processes: 6 steps each (12 without DDP).
    assert "6/6" in run.stderr and "12/12" not in run.stderr
    final = f"Saving model to {tmp_path / 'student'}"
    assert [line.endswith(final) for line in run.stderr.splitlines()].count(True) == 1
    assert json.loads((tmp_path / "student" / PROVENANCE).read_text())["training_rows"] == 96
    # Two processes of 8 rows are one step of 16: the same training as one process with batches
    # of 16, up to batch composition (the ranks draw their batches in another order).
    import torch

    queries, documents, targets = (list(column) * 4 for column in zip(*PAIRS, strict=True))
    pairs = list(zip(queries, documents, strict=True))
    torch.manual_seed(0)
    initial = load_student(str(tiny_encoder)).predict(pairs)
    config = TrainingConfig(base=str(tiny_encoder), batch_size=16, learning_rate=1e-3, progress=False)
    single = train_cross_encoder(queries, documents, targets, config)
    single_scores = single.predict(pairs)
    ddp_scores = CrossEncoder(str(tmp_path / "student"), device="cpu").predict(pairs)
    moved, apart = np.abs(single_scores - initial).mean(), np.abs(ddp_scores - single_scores).mean()
    print(f"training moved scores by {moved:.4f}; DDP and single process differ by {apart:.4f}")
    assert apart < 0.2 * moved


class Killed(Exception):
    pass


def test_a_run_killed_part_way_resumes_from_its_last_checkpoint(
    tiny_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    queries, documents, targets = (list(column) * 8 for column in zip(*PAIRS, strict=True))
    config = TrainingConfig(base=str(tiny_encoder), batch_size=4, checkpoint_steps=5, progress=False)
    reference = train_cross_encoder(queries, documents, targets, config, out=tmp_path / "reference")
    steps = len(queries) // 4
    real_step, calls, killed = CrossEncoderTrainer.training_step, [], []

    def dies_at_step_12(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 12 and not killed:
            killed.append(1)
            raise Killed  # as if the job were killed here
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(CrossEncoderTrainer, "training_step", dies_at_step_12)
    with pytest.raises(Killed):
        train_cross_encoder(queries, documents, targets, config, out=tmp_path / "student")
    assert (tmp_path / "student" / ".checkpoints" / "checkpoint-10").is_dir()
    calls.clear()
    train_cross_encoder(queries, documents, targets, config, out=tmp_path / "student")
    assert len(calls) == steps - 10  # only the steps after the checkpoint ran again
    provenance = json.loads((tmp_path / "student" / PROVENANCE).read_text())
    assert provenance["resumed_from_step"] == 10
    assert not (tmp_path / "student" / ".checkpoints").exists()
    pairs = list(zip(queries, documents, strict=True))
    resumed = CrossEncoder(str(tmp_path / "student"), device="cpu").predict(pairs)
    np.testing.assert_allclose(resumed, reference.predict(pairs), atol=1e-4)  # the same model as unbroken


def test_checkpoints_of_other_data_are_not_resumed(tiny_encoder: Path, tmp_path: Path) -> None:
    stale = tmp_path / "student" / ".checkpoints" / "checkpoint-3"
    stale.mkdir(parents=True)
    queries, documents, targets = (list(column) for column in zip(*PAIRS, strict=True))
    config = TrainingConfig(base=str(tiny_encoder), progress=False)
    train_cross_encoder(queries, documents, targets, config, out=tmp_path / "student")
    assert "resumed_from_step" not in json.loads((tmp_path / "student" / PROVENANCE).read_text())


def test_train_reads_the_teacher_scores_of_a_filter_folder(tiny_encoder: Path, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from protege.cli import main

    folder = tmp_path / "selected"  # what `protege filter` writes: accepted pairs with their teacher score
    folder.mkdir()
    queries, documents, scores = (list(column) for column in zip(*PAIRS, strict=True))
    pq.write_table(
        pa.table({"query": queries, "document": documents, "score": scores}), folder / "accepted.parquet"
    )
    out = tmp_path / "student"
    assert main(["train", "--data", str(folder), "--out", str(out), "--base", str(tiny_encoder)]) == 0
    provenance = json.loads((out / PROVENANCE).read_text())
    assert provenance["label"] == "score" and provenance["training_rows"] == len(PAIRS)
    assert (out / "profile.json").exists()


def test_group_margin_mse_groups_a_query_s_documents_and_matches_margin_mse_on_pairs(
    tiny_encoder: Path,
) -> None:
    import torch
    from sentence_transformers.cross_encoder.losses import MarginMSELoss

    from protege.client.training.losses import GroupMarginMSELoss
    from protege.client.training.rows import GROUP_SIZE

    queries = ["drill"] * 19 + ["paint"] * 2 + ["lamp"] * 3
    documents = [f"product {i}" for i in range(24)]
    targets = [i / 30 for i in range(19)] + [0.5, 0.5] + [0.1, 0.2, 0.3]
    dataset = training_dataset(queries, documents, targets, "group-margin-mse", seed=0)
    sizes = {query: [] for query in ("drill", "lamp")}
    for row in dataset:
        sizes[row["query"]].append(len(row["docs"]))
    # Every scored document once; rows of at most GROUP_SIZE; "paint" (one score) teaches nothing.
    assert sorted(sizes["drill"]) == [6, 6, 7] and sizes["lamp"] == [3] and max(sizes["drill"]) <= GROUP_SIZE
    assert sorted(d for row in dataset for d in row["docs"]) == sorted(documents[:19] + documents[21:])

    # On rows of two documents it is margin-MSE's objective.
    model = CrossEncoder(str(tiny_encoder), num_labels=1, device="cpu")
    first, second = ["product 0", "product 5"], ["product 9", "product 7"]
    labels = [torch.tensor([1.5, -0.5]), torch.tensor([0.2, 0.9])]
    grouped = GroupMarginMSELoss(model)(
        [["drill", "lamp"], [list(p) for p in zip(first, second, strict=True)]], labels
    )
    pairwise = MarginMSELoss(model)([["drill", "lamp"], first, second], torch.stack(labels))
    assert grouped.item() == pytest.approx(pairwise.item(), rel=1e-4)


def test_unknown_precision_or_loss_is_refused() -> None:
    with pytest.raises(ValueError, match="precision 'fp8'"):
        TrainingConfig(precision="fp8")
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        TrainingConfig(loss="hinge")


@pytest.mark.parametrize("loss", ["bce", "margin-mse", "group-margin-mse"])
def test_rows_are_written_and_memory_mapped_at_a_few_bytes_a_label(
    loss: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tracemalloc

    import pyarrow as pa

    from protege.client.training import rows

    monkeypatch.setattr(rows, "CHUNK_PAIRS", 4096)  # the batch buffer, small beside both sizes

    def built(labels: int) -> tuple[object, int]:
        queries = pa.chunked_array([pa.array([f"query {i // 8}" for i in range(labels)])])
        documents = pa.chunked_array([pa.array([f"product {i} of a catalog" for i in range(labels)])])
        targets = (np.arange(labels) % 5) / 4
        tracemalloc.start()
        dataset = training_dataset(queries, documents, targets, loss, 0, tmp_path / f"{loss}-{labels}")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return dataset, peak

    (_, small_peak), (large, large_peak) = built(25_000), built(100_000)
    in_memory = training_dataset(["a", "a", "b", "b"], ["w", "x", "y", "z"], [0.1, 0.9, 0.2, 0.8], loss, 0)
    assert large.cache_files and not in_memory.cache_files  # a file, mapped; or held
    assert len(large) == {"bce": 100_000, "margin-mse": 100_000, "group-margin-mse": 12_500}[loss]
    # Lists of Python strings cost over 200 bytes a label; the rows' order and scores, a few.
    per_label = (large_peak - small_peak) / 75_000
    print(f"{loss}: {per_label:.1f} bytes a label beyond a batch")
    assert per_label < 48
