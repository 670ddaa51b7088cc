"""The student's training rate, today's recipe against each lever, and what the new default costs
in quality.

    python bench/train.py [--labels 1500] [--layers 4] [--max-length 48] [--compile] [--no-quality]

Every variant trains the same student shape (the packaged all-MiniLM-L6-v2's first ``--layers``
layers, ``--max-length`` tokens, lr 1e-4) for one epoch on the same (query, product, soft target)
rows of Home Depot (when ``../shared/data`` is beside the checkout), of queries with two or more
products (what a margin loss learns from), one lever added at a time to the recipe the study used
before (margin-MSE, float32, batch 32, length-grouped batches):
  - ``plain``: sentence-transformers' documented ``CrossEncoderTrainer`` recipe, nothing added;
  - ``bf16``: autocast to bf16 (CPUs with ``avx512_bf16`` or AMX, and GPUs, compute it natively);
  - ``frozen_embeddings``: the word-embedding matrix left as it is (no gradient, no optimizer step);
  - ``batch_64``: 64 pairs a step;
  - ``group_margin_mse``: margin-MSE over every pair of a query's documents, each document scored
    once a step (``client.training.losses``): an epoch passes each label once, not twice;
  - ``compile`` (with ``--compile``: on 2 cores it compiled for minutes without finishing).
Rates: teacher labels per second (an epoch over the labels, over its seconds: what a study
waits for) and model pairs per second (query-document passes through the model).

``--quality`` (the default): today's recipe and the new default (``TrainingConfig()``'s precision
and loss, frozen embeddings as the study trains) trained on the same gold-graded teacher-train
pairs, scored on the test buckets with grade maps fitted on validation pairs; their paired RMSE
difference with its 95% bootstrap interval (goal: at most 0.002 either way).
Prints one JSON line last.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import HOMEDEPOT, emit, load_pairs, log


def shared_query_pairs(n: int) -> tuple[list[tuple[str, str]], str]:
    """``n`` pairs whose query has two or more of them: a margin loss learns from every one (a query
    with a single product has no margin), so labels/s counts labels learned from, as in the study's
    augmented sets (up to 12 products a query)."""
    pairs, source = load_pairs(8 * n)
    products = Counter(query for query, _ in pairs)
    kept = [pair for pair in pairs if products[pair[0]] > 1][:n]
    if len(kept) < n:
        raise SystemExit(f"{source} has {len(kept)} pairs of queries with two or more products, not {n}")
    return kept, source


def today(layers: int, max_length: int) -> dict:
    """The study's student recipe before this benchmark's levers."""
    return dict(
        layers=layers,
        max_length=max_length,
        loss="margin-mse",
        learning_rate=1e-4,
        precision="fp32",
        freeze_embeddings=False,
        batch_size=32,
        progress=False,
    )


def levers(compile_too: bool) -> dict[str, dict]:
    """Each variant's settings over today's, levers added one by one."""
    steps = {
        "today": {},
        "no_length_grouping": {"length_grouping": False},
        "bf16": {"precision": "bf16"},
        "frozen_embeddings": {"precision": "bf16", "freeze_embeddings": True},
        "batch_64": {"precision": "bf16", "freeze_embeddings": True, "batch_size": 64},
        "group_margin_mse": {"precision": "bf16", "freeze_embeddings": True, "loss": "group-margin-mse"},
    }
    if compile_too:
        steps["compile"] = steps["group_margin_mse"] | {"compile": True}
    return steps


def timed(queries, documents, targets, settings: dict) -> dict:
    """One epoch of protege's trainer: labels/s and model pairs/s."""
    from protege.client.training.config import TrainingConfig
    from protege.client.training.trainer import train_cross_encoder

    with tempfile.TemporaryDirectory() as scratch:
        train_cross_encoder(queries, documents, targets, TrainingConfig(**settings), out=Path(scratch) / "m")
        record = json.loads((Path(scratch) / "m" / "provenance.json").read_text())
    seconds = record["train_seconds"]
    return {
        "labels_per_s": round(len(queries) / seconds, 1),
        "model_pairs_per_s": round(record["training_pairs"] / seconds, 1),
        "seconds": seconds,
    }


def plain(queries, documents, targets, max_length: int, layers: int) -> dict:
    """sentence-transformers' documented margin-MSE recipe on the same rows, nothing added."""
    from sentence_transformers.cross_encoder import CrossEncoderTrainer, CrossEncoderTrainingArguments
    from sentence_transformers.cross_encoder.losses import MarginMSELoss

    from protege.client.training.rows import training_dataset
    from protege.client.training.trainer import load_student

    model = load_student(layers=layers, max_length=max_length)
    dataset = training_dataset(queries, documents, targets, "margin-mse", seed=0)
    with tempfile.TemporaryDirectory() as scratch:
        arguments = CrossEncoderTrainingArguments(
            output_dir=scratch,
            num_train_epochs=1,
            per_device_train_batch_size=32,
            learning_rate=1e-4,
            warmup_steps=0.1,
            seed=0,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=True,
        )
        trainer = CrossEncoderTrainer(
            model=model, args=arguments, train_dataset=dataset, loss=MarginMSELoss(model)
        )
        seconds = float(trainer.train().metrics["train_runtime"])
    return {
        "labels_per_s": round(len(queries) / seconds, 1),
        "model_pairs_per_s": round(2 * len(dataset) / seconds, 1),
        "seconds": seconds,
    }


def quality(settings: dict, new: dict, train_pairs: int, test_queries: int) -> dict:
    """Today's recipe and ``new`` on the same gold grades; paired RMSE (new − today) on test pairs."""
    from protege.client.data import Columns
    from protege.client.evaluation.scoreboard import Board
    from protege.client.training.config import TrainingConfig
    from protege.client.training.trainer import train_cross_encoder
    from protege.study.split import load_rows, split_rows

    columns = Columns(query="search_term", docs=("product_title",), label="relevance", doc_id="product_uid")
    table, grades, _ = load_rows(
        HOMEDEPOT, columns, encoding="latin-1", label_range=None, max_rows=None, source=HOMEDEPOT
    )
    split = split_rows(table, train_pairs, None, test_queries, 0, HOMEDEPOT)
    board = Board(split.judged("validation", grades), split.judged("test", grades))
    rows = split.teacher
    queries, documents = rows["query"].to_pylist(), rows["document"].to_pylist()
    targets = rows["label"].to_numpy()
    seconds = {}
    for name, config in (("today", TrainingConfig(**settings)), ("new", TrainingConfig(**(settings | new)))):
        started = time.perf_counter()
        model = train_cross_encoder(queries, documents, targets, config)
        seconds[name] = round(time.perf_counter() - started, 1)
        scores = {
            split_name: model.predict(list(zip(e.queries, e.documents, strict=True)), batch_size=64)
            for split_name, e in board.evaluations.items()
        }
        board.add_scores(name, scores["validation"], scores["test"])
        log(f"quality: {name} test RMSE {board.figures(name)['rmse']:.4f} ({seconds[name]} s)")
    paired = board.paired("new", "today")["rmse"]
    return {
        "train_pairs": rows.num_rows,
        "test_pairs": len(board.evaluations["test"].gold),
        "rmse": {name: round(board.figures(name)["rmse"], 4) for name in ("today", "new")},
        "rmse_new_minus_today": paired,
        "train_seconds": seconds,
        "within_0_002": abs(paired["difference"]) <= 0.002,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--labels", type=int, default=1500)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=48)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--no-quality", dest="quality", action="store_false")
    parser.add_argument("--quality-pairs", type=int, default=6000, help="gold pairs each recipe trains on")
    parser.add_argument("--quality-queries", type=int, default=600, help="test queries scored")
    args = parser.parse_args()

    import torch

    pairs, source = shared_query_pairs(args.labels)
    queries, documents = [q for q, _ in pairs], [d for _, d in pairs]
    targets = np.random.default_rng(0).uniform(0, 1, len(pairs))
    base = today(args.layers, args.max_length)
    rates = {"plain": plain(queries, documents, targets, args.max_length, args.layers)}
    log(f"plain: {rates['plain']}")
    for name, change in levers(args.compile).items():
        rates[name] = timed(queries, documents, targets, base | change)
        log(f"{name}: {rates[name]}")
    best = rates["group_margin_mse"]
    result = {
        "benchmark": "train",
        "data": source,
        "labels": len(pairs),
        "layers": args.layers,
        "max_length": args.max_length,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "rates": rates,
        "labels_ratio": round(best["labels_per_s"] / rates["today"]["labels_per_s"], 3),
        "model_pairs_ratio": round(best["model_pairs_per_s"] / rates["today"]["model_pairs_per_s"], 3),
        "ratio_vs_plain": round(best["labels_per_s"] / rates["plain"]["labels_per_s"], 3),
    }
    if args.quality and HOMEDEPOT.exists():
        new = levers(False)["group_margin_mse"]
        result["quality"] = quality(base, new, args.quality_pairs, args.quality_queries)
    emit(result)


if __name__ == "__main__":
    main()
